package triage

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/policies"
)

// awsRoleSnapshot writes an AWS Config snapshot of account 111111111111
// holding one IAM role with the trust policy and managed policies given,
// URL-encoded as AWS Config records the trust.
func awsRoleSnapshot(t *testing.T, trust string, managed ...string) string {
	t.Helper()
	pols := []map[string]string{}
	for _, m := range managed {
		pols = append(pols, map[string]string{"policyName": m, "policyArn": "arn:aws:iam::aws:policy/" + m})
	}
	item := map[string]any{
		"configurationItemVersion": "1.3", "configurationItemCaptureTime": "2026-11-20T08:00:00.000Z", "configurationItemStatus": "OK",
		"awsAccountId": "111111111111", "resourceType": "AWS::IAM::Role", "resourceId": "AROAQ3EGV2EXAMPLE0001", "resourceName": "ir-break-glass",
		"ARN": "arn:aws:iam::111111111111:role/ir-break-glass", "awsRegion": "global", "tags": map[string]string{}, "relationships": []any{},
		"configuration": map[string]any{"roleName": "ir-break-glass", "arn": "arn:aws:iam::111111111111:role/ir-break-glass",
			"assumeRolePolicyDocument": url.QueryEscape(trust), "rolePolicyList": []any{}, "attachedManagedPolicies": pols},
	}
	raw, _ := json.Marshal(map[string]any{"fileVersion": "1.0", "configSnapshotId": "x", "configurationItems": []any{item}})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "aws-config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Review 19, bug 5: on AWS, as on GCP, a role is emergency access only
// when the IR role may assume it (an Action matching sts:AssumeRole, no
// explicit Deny of it) and it can act (not read-only). VGL-IAM-002 and the
// card agree on each case, worked out from the trust policy by hand.
func TestAWSEmergencyAccessDenyReadOnlyWildcard(t *testing.T) {
	const ir = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:role/IR"},"Action":%s}`
	allow := func(action string) string { return strings.Replace(ir, "%s", action, 1) }
	doc := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}
	for _, tc := range []struct {
		name    string
		trust   string
		managed []string
		ok      bool   // the IR team can get in: no VGL-IAM-002, card "yes"
		card    string // start of the card's value
	}{
		{"plain AssumeRole, admin", doc(allow(`"sts:AssumeRole"`)), []string{"AdministratorAccess"}, true, "yes (1 roles)"},
		// sts:Assume* and sts:* match sts:AssumeRole as IAM matches actions
		{"sts:Assume*", doc(allow(`"sts:Assume*"`)), []string{"AdministratorAccess"}, true, "yes (1 roles)"},
		{"sts:* in a list", doc(allow(`["sts:TagSession","sts:*"]`)), nil, true, "yes (1 roles)"},
		// sts:AssumeRoleWithSAML is another action
		{"only AssumeRoleWithSAML", doc(allow(`"sts:AssumeRoleWithSAML"`)), nil, false, "no: none of the 1 roles"},
		// an explicit Deny of everyone wins over the Allow
		{"Deny of *", doc(allow(`"sts:AssumeRole"`), `{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}`), nil, false, "no: no role of account 111111111111 lets"},
		// a Deny of the IR account's root covers the IR role of that account
		{"Deny of the IR account", doc(allow(`"sts:AssumeRole"`), `{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:*"}`), nil, false, "no: no role of account 111111111111 lets"},
		// a conditional Deny applies only sometimes: left out
		{"conditional Deny", doc(allow(`"sts:AssumeRole"`), `{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}`), nil, true, "yes (1 roles)"},
		// every attached policy read-only: the team could look, not act
		{"read-only role", doc(allow(`"sts:AssumeRole"`)), []string{"AmazonS3ReadOnlyAccess", "SecurityAudit"}, false, "no: no role of account 111111111111 lets"},
		// one policy that acts is enough
		{"read-only plus admin", doc(allow(`"sts:AssumeRole"`)), []string{"ReadOnlyAccess", "AdministratorAccess"}, true, "yes (1 roles)"},
		// NotAction takes in sts:AssumeRole unless it lists it
		{"NotAction of the other assume calls", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:role/IR"},"NotAction":["sts:AssumeRoleWithSAML","sts:AssumeRoleWithWebIdentity"]}`), nil, true, "yes (1 roles)"},
		{"NotAction sts:AssumeRole", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:role/IR"},"NotAction":"sts:AssumeRole"}`), nil, false, "no: none of the 1 roles"},
		{"Deny NotAction s3:*", doc(allow(`"sts:AssumeRole"`), `{"Effect":"Deny","Principal":{"AWS":"*"},"NotAction":"s3:*"}`), nil, false, "no: no role of account 111111111111 lets"},
		// a Deny with NotPrincipal denies all it does not spare
		{"Deny NotPrincipal sparing the IR role", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`, `{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::999999999999:role/IR","999999999999"]},"Action":"sts:AssumeRole"}`), nil, true, "yes (1 roles)"},
		// naming the IR account does not spare its role; its session ARN does
		{"Deny NotPrincipal sparing the IR account", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`, `{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`), nil, false, "no: no role of account 111111111111 lets"},
		{"Deny NotPrincipal sparing the IR session", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`, `{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:sts::999999999999:assumed-role/IR/responder"},"Action":"sts:AssumeRole"}`), nil, true, "yes (1 roles)"},
		{"Deny NotPrincipal sparing another role", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`, `{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::999999999999:role/admin"},"Action":"sts:AssumeRole"}`), nil, false, "no: no role of account 111111111111 lets"},
		// an Allow with NotPrincipal lets all but those it names
		{"Allow NotPrincipal of another account", doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sts:AssumeRole"}`), nil, true, "yes (1 roles)"},
		// ... and NotPrincipal names principals, not accounts: the IR
		// account's root is left out, its IR role is not
		{"Allow NotPrincipal of the IR account", doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`), nil, true, "yes (1 roles)"},
		{"Allow NotPrincipal of the IR role", doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::999999999999:role/IR"},"Action":"sts:AssumeRole"}`), nil, false, "no: no role of account 111111111111 lets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := awsRoleSnapshot(t, tc.trust, tc.managed...)
			cfg, _, diags := config.Load("../../testdata/posture/vigil.hcl")
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Only: []string{"VGL-IAM-002"},
				Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }})
			if err != nil {
				t.Fatal(err)
			}
			fs, err := inventory.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{fs}, Engine: e})
			if err != nil {
				t.Fatal(err)
			}
			n := len(res.Findings.Slice())
			res.Findings.Close()
			if (n == 0) != tc.ok {
				t.Errorf("VGL-IAM-002: %d findings, want access %v", n, tc.ok)
			}
			inv, err := inventory.Load(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			ans := Build(&Options{Inventory: inv, Config: cfg}, "arn:aws:iam::111111111111:role/ir-break-glass").Question(QEmergency)
			if !ans.Known || !strings.HasPrefix(ans.Value, tc.card) {
				t.Errorf("card: %v %q, want %q...\n%v", ans.Known, ans.Value, tc.card, ans.Details)
			}
			if tc.ok && !strings.Contains(strings.Join(ans.Details, "\n"), "role ir-break-glass trusts") {
				t.Errorf("the card does not name the role: %v", ans.Details)
			}
		})
	}
}
