package awsfake

// permissions names the IAM actions a call needs, as the Service
// Authorization Reference names them: service:Operation, except where the
// names differ, plus what the handler found the call needs besides (the
// KMS actions EBS takes on the caller's behalf for an encrypted copy).
func permissions(req *request) []string {
	if req.op == "" {
		return nil
	}
	var out []string
	switch req.service + ":" + req.op {
	case "sts:GetCallerIdentity":
		// "No permissions are required to perform this operation."
	case "s3:ListBuckets":
		out = []string{"s3:ListAllMyBuckets"}
	case "s3:GetPublicAccessBlock":
		out = []string{"s3:GetBucketPublicAccessBlock"}
	case "s3:HeadOrGetBucket":
		out = []string{"s3:ListBucket"}
	default:
		// CloudWatch signs as "monitoring"; its IAM actions are cloudwatch:*.
		service := req.service
		if service == "monitoring" {
			service = "cloudwatch"
		}
		out = []string{service + ":" + req.op}
	}
	return append(out, req.perms...)
}
