package logfilter

import (
	"slices"
	"testing"
)

// The filters of CIS GCP Foundations 3.0 (2.4, 2.7, 2.8, 2.9) as the
// benchmark prints them, written other ways (line breaks, reordered terms,
// a value list, a regular expression), and near misses; the changes each
// covers are worked out from the Logging query language's rules: = is
// equality, : a case-insensitive substring, OR binds tighter than AND.
func TestGCPCovers(t *testing.T) {
	const (
		own = "project ownership changes"
		fw  = "firewall rule changes"
		rt  = "route changes"
		net = "network changes"
	)
	for _, tc := range []struct {
		q        string
		want     []string
		catchAll bool
	}{
		// CIS 2.4, verbatim
		{`(protoPayload.serviceName="cloudresourcemanager.googleapis.com") AND (ProjectOwnership OR projectOwnerInvitee) OR (protoPayload.serviceData.policyDelta.bindingDeltas.action="REMOVE" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner") OR (protoPayload.serviceData.policyDelta.bindingDeltas.action="ADD" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner")`, []string{own}, false},
		// removals of owners only (the ADD clause left out): additions raise nothing
		{`(protoPayload.serviceName="cloudresourcemanager.googleapis.com") AND (ProjectOwnership OR projectOwnerInvitee) OR (protoPayload.serviceData.policyDelta.bindingDeltas.action="REMOVE" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner")`, nil, false},
		// only additions of owners: removals raise nothing
		{`protoPayload.serviceData.policyDelta.bindingDeltas.action="ADD" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner"`, nil, false},
		// CIS 2.7, verbatim, then on three lines with the terms reordered
		{`resource.type="gce_firewall_rule" AND (protoPayload.methodName:"compute.firewalls.patch" OR protoPayload.methodName:"compute.firewalls.insert" OR protoPayload.methodName:"compute.firewalls.delete")`, []string{fw}, false},
		{"(protoPayload.methodName:\"compute.firewalls.delete\"\n  OR protoPayload.methodName:\"compute.firewalls.insert\"\n  OR protoPayload.methodName:\"compute.firewalls.patch\")\nresource.type = \"gce_firewall_rule\"", []string{fw}, false},
		// a value list, bare values
		{`resource.type=gce_firewall_rule protoPayload.methodName:(insert OR patch OR delete)`, []string{fw}, false},
		// every entry of the type: covers it
		{`resource.type="gce_firewall_rule"`, []string{fw}, false},
		// inserts only: patches and deletions raise nothing
		{`resource.type="gce_firewall_rule" AND protoPayload.methodName="v1.compute.firewalls.insert"`, nil, false},
		// CIS 2.8 and a regular expression; gce_router is not gce_route
		{`resource.type="gce_route" AND (protoPayload.methodName:"compute.routes.delete" OR protoPayload.methodName:"compute.routes.insert")`, []string{rt}, false},
		{`resource.type="gce_route" protoPayload.methodName=~"compute\.routes\.(insert|delete)$"`, []string{rt}, false},
		{`resource.type="gce_router"`, nil, false},
		// CIS 2.9
		{`resource.type="gce_network" AND (protoPayload.methodName:"compute.networks.insert" OR protoPayload.methodName:"compute.networks.patch" OR protoPayload.methodName:"compute.networks.delete" OR protoPayload.methodName:"compute.networks.removePeering" OR protoPayload.methodName:"compute.networks.addPeering")`, []string{net}, false},
		// without the peering methods CIS 2.9 names
		{`resource.type="gce_network" AND (protoPayload.methodName:"compute.networks.insert" OR protoPayload.methodName:"compute.networks.patch" OR protoPayload.methodName:"compute.networks.delete")`, nil, false},
		// one metric for all three network changes
		{`resource.type=("gce_firewall_rule" OR "gce_route" OR "gce_network")`, []string{fw, net, rt}, false},
		// negated: every other type
		{`NOT resource.type="gce_firewall_rule"`, []string{net, own, rt}, true},
		{`-resource.type="gce_instance"`, []string{fw, net, own, rt}, true},
		// an empty filter matches every entry
		{``, []string{fw, net, own, rt}, true},
		// a global restriction alone proves nothing
		{`firewall`, nil, false},
	} {
		q, err := ParseGCP(tc.q)
		if err != nil {
			t.Errorf("%s: %v", tc.q, err)
			continue
		}
		got, all := q.Covers()
		if !slices.Equal(got, tc.want) || all != tc.catchAll {
			t.Errorf("%s:\n covers %v catch-all %v, want %v %v", tc.q, got, all, tc.want, tc.catchAll)
		}
	}
}

func TestGCPParseErrors(t *testing.T) {
	for _, q := range []string{`(resource.type="gce_route"`, `resource.type=`, `)`, `resource.type=()`} {
		if _, err := ParseGCP(q); err == nil {
			t.Errorf("%q parsed", q)
		}
	}
}
