package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/engine/triage"
	"github.com/vigil-ir/vigil/runbooks"
)

func init() {
	extraCommands = append(extraCommands, (*app).alertCmd, (*app).triageCmd)
	inventoryCommands = append(inventoryCommands, (*app).inventoryOwnersCmd)
}

func (a *app) loadAlerts(path string) ([]*alert.Alert, error) {
	if path == stdinArg {
		return a.stdinAlerts()
	}
	as, err := alert.Load(path)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return as, nil
}

func (a *app) alertCmd() *cobra.Command {
	c := &cobra.Command{Use: "alert", Short: "Read provider alerts (GuardDuty, Security Hub, Security Command Center)"}
	var format string
	show := &cobra.Command{
		Use:   "show FILE...",
		Short: "Show what alerts are about: assets, severity, summary",
		Long: `Show reads provider alerts and maps each to the affected assets of vigil's
model, a severity and a short summary. Read:

  - AWS GuardDuty findings: 'aws guardduty get-findings' JSON, and the
    EventBridge event (detail-type "GuardDuty Finding")
  - AWS Security Hub findings in ASFF, and their EventBridge event
  - Google Security Command Center findings: the ListFindings response,
    'gcloud scc findings list --format=json', and the Pub/Sub notification
    (raw, or in a push envelope)

A FILE of - reads standard input. An unknown shape is an error, never a guess.`,
		Example: `  vigil alert show examples/alerts/guardduty-getfindings.json
  vigil alert show examples/alerts/*.json --format json`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "no alert file given")
			}
			var all []*alert.Alert
			for _, p := range args {
				as, err := a.loadAlerts(p)
				if err != nil {
					return err
				}
				all = append(all, as...)
			}
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			case "text":
				for _, al := range all {
					fmt.Fprintf(a.stdout, "%s  %s %s  %s\n", strings.ToUpper(al.Severity), al.Source, al.Type, al.Title)
					fmt.Fprintf(a.stdout, "  %s (%s, %s)\n", al.Summary, al.Scope, al.Region)
					for _, r := range al.Resources {
						fmt.Fprintf(a.stdout, "  %s %s  %s\n", r.Kind, r.Name, r.ID)
					}
					fmt.Fprintf(a.stdout, "  from %s (%s), id %s\n\n", al.File, al.Format, al.ID)
				}
				return nil
			}
			return usageError(c, "unknown --format %q: use text or json", format)
		},
	}
	show.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	c.AddCommand(show)
	return c
}

// runbookInfos describes the built-in runbooks for suggestions.
func runbookInfos() []triage.RunbookInfo {
	var out []triage.RunbookInfo
	for _, name := range runbooks.Names() {
		src, err := runbooks.Source(name)
		if err != nil {
			continue
		}
		rb, _, diags := runbook.Parse(src, "builtin/"+name+".hcl")
		if diags.HasErrors() {
			continue
		}
		info := triage.RunbookInfo{Name: name, Title: rb.Title, Tags: rb.Tags, FromAlert: len(rb.FromAlert) > 0}
		for _, v := range rb.Variables {
			info.Variables = append(info.Variables, v.Name)
			if v.Required() {
				info.Required = append(info.Required, v.Name)
			}
		}
		out = append(out, info)
	}
	return out
}

// requiredVars are the built-in runbooks' variables without a default, by
// runbook: the report's remediation commands set each.
func requiredVars() map[string][]string {
	out := map[string][]string{}
	for _, info := range runbookInfos() {
		out[info.Name] = info.Required
	}
	return out
}

func (a *app) triageCmd() *cobra.Command {
	var jf judgeFlags
	var live liveFlags
	var inv []string
	var alertFile, format string
	c := &cobra.Command{
		Use:   "triage [ASSET_ID] [--alert FILE] -i INVENTORY...",
		Short: "Answer the first questions about an asset or an alert's assets",
		Long: `Triage prints a card for an asset, or for each asset an alert is about, that
answers what responders ask first, from the inventory:

  - who owns it (labels or tags, the project's labels and IAM owners)
  - what it is for, and whether it is production (labels, else names)
  - whether it reaches other projects or accounts (foreign principals, its
    service accounts' roles elsewhere, VPC peering, Shared VPC, transit
    gateways, AWS roles other accounts may assume)
  - whether it reaches the corporate network (VPN, Interconnect, Direct
    Connect, peering with corporate_networks from vigil.hcl)
  - what data it holds (data-class labels on it, its disks or its project)
  - where it is, and the residency verdict for its data class

with the open findings on it and around it, and the runbooks that fit, as
commands that run as printed. A question the inventory cannot answer says
what to collect to answer it.`,
		Example: `  vigil triage --alert examples/alerts/guardduty-getfindings.json -i examples/inventory -c examples/vigil.hcl
  vigil triage //compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 \
      -i examples/inventory -c examples/vigil.hcl --format md`,
		RunE: func(c *cobra.Command, args []string) error {
			if (len(args) == 1) == (alertFile != "") || len(args) > 1 {
				return usageError(c, "give one asset id or --alert FILE")
			}
			if len(args) == 1 {
				// asset ids are //service/... or arn:...; a file here is
				// most often an alert given without --alert
				if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
					return usageError(c, "%s is a file, not an asset id: for an alert, use --alert %s", args[0], args[0])
				}
			}
			if len(inv) == 0 && !live.enabled() {
				return usageError(c, "no inventory: pass -i FILE (or --aws / --gcp-scope to collect one)")
			}
			if format != "text" && format != "json" && format != "md" {
				return usageError(c, "unknown --format %q: use text, json or md", format)
			}
			ctx := c.Context()
			var alerts []*alert.Alert
			if alertFile != "" {
				var err error
				if alerts, err = a.loadAlerts(alertFile); err != nil {
					return err
				}
			}
			// VIGIL_PHASES=1 prints where a triage's time went, on stderr:
			// the benchmark reports the index separately (built once, shared
			// by every card).
			ph := newPhases(a.env("VIGIL_PHASES") != "")
			var assets *inventory.Inventory
			if len(inv) > 0 {
				loaded, err := inventory.Load(ctx, inv...)
				if err != nil {
					return a.inputError(err)
				}
				assets = loaded
			}
			if live.enabled() {
				collected, err := a.collectLive(ctx, &live, jf.quiet)
				if err != nil {
					return err
				}
				assets = merge(assets, collected)
			}
			ph.done("load")
			cfg, err := a.loadConfig(jf.config)
			if err != nil {
				return err
			}
			j, err := a.loadJudge(ctx, &jf)
			if err != nil {
				return err
			}
			ph.done("policies")
			opts := &triage.Options{Inventory: assets, Config: cfg, Runbooks: runbookInfos(),
				InventoryArgs: inv, ConfigArg: jf.config, AlertFile: alertFile}
			if live.aws.enabled {
				opts.LiveArgs = append(opts.LiveArgs, "--aws-live")
			}
			if live.gcp.scope != "" {
				opts.LiveArgs = append(opts.LiveArgs, "--gcp-live", "--gcp-scope", live.gcp.scope)
			}
			opts.Prepare()
			ph.done("index")
			// The policies judge the cards' assets and what is around them
			// only, with the whole inventory as cross-asset context.
			var ids []string
			if len(args) == 1 {
				ids = args
			}
			findings, _, err := j.findingsOn(ctx, opts.Judged(ids, alerts), assets)
			if err != nil {
				return err
			}
			opts.Findings = findings
			ph.done("findings")
			var cards []*triage.Card
			if len(args) == 1 {
				cards = append(cards, triage.Build(opts, args[0]))
			}
			for _, al := range alerts {
				cards = append(cards, triage.ForAlert(opts, al)...)
			}
			ph.done("cards")
			ph.report(a.stderr, len(assets.Assets()))
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(cards)
			default:
				for i, card := range cards {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					fmt.Fprint(a.stdout, card.Text(format == "md"))
				}
			}
			for _, card := range cards {
				if !card.Found {
					return &exitError{code: ExitError, err: fmt.Errorf("%s is not in the inventory", card.Asset.ID)}
				}
			}
			return nil
		},
	}
	c.Flags().StringArrayVarP(&inv, "inventory", "i", nil, "inventory files or directories")
	c.Flags().StringVar(&alertFile, "alert", "", "triage the assets of this provider alert (- for standard input)")
	c.Flags().StringVarP(&format, "format", "f", "text", "text, json or md (for tickets)")
	c.Flags().StringVarP(&jf.config, "config", "c", "", "vigil.hcl (residency, corporate networks); default ./vigil.hcl when present")
	c.Flags().StringArrayVarP(&jf.policyDirs, "policies", "p", nil, "additional policy directories")
	c.Flags().StringVarP(&jf.waivers, "waivers", "w", "", "waiver file")
	c.Flags().BoolVarP(&jf.quiet, "quiet", "q", false, "no progress on stderr")
	live.register(c)
	return c
}

// phases times the parts of a command, when on.
type phases struct {
	on    bool
	last  time.Time
	names []string
	took  []time.Duration
}

func newPhases(on bool) *phases { return &phases{on: on, last: time.Now()} }

// done ends the phase called name, begun when the previous one ended.
func (p *phases) done(name string) {
	if !p.on {
		return
	}
	now := time.Now()
	p.names = append(p.names, name)
	p.took = append(p.took, now.Sub(p.last))
	p.last = now
}

// report prints "vigil: phases: load 1.234s, ..." (seconds, three decimals,
// so a script can read them).
func (p *phases) report(w io.Writer, assets int) {
	if !p.on {
		return
	}
	parts := make([]string, len(p.names))
	for i, n := range p.names {
		parts[i] = fmt.Sprintf("%s %.3fs", n, p.took[i].Seconds())
	}
	fmt.Fprintf(w, "vigil: phases: %s (%d assets)\n", strings.Join(parts, ", "), assets)
}

// owner row of `vigil inventory owners`.
type ownerRow struct {
	ID          string   `json:"id"`
	Provider    string   `json:"provider"`
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Owner       string   `json:"owner"`
	Purpose     string   `json:"purpose"`
	Environment string   `json:"environment"`
	DataClasses []string `json:"data_classes"`
	Assets      int      `json:"assets"`
	Missing     []string `json:"missing,omitempty"`
	Synthesized bool     `json:"not_collected,omitempty"`
}

func (a *app) inventoryOwnersCmd() *cobra.Command {
	var format, config string
	c := &cobra.Command{
		Use:   "owners INVENTORY...",
		Short: "List every project and account with its owner, purpose, environment and data",
		Long: `Owners takes stock: every GCP project and AWS account of the inventories with
its owner, purpose and environment (from its labels or tags, else from IAM
owners and names) and the data classes its assets are labelled with. Those
without an owner or a purpose are marked: responders should not have to find
out during an incident (VGL-OWN-002 reports them in scans).`,
		Example: `  vigil inventory owners examples/inventory
  vigil inventory owners inv/ --format json`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "no inventory given")
			}
			inv, err := inventory.Load(c.Context(), args...)
			if err != nil {
				return a.inputError(err)
			}
			cfg, err := a.loadConfig(config)
			if err != nil {
				return err
			}
			opts := &triage.Options{Inventory: inv, Config: cfg}
			var rows []ownerRow
			counts, classes := map[string]int{}, map[string]map[string]bool{}
			for _, x := range inv.Assets() {
				counts[x.Scope]++
				if v := triage.DataClass(cfg, x.Labels); v != "" {
					if classes[x.Scope] == nil {
						classes[x.Scope] = map[string]bool{}
					}
					classes[x.Scope][v] = true
				}
			}
			for _, x := range inv.Assets() {
				if x.Kind != "project" && x.Kind != "account" {
					continue
				}
				card := triage.Build(opts, x.ID)
				row := ownerRow{ID: x.ID, Provider: x.Provider, Kind: x.Kind, Name: x.Name, Assets: counts[x.Scope], Synthesized: x.Facets.Synthesized}
				if x.Kind == "project" {
					row.Assets = counts[x.Name]
					for k := range classes[x.Name] {
						row.DataClasses = append(row.DataClasses, k)
					}
				} else {
					for k := range classes[x.Scope] {
						row.DataClasses = append(row.DataClasses, k)
					}
				}
				sort.Strings(row.DataClasses)
				pick := func(q string) string {
					if ans := card.Question(q); ans != nil && ans.Known {
						return ans.Value
					}
					row.Missing = append(row.Missing, q)
					return ""
				}
				row.Owner, row.Purpose = pick(triage.QOwner), pick(triage.QPurpose)
				if ans := card.Question(triage.QEnvironment); ans != nil && ans.Known {
					row.Environment = ans.Value
				}
				rows = append(rows, row)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Provider+rows[i].Name < rows[j].Provider+rows[j].Name })
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			if format != "text" {
				return usageError(c, "unknown --format %q: use text or json", format)
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tPROJECT/ACCOUNT\tOWNER\tPURPOSE\tENV\tDATA\tASSETS\t")
			missing, uncollected := 0, 0
			dash := func(s string) string {
				if s == "" {
					return "-"
				}
				return s
			}
			for _, r := range rows {
				mark := ""
				if r.Synthesized {
					mark, uncollected = "  <- named by assets but not collected: collect it to know", uncollected+1
				} else if len(r.Missing) > 0 {
					mark, missing = "  <- no "+strings.Join(r.Missing, ", no "), missing+1
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Provider, r.Name, dash(r.Owner), dash(r.Purpose), dash(r.Environment),
					dash(strings.Join(r.DataClasses, ",")), r.Assets, mark)
			}
			tw.Flush()
			fmt.Fprintf(a.stdout, "\n%d projects and accounts: %d without an owner or a purpose, %d not collected.\n", len(rows), missing, uncollected)
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	c.Flags().StringVarP(&config, "config", "c", "", "vigil.hcl; default ./vigil.hcl when present")
	return c
}

// alertInputs reads --from-alert and evaluates the runbook's mapping.
func (a *app) alertInputs(rb *runbook.Runbook, path string) (map[string]cty.Value, error) {
	if path == "" {
		return nil, nil
	}
	as, err := a.loadAlerts(path)
	if err != nil {
		return nil, err
	}
	if len(as) > 1 {
		fmt.Fprintf(a.stderr, "vigil: warning: %s holds %d findings; the first fills the variables\n", path, len(as))
	}
	vals, diags := rb.AlertInputs(as[0].Value())
	if diags.HasErrors() {
		return nil, &exitError{code: ExitError, err: errors.New(strings.TrimSpace(diags.Error()))}
	}
	return vals, nil
}
