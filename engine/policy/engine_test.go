package policy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

func builtins(t *testing.T, cfg map[string]any) *Engine {
	t.Helper()
	if cfg == nil {
		cfg = config.Default().Data()
	}
	e, err := Load(context.Background(), Options{Builtins: policies.FS, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func writePolicy(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuiltinLibrary(t *testing.T) {
	e := builtins(t, nil)
	var ids []string
	for _, p := range e.Policies() {
		ids = append(ids, p.ID)
		if !p.Builtin || p.Title == "" || p.Description == "" || p.Phase == "" {
			t.Errorf("%s: incomplete metadata %+v", p.ID, p)
		}
		// No built-in policy needs the native payload: their input stays
		// small. A regression here costs every scan dearly.
		if p.readsData {
			t.Errorf("%s reads input.asset.data (or passes input.asset whole to a helper)", p.ID)
		}
	}
	want := []string{"VGL-DATA-001", "VGL-DATA-002", "VGL-DET-001", "VGL-DET-002", "VGL-IAM-001", "VGL-IAM-002", "VGL-IAM-003",
		"VGL-KEY-001", "VGL-KEY-002", "VGL-KEY-003", "VGL-KEY-004", "VGL-KEY-005", "VGL-KEY-006",
		"VGL-LOG-001", "VGL-LOG-002", "VGL-LOG-003", "VGL-LOG-004", "VGL-LOG-005", "VGL-LOG-006",
		"VGL-NET-001", "VGL-NET-002", "VGL-NET-003", "VGL-NET-004", "VGL-NET-005", "VGL-NET-006", "VGL-NET-007", "VGL-NET-008", "VGL-NET-009",
		"VGL-OWN-001", "VGL-OWN-002", "VGL-SSH-001", "VGL-SSH-002", "VGL-VULN-001", "VGL-VULN-002", "VGL-VULN-003"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("policy ids (-want +got):\n%s", diff)
	}
	// Only the cross-asset policies wait for the whole inventory: the
	// many instances, disks, firewalls and subnets never do (residency
	// reads inherited labels from the asset itself); AWS VPCs wait for
	// their flow logs (VGL-LOG-004), vulnerability reports for the
	// exposure of their instances (VGL-VULN-001/002).
	for kind, deferred := range map[string]bool{
		"firewall": false, "instance": false, "subnet": false, "disk": false, "access_key": false,
		"network": true, "vulnerability_report": true, "bucket": true, "project": true, "account": true,
	} {
		if got := e.Deferred(kind); got != deferred {
			t.Errorf("Deferred(%s) = %v, want %v", kind, got, deferred)
		}
	}
}

func TestPolicyWithoutMetadataIsRejected(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"nometa.rego", "package vigil.policies.acme.nometa\nimport rego.v1\ndeny contains \"x\" if false\n",
			"nometa.rego:1: policy package vigil.policies.acme.nometa: no # METADATA"},
		{"noid.rego", "# METADATA\n# title: t\n# custom:\n#   severity: high\n#   kinds: [bucket]\npackage vigil.policies.acme.noid\nimport rego.v1\ndeny contains \"x\" if false\n",
			"noid.rego:6: policy package vigil.policies.acme.noid: # METADATA lacks custom.id"},
		{"badsev.rego", "# METADATA\n# title: t\n# custom:\n#   id: A-1\n#   severity: urgent\n#   kinds: [bucket]\npackage vigil.policies.acme.badsev\nimport rego.v1\ndeny contains \"x\" if false\n",
			`custom.severity "urgent" is not one of`},
		{"norules.rego", "# METADATA\n# title: t\n# custom:\n#   id: A-2\n#   severity: low\n#   kinds: [bucket]\npackage vigil.policies.acme.norules\nimport rego.v1\nallow := true\n",
			"defines neither deny nor warn"},
		{"dup.rego", "# METADATA\n# title: t\n# custom:\n#   id: VGL-NET-001\n#   severity: low\n#   kinds: [bucket]\npackage vigil.policies.acme.dup\nimport rego.v1\ndeny contains \"x\" if false\n",
			"policy id VGL-NET-001 is already used by builtin/network/open_admin_ports.rego"},
		{"syntax.rego", "package vigil.policies.acme.syntax\nimport rego.v1\ndeny contains x if {\n",
			"syntax.rego:4: unexpected eof"},
		{"compile.rego", "# METADATA\n# title: t\n# custom:\n#   id: A-3\n#   severity: low\n#   kinds: [bucket]\npackage vigil.policies.acme.compile\nimport rego.v1\ndeny contains x if { x := undefined_fn(1) }\n",
			"compile.rego:9"},
		{"network.rego", "# METADATA\n# title: t\n# custom:\n#   id: A-4\n#   severity: low\n#   kinds: [bucket]\npackage vigil.policies.acme.network\nimport rego.v1\ndeny contains x if { r := http.send({\"method\": \"GET\", \"url\": \"http://example.com\"}); x := r.body }\n",
			"undefined function http.send"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePolicy(t, dir, tt.name, tt.src)
			_, err := Load(context.Background(), Options{Builtins: policies.FS, Dirs: []string{dir}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Errorf("want policy.Errors, got %T", err)
			}
		})
	}
}

const userPolicy = `# METADATA
# title: Buckets need versioning
# custom:
#   id: ACME-001
#   severity: medium
#   kinds: [bucket]
package vigil.policies.acme.versioning

import rego.v1

deny contains {"msg": sprintf("%s has no versioning", [input.asset.name])} if {
	not input.asset.data.resource.data.versioning.enabled
}

warn contains "a plain string result" if input.asset.name == "warned"
`

func TestUserPolicyReadsNativePayload(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "versioning.rego", userPolicy)
	e, err := Load(context.Background(), Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	p := e.Policy("ACME-001")
	if p == nil || !p.readsData || p.usesInventory {
		t.Fatalf("ACME-001: %+v", p)
	}
	on := &asset.Asset{ID: "b1", Kind: "bucket", Name: "on", Data: json.RawMessage(`{"resource":{"data":{"versioning":{"enabled":true}}}}`)}
	off := &asset.Asset{ID: "b2", Kind: "bucket", Name: "warned", Data: json.RawMessage(`{"resource":{"data":{}}}`)}
	if fs, err := e.Evaluate(context.Background(), on); err != nil || len(fs) != 0 {
		t.Errorf("versioned bucket: %v %v", fs, err)
	}
	fs, err := e.Evaluate(context.Background(), off)
	if err != nil || len(fs) != 2 {
		t.Fatalf("unversioned bucket: %v %v", fs, err)
	}
	if fs[0].Message != "warned has no versioning" || fs[0].Severity != "medium" || fs[1].Level != "warn" || fs[1].Severity != "info" {
		t.Errorf("findings: %+v", fs)
	}
	// Kinds not read by any policy cost nothing.
	if fs, err := e.Evaluate(context.Background(), &asset.Asset{ID: "x", Kind: "firewall"}); err != nil || fs != nil {
		t.Errorf("firewall: %v %v", fs, err)
	}
}

// A symlinked policy directory is read through its link.
func TestSymlinkedPolicyDir(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "versioning.rego", userPolicy)
	link := filepath.Join(t.TempDir(), "policies")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	e, err := Load(context.Background(), Options{Dirs: []string{link}})
	if err != nil || e.Policy("ACME-001") == nil {
		t.Fatalf("through a symlink: %v", err)
	}
}

func TestRuntimeErrorNamesPolicy(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "conflict.rego", `# METADATA
# title: conflicting
# custom:
#   id: ACME-002
#   severity: low
#   kinds: [bucket]
package vigil.policies.acme.conflict

import rego.v1

x := 1 if input.asset.name == "b"
x := 2 if input.asset.name == "b"

deny contains "never" if x == 3
`)
	e, err := Load(context.Background(), Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Evaluate(context.Background(), &asset.Asset{ID: "bkt", Kind: "bucket", Name: "b"})
	if err == nil || !strings.Contains(err.Error(), "policy ACME-002") || !strings.Contains(err.Error(), "bkt") {
		t.Errorf("want the policy and asset named, got %v", err)
	}
}

// FacetsValue is hand-written for speed; it must say exactly what the JSON
// encoding of the facets says.
func TestFacetsValueMatchesJSON(t *testing.T) {
	var f asset.Facets
	fill(reflect.ValueOf(&f).Elem())
	got := FacetsValue(&f)
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ast.ValueFromReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Compare(want) != 0 {
		t.Errorf("FacetsValue differs from the JSON form:\n got  %v\n want %v", got, want)
	}
	// and the empty value
	if e := FacetsValue(&asset.Facets{}); e.Len() != 0 {
		t.Errorf("empty facets: %v", e)
	}
}

// Each bit of a shape selects exactly its facet: facetsValue walks the
// fields in facetKeys order.
func TestFacetBitsFollowKeys(t *testing.T) {
	var f asset.Facets
	fill(reflect.ValueOf(&f).Elem())
	if n := reflect.TypeOf(f).NumField(); n != len(facetKeys) {
		t.Fatalf("asset.Facets has %d fields, facetKeys %d: add the new facet to both", n, len(facetKeys))
	}
	for i, k := range facetKeys {
		o := facetsValue(&f, 1<<i)
		if o.Len() != 1 || o.Get(k) == nil {
			t.Errorf("bit %d (%v) selects %v", i, k, o)
		}
	}
}

// fill sets every field to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("s-" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(7)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

func TestInputValueOmitsDataUnlessAsked(t *testing.T) {
	a := &asset.Asset{ID: "x", Kind: "bucket", Data: json.RawMessage(`{"big": [1,2,3]}`)}
	without, err := InputValue(a, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(without.String(), "big") {
		t.Error("data included without a policy that reads it")
	}
	with, err := InputValue(a, true)
	if err != nil || !strings.Contains(with.String(), "big") {
		t.Errorf("data missing: %v %v", with, err)
	}
	for _, k := range []string{`"labels": {}`, `"facets": {}`} {
		if !strings.Contains(without.String(), k) {
			t.Errorf("input should always carry %s: %v", k, without)
		}
	}
}

func TestRunBuiltinTests(t *testing.T) {
	results, err := RunTests(context.Background(), Options{Builtins: policies.FS, Config: config.Default().Data()}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 50 {
		t.Errorf("only %d Rego tests ran", len(results))
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s:%d %s.%s failed %s", r.File, r.Line, r.Package, r.Name, r.Error)
		}
	}
}

func TestWaivers(t *testing.T) {
	src := `waiver {
  policy  = "VGL-NET-001"
  asset   = "//compute.googleapis.com/projects/acme-dev/*"
  reason  = "bastion, SEC-1"
  expires = "2027-01-31"
}
waiver {
  policy  = "VGL-NET-00*"
  asset   = "arn:aws:ec2:*"
  reason  = "old"
  expires = "2026-01-01"
}
waiver {
  policy  = "VGL-DATA-002"
  asset   = "nothing"
  reason  = "stale"
  expires = "2030-01-01"
}
`
	ws, _, diags := ParseWaivers([]byte(src), "w.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	fs := []Finding{
		{PolicyID: "VGL-NET-001", AssetID: "//compute.googleapis.com/projects/acme-dev/global/firewalls/ssh"},
		{PolicyID: "VGL-NET-004", AssetID: "arn:aws:ec2:eu-west-1:1:instance/i-1"},
		{PolicyID: "VGL-NET-001", AssetID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/ssh"},
	}
	now := time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC) // the last day is still covered
	ws.Apply(fs, now)
	if !fs[0].Waived || fs[0].WaiverReason != "bastion, SEC-1" || fs[0].WaiverExpires != "2027-01-31" {
		t.Errorf("waived finding: %+v", fs[0])
	}
	if fs[1].Waived || !fs[1].WaiverExpired || fs[1].WaiverReason != "old" {
		t.Errorf("expired waiver: %+v", fs[1])
	}
	if fs[2].Waived || fs[2].WaiverExpired {
		t.Errorf("unmatched finding: %+v", fs[2])
	}
	unused := ws.Unused(fs)
	if len(unused) != 1 || unused[0].Asset != "nothing" {
		t.Errorf("unused: %+v", unused)
	}
	ws.Apply(fs[:1], now.Add(2*time.Hour))
	if fs[0].Waived || !fs[0].WaiverExpired {
		t.Errorf("after expiry: %+v", fs[0])
	}
}

func TestWaiverDiagnostics(t *testing.T) {
	tests := []struct{ src, want string }{
		{"waiver {\n  policy = \"A\"\n  asset = \"b\"\n  reason = \"\"\n  expires = \"2027-01-01\"\n}\n", "Waiver without a reason"},
		{"waiver {\n  policy = \"A\"\n  asset = \"b\"\n  expires = \"2027-01-01\"\n}\n", `The argument "reason" is required`},
		{"waiver {\n  policy = \"A\"\n  asset = \"b\"\n  reason = \"r\"\n  expires = \"next year\"\n}\n", "Invalid expiry"},
		{"waiver {\n  policy = \"A\"\n  asset = \"b\"\n  reason = \"r\"\n}\n", `The argument "expires" is required`},
		{"waivr {\n}\n", "Unsupported block type"},
	}
	for _, tt := range tests {
		_, _, diags := ParseWaivers([]byte(tt.src), "w.hcl")
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
			t.Errorf("got %v, want %q", diags, tt.want)
		}
		if diags[0].Subject == nil || diags[0].Subject.Filename != "w.hcl" {
			t.Errorf("diagnostic without a location: %+v", diags[0])
		}
	}
}

func FuzzParseWaivers(f *testing.F) {
	f.Add([]byte("waiver {\n  policy = \"VGL-NET-001\"\n  asset = \"*\"\n  reason = \"r\"\n  expires = \"2027-01-31\"\n}\n"))
	f.Add([]byte("waiver {\n  policy = \"[\"\n  asset = \"{a,b}\"\n  reason = \"r\"\n  expires = \"2027-01-31T10:00:00Z\"\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		ws, _, diags := ParseWaivers(src, "fuzz.hcl")
		if !diags.HasErrors() {
			ws.Apply([]Finding{{PolicyID: "VGL-NET-001", AssetID: "a"}}, time.Now())
		}
	})
}

// Inputs built with only what the policies read judge every asset as the
// whole input does: the bundled examples, a Terraform plan and the public
// fixtures, every kind.
func TestShapedInputJudgesAsFullInput(t *testing.T) {
	ctx := context.Background()
	cfg, _, diags := config.Load(testutil.Path(t, "examples", "vigil.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	shaped, err := Load(ctx, Options{Builtins: policies.FS, Config: cfg.Data()})
	if err != nil {
		t.Fatal(err)
	}
	full, err := Load(ctx, Options{Builtins: policies.FS, Config: cfg.Data()})
	if err != nil {
		t.Fatal(err)
	}
	full.fullInput = true
	paths := []string{
		testutil.Path(t, "examples", "inventory"),
		testutil.Path(t, "examples", "terraform", "plan.json"),
		testutil.Fixture(t, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data"),
		testutil.Fixture(t, "awslabs__aws-config-rdk", "rdk", "template", "example_ci"),
	}
	n, found := 0, 0
	for _, p := range paths {
		fs, err := inventory.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fs.Workers = 1
		err = fs.Scan(ctx, func(a *asset.Asset) error {
			want, err := full.Evaluate(ctx, a)
			if err != nil {
				return err
			}
			got, err := shaped.Evaluate(ctx, a)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Finding{})); diff != "" {
				t.Errorf("%s (%s): shaped input judges differently (-full +shaped):\n%s", a.ID, a.Kind, diff)
			}
			n++
			found += len(want)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 100 || found < 20 {
		t.Fatalf("compared %d assets and %d findings: too few to mean anything", n, found)
	}
	// and shaping does leave something out somewhere
	q, err := shaped.queryFor(ctx, "disk", Streamed)
	if err != nil || q == nil {
		t.Fatal(err)
	}
	if q.shape == fullShape {
		t.Error("the disk query reads the whole input: shaping never applies")
	}
}
