package runbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fuzzVarsRunbook = `runbook "fuzz" {
  variable "name" { type = string }
  variable "ports" {
    type    = list(number)
    default = [22]
  }
  variable "labels" {
    type    = map(string)
    default = {}
  }
  variable "any" {
    type    = any
    default = null
  }
  phase "investigation" {
    step "s" {
      action = "core.log"
      args   = { message = var.name }
    }
  }
}
`

// Variable files (HCL and JSON) and -var values are parsed from whatever
// the user hands over; none of it may crash the process.
func FuzzVariables(f *testing.F) {
	rb, _, diags := Parse([]byte(fuzzVarsRunbook), "fuzz.hcl")
	if diags.HasErrors() {
		f.Fatal(diags)
	}
	for _, s := range []string{
		`name = "x"` + "\nports = [22, 3389]\n", `{"name": "x", "labels": {"a": "b"}}`, "name = <<EOT\nx\nEOT\n",
		`any = [[[[1]]]]`, `ports = [for p in [1, 2] : p * 2]`, strings.Repeat("[", 300),
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte, asJSON bool) {
		path := filepath.Join(dir, "vars.hcl")
		if asJSON {
			path = filepath.Join(dir, "vars.json")
		}
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		rb.ResolveVariables(Inputs{VarFiles: []string{path}})
		rb.ResolveVariables(Inputs{Vars: []string{"name=x", "ports=" + string(src), "any=" + string(src)}})
	})
}

// A saved plan is JSON a user may have edited, or not made by vigil.
func FuzzReadPlan(f *testing.F) {
	f.Add([]byte(`{"format_version": "1", "runbook": {"id": "r"}}`))
	f.Add([]byte(`{"format_version": "1", "runbook": {"id": "r"}, "variables": {"a": {"type": "string", "value": "x"}}}`))
	f.Add([]byte(`{"format_version": "1", "x": ` + strings.Repeat("[", 300) + `}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "plan.json")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPlan(path)
		if err == nil && p == nil {
			t.Fatal("no plan and no error")
		}
	})
}
