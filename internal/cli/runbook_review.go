package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/report"
	"github.com/vigil-ir/vigil/internal/store"
)

// reviewed is a run read back with its journal checked.
type reviewed struct {
	run     *runbook.Run
	entries []*runbook.Entry
	v       *runbook.Verification
	// trusted says what the run's key was compared with ("" when nothing).
	trusted string
	anchor  string
	// serveKey is the id of the pinned serve key the run's approvals by a
	// second person were checked with ("" when the run has no such step).
	serveKey string
}

// review reads a run and verifies its journal against the anchor and the
// journal key.
func (a *app) review(ctx context.Context, f *runbookFlags, st store.RunStore, id string) (*reviewed, error) {
	an, err := a.openAnchor(ctx, f, st)
	if err != nil {
		return nil, err
	}
	return a.reviewWith(ctx, f, st, an, id)
}

// reviewWith is review with the anchor open. A run the database does not
// have but the anchor holds heads of was deleted: that is reported as a
// journal that is not intact (exit 1), not as an unknown run.
func (a *app) reviewWith(ctx context.Context, f *runbookFlags, st store.RunStore, an runbook.Anchor, id string) (*reviewed, error) {
	heads, err := an.Heads(ctx, id)
	if err != nil {
		return nil, &exitError{code: ExitFindings, err: fmt.Errorf("read %s: %w", an, err)}
	}
	run, err := st.GetRun(ctx, id)
	if errors.Is(err, runbook.ErrRunNotFound) && len(heads) > 0 {
		return nil, &exitError{code: ExitFindings, err: fmt.Errorf("journal of run %s is NOT intact: %w", id, deletedRun(heads, an))}
	}
	if err != nil {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("run %s: %w", id, err)}
	}
	entries, err := st.Entries(ctx, id)
	if err != nil {
		return nil, err
	}
	pub, keyPath, err := a.trustedKey(f)
	if err != nil {
		return nil, err
	}
	r := &reviewed{run: run, entries: entries, anchor: an.String()}
	if pub != nil {
		r.trusted = keyPath
	}
	r.v = runbook.VerifyRun(run, entries, heads, pub, an.String())
	if r.v.Tamper == nil {
		// The two-person rule: approvals (and the starter) serve signed,
		// checked with serve's key pinned here.
		servePub, _, err := a.servePublicKey(f)
		if err != nil {
			return nil, err
		}
		ds, err := store.StoredDecisions(ctx, st, id)
		if err != nil {
			return nil, &exitError{code: ExitError, err: fmt.Errorf("run %s: read its decisions: %w", id, err)}
		}
		r.v.Tamper = runbook.VerifyApprovals(run, entries, ds, servePub)
		if plan, err := runbook.DecodePlan(run.Plan); err == nil && runbook.FirstDistinct(plan) != "" && servePub != nil {
			r.serveKey = runbook.KeyID(servePub)
		}
	}
	return r, nil
}

// deletedRun describes a run the anchor holds heads of that the database
// no longer has.
func deletedRun(heads []runbook.Head, an runbook.Anchor) *runbook.Tamper {
	last := heads[0]
	for _, h := range heads {
		if h.Seq > last.Seq {
			last = h
		}
	}
	return &runbook.Tamper{What: runbook.TamperDeleted, Reason: fmt.Sprintf("%s holds %d heads of it, up to entry %d (hash %.12s, %s), but the database has no such run: its row and journal were removed",
		an, len(heads), last.Seq, last.Hash, last.At.UTC().Format(time.RFC3339))}
}

// deletedRuns lists the runs an anchor that can list them holds heads of
// that are not in the database, with what the anchor says of each.
func deletedRuns(ctx context.Context, st store.RunStore, an runbook.Anchor, known map[string]bool) (map[string]*runbook.Tamper, error) {
	l, ok := an.(runbook.AnchorLister)
	if !ok {
		return nil, nil
	}
	ids, err := l.Runs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the runs of %s: %w", an, err)
	}
	out := map[string]*runbook.Tamper{}
	for _, id := range ids {
		if known[id] {
			continue
		}
		if _, err := st.GetRun(ctx, id); !errors.Is(err, runbook.ErrRunNotFound) {
			continue
		}
		heads, err := an.Heads(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", an, err)
		}
		if slices.ContainsFunc(heads, func(h runbook.Head) bool { return !h.Intent }) {
			// Only intent heads: the run's creation failed before its row
			// was stored (a second apply of a plan, a crash), nothing to lose.
			out[id] = deletedRun(heads, an)
		}
	}
	return out, nil
}

// anchorDamage is what an anchor holds that is not a head, and whether
// any of it is more than the torn last line a crash leaves.
func anchorDamage(ctx context.Context, an runbook.Anchor) (notes []string, bad bool, err error) {
	d, ok := an.(runbook.AnchorDamage)
	if !ok {
		return nil, false, nil
	}
	notes, err = d.Damage(ctx)
	for _, n := range notes {
		if !strings.Contains(n, "cut short by a crash") {
			bad = true
		}
	}
	return notes, bad, err
}

func (a *app) rbStatusCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "status [RUN]",
		Short: "List runs, or show the steps of one",
		// one RUN: a second one was silently ignored
		Args: cobra.MaximumNArgs(1),
		Example: `  vigil runbook status
  vigil runbook status run-20261127-091500-3fa2c1`,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			st, err := a.openRunStore(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			if len(args) == 0 {
				runs, err := st.ListRuns(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tRUNBOOK\tSTATUS\tPROVIDER\tSTARTED\tACTOR\tHELD BY")
				for _, r := range runs {
					held := ""
					if l, err := st.Lease(ctx, r.ID); err == nil && l != nil {
						held = l.Holder.String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Runbook, r.Status, r.Provider, r.CreatedAt.Local().Format("2006-01-02 15:04:05"), r.Actor, held)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				// Runs the anchor vouches for that the database lost.
				an, err := a.openAnchor(ctx, &f, st)
				if err != nil {
					return err
				}
				known := map[string]bool{}
				for _, r := range runs {
					known[r.ID] = true
				}
				gone, err := deletedRuns(ctx, st, an, known)
				if err != nil {
					return &exitError{code: ExitFindings, err: err}
				}
				for _, id := range slices.Sorted(maps.Keys(gone)) {
					fmt.Fprintf(a.stdout, "%s  DELETED: %s\n", id, gone[id].Reason)
				}
				if len(gone) > 0 {
					return exit(ExitFindings)
				}
				return nil
			}
			r, err := a.review(ctx, &f, st, args[0])
			if err != nil {
				return err
			}
			tl := runbook.BuildTimeline(r.run, r.entries, r.v)
			fmt.Fprintf(a.stdout, "Run %s (%s): %s\n", tl.Run.ID, tl.Run.Runbook, tl.Run.Status)
			if l, err := st.Lease(ctx, r.run.ID); err == nil && l != nil {
				fmt.Fprintf(a.stdout, "Held by %s, lease expires %s\n", l.Holder, l.ExpiresAt.Local().Format("15:04:05"))
			}
			if !tl.Verified {
				fmt.Fprintf(a.stdout, "Journal NOT intact: %s\n", tl.Tamper)
			}
			fmt.Fprintln(a.stdout)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STEP\tPHASE\tACTION\tSTATUS\tDURATION\tNOTE")
			for _, s := range tl.Steps {
				note := s.Summary
				if s.Error != "" {
					note = s.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Address, s.Phase, s.Action, s.Status, s.Duration, note)
			}
			return tw.Flush()
		},
	}
	f.stateFlags(c)
	f.keyFlags(c)
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for the journal's anchor")
	return c
}

func (a *app) rbVerifyCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "verify RUN | --all | --show-key",
		Short: "Check a run's journal: chain, signatures, anchor and the runs row",
		Long: `Verify checks a run's journal and reports the first problem it finds:
  - an entry altered, removed or inserted (its hash, or the chain, breaks);
  - a forged entry (one the journal key did not sign, such as an approval
    added to the database);
  - a chain rewritten without the key (hashes recomputed after an edit or a
    deletion: the signatures, and the heads kept in the anchor, disagree);
  - truncation (the anchor records entries the database no longer has);
  - a changed runs row (its runbook hash, plan, actor or status is not what
    the journal's first entry, or its last status entry, binds);
  - an evidence step whose success has no evidence entry beside it;
  - a journal its anchor has no record of (the anchor was deleted or
    emptied, or it is another machine's file), unless a resume re-anchored
    it with --reanchor, which verify names;
  - a run deleted from the database whose heads the anchor still holds;
  - a journal signed with a key other than the journal key here (written on
    another machine, or before the key was replaced), reported as such, with
    both key ids, not as an edit: verify with that key's public half;
  - for a run with a step that needs a second person (distinct_approver):
    an approval of such a step in the journal, or a decision on it in the
    store, that vigil serve did not sign with the key pinned here
    (--serve-public-key, VIGIL_SERVE_PUBLIC_KEY or serve_public_key in
    vigil.hcl), or signed for another run, plan or step, or by the starter;
    or a starter serve did not vouch for. A row written into the database
    by hand shows here, naming the step.
--all verifies every run the database or the anchor knows of. Lines in the
anchor file that are not journal heads are reported too.
The run's key is compared with the journal key when there is one here
(--journal-key, VIGIL_JOURNAL_KEY, or the default key), which may be the
public key alone. --show-key prints where the journal key is and its public
half, to hand to whoever audits the journals.

Exit code 0 when intact, 1 when not.`,
		Example: `  vigil runbook verify run-20261127-091500-3fa2c1
  vigil runbook verify --all
  vigil runbook verify --show-key`,
		RunE: func(c *cobra.Command, args []string) error {
			if f.showKey {
				return a.showKey(&f)
			}
			if f.all && len(args) > 0 {
				return usageError(c, "name a run or pass --all, not both")
			}
			if !f.all && len(args) != 1 {
				return usageError(c, "name the run to verify (or pass --all or --show-key)")
			}
			ctx := c.Context()
			st, err := a.openRunStore(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			an, err := a.openAnchor(ctx, &f, st)
			if err != nil {
				return err
			}
			notes, damaged, err := anchorDamage(ctx, an)
			if err != nil {
				return &exitError{code: ExitFindings, err: fmt.Errorf("read %s: %w", an, err)}
			}
			for _, n := range notes {
				fmt.Fprintf(a.stdout, "%s: %s.\n", an, n)
			}
			if f.all {
				return a.verifyAll(ctx, &f, st, an, damaged)
			}
			r, err := a.reviewWith(ctx, &f, st, an, args[0])
			if err != nil {
				var ee *exitError
				if errors.As(err, &ee) && ee.code == ExitFindings {
					fmt.Fprintf(a.stdout, "%s.\n", strings.ToUpper(ee.err.Error()[:1])+ee.err.Error()[1:])
					return exit(ExitFindings)
				}
				return err
			}
			v := r.v
			if v.Tamper != nil && v.Tamper.What == runbook.TamperOtherKey {
				// Not an edit: another journal key wrote it. Still no pass.
				fmt.Fprintf(a.stdout, "Journal of run %s cannot be vouched for with the journal key here: %s.\n", args[0], v.Tamper.Error())
				return exit(ExitFindings)
			}
			if v.Tamper != nil {
				fmt.Fprintf(a.stdout, "Journal of run %s is NOT intact: %s.\n", args[0], v.Tamper.Error())
				return exit(ExitFindings)
			}
			if v.Reanchored != nil {
				fmt.Fprintf(a.stdout, "Note: entry %d re-anchored the journal (resume --reanchor): the anchor does not vouch for the entries before it.\n", v.Reanchored.Seq)
			}
			fmt.Fprintf(a.stdout, "Journal of run %s is intact: %d entries, last hash %s, signed with key %s.\n", args[0], v.Entries, v.Head, v.Key)
			if v.Anchored > 0 {
				fmt.Fprintf(a.stdout, "Its head matches %s (entry %d).\n", r.anchor, v.Anchored)
			} else {
				fmt.Fprintf(a.stdout, "No heads of it in %s: truncation cannot be checked here.\n", r.anchor)
			}
			if r.serveKey != "" {
				fmt.Fprintf(a.stdout, "Approvals by a second person (and who started the run) are checked with the pinned serve key %s.\n", r.serveKey)
			}
			if r.trusted != "" {
				fmt.Fprintf(a.stdout, "The key is the journal key %s.\n", r.trusted)
			} else {
				fmt.Fprintln(a.stdout, "There is no journal key here to compare the run's key with: pass --journal-key with the journal's public key.")
			}
			return nil
		},
	}
	f.stateFlags(c)
	f.keyFlags(c)
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for the journal's anchor")
	c.Flags().BoolVar(&f.showKey, "show-key", false, "print the journal key's path and public key")
	c.Flags().BoolVar(&f.all, "all", false, "verify every run the database or the anchor knows of")
	return c
}

// verifyAll verifies every run of the database, and reports the runs the
// anchor holds heads of that the database lost. Exit 1 when any is not
// intact (or the anchor holds lines that are not heads).
func (a *app) verifyAll(ctx context.Context, f *runbookFlags, st store.RunStore, an runbook.Anchor, damaged bool) error {
	runs, err := st.ListRuns(ctx)
	if err != nil {
		return err
	}
	bad := damaged
	known := map[string]bool{}
	for _, run := range runs {
		known[run.ID] = true
		r, err := a.reviewWith(ctx, f, st, an, run.ID)
		if err != nil {
			return err
		}
		if r.v.Tamper != nil {
			bad = true
			verdict := "NOT intact"
			if r.v.Tamper.What == runbook.TamperOtherKey {
				verdict = "another journal key"
			}
			fmt.Fprintf(a.stdout, "%s  %s: %s.\n", run.ID, verdict, r.v.Tamper.Error())
			continue
		}
		fmt.Fprintf(a.stdout, "%s  intact: %d entries, key %s.\n", run.ID, r.v.Entries, r.v.Key)
	}
	gone, err := deletedRuns(ctx, st, an, known)
	if err != nil {
		return &exitError{code: ExitFindings, err: err}
	}
	for _, id := range slices.Sorted(maps.Keys(gone)) {
		bad = true
		fmt.Fprintf(a.stdout, "%s  NOT intact: %s.\n", id, gone[id].Error())
	}
	fmt.Fprintf(a.stdout, "%d runs in the database, %d deleted from it.\n", len(runs), len(gone))
	if bad {
		return exit(ExitFindings)
	}
	return nil
}

// showKey prints the journal key's path and public half.
func (a *app) showKey(f *runbookFlags) error {
	pub, path, err := a.trustedKey(f)
	if err != nil {
		return err
	}
	if pub == nil {
		fmt.Fprintf(a.stdout, "Journal key: %s (not made yet: the first apply makes it, mode 0600)\n", path)
		return nil
	}
	return a.printPublicKey("Journal key", path, pub)
}

// printPublicKey prints where a key is, its id and its public half (PEM).
func (a *app) printPublicKey(what, path string, pub ed25519.PublicKey) error {
	// what and where on stderr, the PEM alone on stdout: `> serve.pub`
	// writes a file that holds the key and nothing else
	fmt.Fprintf(a.stderr, "%s: %s\nPublic key:  %s (ed25519)\n", what, path, runbook.KeyID(pub))
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return pem.Encode(a.stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (a *app) rbTimelineCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "timeline RUN",
		Short: "Render a run for the lessons-learned review",
		Example: `  vigil runbook timeline run-20261127-091500-3fa2c1 > INC-2041-timeline.md
  vigil runbook timeline run-20261127-091500-3fa2c1 --format json`,
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
			tl := runbook.BuildTimeline(r.run, r.entries, r.v)
			w, closeOut, err := a.openOutput(f.out)
			if err != nil {
				return err
			}
			defer closeOut()
			switch f.format {
			case "md", "markdown", "":
				return report.TimelineMarkdown(w, tl)
			case "json":
				return report.TimelineJSON(w, tl)
			}
			return usageError(c, "unknown --format %q: use md or json", f.format)
		},
	}
	f.stateFlags(c)
	f.keyFlags(c)
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for the journal's anchor")
	c.Flags().StringVarP(&f.format, "format", "f", "md", "md or json")
	c.Flags().StringVarP(&f.out, "output", "o", "", "write to a file")
	return c
}
