package aws

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
)

// permissionFor maps an SDK operation to the IAM action it needs where the
// two names differ.
var permissionFor = map[string]string{
	"s3:ListBuckets":            "s3:ListAllMyBuckets",
	"s3:GetPublicAccessBlock":   "s3:GetBucketPublicAccessBlock",
	"s3:GetBucketTagging":       "s3:GetBucketTagging",
	"guardduty:ListDetectors":   "guardduty:ListDetectors",
	"cloudtrail:GetTrailStatus": "cloudtrail:GetTrailStatus",
}

// servicePrefix is the IAM prefix of an SDK service id.
func servicePrefix(serviceID string) string {
	switch strings.ToLower(serviceID) {
	case "ec2":
		return "ec2"
	case "iam":
		return "iam"
	case "s3":
		return "s3"
	case "sts":
		return "sts"
	case "cloudtrail":
		return "cloudtrail"
	case "guardduty":
		return "guardduty"
	case "organizations":
		return "organizations"
	case "cloudwatch logs":
		return "logs"
	case "eventbridge":
		return "events"
	}
	return strings.ToLower(strings.ReplaceAll(serviceID, " ", ""))
}

// PermissionError is an AWS call refused for lack of an IAM permission.
type PermissionError struct {
	Permission string // ec2:CreateSnapshot
	// Resource is what the permission is needed on, when it is one thing
	// (the role of a denied sts:AssumeRole).
	Resource string
	Err      error
}

func (e *PermissionError) Error() string {
	if e.Permission == "sts:AssumeRole" {
		return fmt.Sprintf("permission denied: the credentials lack sts:AssumeRole on %s (their policy must allow it, and the role's trust policy must trust them): %v", e.Resource, e.Err)
	}
	return fmt.Sprintf("permission denied: the credentials lack %s (examples/aws/vigil-iam-policy.json lists what vigil needs): %v", e.Permission, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// denied reports whether an API error code means a missing permission.
func denied(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden":
		return true
	}
	return false
}

// apiCode returns the API error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// throttled reports the error codes of throttling: the request was
// refused, not carried out.
func throttled(code string) bool {
	switch code {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottledException", "SlowDown", "TooManyRequestsException",
		"RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException", "EC2ThrottledException", "BandwidthLimitExceeded":
		return true
	}
	return false
}

// explain turns a refused call into a PermissionError naming the IAM action
// it needs; other errors pass through. A role that could not be assumed is
// named with sts:AssumeRole, not as the call its credentials were for.
func explain(err error) error {
	var ar *AssumeRoleError
	if errors.As(err, &ar) && denied(apiCode(ar.Err)) {
		return &PermissionError{Permission: "sts:AssumeRole", Resource: ar.Role, Err: err}
	}
	if err == nil || !denied(apiCode(err)) {
		return err
	}
	var oe *smithy.OperationError
	if !errors.As(err, &oe) {
		return err
	}
	perm := servicePrefix(oe.ServiceID) + ":" + oe.OperationName
	if p, ok := permissionFor[perm]; ok {
		perm = p
	}
	return &PermissionError{Permission: perm, Err: err}
}
