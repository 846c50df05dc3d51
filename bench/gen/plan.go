package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// cmdPlan writes a large Terraform plan in the shape of `terraform show
// -json`: the bundled example change set (examples/terraform/plan.json, a
// real plan: AWS and Google resources, a for_each module, unknown values,
// a delete) instantiated again and again as module "stack_NNN" of a root
// that calls them, until it holds at least -n resource changes. Each copy
// is varied by its own seeded draw (some open CIDRs narrowed, some SSH
// ports moved), so the findings differ from stack to stack. The
// configuration section gets one module call per stack with the example's
// configuration inside, as Terraform writes it for local modules.
func cmdPlan(args []string) error {
	fl := flag.NewFlagSet("plan", flag.ExitOnError)
	n := fl.Int("n", 5000, "resource changes, at least (whole stacks are written)")
	tmplPath := fl.String("template", "examples/terraform/plan.json", "the plan each stack copies")
	out := fl.String("out", "bench/data/plan", "output directory")
	fl.Parse(args)
	raw, err := os.ReadFile(*tmplPath)
	if err != nil {
		return err
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return fmt.Errorf("%s: %w", *tmplPath, err)
	}
	changes, _ := tmpl["resource_changes"].([]any)
	if len(changes) == 0 {
		return fmt.Errorf("%s has no resource_changes", *tmplPath)
	}
	stacks := (*n + len(changes) - 1) / len(changes)
	r := rand.New(rand.NewPCG(42, 21))

	plan := map[string]any{}
	for _, k := range []string{"format_version", "terraform_version", "variables", "timestamp", "applyable", "complete", "errored"} {
		if v, ok := tmpl[k]; ok {
			plan[k] = v
		}
	}
	tmplCfg, _ := tmpl["configuration"].(map[string]any)
	tmplCfgRoot, _ := tmplCfg["root_module"].(map[string]any)
	var allChanges, planned, prior []any
	calls := map[string]any{}
	for s := 0; s < stacks; s++ {
		name := fmt.Sprintf("stack_%03d", s)
		mod := "module." + name
		// one variation per stack, applied to every part of its copy alike
		// so values and configuration agree
		var repl []string
		if r.Float64() < 0.4 {
			repl = append(repl, `"0.0.0.0/0"`, fmt.Sprintf(`"10.%d.0.0/16"`, s%250))
		}
		if r.Float64() < 0.3 {
			repl = append(repl, `"from_port":22,`, `"from_port":2222,`, `"to_port":22}`, `"to_port":2222}`)
		}
		vary := func(v any) (any, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			if len(repl) > 0 {
				b = []byte(strings.NewReplacer(repl...).Replace(string(b)))
			}
			var out any
			return out, json.Unmarshal(b, &out)
		}
		for _, c := range changes {
			v, err := vary(c)
			if err != nil {
				return err
			}
			rc := v.(map[string]any)
			rc["address"] = mod + "." + rc["address"].(string)
			if ma, ok := rc["module_address"].(string); ok && ma != "" {
				rc["module_address"] = mod + "." + ma
			} else {
				rc["module_address"] = mod
			}
			allChanges = append(allChanges, rc)
		}
		if pv, ok := tmpl["planned_values"].(map[string]any); ok {
			v, err := vary(pv["root_module"])
			if err != nil {
				return err
			}
			planned = append(planned, relocate(v.(map[string]any), mod))
		}
		if ps, ok := tmpl["prior_state"].(map[string]any); ok {
			if vals, ok := ps["values"].(map[string]any); ok {
				v, err := vary(vals["root_module"])
				if err != nil {
					return err
				}
				prior = append(prior, relocate(v.(map[string]any), mod))
			}
		}
		v, err := vary(tmplCfgRoot)
		if err != nil {
			return err
		}
		calls[name] = map[string]any{"source": "./modules/stack", "module": v}
	}
	plan["resource_changes"] = allChanges
	plan["planned_values"] = map[string]any{"root_module": map[string]any{"child_modules": planned}}
	if len(prior) > 0 {
		ps := map[string]any{"values": map[string]any{"root_module": map[string]any{"child_modules": prior}}}
		if old, ok := tmpl["prior_state"].(map[string]any); ok {
			ps["format_version"], ps["terraform_version"] = old["format_version"], old["terraform_version"]
		}
		plan["prior_state"] = ps
	}
	plan["configuration"] = map[string]any{
		"provider_config": tmplCfg["provider_config"],
		"root_module":     map[string]any{"module_calls": calls},
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	path := filepath.Join(*out, "plan.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d resource changes in %d module stacks, %.1f MiB\n", path, len(allChanges), stacks, float64(len(b))/(1<<20))
	return nil
}

// relocate turns a module tree of planned values (or prior state) into the
// child module mod: every address, its own and its resources' and
// children's, gets mod in front.
func relocate(m map[string]any, mod string) map[string]any {
	if a, ok := m["address"].(string); ok && a != "" {
		m["address"] = mod + "." + a
	} else {
		m["address"] = mod
	}
	if rs, ok := m["resources"].([]any); ok {
		for _, x := range rs {
			res := x.(map[string]any)
			res["address"] = mod + "." + res["address"].(string)
		}
	}
	if cs, ok := m["child_modules"].([]any); ok {
		for _, x := range cs {
			relocate(x.(map[string]any), mod)
		}
	}
	return m
}
