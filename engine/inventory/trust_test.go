package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Trust policies with NotAction and NotPrincipal, by hand from IAM's
// evaluation: NotAction covers sts:AssumeRole unless it lists it; an Allow
// with NotPrincipal lets all but those it names; a Deny with NotPrincipal
// denies all but those it names.
func TestTrustBindings(t *testing.T) {
	const ir = "arn:aws:iam::999999999999:role/IR"
	const root = "arn:aws:iam::111111111111:root"
	allow := func(m ...string) asset.Binding { return asset.Binding{Role: "sts:AssumeRole", Members: m} }
	deny := func(m ...string) asset.Binding { return asset.Binding{Role: DeniedAssumeRole, Members: m} }
	allBut := func(m ...string) asset.Binding {
		return asset.Binding{Role: DeniedAllButAssumeRole, Members: append([]string{}, m...)}
	}
	for _, tt := range []struct {
		name, doc string
		want      []asset.Binding
	}{
		{"NotAction of the other assume calls", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + ir + `"},"NotAction":["sts:AssumeRoleWithSAML","sts:AssumeRoleWithWebIdentity"]}]}`,
			[]asset.Binding{allow(ir)}},
		{"NotAction sts:*", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + ir + `"},"NotAction":"sts:*"}]}`, nil},
		{"Deny NotAction s3:*", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + ir + `"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","NotAction":"s3:*"}]}`,
			[]asset.Binding{allow(ir), deny("*")}},
		{"Deny NotPrincipal spares the IR role", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"AWS":["` + ir + `","999999999999"]},"Action":"sts:AssumeRole"}]}`,
			[]asset.Binding{allow(root), allBut("999999999999", ir)}},
		{"Deny NotPrincipal with a Condition applies only sometimes", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + ir + `"},"Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"AWS":"` + root + `"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}`,
			[]asset.Binding{allow(ir)}},
		{"Deny NotPrincipal of a service only", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + ir + `"},"Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			[]asset.Binding{allow(ir), allBut()}},
		// an account in NotPrincipal leaves out its root user only
		{"Allow NotPrincipal of an account", `{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sts:AssumeRole"}}`,
			[]asset.Binding{allow("*")}},
		{"Allow NotPrincipal of a role", `{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":["arn:aws:iam::222222222222:role/x","222222222222"]},"Action":"sts:AssumeRole"}}`,
			[]asset.Binding{allow("*"), deny("arn:aws:iam::222222222222:role/x")}},
		{"Allow NotPrincipal, the excluded one allowed by name elsewhere", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"` + ir + `"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"` + ir + `"},"Action":"sts:AssumeRole"}]}`,
			[]asset.Binding{allow("*", ir)}},
	} {
		got, err := TrustBindings(tt.doc)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
}

// A bucket policy's Allow with NotPrincipal grants everyone else: public.
func TestPolicyIsPublicNotPrincipal(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`:                                                          true,
		`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}`:                                                                   false,
		`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}]}`: false,
	} {
		got, err := PolicyIsPublic([]byte(doc))
		if err != nil || got != want {
			t.Errorf("PolicyIsPublic(%s) = %v, %v; want %v", doc, got, err, want)
		}
	}
}
