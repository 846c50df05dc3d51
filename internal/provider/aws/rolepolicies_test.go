package aws

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/policies"
)

const (
	readOnlyAccess = "arn:aws:iam::aws:policy/ReadOnlyAccess"
	responderArn   = "arn:aws:iam::" + awsfake.ProdAccount + ":policy/ir-responder"
	// The AWS managed ReadOnlyAccess, shortened: its actions read.
	readOnlyDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","s3:Get*","s3:List*","iam:Get*","iam:List*"],"Resource":"*"}]}`
	// ir-responder's v1 only read; v2, the default, snapshots and isolates.
	responderV1 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
	responderV2 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2:CreateSnapshot","ec2:ModifyInstanceAttribute"],"Resource":"*"}]}`
)

// scanIAM002 collects from the fake and says whether VGL-IAM-002 fires on
// the prod account, with the collected roles by name.
func scanIAM002(t *testing.T, f *awsfake.Fake, opts Options) (bool, map[string]*asset.Asset) {
	t.Helper()
	inv, sum := collect(t, opts)
	if len(sum.Failures) > 0 {
		t.Fatalf("failures: %v", sum.Failures)
	}
	roles := map[string]*asset.Asset{}
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindRole {
			roles[a.Name] = a
		}
	}
	cfg, _, diags := config.Parse([]byte(`ir_principals = ["`+awsfake.IRRole+`"]`), "vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Only: []string{"VGL-IAM-002"},
		Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{inv}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Findings.Close()
	fires := false
	for _, fd := range res.Findings.Slice() {
		if fd.PolicyID == "VGL-IAM-002" && fd.AssetID == asset.AccountID(awsfake.ProdAccount) {
			fires = true
		}
	}
	return fires, roles
}

// The collector reads each role's inline policies (ListRolePolicies,
// GetRolePolicy) and attached managed policies (ListAttachedRolePolicies,
// GetPolicy for the default version, GetPolicyVersion for its document),
// URL-encoded on the wire as IAM sends them; VGL-IAM-002 then sees that
// the break-glass role with only ReadOnlyAccess gives the IR team no way
// to act, and that one whose customer policy's default version (v2, not
// v1) writes, or whose inline policy allows NotAction, does.
func TestCollectRolePermissions(t *testing.T) {
	t.Run("read-only attached", func(t *testing.T) {
		f, opts := start(t)
		awsfake.AddIssue19(f)
		f.With(func(f *awsfake.Fake) {
			m := f.More(awsfake.ProdAccount)
			m.Policies[readOnlyAccess] = &awsfake.ManagedPolicy{Name: "ReadOnlyAccess", DefaultVersion: "v118", Versions: map[string]string{"v118": readOnlyDoc}}
			m.Roles["ir-break-glass"].Attached = []string{readOnlyAccess}
			delete(f.Get(awsfake.ProdAccount).RolePolicies, "ir-break-glass")
			// a second role attaching it: GetPolicy is asked once
			m.Roles["auditor"] = &awsfake.Role{Name: "auditor", Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + awsfake.ProdAccount + `:root"},"Action":"sts:AssumeRole"}]}`,
				Attached:    []string{readOnlyAccess}}
		})
		fires, roles := scanIAM002(t, f, opts)
		bg := roles["ir-break-glass"]
		if bg == nil || bg.Facets.ReadOnly == nil || !*bg.Facets.ReadOnly {
			t.Fatalf("ir-break-glass: %+v", bg)
		}
		if !fires {
			t.Error("VGL-IAM-002 silent: the only role trusting the IR team only reads")
		}
		var data struct {
			Configuration struct {
				Attached []struct{ PolicyName, PolicyArn, PolicyDocument string } `json:"attachedManagedPolicies"`
				Inline   []json.RawMessage                                        `json:"rolePolicyList"`
			} `json:"configuration"`
		}
		if err := json.Unmarshal(bg.Data, &data); err != nil {
			t.Fatal(err)
		}
		a := data.Configuration.Attached
		if len(a) != 1 || a[0].PolicyName != "ReadOnlyAccess" || a[0].PolicyArn != readOnlyAccess || data.Configuration.Inline == nil || len(data.Configuration.Inline) != 0 {
			t.Fatalf("configuration: %+v", data.Configuration)
		}
		// kept URL-encoded as IAM returned it
		if !strings.HasPrefix(a[0].PolicyDocument, "%7B%22Version%22%3A") {
			t.Errorf("document %q, want it URL-encoded", a[0].PolicyDocument)
		}
		if dec, _ := url.QueryUnescape(a[0].PolicyDocument); dec != readOnlyDoc {
			t.Errorf("document decodes to %q", dec)
		}
		n := 0
		for _, c := range f.Calls() {
			if c.Operation == "GetPolicy" {
				n++
			}
			if c.Operation == "GetPolicyVersion" && (c.Params["VersionId"][0] != "v118" || c.Params["PolicyArn"][0] != readOnlyAccess) {
				t.Errorf("GetPolicyVersion %v", c.Params)
			}
		}
		if n != 1 {
			t.Errorf("%d GetPolicy calls, want 1 (two roles, one policy)", n)
		}
	})
	t.Run("default version writes", func(t *testing.T) {
		f, opts := start(t)
		awsfake.AddIssue19(f)
		f.With(func(f *awsfake.Fake) {
			m := f.More(awsfake.ProdAccount)
			m.Policies[readOnlyAccess] = &awsfake.ManagedPolicy{Name: "ReadOnlyAccess", DefaultVersion: "v1", Versions: map[string]string{"v1": readOnlyDoc}}
			m.Policies[responderArn] = &awsfake.ManagedPolicy{Name: "ir-responder", DefaultVersion: "v2", Versions: map[string]string{"v1": responderV1, "v2": responderV2}}
			m.Roles["ir-break-glass"].Attached = []string{readOnlyAccess, responderArn}
			delete(f.Get(awsfake.ProdAccount).RolePolicies, "ir-break-glass")
		})
		fires, roles := scanIAM002(t, f, opts)
		if bg := roles["ir-break-glass"]; bg == nil || bg.Facets.ReadOnly != nil {
			t.Fatalf("ir-break-glass read-only: %+v", bg)
		}
		if fires {
			t.Error("VGL-IAM-002 fires: ir-responder v2 lets the team snapshot and isolate")
		}
	})
	t.Run("customer policy read-only by document", func(t *testing.T) {
		// Named like a writer, reads only: the document decides.
		f, opts := start(t)
		awsfake.AddIssue19(f)
		f.With(func(f *awsfake.Fake) {
			m := f.More(awsfake.ProdAccount)
			m.Policies[responderArn] = &awsfake.ManagedPolicy{Name: "ir-responder", DefaultVersion: "v1", Versions: map[string]string{"v1": responderV1, "v2": responderV2}}
			m.Roles["ir-break-glass"].Attached = []string{responderArn}
			delete(f.Get(awsfake.ProdAccount).RolePolicies, "ir-break-glass")
		})
		if fires, _ := scanIAM002(t, f, opts); !fires {
			t.Error("VGL-IAM-002 silent: ir-responder's default v1 only describes")
		}
	})
	t.Run("inline policies", func(t *testing.T) {
		f, opts := start(t)
		awsfake.AddIssue19(f)
		f.With(func(f *awsfake.Fake) {
			f.More(awsfake.ProdAccount).Roles["ir-break-glass"].Attached = nil
			prod := f.Get(awsfake.ProdAccount)
			prod.RolePolicies["ir-break-glass"] = map[string]string{
				"describe":    `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}`,
				"all-but-iam": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`,
			}
		})
		fires, roles := scanIAM002(t, f, opts)
		bg := roles["ir-break-glass"]
		if bg == nil || bg.Facets.ReadOnly != nil {
			t.Fatalf("ir-break-glass read-only: %+v", bg)
		}
		if fires {
			t.Error("VGL-IAM-002 fires: Allow NotAction iam:* grants every other action")
		}
		if !strings.Contains(string(bg.Data), `"policyName":"all-but-iam"`) || !strings.Contains(string(bg.Data), `"policyName":"describe"`) {
			t.Errorf("inline policies not in the configuration: %s", bg.Data)
		}
	})
	t.Run("inline read-only", func(t *testing.T) {
		f, opts := start(t)
		awsfake.AddIssue19(f)
		f.With(func(f *awsfake.Fake) {
			f.More(awsfake.ProdAccount).Roles["ir-break-glass"].Attached = nil
			f.Get(awsfake.ProdAccount).RolePolicies["ir-break-glass"] = map[string]string{
				"describe": `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["ec2:Describe*","logs:FilterLogEvents"],"Resource":"*"},"Id":"x"}`,
			}
		})
		// logs:FilterLogEvents is a read IAM lists as Read, but its verb
		// is not one vigil knows: the role counts as able to act.
		if fires, _ := scanIAM002(t, f, opts); fires {
			t.Error("VGL-IAM-002 fires on a verb vigil does not know to be read-only")
		}
		f2, opts2 := start(t)
		awsfake.AddIssue19(f2)
		f2.With(func(f *awsfake.Fake) {
			f.More(awsfake.ProdAccount).Roles["ir-break-glass"].Attached = nil
			f.Get(awsfake.ProdAccount).RolePolicies["ir-break-glass"] = map[string]string{
				"describe": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","s3:GetObject"],"Resource":"*"},{"Effect":"Deny","NotAction":"s3:GetObject","Resource":"*"}]}`,
			}
		})
		if fires, _ := scanIAM002(t, f2, opts2); !fires {
			t.Error("VGL-IAM-002 silent: the inline policy only describes and reads objects")
		}
	})
	t.Run("denied", func(t *testing.T) {
		// Without the new permissions the role is kept, its permissions
		// unknown, and the failure names the call.
		f, opts := start(t)
		awsfake.AddIssue19(f)
		f.Inject(awsfake.Fault{Service: "iam", Operation: "ListRolePolicies", Kind: "denied", Times: -1})
		inv, sum := collect(t, opts)
		if len(sum.Failures) != 1 || sum.Failures[0].Service != "iam:ListRolePolicies" {
			t.Fatalf("failures: %+v", sum.Failures)
		}
		bg := byName(inv, asset.KindRole, "ir-break-glass")
		if bg == nil || bg.Facets.ReadOnly != nil || len(bg.Facets.Bindings) != 1 || strings.Contains(string(bg.Data), "rolePolicyList") {
			t.Fatalf("ir-break-glass: %+v %s", bg, bg.Data)
		}
	})
}
