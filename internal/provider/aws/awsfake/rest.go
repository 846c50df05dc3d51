package awsfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// s3 serves the S3 REST API, path-style (/bucket?subresource).
func (f *Fake) s3(req *request) {
	if f.s3Object(req) {
		return
	}
	path := strings.Trim(req.r.URL.Path, "/")
	q := req.r.URL.Query()
	sub := ""
	for _, s := range []string{"location", "publicAccessBlock", "policy", "acl", "tagging"} {
		if q.Has(s) {
			sub = s
		}
	}
	req.op = map[string]string{"location": "GetBucketLocation", "publicAccessBlock": "GetPublicAccessBlock", "policy": "GetBucketPolicy",
		"acl": "GetBucketAcl", "tagging": "GetBucketTagging", "": "HeadOrGetBucket"}[sub]
	if path == "" {
		req.op = "ListBuckets"
	}
	fail := func(status int, code, msg string) {
		req.status = status
		req.w.Header().Set("Content-Type", "application/xml")
		req.w.WriteHeader(status)
		var b xb
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Error>`)
		b.el("Code", code)
		b.el("Message", msg)
		b.el("RequestId", requestID(req))
		b.WriteString(`</Error>`)
		req.w.Write([]byte(b.String()))
	}
	switch f.fault(req) {
	case "throttle":
		fail(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case "denied":
		fail(http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	case "unavailable":
		fail(http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable.")
		return
	case "reset":
		return
	}
	ok := func(body func(b *xb)) {
		var b xb
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
		body(&b)
		req.w.Header().Set("Content-Type", "application/xml")
		req.w.Write([]byte(b.String()))
	}
	a := req.account
	if req.op == "ListBuckets" {
		ok(func(b *xb) {
			b.WriteString(`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
			b.open("Owner")
			b.el("ID", "owner-"+a.ID)
			b.close("Owner")
			b.open("Buckets")
			for _, name := range slices.Sorted(maps.Keys(a.Buckets)) {
				bk := a.Buckets[name]
				b.open("Bucket")
				b.el("Name", bk.Name)
				b.el("CreationDate", bk.Created.UTC().Format(time.RFC3339))
				b.elIf("BucketRegion", bk.Region) // absent in older answers
				b.close("Bucket")
			}
			b.close("Buckets")
			b.close("ListAllMyBucketsResult")
		})
		return
	}
	bk := a.Buckets[path]
	if bk == nil {
		fail(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	switch sub {
	case "location":
		ok(func(b *xb) {
			loc := bk.Region
			if loc == "us-east-1" {
				loc = ""
			}
			b.WriteString(`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + loc + `</LocationConstraint>`)
		})
	case "publicAccessBlock":
		if bk.PublicAccessBlock == nil {
			fail(http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
			return
		}
		ok(func(b *xb) {
			b.open("PublicAccessBlockConfiguration")
			p := bk.PublicAccessBlock
			b.bool("BlockPublicAcls", p[0])
			b.bool("IgnorePublicAcls", p[1])
			b.bool("BlockPublicPolicy", p[2])
			b.bool("RestrictPublicBuckets", p[3])
			b.close("PublicAccessBlockConfiguration")
		})
	case "policy":
		if bk.Policy == "" {
			fail(http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
			return
		}
		req.w.Header().Set("Content-Type", "application/json")
		req.w.Write([]byte(bk.Policy))
	case "acl":
		ok(func(b *xb) {
			b.WriteString(`<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
			b.open("Owner")
			b.el("ID", "owner-"+a.ID)
			b.close("Owner")
			b.open("AccessControlList")
			b.WriteString(`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>owner-` + a.ID + `</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>`)
			if bk.PublicRead {
				b.WriteString(`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>`)
			}
			b.close("AccessControlList")
			b.close("AccessControlPolicy")
		})
	case "tagging":
		if len(bk.Tags) == 0 {
			fail(http.StatusNotFound, "NoSuchTagSet", "The TagSet does not exist")
			return
		}
		ok(func(b *xb) {
			b.open("Tagging")
			b.open("TagSet")
			for _, k := range slices.Sorted(maps.Keys(bk.Tags)) {
				b.open("Tag")
				b.el("Key", k)
				b.el("Value", bk.Tags[k])
				b.close("Tag")
			}
			b.close("TagSet")
			b.close("Tagging")
		})
	default:
		fail(http.StatusNotImplemented, "NotImplemented", "the fake serves only the bucket subresources vigil reads")
	}
}

func jsonReply(req *request, status int, v any) {
	req.status = status
	req.w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	req.w.WriteHeader(status)
	json.NewEncoder(req.w).Encode(v)
}

// json11 serves CloudTrail and Organizations (JSON 1.1, X-Amz-Target).
func (f *Fake) json11(req *request) {
	target := req.r.Header.Get("X-Amz-Target")
	req.op = target[strings.LastIndex(target, ".")+1:]
	switch f.fault(req) {
	case "throttle":
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "ThrottlingException", "message": "Rate exceeded"})
		return
	case "denied":
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "AccessDeniedException",
			"message": fmt.Sprintf("User: arn:aws:iam::%s:user/vigil is not authorized to perform: %s:%s", req.acctID, req.service, req.op)})
		return
	case "unavailable":
		f.unavailable(req)
		return
	case "reset":
		return
	}
	var in map[string]any
	json.Unmarshal(req.body, &in)
	switch target {
	case "CloudTrail_20131101.DescribeTrails":
		var list []map[string]any
		for _, name := range slices.Sorted(maps.Keys(req.account.Regions)) {
			for _, t := range req.account.Regions[name].Trails {
				// A multi-region trail shows in every region (a shadow
				// trail); the collector keeps it once, by home region.
				if name != req.region && !t.MultiRegion {
					continue
				}
				tr := map[string]any{"Name": t.Name, "TrailARN": trailARN(name, req.acctID, t.Name), "HomeRegion": name,
					"IsMultiRegionTrail": t.MultiRegion, "IsOrganizationTrail": t.OrgTr, "S3BucketName": t.Bucket, "IncludeGlobalServiceEvents": true,
					"LogFileValidationEnabled": t.Validation, "HasCustomEventSelectors": t.Selectors != nil || t.Advanced != nil}
				if t.LogGroupARN != "" {
					tr["CloudWatchLogsLogGroupArn"] = t.LogGroupARN
				}
				list = append(list, tr)
			}
		}
		jsonReply(req, 200, map[string]any{"trailList": list})
	case "CloudTrail_20131101.LookupEvents":
		f.lookupEvents(req, in)
	case "CloudTrail_20131101.GetEventSelectors":
		f.getEventSelectors(req, in)
	case "CloudTrail_20131101.GetTrailStatus":
		name, _ := in["Name"].(string)
		for rn, r := range req.account.Regions {
			for _, t := range r.Trails {
				if name == t.Name || name == trailARN(rn, req.acctID, t.Name) {
					jsonReply(req, 200, map[string]any{"IsLogging": t.Logging})
					return
				}
			}
		}
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "TrailNotFoundException", "message": "Unknown trail: " + name})
	case "AWSOrganizationsV20161128.ListTagsForResource":
		id, _ := in["ResourceId"].(string)
		a, ok := f.accounts[id]
		if f.orgRoot != req.acctID || !ok {
			jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "TargetNotFoundException", "message": "You specified a target that doesn't exist."})
			return
		}
		var tags []map[string]string
		for _, k := range slices.Sorted(maps.Keys(a.Tags)) {
			tags = append(tags, map[string]string{"Key": k, "Value": a.Tags[k]})
		}
		jsonReply(req, 200, map[string]any{"Tags": tags})
	case "AWSOrganizationsV20161128.ListAccounts":
		if f.orgRoot != req.acctID {
			jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "AWSOrganizationsNotInUseException", "message": "Your account is not a member of an organization."})
			return
		}
		var list []map[string]any
		for _, id := range slices.Sorted(maps.Keys(f.accounts)) {
			a := f.accounts[id]
			list = append(list, map[string]any{"Id": id, "Arn": fmt.Sprintf("arn:aws:organizations::%s:account/o-fake/%s", f.orgRoot, id),
				"Name": a.Name, "Email": a.Name + "@example.com", "Status": "ACTIVE", "State": "ACTIVE"})
		}
		jsonReply(req, 200, map[string]any{"Accounts": list})
	case "TrentService.DescribeKey":
		ref, _ := in["KeyId"].(string)
		k := f.key(ref)
		if k == nil || !f.mayUse(k, req.acctID) && f.keyAccount(k.ARN) != req.acctID {
			jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "NotFoundException", "message": fmt.Sprintf("Key '%s' does not exist", ref)})
			return
		}
		desc := "Default key that protects my EBS volumes when no other key is defined"
		if k.Manager != "AWS" {
			desc = "customer managed key"
		}
		jsonReply(req, 200, map[string]any{"KeyMetadata": map[string]any{"KeyId": k.ID, "Arn": k.ARN, "KeyManager": k.Manager,
			"KeyState": "Enabled", "Enabled": true, "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "Description": desc,
			"AWSAccountId": f.keyAccount(k.ARN), "CreationDate": 1.7e9, "Origin": "AWS_KMS"}})
	default:
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "UnknownOperationException", "message": "unknown operation " + target})
	}
}

func trailARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", region, account, name)
}

// guardduty serves the two GuardDuty REST JSON operations vigil reads.
func (f *Fake) guardduty(req *request) {
	parts := strings.Split(strings.Trim(req.r.URL.Path, "/"), "/")
	req.op = "ListDetectors"
	if len(parts) == 2 {
		req.op = "GetDetector"
	}
	fail := func(status int, typ, msg string) {
		req.status = status
		req.w.Header().Set("X-Amzn-ErrorType", typ)
		req.w.Header().Set("Content-Type", "application/json")
		req.w.WriteHeader(status)
		json.NewEncoder(req.w).Encode(map[string]string{"message": msg})
	}
	switch f.fault(req) {
	case "throttle":
		fail(http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	case "denied":
		fail(http.StatusForbidden, "AccessDeniedException", "not authorized to perform: guardduty:"+req.op)
		return
	case "unavailable":
		fail(http.StatusServiceUnavailable, "InternalServerErrorException", "Service is unavailable.")
		return
	case "reset":
		return
	}
	reg := req.account.Region(req.region)
	w := req.w
	w.Header().Set("Content-Type", "application/json")
	if req.op == "ListDetectors" {
		ids := slices.Sorted(maps.Keys(reg.Detectors))
		if ids == nil {
			ids = []string{}
		}
		json.NewEncoder(w).Encode(map[string]any{"detectorIds": ids})
		return
	}
	status, ok := reg.Detectors[parts[1]]
	if !ok {
		fail(http.StatusBadRequest, "BadRequestException", "The request is rejected because the input detectorId is not owned by the current account.")
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"status": status, "serviceRole": "arn:aws:iam::" + req.acctID + ":role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
		"createdAt": "2026-01-01T00:00:00.000Z", "findingPublishingFrequency": "SIX_HOURS"})
}
