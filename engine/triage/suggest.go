package triage

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/asset"
)

// findings lists the open findings on the asset and around it: its
// networks, its security groups or the firewalls of its networks, and its
// project or account.
func (t *triager) findings(a, scope *asset.Asset) []Finding {
	related := t.related(a, scope)
	var out []Finding
	for _, f := range t.o.Findings {
		if on, ok := related[f.AssetID]; ok && !f.Waived {
			out = append(out, Finding{PolicyID: f.PolicyID, Severity: string(f.Severity), AssetID: f.AssetID, Message: f.Message, On: on})
		}
	}
	order := map[string]int{"asset": 0, "firewall": 1, "network": 2}
	sort.SliceStable(out, func(i, j int) bool {
		if order[out[i].On] != order[out[j].On] {
			return order[out[i].On] < order[out[j].On]
		}
		return out[i].PolicyID+out[i].AssetID < out[j].PolicyID+out[j].AssetID
	})
	return out
}

// related are the assets whose findings the card of a shows, by id, with
// how each relates (asset, network, firewall, project or account).
func (t *triager) related(a, scope *asset.Asset) map[string]string {
	related := map[string]string{a.ID: "asset"}
	nets := map[string]bool{}
	for _, n := range t.networksOf(a) {
		nets[n] = true
	}
	for _, x := range t.byKind[asset.KindNetwork] {
		for _, n := range t.networksOf(x) {
			if nets[n] {
				related[x.ID] = "network"
			}
		}
	}
	for _, x := range t.byKind[asset.KindFirewall] {
		if a.Provider == asset.AWS {
			for _, sg := range a.Facets.SecurityGroups {
				if strings.HasSuffix(x.ID, "/"+sg) {
					related[x.ID] = "firewall"
				}
			}
		} else if nets[networkPath(x.Facets.Network)] {
			related[x.ID] = "firewall"
		}
	}
	if scope != nil && scope != a {
		related[scope.ID] = scope.Kind
	}
	return related
}

// assetVariables maps asset kinds to the runbook variables that take them.
var assetVariables = map[string]struct{ variable, field string }{
	asset.KindInstance:  {"instance", "id"},
	asset.KindAccessKey: {"access_key_id", "name"},
	asset.KindProject:   {"project", "name"},
	asset.KindFirewall:  {"", ""},
}

// suggest lists the runbooks that fit the asset, with commands that run as
// printed: a rehearsal against the simulated cloud, and the real thing.
func suggest(o *Options, c *Card, al *alert.Alert) []Suggestion {
	if !c.Found {
		return nil
	}
	var out []Suggestion
	for _, rb := range o.Runbooks {
		if !slices.Contains(rb.Tags, c.Asset.Provider) {
			continue
		}
		av, ok := assetVariables[c.Asset.Kind]
		if !ok {
			continue
		}
		vars := map[string]string{}
		if av.variable != "" {
			if !slices.Contains(rb.Variables, av.variable) {
				continue
			}
			vars[av.variable] = c.Asset.ID
			if av.field == "name" {
				vars[av.variable] = c.Asset.Name
			}
		} else if !slices.Contains(rb.Tags, "network") {
			continue
		}
		if slices.Contains(rb.Variables, "incident") {
			vars["incident"] = incidentFor(al)
		}
		missing := false
		for _, r := range rb.Required {
			if _, ok := vars[r]; !ok {
				missing = true
			}
		}
		if missing {
			continue
		}
		args := []string{"vigil", "runbook", "plan", rb.Name}
		if al != nil && rb.FromAlert && o.AlertFile != "" {
			args = append(args, "--from-alert", o.AlertFile)
			vars = nil // the runbook's from_alert mapping sets them
		}
		tail := []string{}
		for _, i := range o.InventoryArgs {
			tail = append(tail, "-i", i)
		}
		if o.ConfigArg != "" {
			tail = append(tail, "-c", o.ConfigArg)
		}
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			tail = append(tail, "-var", k+"="+vars[k])
		}
		real := append(append(append([]string{}, args...), o.LiveArgs...), tail...)
		sg := Suggestion{Runbook: rb.Name, Title: rb.Title, Command: shellJoin(real)}
		// A rehearsal needs an inventory to simulate; a live card has none.
		if len(o.InventoryArgs) > 0 {
			sg.Rehearse = shellJoin(append(append(append([]string{}, args...), "--provider", "sim"), tail...))
		}
		out = append(out, sg)
	}
	return out
}

func incidentFor(al *alert.Alert) string {
	if al != nil {
		return al.Incident()
	}
	return "INC-" + time.Now().UTC().Format("20060102")
}

// shellJoin quotes arguments for a POSIX shell where needed.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// Text renders a card for a terminal or a ticket (markdown when md).
func (c *Card) Text(md bool) string {
	var b strings.Builder
	h := func(s string) {
		if md {
			fmt.Fprintf(&b, "\n### %s\n\n", s)
		} else {
			fmt.Fprintf(&b, "\n%s\n", strings.ToUpper(s))
		}
	}
	item := func(s string) {
		if md {
			fmt.Fprintf(&b, "- %s\n", s)
		} else {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	title := fmt.Sprintf("Triage: %s %s (%s, %s)", c.Asset.Kind, c.Asset.Name, c.Asset.Provider, c.Asset.Scope)
	if !c.Found {
		title = "Triage: " + c.Asset.ID + " (not in the inventory)"
	}
	if md {
		fmt.Fprintf(&b, "## %s\n\n`%s`\n", title, c.Asset.ID)
	} else {
		fmt.Fprintf(&b, "%s\n%s\n", title, c.Asset.ID)
	}
	if c.Alert != nil {
		what := c.Alert.Title
		if what == c.Alert.Type || what == "" {
			what = c.Alert.Summary
		}
		fmt.Fprintf(&b, "\nAlert: [%s] %s %s: %s\n", c.Alert.Severity, c.Alert.Source, c.Alert.Type, what)
	}
	h("Questions")
	for _, q := range c.Questions {
		v := q.Value
		if !q.Known {
			v = "UNKNOWN"
		}
		if md {
			fmt.Fprintf(&b, "- **%s** %s\n", Titles[q.Question], v)
		} else {
			fmt.Fprintf(&b, "%-42s %s\n", Titles[q.Question], v)
		}
		for _, d := range q.Details {
			if md {
				fmt.Fprintf(&b, "  - %s\n", d)
			} else {
				fmt.Fprintf(&b, "%44s%s\n", "", d)
			}
		}
		if q.Collect != "" {
			if md {
				fmt.Fprintf(&b, "  - _%s_\n", q.Collect)
			} else {
				fmt.Fprintf(&b, "%44s%s\n", "", q.Collect)
			}
		}
	}
	h(fmt.Sprintf("Open findings (%d)", len(c.Findings)))
	for _, f := range c.Findings {
		item(fmt.Sprintf("%s %s on %s %s: %s", f.PolicyID, f.Severity, f.On, f.AssetID, f.Message))
	}
	h("Runbooks")
	if len(c.Runbooks) == 0 {
		item("none of the known runbooks takes this kind of asset")
	}
	for _, s := range c.Runbooks {
		item(fmt.Sprintf("%s: %s", s.Runbook, s.Title))
		switch {
		case md:
			fmt.Fprintf(&b, "\n  ```sh\n")
			if s.Rehearse != "" {
				fmt.Fprintf(&b, "  %s\n", s.Rehearse)
			}
			fmt.Fprintf(&b, "  %s\n  ```\n", s.Command)
		default:
			if s.Rehearse != "" {
				fmt.Fprintf(&b, "      rehearse: %s\n", s.Rehearse)
			}
			fmt.Fprintf(&b, "      for real: %s\n", s.Command)
		}
	}
	return b.String()
}

// ShellJoin quotes arguments for a POSIX shell where needed: the commands
// the HTML report prints are quoted as the cards' are.
func ShellJoin(args []string) string { return shellJoin(args) }
