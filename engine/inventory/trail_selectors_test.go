package inventory

import (
	"encoding/json"
	"testing"
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
