package runbook

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/internal/provider/core"
	"github.com/vigil-ir/vigil/runbooks"
)

func coreRegistry(t testing.TB) *action.Registry {
	reg := action.NewRegistry()
	if err := reg.Register(core.Provider()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// expectation is a `# expect: Summary | detail part` marker in a file.
type expectation struct {
	line    int
	summary string
	detail  string
}

func expectations(t *testing.T, path string) []expectation {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		_, marker, ok := strings.Cut(sc.Text(), "# expect: ")
		if !ok {
			continue
		}
		summary, detail, _ := strings.Cut(marker, " | ")
		out = append(out, expectation{n, strings.TrimSpace(summary), strings.TrimSpace(detail)})
	}
	return out
}

// Every file under testdata/invalid has one error, at the line its
// `# expect:` comment marks, with that summary.
func TestInvalidRunbooks(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.hcl")
	if len(files) < 12 {
		t.Fatalf("only %d invalid fixtures", len(files))
	}
	reg := coreRegistry(t)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := expectations(t, path)
			if len(want) != 1 {
				t.Fatalf("fixture needs exactly one # expect: marker, has %d", len(want))
			}
			rb, _, diags := ParseFile(path)
			if !diags.HasErrors() {
				diags = append(diags, Validate(rb, reg)...)
			}
			var errs hcl.Diagnostics
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			d := errs[0]
			if d.Subject == nil || d.Subject.Start.Line != want[0].line || d.Subject.Filename != path {
				t.Errorf("error at %v, want line %d: %s", d.Subject, want[0].line, d.Summary)
			}
			if d.Summary != want[0].summary && !strings.HasPrefix(d.Summary, want[0].summary) {
				t.Errorf("summary %q, want %q (%s)", d.Summary, want[0].summary, d.Detail)
			}
			if want[0].detail != "" && !strings.Contains(d.Detail, want[0].detail) {
				t.Errorf("detail %q lacks %q", d.Detail, want[0].detail)
			}
		})
	}
}

func TestMissingVariable(t *testing.T) {
	rb, _, diags := ParseFile("testdata/valid/everything.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, _, diags = rb.ResolveVariables(Inputs{})
	if !diags.HasErrors() || diags[0].Summary != "No value for required variable" || diags[0].Subject.Start.Line != 11 {
		t.Fatalf("want a missing-variable error at the declaration (line 11): %v", diags)
	}
	if !strings.Contains(diags[0].Detail, "VIGIL_VAR_token") {
		t.Errorf("the error should say how to set it: %s", diags[0].Detail)
	}
}

func TestVariableSources(t *testing.T) {
	rb, _, _ := ParseFile("testdata/valid/everything.hcl")
	dir := t.TempDir()
	hclFile := filepath.Join(dir, "vars.hcl")
	os.WriteFile(hclFile, []byte("names = [\"x\", \"y\", \"z\"]\ncount = 3\n"), 0o644)
	jsonFile := filepath.Join(dir, "vars.json")
	os.WriteFile(jsonFile, []byte(`{"count": 4}`), 0o644)
	vars, _, diags := rb.ResolveVariables(Inputs{
		VarFiles: []string{hclFile, jsonFile},
		Vars:     []string{"count=5"},
		Environ:  []string{"VIGIL_VAR_token=s3cret", "VIGIL_VAR_count=1", "VIGIL_VAR_undeclared=x"},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	check := func(name, source string, want cty.Value) {
		t.Helper()
		v := vars[name]
		got, _ := v.Value.UnmarkDeep()
		if v.Source != source || !got.RawEquals(want) {
			t.Errorf("%s = %#v from %s; want %#v from %s", name, got, v.Source, want, source)
		}
	}
	// -var beats var files, which beat the environment; later files win.
	check("count", "-var", cty.NumberIntVal(5))
	check("names", hclFile+":1", cty.ListVal([]cty.Value{cty.StringVal("x"), cty.StringVal("y"), cty.StringVal("z")}))
	check("token", "env VIGIL_VAR_token", cty.StringVal("s3cret"))
	if !vars["token"].Value.HasMark(sensitive) {
		t.Error("a sensitive variable's value must be marked")
	}

	_, _, diags = rb.ResolveVariables(Inputs{Vars: []string{"token=t", "count=42"}})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "count is between 1 and 9.") || diags[0].Subject.Start.Line != 19 {
		t.Errorf("validation: %v", diags)
	}
	_, _, diags = rb.ResolveVariables(Inputs{Vars: []string{"token=t", "count=many"}})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "not a valid number") {
		t.Errorf("type: %v", diags)
	}
	_, _, diags = rb.ResolveVariables(Inputs{Vars: []string{"token=t", "cuont=3"}})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, `did you mean "count"`) {
		t.Errorf("undeclared: %v", diags)
	}
}

func planEverything(t *testing.T) (*Runbook, *Plan, map[string]*VarValue) {
	t.Helper()
	rb, _, diags := ParseFile("testdata/valid/everything.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	vars, _, diags := rb.ResolveVariables(Inputs{Vars: []string{"token=s3cret"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := &Planner{Registry: coreRegistry(t), Provider: "test"}
	plan, diags := p.Plan(context.Background(), rb, "testdata/valid/everything.hcl", vars)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return rb, plan, vars
}

func TestPlanEverything(t *testing.T) {
	_, plan, _ := planEverything(t)
	var addrs []string
	for _, s := range plan.Steps {
		addrs = append(addrs, s.Address)
	}
	want := `hello each["a"] each["b"] secret skipped gate`
	if strings.Join(addrs, " ") != want {
		t.Errorf("steps %q, want %q", strings.Join(addrs, " "), want)
	}
	if m := plan.Step("hello").Args["message"]; m != "HELLO A AND B" {
		t.Errorf("locals and functions: %v", m)
	}
	if m := plan.Step(`each["b"]`).Args["message"]; m != "name b (4)" {
		t.Errorf("each.key: %v", m)
	}
	if m := plan.Step("secret").Args["message"]; m != SensitiveText {
		t.Errorf("a value derived from a sensitive variable must not appear: %v", m)
	}
	if !plan.Step("skipped").Skipped || !plan.Step("gate").NeedsApproval {
		t.Error("when and gates")
	}
	raw, _ := json.Marshal(plan)
	if strings.Contains(string(raw), "s3cret") {
		t.Error("the saved plan contains the sensitive value")
	}
	if plan.Variables["token"].HMAC == "" || plan.Variables["token"].Value != nil {
		t.Errorf("sensitive variable in the plan: %+v", plan.Variables["token"])
	}
	if plan.Outputs["token_out"] != SensitiveText {
		t.Errorf("sensitive output: %v", plan.Outputs["token_out"])
	}
}

func TestBuiltinRunbooksValidate(t *testing.T) {
	reg := coreRegistry(t)
	for _, name := range runbooks.Names() {
		src, _ := runbooks.Source(name)
		rb, _, diags := Parse(src, name+".hcl")
		if !diags.HasErrors() {
			diags = append(diags, Validate(rb, reg)...)
		}
		for _, d := range diags {
			t.Errorf("%s: %s: %s", name, d.Summary, d.Detail)
		}
		if rb != nil && rb.ID != name {
			t.Errorf("%s declares runbook %q", name, rb.ID)
		}
		// A webhook URL is a credential.
		for _, v := range rbVariables(rb) {
			if strings.HasSuffix(v.Name, "_url") && !v.Sensitive {
				t.Errorf("%s: variable %s holds a webhook URL and is not sensitive", name, v.Name)
			}
		}
	}
}

func rbVariables(rb *Runbook) []*Variable {
	if rb == nil {
		return nil
	}
	return rb.Variables
}

func FuzzParse(f *testing.F) {
	for _, name := range runbooks.Names() {
		src, _ := runbooks.Source(name)
		f.Add(src)
	}
	files, _ := filepath.Glob("testdata/*/*.hcl")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	reg := coreRegistry(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		rb, _, diags := Parse(src, "fuzz.hcl")
		if diags.HasErrors() || rb == nil {
			return
		}
		_ = Validate(rb, reg)
	})
}

// A step whose action no provider implements is fine while it does not
// run (an empty for_each over no findings); it fails when it would.
func TestUnavailableActionOnlyWhenItRuns(t *testing.T) {
	src := `runbook "x" {
  variable "run_it" {
    type    = bool
    default = false
  }
  locals {
    none = toset([for f in findings({ policy = "NO-SUCH-POLICY" }) : f.asset_id])
    gone = [for a in assets({ kind = "no-such-kind" }) : a.id]
  }
  phase "containment" {
    step "each" {
      action   = "gcp.compute.restrict_firewall"
      for_each = local.none
      args     = { firewall = each.value, source_ranges = ["10.0.0.0/8"] }
    }
    step "maybe" {
      action = "aws.ec2.stop_instance"
      when   = var.run_it
      args   = { instance = "i-1" }
    }
    step "count" {
      action = "core.log"
      args   = { message = "${length(local.none)} ${length(local.gone)}" }
    }
  }
}
`
	rb, _, diags := Parse([]byte(src), "x.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	data := &Data{Inventory: nil, Findings: func(context.Context) ([]policy.Finding, error) { return nil, nil }}
	data.Inventory = inventory.New()
	plan := func(v string) (*Plan, hcl.Diagnostics) {
		vars, _, diags := rb.ResolveVariables(Inputs{Vars: []string{"run_it=" + v}})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return (&Planner{Registry: coreRegistry(t), Data: data}).Plan(context.Background(), rb, "x.hcl", vars)
	}
	p, diags := plan("false")
	if diags.HasErrors() {
		t.Fatalf("nothing runs the unavailable actions: %v", diags)
	}
	if m := p.Step("count").Args["message"]; m != "0 0" {
		t.Errorf("no matches should be empty lists: %v", m)
	}
	_, diags = plan("true")
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "No provider in this run implements aws.ec2.stop_instance") {
		t.Errorf("a step that runs needs its provider: %v", diags)
	}
}
