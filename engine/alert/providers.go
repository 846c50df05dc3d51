package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// guardDuty reads a GuardDuty finding (GetFindings' PascalCase or
// EventBridge's camelCase; keys are matched without case).
func guardDuty(f obj, format string) (*Alert, error) {
	if f == nil || !f.has("type") || !f.has("resource") {
		return nil, errors.New("a GuardDuty finding needs Type and Resource")
	}
	acct, region := f.str("accountId"), f.str("region")
	a := &Alert{Provider: "aws", Source: "guardduty", Format: format, ID: f.str("id"), Type: f.str("type"), Title: f.str("title"),
		Summary: f.str("description"), Time: f.str("updatedAt"), Scope: acct, Region: region}
	if a.Time == "" {
		a.Time = f.str("createdAt")
	}
	// GuardDuty severities: 1-3.9 low, 4-6.9 medium, 7-8.9 high, 9-10 critical.
	if sev, ok := f.num("severity"); ok {
		switch {
		case sev >= 9:
			a.Severity = "critical"
		case sev >= 7:
			a.Severity = "high"
		case sev >= 4:
			a.Severity = "medium"
		default:
			a.Severity = "low"
		}
	}
	r := f.obj("resource")
	switch typ := r.str("resourceType"); typ {
	case "Instance":
		in := r.obj("instanceDetails")
		id := in.str("instanceId")
		if id == "" {
			return nil, errors.New("an Instance finding without instanceDetails.instanceId")
		}
		res := Resource{ID: fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", region, acct, id), Kind: asset.KindInstance, Name: id,
			Fields: map[string]string{"instance_id": id, "account": acct, "region": region}}
		for _, t := range in.list("tags") {
			if t.str("key") == "Name" {
				res.Name = t.str("value")
			}
		}
		if az := in.str("availabilityZone"); az != "" {
			res.Fields["zone"] = az
		}
		a.Resources = append(a.Resources, res)
	case "AccessKey":
		k := r.obj("accessKeyDetails")
		id, user := k.str("accessKeyId"), k.str("userName")
		res := Resource{ID: fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, user, id), Kind: asset.KindAccessKey, Name: id,
			Fields: map[string]string{"access_key_id": id, "user": user, "account": acct, "principal_id": k.str("principalId"), "user_type": k.str("userType")}}
		if k.str("userType") != "IAMUser" && k.str("userType") != "" {
			// Keys of roles and root are not IAM user keys: the asset is the principal.
			res.ID, res.Kind = fmt.Sprintf("arn:aws:iam::%s:%s", acct, strings.ToLower(k.str("userType"))), asset.KindUser
		}
		a.Resources = append(a.Resources, res)
	case "S3Bucket":
		for _, b := range r.list("s3BucketDetails") {
			name := b.str("name")
			a.Resources = append(a.Resources, Resource{ID: "arn:aws:s3:::" + name, Kind: asset.KindBucket, Name: name,
				Fields: map[string]string{"bucket": name, "account": acct}})
		}
	default:
		if typ == "" {
			return nil, errors.New("a GuardDuty finding without Resource.ResourceType")
		}
		// Other resource types (EKS, RDS, Lambda, ...) name the account.
		a.Resources = append(a.Resources, Resource{ID: asset.AccountID(acct), Kind: asset.KindAccount, Name: acct,
			Fields: map[string]string{"account": acct, "resource_type": typ}})
	}
	return a, nil
}

// asffList reads Security Hub findings in the AWS Security Finding Format.
func asffList(findings []obj, format string) ([]*Alert, error) {
	var out []*Alert
	for i, f := range findings {
		a, err := asff(f, format)
		if err != nil {
			return nil, fmt.Errorf("finding %d: %w", i+1, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func asff(f obj, format string) (*Alert, error) {
	if !f.has("resources") || !f.has("awsAccountId") {
		return nil, errors.New("an ASFF finding needs AwsAccountId and Resources")
	}
	acct := f.str("awsAccountId")
	a := &Alert{Provider: "aws", Source: "securityhub", Format: format, ID: f.str("id"), Title: f.str("title"), Summary: f.str("description"),
		Time: f.str("updatedAt"), Scope: acct, Region: f.str("region")}
	var types []string
	_ = json.Unmarshal(f["types"], &types)
	if len(types) > 0 {
		a.Type = types[0]
	} else {
		a.Type = f.str("generatorId")
	}
	sev := f.obj("severity")
	a.Severity = label(sev.str("label"))
	if sev.str("label") == "" {
		if n, ok := sev.num("normalized"); ok {
			switch {
			case n >= 90:
				a.Severity = "critical"
			case n >= 70:
				a.Severity = "high"
			case n >= 40:
				a.Severity = "medium"
			case n >= 1:
				a.Severity = "low"
			}
		}
	}
	for _, r := range f.list("resources") {
		id, typ := r.str("id"), r.str("type")
		region := r.str("region")
		if region == "" {
			region = a.Region
		}
		res := Resource{ID: id, Name: id, Fields: map[string]string{"account": acct, "region": region, "resource_type": typ}}
		switch typ {
		case "AwsEc2Instance":
			res.Kind = asset.KindInstance
			res.Name = id[strings.LastIndex(id, "/")+1:]
			res.Fields["instance_id"] = res.Name
		case "AwsEc2SecurityGroup":
			res.Kind = asset.KindFirewall
			res.Name = id[strings.LastIndex(id, "/")+1:]
			res.Fields["security_group"] = res.Name
		case "AwsS3Bucket":
			res.Kind = asset.KindBucket
			res.Name = strings.TrimPrefix(id, "arn:aws:s3:::")
			res.Fields["bucket"] = res.Name
		case "AwsIamAccessKey":
			key := id[strings.LastIndex(id, ":")+1:]
			d := r.obj("details").obj("awsIamAccessKey")
			user := d.str("userName")
			if user == "" {
				user = d.str("principalName")
			}
			res.Kind, res.Name = asset.KindAccessKey, key
			res.ID = fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, user, key)
			res.Fields["access_key_id"], res.Fields["user"] = key, user
		case "AwsIamUser", "AwsIamRole":
			res.Kind = asset.KindUser
			if typ == "AwsIamRole" {
				res.Kind = asset.KindRole
			}
			res.Name = id[strings.LastIndex(id, "/")+1:]
		case "AwsAccount":
			res.Kind, res.ID, res.Name = asset.KindAccount, asset.AccountID(acct), acct
		default:
			res.Kind = asset.KindOther
		}
		a.Resources = append(a.Resources, res)
	}
	if len(a.Resources) == 0 {
		return nil, errors.New("an ASFF finding with no Resources")
	}
	return a, nil
}

// scc reads a Security Command Center finding and its resource.
func scc(f, res obj, format string) (*Alert, error) {
	if f == nil || f.str("resourceName") == "" {
		return nil, errors.New("an SCC finding needs finding.resourceName")
	}
	name := f.str("resourceName")
	a := &Alert{Provider: "gcp", Source: "scc", Format: format, ID: f.str("name"), Type: f.str("category"), Title: f.str("category"),
		Summary: f.str("description"), Severity: label(f.str("severity")), Time: f.str("eventTime")}
	if a.Summary == "" {
		if sp := f.obj("sourceProperties"); sp != nil {
			a.Summary = sp.str("Explanation")
			if a.Summary == "" {
				a.Summary = sp.str("description")
			}
		}
	}
	if a.Summary == "" {
		a.Summary = fmt.Sprintf("%s on %s", a.Type, name[strings.LastIndex(name, "/")+1:])
	}
	r := Resource{ID: name, Name: name[strings.LastIndex(name, "/")+1:], Fields: map[string]string{}}
	project := ""
	if res != nil {
		project = res.str("projectDisplayName")
		if dn := res.str("displayName"); dn != "" {
			r.Name = dn
		}
	}
	parts := strings.Split(strings.TrimPrefix(name, "//"), "/")
	for i := 0; i+1 < len(parts); i++ {
		switch parts[i] {
		case "projects":
			if project == "" {
				project = parts[i+1]
			}
		case "zones":
			r.Fields["zone"] = parts[i+1]
			a.Region = asset.Region(parts[i+1])
		case "regions":
			a.Region = parts[i+1]
		}
	}
	a.Scope = project
	r.Fields["project"] = project
	switch {
	case strings.HasPrefix(name, "//compute.googleapis.com/") && strings.Contains(name, "/instances/"):
		r.Kind = asset.KindInstance
		r.Fields["instance"] = name
		r.Fields["instance_name"] = parts[len(parts)-1]
	case strings.HasPrefix(name, "//compute.googleapis.com/") && strings.Contains(name, "/firewalls/"):
		r.Kind = asset.KindFirewall
		r.Fields["firewall"] = name
	case strings.HasPrefix(name, "//storage.googleapis.com/"):
		r.Kind = asset.KindBucket
		r.Fields["bucket"] = parts[len(parts)-1]
	case strings.HasPrefix(name, "//iam.googleapis.com/") && strings.Contains(name, "/keys/"):
		r.Kind = asset.KindServiceAccountKey
	case strings.HasPrefix(name, "//iam.googleapis.com/"):
		r.Kind = asset.KindServiceAccount
	case strings.HasPrefix(name, "//cloudresourcemanager.googleapis.com/projects/"):
		r.Kind = asset.KindProject
	default:
		r.Kind = asset.KindOther
	}
	a.Resources = []Resource{r}
	return a, nil
}
