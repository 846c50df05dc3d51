package inventory

import (
	"encoding/json"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Which management events a trail's selectors record (CIS AWS 3.1), by
// hand from CloudTrail's GetEventSelectors documentation: basic selectors
// default to All with management events; advanced ones record management
// events when eventCategory equals Management, readOnly narrowing them.
func TestTrailManagementEvents(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{}`, ""},
		{`{"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true}]}`, "All"},
		{`{"eventSelectors": [{"readWriteType": "ReadOnly", "includeManagementEvents": false}]}`, "none"},
		{`{"eventSelectors": [{"readWriteType": "ReadOnly"}]}`, "ReadOnly"},
		{`{"eventSelectors": [{"readWriteType": "ReadOnly"}, {"readWriteType": "WriteOnly"}]}`, "All"},
		{`{"advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]}`, "All"},
		{`{"advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}, {"field": "readOnly", "equals": ["false"]}]}]}`, "WriteOnly"},
		{`{"advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}]}]}`, "none"},
	} {
		var tr awsTrail
		if err := json.Unmarshal([]byte(c.config), &tr); err != nil {
			t.Fatal(err)
		}
		if got := tr.managementEvents(); got != c.want {
			t.Errorf("%s: %q, want %q", c.config, got, c.want)
		}
	}
}

// exemptedMembers of an IAM policy's audit log configs (CIS GCP 2.1), in
// the API's camelCase and CAI's snake_case.
func TestAuditConfigExemptions(t *testing.T) {
	var p GCPIAMPolicy
	raw := `{"auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "ADMIN_READ"}, {"logType": "DATA_READ", "exemptedMembers": ["user:bob@example.com"]}]}],
		"audit_configs": [{"service": "storage.googleapis.com", "audit_log_configs": [{"log_type": "DATA_WRITE", "exempted_members": ["user:eve@example.com", "user:bob@example.com"]}]}]}`
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatal(err)
	}
	_, acs := p.facets()
	if len(acs) != 2 || len(acs[0].Exempted) != 1 || acs[0].Exempted[0] != "user:bob@example.com" ||
		len(acs[1].Exempted) != 2 || acs[1].Exempted[0] != "user:eve@example.com" {
		t.Errorf("audit configs %+v", acs)
	}
}

// A key's account: CAI names the key by the account's unique id, its
// data.name by the account's email (gcp1 of review 19: VGL-KEY-006 must
// see 3001-compute@developer.gserviceaccount.com).
func TestServiceAccountKeyUser(t *testing.T) {
	for _, c := range []struct{ id, dataName, want string }{
		{"//iam.googleapis.com/projects/p-a/serviceAccounts/777000111/keys/k1", "projects/p-a/serviceAccounts/3001-compute@developer.gserviceaccount.com/keys/k1", "3001-compute@developer.gserviceaccount.com"},
		{"//iam.googleapis.com/projects/p-a/serviceAccounts/app@p-a.iam.gserviceaccount.com/keys/k1", "", "app@p-a.iam.gserviceaccount.com"},
		{"//iam.googleapis.com/projects/p-a/serviceAccounts/777000111/keys/k1", "projects/p-a/serviceAccounts/777000111/keys/k1", "777000111"},
	} {
		k := &gcpServiceAccountKey{}
		k.Name = c.dataName
		a := &asset.Asset{ID: c.id}
		if err := k.apply(a, nil); err != nil {
			t.Fatal(err)
		}
		if a.Facets.User != c.want {
			t.Errorf("%s: user %q, want %q", c.id, a.Facets.User, c.want)
		}
	}
}
