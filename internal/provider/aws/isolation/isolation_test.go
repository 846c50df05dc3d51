package isolation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRecords(t *testing.T) {
	groups := map[string][]string{"eni-2": {"sg-c"}, "eni-1": {"sg-a", "sg-b"}}
	enc := EncodeGroups(groups)
	if enc != "eni-1=sg-a+sg-b;eni-2=sg-c" {
		t.Errorf("encoded %q", enc)
	}
	if diff := cmp.Diff(groups, DecodeGroups(enc)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	acls := map[string]string{"subnet-1": "acl-a"}
	if got := DecodeACLs(EncodeACLs(acls)); !cmp.Equal(got, acls) {
		t.Errorf("acls %v", got)
	}
	if len(DecodeGroups("")) != 0 {
		t.Error("empty tag")
	}
}

func TestWays(t *testing.T) {
	if w, err := Way(""); err != nil || w != NACL {
		t.Errorf("default %q %v", w, err)
	}
	if _, err := Way("rst"); err == nil || !strings.Contains(err.Error(), "nacl, untrack, none") {
		t.Errorf("err %v", err)
	}
	for _, w := range Ways {
		r := Risk(w, "vpc-1", []string{"subnet-1"}, []string{"i-2"})
		if !strings.Contains(r, "risk") && w != None || !strings.Contains(r, "https://docs.aws.amazon.com/") {
			t.Errorf("%s: %s", w, r)
		}
	}
	if r := Risk(NACL, "vpc-1", []string{"subnet-1"}, []string{"i-2", "i-3"}); !strings.Contains(r, "2 other instances are in them now (i-2, i-3)") {
		t.Error(r)
	}
}
