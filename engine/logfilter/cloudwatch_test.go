package logfilter

import (
	"slices"
	"testing"
)

// Expected values by hand from the filter pattern syntax: = matches the
// value (with * as a wildcard), != its complement, || and && combine, &&
// binding tighter; a term on a field the event does not fix is unknown.
func TestCloudWatchMatch(t *testing.T) {
	ev := Event{"eventName": "CreatePolicy", "eventSource": "iam.amazonaws.com"}
	for _, c := range []struct {
		pattern string
		want    Tri
	}{
		{`{ ($.eventName = CreatePolicy) }`, True},
		{`{($.eventName=CreatePolicyVersion)||($.eventName=DeletePolicy)}`, False},
		{`{ $.eventName = "Create*" }`, True},
		{`{ ($.eventName != CreatePolicy) }`, False},
		{`{ ($.eventSource = iam.amazonaws.com) && ($.eventName = CreatePolicy) }`, True},
		{`{ ($.eventName = CreatePolicy) && ($.userIdentity.type = Root) }`, Unknown},
		{`{ ($.eventName = X) || ($.eventName = CreatePolicy) && ($.errorCode = "*") }`, Unknown},
		{`{ ($.eventName = %Create.*%) }`, Unknown},
		{`ERROR`, Unknown}, // a text pattern: the text is not known
	} {
		p, err := ParseCloudWatch(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.Match(ev); got != c.want {
			t.Errorf("%s: %v, want %v", c.pattern, got, c.want)
		}
	}
	for _, bad := range []string{`{ ($.eventName = X) `, `{ (eventName = X) }`, `{ ($.eventName X) }`, `{ ($.eventName = "X) }`, `{ ($.eventName = X }`} {
		if _, err := ParseCloudWatch(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// aws4 of review 19: an IAM filter without CreatePolicy/DeletePolicy does
// not cover them (no substring of *Version); a NACL filter of != terms
// matches everything, so it is a catch-all, not an alert on the change.
func TestCovers(t *testing.T) {
	iam, _ := ParseCloudWatch(`{($.eventName=DeleteGroupPolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion)}`)
	calls, all := iam.Covers()
	if want := []string{"CreatePolicyVersion", "DeleteGroupPolicy", "DeletePolicyVersion"}; !slices.Equal(calls, want) || all {
		t.Errorf("iam: %v %v, want %v false", calls, all, want)
	}
	nacl, _ := ParseCloudWatch(`{($.eventName!=CreateNetworkAclEntry) && ($.eventName!=DeleteNetworkAclEntry)}`)
	calls, all = nacl.Covers()
	if slices.Contains(calls, "CreateNetworkAclEntry") || !slices.Contains(calls, "CreateNetworkAcl") || !all {
		t.Errorf("nacl: %v %v", calls, all)
	}
}
