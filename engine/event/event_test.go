package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/internal/testutil"
)

const acct = "111111111111"

// Each documented event type maps to the assets it changed, worked out from
// the API reference: which request parameter or response element names the
// resource, and the asset id the inventory gives it.
func TestChanges(t *testing.T) {
	sg := "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0aaaaaaaaaaaa0003"
	trail := "arn:aws:cloudtrail:us-east-1:111111111111:trail/org-trail"
	det := "arn:aws:guardduty:eu-west-1:111111111111:detector/4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"
	bucket := Change{Provider: "aws", Type: "AWS::S3::Bucket", ID: "arn:aws:s3:::acme-prod-reports", Name: "acme-prod-reports", Scope: acct, Region: "eu-west-1"}
	crm := "cloudresourcemanager.googleapis.com/Project"
	for _, tc := range []struct {
		file, name string
		want       []Change
	}{
		{"aws/authorize-security-group-ingress.json", "AuthorizeSecurityGroupIngress", []Change{{Provider: "aws", Type: "AWS::EC2::SecurityGroup", ID: sg, Name: "sg-0aaaaaaaaaaaa0003", Scope: acct, Region: "eu-west-1"}}},
		{"aws/modify-security-group-rules.json", "ModifySecurityGroupRules", []Change{{Provider: "aws", Type: "AWS::EC2::SecurityGroup", ID: sg, Name: "sg-0aaaaaaaaaaaa0003", Scope: acct, Region: "eu-west-1"}}},
		{"aws/create-security-group.json", "CreateSecurityGroup", []Change{{Provider: "aws", Type: "AWS::EC2::SecurityGroup", ID: "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0aaaaaaaaaaaa0009",
			Name: "sg-0aaaaaaaaaaaa0009", Scope: acct, Region: "eu-west-1", Created: true}}},
		{"aws/run-instances.json", "RunInstances", []Change{{Provider: "aws", Type: "AWS::EC2::Instance", ID: "arn:aws:ec2:eu-west-1:111111111111:instance/i-0aaaaaaaaaaaa0009",
			Name: "i-0aaaaaaaaaaaa0009", Scope: acct, Region: "eu-west-1", Created: true}}},
		{"aws/create-vpc.json", "CreateVpc", []Change{{Provider: "aws", Type: "AWS::EC2::VPC", ID: "arn:aws:ec2:eu-west-1:111111111111:vpc/vpc-0aaaaaaaaaaaa0009",
			Name: "vpc-0aaaaaaaaaaaa0009", Scope: acct, Region: "eu-west-1", Created: true}}},
		{"aws/put-bucket-policy.json", "PutBucketPolicy", []Change{bucket}},
		{"aws/put-bucket-acl.json", "PutBucketAcl", []Change{bucket}},
		{"aws/delete-public-access-block.json", "DeletePublicAccessBlock", []Change{bucket}},
		{"aws/stop-logging.json", "StopLogging", []Change{{Provider: "aws", Type: "AWS::CloudTrail::Trail", ID: trail, Name: "org-trail", Scope: acct, Region: "us-east-1", Dependents: true}}},
		{"aws/delete-trail.json", "DeleteTrail", []Change{{Provider: "aws", Type: "AWS::CloudTrail::Trail", ID: trail, Name: "org-trail", Scope: acct, Region: "us-east-1", Deleted: true, Dependents: true}}},
		{"aws/update-trail.json", "UpdateTrail", []Change{{Provider: "aws", Type: "AWS::CloudTrail::Trail", ID: trail, Name: "org-trail", Scope: acct, Region: "us-east-1", Dependents: true}}},
		{"aws/delete-detector.json", "DeleteDetector", []Change{{Provider: "aws", Type: "AWS::GuardDuty::Detector", ID: det, Name: "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5", Scope: acct, Region: "eu-west-1", Deleted: true, Dependents: true}}},
		{"aws/update-detector.json", "UpdateDetector", []Change{{Provider: "aws", Type: "AWS::GuardDuty::Detector", ID: det, Name: "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5", Scope: acct, Region: "eu-west-1", Dependents: true}}},
		{"aws/create-access-key.json", "CreateAccessKey", []Change{{Provider: "aws", Type: "AWS::IAM::AccessKey", ID: "arn:aws:iam::111111111111:user/ci-deployer/accesskey/AKIAFAKENEW000000009",
			Name: "AKIAFAKENEW000000009", User: "ci-deployer", Scope: acct, Region: "global", Created: true}}},
		{"gcp/compute-firewalls-insert.json", "v1.compute.firewalls.insert", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Firewall",
			ID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-anywhere", Name: "allow-ssh-anywhere", Scope: "acme-prod", Region: "global", Created: true}}},
		{"gcp/compute-firewalls-patch.json", "v1.compute.firewalls.patch", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Firewall",
			ID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-internal", Name: "allow-internal", Scope: "acme-prod", Region: "global"}}},
		{"gcp/compute-firewalls-update.json", "beta.compute.firewalls.update", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Firewall",
			ID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-internal", Name: "allow-internal", Scope: "acme-prod", Region: "global"}}},
		{"gcp/compute-instances-insert.json", "v1.compute.instances.insert", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Instance",
			ID: "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-9", Name: "web-9", Scope: "acme-prod", Region: "europe-west1", Created: true}}},
		{"gcp/compute-networks-insert.json", "v1.compute.networks.insert", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Network",
			ID: "//compute.googleapis.com/projects/acme-prod/global/networks/shadow-vpc", Name: "shadow-vpc", Scope: "acme-prod", Region: "global", Created: true}}},
		{"gcp/projects-set-iam-policy.json", "SetIamPolicy", []Change{{Provider: "gcp", Type: crm, ID: "//cloudresourcemanager.googleapis.com/projects/acme-prod",
			Name: "acme-prod", Scope: "acme-prod", Region: "global", Dependents: true}}},
		{"gcp/projects-create.json", "google.cloudresourcemanager.v3.Projects.CreateProject", []Change{{Provider: "gcp", Type: crm,
			ID: "//cloudresourcemanager.googleapis.com/projects/shadow-project-7", Name: "shadow-project-7", Scope: "shadow-project-7", Region: "global", Created: true, Dependents: true}}},
		{"gcp/storage-set-iam-permissions.json", "storage.setIamPermissions", []Change{{Provider: "gcp", Type: "storage.googleapis.com/Bucket",
			ID: "//storage.googleapis.com/acme-sec-evidence", Name: "acme-sec-evidence", Scope: "acme-sec-forensics"}}},
		{"gcp/storage-buckets-create.json", "storage.buckets.create", []Change{{Provider: "gcp", Type: "storage.googleapis.com/Bucket",
			ID: "//storage.googleapis.com/acme-exports", Name: "acme-exports", Scope: "acme-prod", Created: true}}},
		{"gcp/storage-buckets-update.json", "storage.buckets.update", []Change{{Provider: "gcp", Type: "storage.googleapis.com/Bucket",
			ID: "//storage.googleapis.com/acme-exports", Name: "acme-exports", Scope: "acme-prod"}}},
		{"gcp/logging-update-sink.json", "google.logging.v2.ConfigServiceV2.UpdateSink", []Change{{Provider: "gcp", Type: "logging.googleapis.com/LogSink",
			ID: "//logging.googleapis.com/projects/acme-prod/sinks/vigil-events", Name: "vigil-events", Scope: "acme-prod", Region: "global", Dependents: true}}},
		{"gcp/logging-delete-sink.json", "google.logging.v2.ConfigServiceV2.DeleteSink", []Change{{Provider: "gcp", Type: "logging.googleapis.com/LogSink",
			ID: "//logging.googleapis.com/projects/acme-prod/sinks/vigil-events", Name: "vigil-events", Scope: "acme-prod", Region: "global", Deleted: true, Dependents: true}}},
		// An organization's and a folder's aggregated sinks: the node is
		// the scope, and every project under it depends on them.
		{"gcp/logging-update-org-sink.json", "google.logging.v2.ConfigServiceV2.UpdateSink", []Change{{Provider: "gcp", Type: "logging.googleapis.com/LogSink",
			ID: "//logging.googleapis.com/organizations/684315297612/sinks/vigil-events", Name: "vigil-events", Scope: "organizations/684315297612", Region: "global", Dependents: true}}},
		{"gcp/logging-delete-folder-sink.json", "google.logging.v2.ConfigServiceV2.DeleteSink", []Change{{Provider: "gcp", Type: "logging.googleapis.com/LogSink",
			ID: "//logging.googleapis.com/folders/511904211743/sinks/audit-export", Name: "audit-export", Scope: "folders/511904211743", Region: "global", Deleted: true, Dependents: true}}},
		// The calls that close or remove what the others open: the asset
		// is read again (found fixed, or gone).
		{"aws/revoke-security-group-ingress.json", "RevokeSecurityGroupIngress", []Change{{Provider: "aws", Type: "AWS::EC2::SecurityGroup", ID: sg, Name: "sg-0aaaaaaaaaaaa0003", Scope: acct, Region: "eu-west-1"}}},
		// An egress rule revoked changes the group (requestParameters.groupId), not deleted.
		{"aws/revoke-security-group-egress.json", "RevokeSecurityGroupEgress", []Change{{Provider: "aws", Type: "AWS::EC2::SecurityGroup", ID: sg, Name: "sg-0aaaaaaaaaaaa0003", Scope: acct, Region: "eu-west-1"}}},
		{"aws/delete-security-group.json", "DeleteSecurityGroup", []Change{{Provider: "aws", Type: "AWS::EC2::SecurityGroup", ID: sg, Name: "sg-0aaaaaaaaaaaa0003", Scope: acct, Region: "eu-west-1", Deleted: true}}},
		{"aws/terminate-instances.json", "TerminateInstances", []Change{{Provider: "aws", Type: "AWS::EC2::Instance", ID: "arn:aws:ec2:eu-west-1:111111111111:instance/i-0aaaaaaaaaaaa0009",
			Name: "i-0aaaaaaaaaaaa0009", Scope: acct, Region: "eu-west-1", Deleted: true}}},
		{"aws/delete-vpc.json", "DeleteVpc", []Change{{Provider: "aws", Type: "AWS::EC2::VPC", ID: "arn:aws:ec2:eu-west-1:111111111111:vpc/vpc-0aaaaaaaaaaaa0009",
			Name: "vpc-0aaaaaaaaaaaa0009", Scope: acct, Region: "eu-west-1", Deleted: true}}},
		{"aws/put-public-access-block.json", "PutPublicAccessBlock", []Change{bucket}},
		{"aws/delete-bucket-policy.json", "DeleteBucketPolicy", []Change{bucket}},
		{"aws/delete-bucket.json", "DeleteBucket", []Change{{Provider: "aws", Type: "AWS::S3::Bucket", ID: "arn:aws:s3:::acme-prod-reports", Name: "acme-prod-reports", Scope: acct, Region: "eu-west-1", Deleted: true}}},
		{"aws/start-logging.json", "StartLogging", []Change{{Provider: "aws", Type: "AWS::CloudTrail::Trail", ID: trail, Name: "org-trail", Scope: acct, Region: "us-east-1", Dependents: true}}},
		{"aws/create-trail.json", "CreateTrail", []Change{{Provider: "aws", Type: "AWS::CloudTrail::Trail", ID: trail, Name: "org-trail", Scope: acct, Region: "us-east-1", Created: true, Dependents: true}}},
		{"aws/create-detector.json", "CreateDetector", []Change{{Provider: "aws", Type: "AWS::GuardDuty::Detector", ID: det, Name: "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5", Scope: acct, Region: "eu-west-1", Created: true, Dependents: true}}},
		{"aws/update-access-key.json", "UpdateAccessKey", []Change{{Provider: "aws", Type: "AWS::IAM::AccessKey", ID: "arn:aws:iam::111111111111:user/ci-deployer/accesskey/AKIAFAKENEW000000009",
			Name: "AKIAFAKENEW000000009", User: "ci-deployer", Scope: acct, Region: "global"}}},
		// No userName: the caller (IAM user mallory) deleted its own key.
		{"aws/delete-access-key.json", "DeleteAccessKey", []Change{{Provider: "aws", Type: "AWS::IAM::AccessKey", ID: "arn:aws:iam::111111111111:user/mallory/accesskey/AKIAFAKENEW000000009",
			Name: "AKIAFAKENEW000000009", User: "mallory", Scope: acct, Region: "global", Deleted: true}}},
		{"gcp/compute-firewalls-delete.json", "v1.compute.firewalls.delete", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Firewall",
			ID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-anywhere", Name: "allow-ssh-anywhere", Scope: "acme-prod", Region: "global", Deleted: true}}},
		{"gcp/compute-instances-delete.json", "v1.compute.instances.delete", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Instance",
			ID: "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-9", Name: "web-9", Scope: "acme-prod", Region: "europe-west1", Deleted: true}}},
		// The instance stays (neither created nor deleted): its external IP
		// or metadata changed; the zone's region is the zone less "-b".
		{"gcp/compute-instances-delete-access-config.json", "v1.compute.instances.deleteAccessConfig", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Instance",
			ID: "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1", Name: "web-1", Scope: "acme-prod", Region: "europe-west1"}}},
		{"gcp/compute-instances-set-metadata.json", "v1.compute.instances.setMetadata", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Instance",
			ID: "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1", Name: "web-1", Scope: "acme-prod", Region: "europe-west1"}}},
		{"gcp/compute-networks-delete.json", "v1.compute.networks.delete", []Change{{Provider: "gcp", Type: "compute.googleapis.com/Network",
			ID: "//compute.googleapis.com/projects/acme-prod/global/networks/shadow-vpc", Name: "shadow-vpc", Scope: "acme-prod", Region: "global", Deleted: true}}},
		{"gcp/storage-buckets-delete.json", "storage.buckets.delete", []Change{{Provider: "gcp", Type: "storage.googleapis.com/Bucket",
			ID: "//storage.googleapis.com/acme-exports", Name: "acme-exports", Scope: "acme-prod", Deleted: true}}},
		{"gcp/logging-create-sink.json", "google.logging.v2.ConfigServiceV2.CreateSink", []Change{{Provider: "gcp", Type: "logging.googleapis.com/LogSink",
			ID: "//logging.googleapis.com/projects/acme-prod/sinks/vigil-events", Name: "vigil-events", Scope: "acme-prod", Region: "global", Created: true, Dependents: true}}},
		// Resource Manager v3 logs the RPC's full name.
		{"gcp/projects-set-iam-policy-v3.json", "google.cloud.resourcemanager.v3.Projects.SetIamPolicy", []Change{{Provider: "gcp", Type: crm,
			ID: "//cloudresourcemanager.googleapis.com/projects/acme-prod", Name: "acme-prod", Scope: "acme-prod", Region: "global", Dependents: true}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ev, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != KindConfig || ev.Name != tc.name || ev.ID == "" || ev.Time.IsZero() {
				t.Errorf("event: kind %q name %q id %q time %v", ev.Kind, ev.Name, ev.ID, ev.Time)
			}
			if d := cmp.Diff(tc.want, ev.Changes); d != "" {
				t.Errorf("changes (-want +got):\n%s", d)
			}
		})
	}
}

// The id is what makes redelivery idempotent: CloudTrail's own event id
// (the same when one record reaches the queue by two rules), the log
// entry's log name and insert id.
func TestIDs(t *testing.T) {
	for file, want := range map[string]string{
		"aws/authorize-security-group-ingress.json": "aws:cloudtrail:",
		"gcp/compute-firewalls-insert.json":         "gcp:log:projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity:",
	} {
		raw, _ := os.ReadFile(filepath.Join("testdata", file))
		a, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Parse(raw)
		if !strings.HasPrefix(a.ID, want) || a.ID != b.ID || len(a.ID) <= len(want) {
			t.Errorf("%s: id %q (want prefix %q, stable)", file, a.ID, want)
		}
	}
}

func TestAlerts(t *testing.T) {
	for _, tc := range []struct {
		path, source, typ string
		resources         int
	}{
		{testutil.Path(t, "examples", "alerts", "guardduty-eventbridge-access-key.json"), "guardduty", "UnauthorizedAccess:IAMUser/MaliciousIPCaller", 1},
		{filepath.Join("testdata", "aws", "securityhub-findings-imported.json"), "securityhub", "", 1},
		{testutil.Path(t, "examples", "alerts", "scc-pubsub-notification.json"), "scc", "", 1},
	} {
		raw, err := os.ReadFile(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if ev.Kind != KindAlert || ev.Source != tc.source || len(ev.Alerts) != 1 || len(ev.Alerts[0].Resources) != tc.resources || len(ev.Body) == 0 {
			t.Errorf("%s: %+v", tc.path, ev)
		}
		if tc.typ != "" && ev.Name != tc.typ {
			t.Errorf("%s: name %q", tc.path, ev.Name)
		}
	}
}

func TestIgnoredAndMalformed(t *testing.T) {
	for _, f := range []string{"aws/failed-call.json", "aws/unwatched-call.json", "gcp/failed-call.json"} {
		raw, _ := os.ReadFile(filepath.Join("testdata", f))
		if _, err := Parse(raw); !errors.Is(err, ErrIgnored) {
			t.Errorf("%s: %v, want ignored", f, err)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{``, "empty body"},
		{"{\n\"id\": 1,\n oops", "line 3: invalid JSON"},
		{`[1,2]`, "not a JSON object"},
		{`{"hello": "world"}`, "not an event vigil reads"},
		{`{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","detail":{}}`, "without an id"},
		{`{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","detail":{"eventName":"CreateVpc","eventSource":"ec2.amazonaws.com","responseElements":{}}}`, "no responseElements.vpc.vpcId"},
		{`{"logName":"l","insertId":"i","protoPayload":{"serviceName":"compute.googleapis.com","methodName":"v1.compute.firewalls.insert","resourceName":"projects/p/global"}}`, "does not name"},
		{`{"message":{"data":"%%%"}}`, "not base64"},
		{`{"version":"0","id":"x","detail-type":"GuardDuty Finding","source":"aws.guardduty","detail":{"type":"x"}}`, "guardduty finding"},
	} {
		_, err := Parse([]byte(tc.body))
		if !IsMalformed(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want malformed %q", tc.body, err, tc.want)
		}
	}
}

// An SNS notification around an EventBridge event and a Pub/Sub push
// envelope around a log entry are unwrapped.
func TestEnvelopes(t *testing.T) {
	raw, _ := os.ReadFile(filepath.Join("testdata", "aws", "authorize-security-group-ingress.json"))
	sns := `{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:eu-west-1:111111111111:t","Message":` + quote(string(raw)) + `}`
	ev, err := Parse([]byte(sns))
	if err != nil || ev.Name != "AuthorizeSecurityGroupIngress" {
		t.Fatalf("sns: %v %+v", err, ev)
	}
	raw, _ = os.ReadFile(filepath.Join("testdata", "gcp", "compute-firewalls-insert.json"))
	push := `{"message":{"data":"` + b64(raw) + `","messageId":"1"},"subscription":"projects/p/subscriptions/s"}`
	ev, err = Parse([]byte(push))
	if err != nil || ev.Name != "v1.compute.firewalls.insert" {
		t.Fatalf("push: %v %+v", err, ev)
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"aws", "gcp"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, p := range files {
			raw, _ := os.ReadFile(p)
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err == nil && (ev.ID == "" || (ev.Kind != KindConfig && ev.Kind != KindAlert)) {
			t.Fatalf("event without id or kind: %+v", ev)
		}
		if err != nil && !IsMalformed(err) && !errors.Is(err, ErrIgnored) {
			t.Fatalf("error neither malformed nor ignored: %v", err)
		}
	})
}

// Well-formed events vigil has nothing to re-read are acknowledged, with
// the reason; a change vigil cannot re-read in that form (an account's S3
// public access block deleted) says so apart, for a louder log line.
func TestIgnoredAndNotRead(t *testing.T) {
	for _, tc := range []struct {
		file, why string
		notRead   bool
	}{
		{"aws/delete-account-public-access-block.json", "DeletePublicAccessBlock on account 111111111111 (S3 Control) names no bucket", true},
		{"gcp/folders-set-iam-policy-v3.json", "IAM policy of folders/511904211743", false},
		{"aws/failed-call.json", "failed", false},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(raw)
		if !errors.Is(err, ErrIgnored) || errors.Is(err, ErrNotRead) != tc.notRead || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: %v (not read: %v)", tc.file, err, errors.Is(err, ErrNotRead))
		}
	}
	// A closing call in a form vigil cannot map to an asset id (the
	// default-VPC form of Revoke names the group by name; S3 Control's
	// account-level block names no bucket) is said to be not read, not
	// dead-lettered.
	for file, edit := range map[string][2]string{
		"aws/revoke-security-group-ingress.json": {`"groupId": "sg-0aaaaaaaaaaaa0003"`, `"groupName": "web"`},
		"aws/delete-security-group.json":         {`"groupId": "sg-0aaaaaaaaaaaa0003"`, `"groupName": "web"`},
		"aws/put-public-access-block.json":       {`"bucketName": "acme-prod-reports"`, `"Host": "111111111111.s3-control.eu-west-1.amazonaws.com"`},
	} {
		raw, _ := os.ReadFile(filepath.Join("testdata", file))
		if !strings.Contains(string(raw), edit[0]) {
			t.Fatalf("%s has no %s", file, edit[0])
		}
		_, err := Parse([]byte(strings.ReplaceAll(string(raw), edit[0], edit[1])))
		if !errors.Is(err, ErrNotRead) || IsMalformed(err) {
			t.Errorf("%s with %s: %v, want not read", file, edit[1], err)
		}
	}
	// A sink of a billing account is no node vigil judges; a sink name of
	// no known form is malformed.
	raw, _ := os.ReadFile(filepath.Join("testdata", "gcp", "logging-update-org-sink.json"))
	billing := strings.ReplaceAll(string(raw), "organizations/684315297612/sinks/vigil-events", "billingAccounts/0123AB-4567CD-89EF01/sinks/vigil-events")
	if _, err := Parse([]byte(billing)); !errors.Is(err, ErrIgnored) {
		t.Errorf("billing account sink: %v", err)
	}
	odd := strings.ReplaceAll(string(raw), "organizations/684315297612/sinks/vigil-events", "organizations/684315297612/things/vigil-events")
	if _, err := Parse([]byte(odd)); !IsMalformed(err) || !strings.Contains(err.Error(), "organizations/O/sinks/S") {
		t.Errorf("odd sink name: %v", err)
	}
}

// Resource Manager logs one method under several spellings (v1's, the
// v3 RPC's full name, the REST-style names of Google's "Resource Manager
// audit logging" page): each is the same change, and the log sink filter
// lets each through (it names a part of each, see AuditMethods).
func TestResourceManagerSpellings(t *testing.T) {
	for _, tc := range []struct {
		file, method string
		created      bool
	}{
		{"projects-set-iam-policy.json", "SetIamPolicy", false},
		{"projects-set-iam-policy.json", "google.cloud.resourcemanager.v3.Projects.SetIamPolicy", false},
		{"projects-set-iam-policy.json", "cloudresourcemanager.v3.projects.setIamPolicy", false},
		{"projects-create.json", "CreateProject", true},
		{"projects-create.json", "google.cloudresourcemanager.v3.Projects.CreateProject", true},
		{"projects-create.json", "cloudresourcemanager.v3.projects.create", true},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "gcp", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		var le map[string]any
		if err := json.Unmarshal(raw, &le); err != nil {
			t.Fatal(err)
		}
		le["protoPayload"].(map[string]any)["methodName"] = tc.method
		body, _ := json.Marshal(le)
		ev, err := Parse(body)
		if err != nil {
			t.Errorf("%s: %v", tc.method, err)
			continue
		}
		if len(ev.Changes) != 1 || ev.Changes[0].Type != "cloudresourcemanager.googleapis.com/Project" || ev.Changes[0].Created != tc.created {
			t.Errorf("%s: changes %+v", tc.method, ev.Changes)
		}
		passes := false
		for _, m := range AuditMethods["cloudresourcemanager.googleapis.com"] {
			passes = passes || strings.Contains(tc.method, m)
		}
		if !passes {
			t.Errorf("%s: the log sink filter does not let it through", tc.method)
		}
	}
	// Other Resource Manager methods are not watched.
	raw, _ := os.ReadFile(filepath.Join("testdata", "gcp", "projects-create.json"))
	other := strings.Replace(string(raw), "google.cloudresourcemanager.v3.Projects.CreateProject", "cloudresourcemanager.v3.projects.delete", 1)
	if _, err := Parse([]byte(other)); !errors.Is(err, ErrIgnored) {
		t.Errorf("projects.delete: %v", err)
	}
}
