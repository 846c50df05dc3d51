package event

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/internal/testutil"
)

func tfFile(t *testing.T, path string) *hclsyntax.Body {
	t.Helper()
	body, problems := checkTerraform(path)
	for _, p := range problems {
		t.Error(p)
	}
	if body == nil {
		t.FailNow()
	}
	return body
}

// checkTerraform parses a Terraform file with HCL's native syntax parser and
// checks that every reference in it names something the file declares.
func checkTerraform(path string) (*hclsyntax.Body, []string) {
	var problems []string
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, []string{path + " does not parse: " + diags.Error()}
	}
	body := file.Body.(*hclsyntax.Body)
	// Type constraints of variables are keywords, not references.
	declared := map[string]bool{"string": true, "number": true, "bool": true, "any": true}
	allowed := map[string]bool{"terraform": true, "variable": true, "locals": true, "resource": true, "data": true, "output": true, "provider": true}
	for _, b := range body.Blocks {
		if !allowed[b.Type] {
			problems = append(problems, fmt.Sprintf("%s:%d: unexpected top-level block %q", path, b.DefRange().Start.Line, b.Type))
		}
		switch b.Type {
		case "variable":
			declared["var."+b.Labels[0]] = true
		case "resource":
			declared[b.Labels[0]+"."+b.Labels[1]] = true
		case "data":
			declared["data."+b.Labels[0]+"."+b.Labels[1]] = true
		case "locals":
			for name := range b.Body.Attributes {
				declared["local."+name] = true
			}
		}
	}
	// Iteration variables of for expressions are not references.
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		if fe, ok := n.(*hclsyntax.ForExpr); ok {
			declared[fe.KeyVar], declared[fe.ValVar] = true, true
		}
		return nil
	})
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		expr, ok := n.(hclsyntax.Expression)
		if !ok {
			return nil
		}
		for _, tr := range expr.Variables() {
			name := tr.RootName()
			parts := []string{name}
			for _, step := range tr[1:] {
				if a, ok := step.(hcl.TraverseAttr); ok {
					parts = append(parts, a.Name)
				}
			}
			key := name
			switch {
			case name == "var" || name == "local":
				key = strings.Join(parts[:min(2, len(parts))], ".")
			case name == "data":
				key = strings.Join(parts[:min(3, len(parts))], ".")
			case strings.HasPrefix(name, "aws_") || strings.HasPrefix(name, "google_"):
				key = strings.Join(parts[:min(2, len(parts))], ".")
			}
			if !declared[key] {
				problems = append(problems, fmt.Sprintf("%s:%d: %s is not declared in the file", path, tr.SourceRange().Start.Line, key))
			}
		}
		return nil
	})
	return body, problems
}

// local evaluates a locals attribute that is a literal (no references).
func local(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	for _, b := range body.Blocks {
		if b.Type != "locals" {
			continue
		}
		if a, ok := b.Body.Attributes[name]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %s", name, diags.Error())
			}
			return v
		}
	}
	t.Fatalf("no local.%s", name)
	return cty.NilVal
}

func sameLists(t *testing.T, what string, v cty.Value, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for k, list := range v.AsValueMap() {
		for _, e := range list.AsValueSlice() {
			got[k] = append(got[k], e.AsString())
		}
	}
	for _, m := range []map[string][]string{got, want} {
		for k := range m {
			sort.Strings(m[k])
		}
	}
	keys := func(m map[string][]string) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Errorf("%s: services %v, vigil reads %v", what, keys(got), keys(want))
	}
	for k := range want {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s %s: the Terraform routes %v, vigil acts on %v", what, k, got[k], want[k])
		}
	}
}

// The deployment examples are valid HCL whose references resolve, and they
// route exactly the events vigil acts on: no more (noise, cost) and no less
// (a change vigil would never hear of).
func TestDeploymentExamples(t *testing.T) {
	aws := tfFile(t, testutil.Path(t, "examples", "watch", "aws", "main.tf"))
	sameLists(t, "EventBridge rule", local(t, aws, "cloudtrail_events"), CloudTrailEvents)
	// The rule's pattern, as jsonencode renders it, fits EventBridge's
	// default quota of 2048 characters (Amazon EventBridge quotas, "Event
	// pattern size"): the closing calls made the list longer.
	var names, sources []string
	for src, list := range CloudTrailEvents {
		sources = append(sources, src)
		names = append(names, list...)
	}
	pattern, _ := json.Marshal(map[string]any{"detail-type": []string{CloudTrailDetailType}, "detail": map[string]any{"eventSource": sources, "eventName": names}})
	if len(pattern) > 2048 {
		t.Errorf("the EventBridge pattern is %d characters, more than the default quota of 2048", len(pattern))
	}
	gcp := tfFile(t, testutil.Path(t, "examples", "watch", "gcp", "main.tf"))
	sameLists(t, "log sink filter", local(t, gcp, "audit_methods"), AuditMethods)
	for _, b := range aws.Blocks {
		if b.Type == "resource" && b.Labels[0] == "aws_cloudwatch_event_rule" {
			if _, ok := b.Body.Attributes["event_pattern"]; !ok {
				t.Errorf("rule %s has no event_pattern", b.Labels[1])
			}
		}
	}
	for dt, src := range map[string]string{AlertDetailTypes["aws.guardduty"]: "aws.guardduty", AlertDetailTypes["aws.securityhub"]: "aws.securityhub"} {
		raw, _ := os.ReadFile(testutil.Path(t, "examples", "watch", "aws", "main.tf"))
		if !strings.Contains(string(raw), `"`+dt+`"`) || !strings.Contains(string(raw), `"`+src+`"`) {
			t.Errorf("no EventBridge rule for %s %q", src, dt)
		}
	}
}

// A broken file is caught: the check above is not vacuous.
func TestDeploymentCheckCatchesMistakes(t *testing.T) {
	dir := t.TempDir()
	for src, want := range map[string]string{
		"resource \"aws_sqs_queue\" \"q\" {\n  name = var.missing\n}\n":               "main.tf:2: var.missing is not declared",
		"resource \"aws_sqs_queue\" \"q\" {\n  policy = aws_sqs_queue.other.arn\n}\n": "aws_sqs_queue.other is not declared",
		"resource \"aws_sqs_queue\" \"q\" {\n  name = \"x\"\n":                        "does not parse",
		"module \"m\" {\n}\n": "unexpected top-level block",
	} {
		p := dir + "/main.tf"
		os.WriteFile(p, []byte(src), 0o644)
		_, problems := checkTerraform(p)
		if !strings.Contains(strings.Join(problems, "\n"), want) {
			t.Errorf("%q: %v, want %q", src, problems, want)
		}
	}
}
