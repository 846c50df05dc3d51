package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/sim"
)

func init() { extraCommands = append(extraCommands, (*app).evidenceCmd) }

func (a *app) evidenceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "evidence",
		Short: "Check a run's chain-of-custody record against the evidence itself",
	}
	c.AddCommand(a.evidenceVerifyCmd())
	return c
}

// verdict is what verify found of one custody item.
type verdict struct {
	Step     string `json:"step"`
	Item     string `json:"item"`
	Ref      string `json:"ref,omitempty"`
	Kind     string `json:"kind"`
	Recorded string `json:"recorded_sha256"`
	Now      string `json:"sha256,omitempty"`
	// Result is match, mismatch, error or recorded (an item that cannot be
	// hashed again: a record, a log query, a step's outputs).
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

func (a *app) evidenceVerifyCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "verify RUN",
		Short: "Hash the evidence of a run's custody record again and compare",
		Long: `Verify reads a run's chain-of-custody record (after checking its journal,
as 'vigil runbook verify' does) and hashes the content of every snapshot it
names again, the way the run did: the EBS direct APIs for
aws.ebs.hash_snapshot, a worker VM for gcp.compute.hash_snapshot. Each item
is reported as match or MISMATCH (naming the snapshot and both hashes);
records, log queries and step outputs are listed as recorded, since what
they hashed was a moment's state.

Give it the provider flags the run had (--aws-evidence-role for copies in
the security account). A run rehearsed with --provider sim is verified
against its simulated cloud.

Exit code 0 when every content hash matches, 1 on any mismatch, any item
that could not be hashed again, or a journal that is not intact.`,
		Example: `  vigil evidence verify run-20261127-091500-3fa2c1 --aws-evidence-role arn:aws:iam::333333333333:role/vigil-evidence
  vigil evidence verify run-20261127-091500-3fa2c1 --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			st, err := a.openRunStore(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := a.review(ctx, &f, st, args[0])
			if err != nil {
				return err
			}
			if r.v.Tamper != nil {
				fmt.Fprintf(a.stdout, "Journal of run %s is NOT intact: %s; its custody record cannot be trusted.\n", args[0], r.v.Tamper.Error())
				return exit(ExitFindings)
			}
			var cloud *sim.Cloud
			if r.run.State != "" {
				if cloud, err = sim.Load(r.run.State); err != nil {
					return &exitError{code: ExitError, err: err}
				}
			}
			reg, err := a.registryFor(ctx, &f, cloud)
			if err != nil {
				return err
			}
			tl := runbook.BuildTimeline(r.run, r.entries, r.v)
			var out []verdict
			bad := 0
			for _, it := range tl.Evidence {
				v := verdict{Step: it.Step, Item: it.Item, Ref: it.Ref, Kind: it.Kind, Recorded: it.SHA256, Result: "recorded"}
				if it.Kind == action.EvidenceContent && it.Verify != "" {
					v.Now, err = a.rehash(c, reg, r.run, it)
					switch {
					case err != nil:
						v.Result, v.Error = "error", err.Error()
						bad++
					case v.Now == it.SHA256:
						v.Result = "match"
					default:
						v.Result = "mismatch"
						bad++
					}
				}
				out = append(out, v)
			}
			if f.format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"run": args[0], "items": out, "ok": bad == 0}); err != nil {
					return err
				}
			} else {
				a.printVerdicts(args[0], out)
			}
			if bad > 0 {
				return exit(ExitFindings)
			}
			return nil
		},
	}
	f.stateFlags(c)
	f.keyFlags(c)
	f.aws.registerRunbook(c)
	f.gcp.registerRunbook(c)
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for the journal's anchor")
	c.Flags().StringVarP(&f.format, "format", "f", "text", "text or json")
	return c
}

func (a *app) printVerdicts(run string, out []verdict) {
	content, bad := 0, 0
	for _, v := range out {
		switch v.Result {
		case "match":
			content++
			fmt.Fprintf(a.stdout, "match     %s (step.%s): sha256 %s\n", v.Item, v.Step, v.Now)
		case "mismatch":
			content++
			bad++
			fmt.Fprintf(a.stdout, "MISMATCH  %s (step.%s): %s was recorded as sha256 %s, it hashes to %s now\n", v.Item, v.Step, v.Ref, v.Recorded, v.Now)
		case "error":
			content++
			bad++
			fmt.Fprintf(a.stdout, "ERROR     %s (step.%s): cannot hash it again: %s\n", v.Item, v.Step, v.Error)
		default:
			fmt.Fprintf(a.stdout, "recorded  %s (step.%s, %s): sha256 %s\n", v.Item, v.Step, v.Kind, v.Recorded)
		}
	}
	switch {
	case content == 0:
		fmt.Fprintf(a.stdout, "Run %s recorded no content hashes to verify.\n", run)
	case bad == 0:
		fmt.Fprintf(a.stdout, "Run %s: the %d content hashes match.\n", run, content)
	default:
		fmt.Fprintf(a.stdout, "Run %s: %d of %d content hashes do NOT match or could not be checked.\n", run, bad, content)
	}
}

// rehash runs the item's hash action again on its resource, outside the
// run (its own run id, so that nothing the run made is taken for it).
func (a *app) rehash(c *cobra.Command, reg *action.Registry, run *runbook.Run, it runbook.TimelineEvidence) (string, error) {
	act, _, ok := reg.Resolve(it.Verify)
	if !ok {
		return "", fmt.Errorf("no action %s", it.Verify)
	}
	raw, err := json.Marshal(it.Args)
	if err != nil {
		return "", err
	}
	args, err := ctyjson.Unmarshal(raw, act.Spec().ArgsType())
	if err != nil {
		return "", fmt.Errorf("the custody record's arguments for %s do not fit it: %w", it.Verify, err)
	}
	req := &action.Request{Args: args.AsValueMap(), RunID: "verify-" + time.Now().UTC().Format("20060102t150405"), Step: "verify." + it.Step,
		Env: &action.Env{Log: a.log, Now: time.Now}, Progress: func(m string) { fmt.Fprintf(a.stderr, "%s\n", m) }}
	res, err := act.Apply(c.Context(), req)
	if err != nil {
		return "", err
	}
	for _, ev := range res.Evidence {
		if ev.Kind == action.EvidenceContent && ev.Ref == it.Ref {
			return ev.SHA256, nil
		}
	}
	return "", fmt.Errorf("%s gave no content hash of %s", it.Verify, it.Ref)
}
