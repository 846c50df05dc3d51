package awsfake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// queryError writes the error document of the IAM and STS query APIs.
func queryError(req *request, status int, code, msg string) {
	req.status = status
	req.w.Header().Set("Content-Type", "text/xml")
	req.w.WriteHeader(status)
	var b xb
	b.WriteString(`<ErrorResponse><Error>`)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	b.el("Type", typ)
	b.el("Code", code)
	b.el("Message", msg)
	b.WriteString(`</Error>`)
	b.el("RequestId", requestID(req))
	b.WriteString(`</ErrorResponse>`)
	req.w.Write([]byte(b.String()))
}

func queryOK(req *request, ns string, body func(b *xb)) {
	var b xb
	b.WriteString("<" + req.op + `Response xmlns="` + ns + `">`)
	b.open(req.op + "Result")
	body(&b)
	b.close(req.op + "Result")
	b.open("ResponseMetadata")
	b.el("RequestId", requestID(req))
	b.close("ResponseMetadata")
	b.close(req.op + "Response")
	req.w.Header().Set("Content-Type", "text/xml")
	req.w.Write([]byte(b.String()))
}

// queryFault answers an injected fault; it reports whether there was one.
func (f *Fake) queryFault(req *request, service string) bool {
	switch f.fault(req) {
	case "throttle":
		queryError(req, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return true
	case "denied":
		queryError(req, http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/vigil is not authorized to perform: %s:%s", req.acctID, service, req.op))
		return true
	case "unavailable":
		f.unavailable(req)
		return true
	case "reset":
		return true
	}
	return false
}

const iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"

func (f *Fake) iam(req *request) {
	q := parseForm(req.body)
	req.params = q.v
	req.op = q.get("Action")
	if f.queryFault(req, "iam") {
		return
	}
	a := req.account
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	noUser := func(name string) {
		queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The user with name %s cannot be found.", name))
	}
	keyOf := func() *AccessKey {
		k := a.Keys[q.get("AccessKeyId")]
		if k == nil || (q.get("UserName") != "" && k.User != q.get("UserName")) {
			queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The Access Key with id %s cannot be found.", q.get("AccessKeyId")))
			return nil
		}
		return k
	}
	switch req.op {
	case "ListUsers":
		queryOK(req, iamNS, func(b *xb) {
			b.open("Users")
			for _, name := range slices.Sorted(maps.Keys(a.Users)) {
				u := a.Users[name]
				b.open("member")
				b.el("UserName", u.Name)
				b.el("UserId", u.ID)
				b.el("Path", "/")
				b.el("Arn", fmt.Sprintf("arn:aws:iam::%s:user/%s", a.ID, u.Name))
				b.el("CreateDate", ts(u.Created))
				b.close("member")
			}
			b.close("Users")
			b.bool("IsTruncated", false)
		})
	case "ListUserTags":
		u := a.Users[q.get("UserName")]
		if u == nil {
			noUser(q.get("UserName"))
			return
		}
		queryOK(req, iamNS, func(b *xb) {
			b.open("Tags")
			for _, k := range slices.Sorted(maps.Keys(u.Tags)) {
				b.open("member")
				b.el("Key", k)
				b.el("Value", u.Tags[k])
				b.close("member")
			}
			b.close("Tags")
			b.bool("IsTruncated", false)
		})
	case "ListAccessKeys":
		if a.Users[q.get("UserName")] == nil {
			noUser(q.get("UserName"))
			return
		}
		queryOK(req, iamNS, func(b *xb) {
			b.open("AccessKeyMetadata")
			for _, id := range slices.Sorted(maps.Keys(a.Keys)) {
				k := a.Keys[id]
				if k.User != q.get("UserName") {
					continue
				}
				b.open("member")
				b.el("AccessKeyId", k.ID)
				b.el("UserName", k.User)
				b.el("Status", k.Status)
				b.el("CreateDate", ts(k.Created))
				b.close("member")
			}
			b.close("AccessKeyMetadata")
			b.bool("IsTruncated", false)
		})
	case "GetAccessKeyLastUsed":
		k := a.Keys[q.get("AccessKeyId")]
		if k == nil {
			queryError(req, http.StatusForbidden, "AccessDenied", "The access key is not in this account.")
			return
		}
		queryOK(req, iamNS, func(b *xb) {
			b.el("UserName", k.User)
			b.open("AccessKeyLastUsed")
			if !k.LastUsed.IsZero() {
				b.el("LastUsedDate", ts(k.LastUsed))
				b.el("ServiceName", "s3")
				b.el("Region", "us-east-1")
			} else {
				b.el("ServiceName", "N/A")
				b.el("Region", "N/A")
			}
			b.close("AccessKeyLastUsed")
		})
	case "UpdateAccessKey":
		if k := keyOf(); k != nil {
			k.Status = q.get("Status")
			queryOK(req, iamNS, func(*xb) {})
		}
	case "DeleteAccessKey":
		if k := keyOf(); k != nil {
			delete(a.Keys, k.ID)
			queryOK(req, iamNS, func(*xb) {})
		}
	case "PutUserPolicy", "PutRolePolicy":
		target := q.get("UserName")
		policies := map[string]string(nil)
		if req.op == "PutUserPolicy" {
			u := a.Users[target]
			if u == nil {
				noUser(target)
				return
			}
			if u.Policies == nil {
				u.Policies = map[string]string{}
			}
			policies = u.Policies
		} else {
			target = q.get("RoleName")
			if !a.Roles[target] {
				queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", target))
				return
			}
			if a.RolePolicies[target] == nil {
				a.RolePolicies[target] = map[string]string{}
			}
			policies = a.RolePolicies[target]
		}
		if !strings.Contains(q.get("PolicyDocument"), "Statement") {
			queryError(req, http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
			return
		}
		policies[q.get("PolicyName")] = q.get("PolicyDocument")
		queryOK(req, iamNS, func(*xb) {})
	case "GetUserPolicy", "GetRolePolicy":
		var doc string
		var ok bool
		if req.op == "GetUserPolicy" {
			if u := a.Users[q.get("UserName")]; u != nil {
				doc, ok = u.Policies[q.get("PolicyName")]
			}
		} else {
			doc, ok = a.RolePolicies[q.get("RoleName")][q.get("PolicyName")]
		}
		if !ok {
			queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The policy %s cannot be found.", q.get("PolicyName")))
			return
		}
		queryOK(req, iamNS, func(b *xb) {
			b.elIf("UserName", q.get("UserName"))
			b.elIf("RoleName", q.get("RoleName"))
			b.el("PolicyName", q.get("PolicyName"))
			b.el("PolicyDocument", rfc3986(doc)) // URL-encoded, as IAM returns it
		})
	case "GenerateCredentialReport", "GetCredentialReport", "GetAccountSummary", "ListRoles": // more.go
		f.iamMore(req, q)
	case "ListRolePolicies", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion": // rolepolicies.go
		f.rolePolicies(req, q)
	default:
		queryError(req, http.StatusBadRequest, "InvalidAction", "Could not find operation "+req.op)
	}
}

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func (f *Fake) sts(req *request) {
	q := parseForm(req.body)
	req.params = q.v
	req.op = q.get("Action")
	if f.queryFault(req, "sts") {
		return
	}
	switch req.op {
	case "GetCallerIdentity":
		queryOK(req, stsNS, func(b *xb) {
			b.el("Arn", fmt.Sprintf("arn:aws:iam::%s:user/vigil", req.acctID))
			b.el("UserId", "AIDAFAKE"+req.acctID)
			b.el("Account", req.acctID)
		})
	case "AssumeRole":
		arn := q.get("RoleArn")
		p := strings.SplitN(arn, ":", 6)
		if len(p) != 6 || !strings.HasPrefix(p[5], "role/") {
			queryError(req, http.StatusBadRequest, "ValidationError", "invalid RoleArn "+arn)
			return
		}
		target, role := p[4], strings.TrimPrefix(p[5], "role/")
		if a, ok := f.accounts[target]; !ok || !a.Roles[role] {
			queryError(req, http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/vigil is not authorized to perform: sts:AssumeRole on resource: %s", req.acctID, arn))
			return
		}
		f.seq++
		key := fmt.Sprintf("ASIAFAKE%s%04d", target, f.seq)
		f.keys[key] = target
		queryOK(req, stsNS, func(b *xb) {
			b.open("Credentials")
			b.el("AccessKeyId", key)
			b.el("SecretAccessKey", "fake-secret")
			b.el("SessionToken", "fake-token-"+key)
			b.el("Expiration", f.now().Add(time.Hour).Format(time.RFC3339))
			b.close("Credentials")
			b.open("AssumedRoleUser")
			b.el("Arn", fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", target, role, q.get("RoleSessionName")))
			b.el("AssumedRoleId", "AROAFAKE:"+q.get("RoleSessionName"))
			b.close("AssumedRoleUser")
		})
	default:
		queryError(req, http.StatusBadRequest, "InvalidAction", "Could not find operation "+req.op)
	}
}
