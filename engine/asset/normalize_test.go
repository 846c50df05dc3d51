package asset

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRegion(t *testing.T) {
	tests := map[string]string{
		"us-central1-c":  "us-central1",
		"europe-west1-b": "europe-west1",
		"us-central1":    "us-central1",
		"EU":             "eu",
		"US":             "us",
		"US-CENTRAL1":    "us-central1",
		"us-east-1b":     "us-east-1",
		"us-gov-west-1a": "us-gov-west-1",
		"eu-west-1":      "eu-west-1",
		"":               "global",
		"global":         "global",
		"Not Applicable": "global",
		"https://www.googleapis.com/compute/v1/projects/p/zones/asia-east1-a": "asia-east1",
		"nam4": "nam4",
	}
	for in, want := range tests {
		if got := Region(in); got != want {
			t.Errorf("Region(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNetworkID(t *testing.T) {
	tests := map[string]string{
		"https://www.googleapis.com/compute/v1/projects/p1/global/networks/default": "projects/p1/global/networks/default",
		"//compute.googleapis.com/projects/p1/global/networks/vpc":                  "projects/p1/global/networks/vpc",
		"projects/p1/global/networks/vpc":                                           "projects/p1/global/networks/vpc",
		"vpc-0abc":                                                                  "vpc-0abc",
	}
	for in, want := range tests {
		if got := NetworkID(in); got != want {
			t.Errorf("NetworkID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePorts(t *testing.T) {
	got, err := ParsePorts([]string{"22", "1000-2000", " 443 "})
	if err != nil {
		t.Fatal(err)
	}
	want := []PortRange{{22, 22}, {1000, 2000}, {443, 443}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParsePorts (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"ssh", "10-x", "70000", "20-10", "-1"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q): want error", bad)
		}
	}
}

func TestProtocol(t *testing.T) {
	for in, want := range map[string]string{"-1": "all", "ALL": "all", "TCP": "tcp", "6": "tcp", "17": "udp", "icmp": "icmp", "esp": "esp"} {
		if got := Protocol(in); got != want {
			t.Errorf("Protocol(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGlobMatchesAcrossSlashes(t *testing.T) {
	g, err := CompileGlob("//compute.googleapis.com/projects/*/global/firewalls/default-*")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Match("//compute.googleapis.com/projects/acme-dev/global/firewalls/default-allow-ssh") {
		t.Error("want match")
	}
	if g.Match("//compute.googleapis.com/projects/acme-dev/global/firewalls/allow-ssh") {
		t.Error("want no match")
	}
	if _, err := CompileGlob("[unclosed"); err == nil {
		t.Error("want error for a bad pattern")
	}
}

func TestCloneIsDeep(t *testing.T) {
	a := &Asset{ID: "x", Labels: map[string]string{"owner": "a"}, Facets: Facets{
		Ingress: []Rule{{Sources: []string{"0.0.0.0/0"}, Ports: []PortRange{{22, 22}}}},
		Public:  Bool(true),
	}}
	b := a.Clone()
	b.Labels["owner"] = "b"
	b.Facets.Ingress[0].Sources[0] = "10.0.0.0/8"
	*b.Facets.Public = false
	if a.Labels["owner"] != "a" || a.Facets.Ingress[0].Sources[0] != "0.0.0.0/0" || !*a.Facets.Public {
		t.Errorf("clone shares state with the original: %+v", a)
	}
}
