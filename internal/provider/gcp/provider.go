package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	compute "google.golang.org/api/compute/v1"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/naming"
)

// Provider carries out the gcp.* actions. Its clients are made on first
// use, so runbooks without Google Cloud steps need no credentials.
type Provider struct{ s *session }

// New returns the GCP provider.
func New(opts Options) *Provider {
	opts.defaults()
	return &Provider{s: &session{opts: opts}}
}

// Name implements action.Provider.
func (p *Provider) Name() string { return "gcp" }

func (p *Provider) svc(ctx context.Context) (*session, error) {
	return p.s, p.s.rest(ctx)
}

// planFn and applyFn are an action's two halves.
type (
	planFn  = func(context.Context, *action.Request) (*action.Change, error)
	applyFn = func(context.Context, *action.Request) (*action.Result, error)
)

// Actions implements action.Provider. Every action that writes can tell
// whether an interrupted attempt took effect: Recover runs its Apply with
// writes refused, and the attempt took effect when Apply finds nothing
// left to do.
func (p *Provider) Actions() []action.Action {
	f := func(name string, plan planFn, apply applyFn) *action.Func {
		a := &action.Func{S: action.MustSpec(name),
			PlanFn: func(ctx context.Context, r *action.Request) (*action.Change, error) {
				ch, err := plan(ctx, r)
				return ch, classify(err)
			},
			ApplyFn: func(ctx context.Context, r *action.Request) (*action.Result, error) {
				res, err := apply(ctx, r)
				return res, classify(err)
			}}
		if a.S.Effect != action.Read {
			a.RecoverFn = recoverBy(apply)
		}
		return a
	}
	delInstancePlan, delInstanceApply := p.deleteInstance()
	delFirewallPlan, delFirewallApply := p.deleteFirewall()
	stopPlan, stopApply := p.state("TERMINATED")
	suspendPlan, suspendApply := p.state("SUSPENDED")
	resumePlan, resumeApply := p.state("RUNNING")
	return []action.Action{
		f("gcp.compute.snapshot_instance_disks", p.snapshotPlan, p.snapshotApply),
		f("gcp.compute.export_snapshots", p.exportPlan, p.exportApply),
		f("gcp.compute.hash_snapshot", p.hashPlan, p.hashApply),
		f("gcp.compute.isolate_instance", p.isolatePlan, p.isolateApply),
		f("gcp.compute.release_instance", p.releasePlan, p.releaseApply),
		f("gcp.compute.stop_instance", stopPlan, stopApply),
		f("gcp.compute.suspend_instance", suspendPlan, suspendApply),
		f("gcp.compute.resume_instance", resumePlan, resumeApply),
		f("gcp.compute.delete_instance", delInstancePlan, delInstanceApply),
		f("gcp.compute.delete_firewall", delFirewallPlan, delFirewallApply),
		f("gcp.compute.restrict_firewall", p.restrictPlan, p.restrictApply),
		f("gcp.compute.remove_instance_ssh_keys", p.sshPlan, p.sshApply),
		f("gcp.iam.disable_service_account_key", p.keyPlan, p.keyApply),
		f("gcp.compute.create_instance_from_snapshot", p.createPlan, p.createApply),
		f("gcp.logging.list_entries", p.logPlan, p.logApply),
	}
}

// recoverBy tells whether an interrupted attempt took effect: Apply runs
// with every write refused; if it needs none, the effect is all there and
// its result is the step's.
func recoverBy(apply applyFn) func(context.Context, *action.Request) (*action.Result, bool, error) {
	return func(ctx context.Context, r *action.Request) (*action.Result, bool, error) {
		res, err := apply(readOnly(ctx), r)
		if errors.Is(err, errWouldWrite) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, classify(err)
		}
		return res, true, nil
	}
}

// classify keeps an unknown outcome as it is (the engine must ask Recover
// before trying again), marks quota errors that outlasted the retries as
// retryable for the step's retry block, and names missing permissions.
func classify(err error) error {
	if err == nil || action.IsOutcomeUnknown(err) {
		return err
	}
	if retryable(err) {
		return &action.RetryableError{Err: err}
	}
	return explain(err, "")
}

// ref is a parsed resource path: projects/P/zones/Z/instances/N,
// projects/P/global/firewalls/F, ...
type ref struct{ project, zone, coll, name string }

func (r ref) path() string {
	if r.zone != "" {
		return fmt.Sprintf("projects/%s/zones/%s/%s/%s", r.project, r.zone, r.coll, r.name)
	}
	return fmt.Sprintf("projects/%s/global/%s/%s", r.project, r.coll, r.name)
}

// assetID is the CAI name, vigil's asset id.
func (r ref) assetID() string { return "//compute.googleapis.com/" + r.path() }

var linkPrefixes = []string{"//compute.googleapis.com/", "https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/", "//iam.googleapis.com/"}

// parse reads an asset id, a self link or a path of the wanted collection.
func parse(s, coll string) (ref, error) {
	p := s
	for _, pre := range linkPrefixes {
		p = strings.TrimPrefix(p, pre)
	}
	if i := strings.Index(p, "/compute/v1/"); i >= 0 {
		p = p[i+len("/compute/v1/"):]
	}
	parts := strings.Split(p, "/")
	// An empty project, zone or name (projects//zones//instances/x) is no
	// reference: the API would be asked about another path.
	if slices.Contains(parts, "") {
		parts = nil
	}
	switch {
	case len(parts) == 6 && parts[0] == "projects" && parts[2] == "zones" && parts[4] == coll:
		return ref{project: parts[1], zone: parts[3], coll: coll, name: parts[5]}, nil
	case len(parts) == 5 && parts[0] == "projects" && parts[2] == "global" && parts[3] == coll:
		return ref{project: parts[1], coll: coll, name: parts[4]}, nil
	}
	want := "projects/P/global/" + coll + "/NAME"
	if coll == "instances" || coll == "disks" {
		want = "projects/P/zones/Z/" + coll + "/NAME"
	}
	return ref{}, fmt.Errorf("%q is not a %s reference: want its asset id, self link or %s", s, strings.TrimSuffix(coll, "s"), want)
}

var (
	// errOperationFailed marks an operation that finished with an error:
	// the outcome is known.
	errOperationFailed = errors.New("operation failed")
	errWaitTimeout     = errors.New("timed out waiting for the operation")
)

// wait polls a compute operation until it is done, surfacing its errors.
// Looks that fail with quota or 5xx errors are retried like any read.
func (s *session) wait(ctx context.Context, op *compute.Operation) error {
	if op == nil {
		return nil
	}
	name := op.Name
	r := linkPath(op.SelfLink)
	parts := strings.Split(r, "/")
	project := parts[min(1, len(parts)-1)]
	zone := ""
	if len(parts) >= 4 && parts[2] == "zones" {
		zone = parts[3]
	}
	deadline := time.Now().Add(s.opts.Timeout)
	pause := min(250*time.Millisecond, s.opts.PollInterval)
	for {
		if op.Status == "DONE" {
			if op.Error != nil && len(op.Error.Errors) > 0 {
				var msgs []string
				for _, e := range op.Error.Errors {
					msgs = append(msgs, e.Code+": "+e.Message)
				}
				return fmt.Errorf("%w: %s: %s", errOperationFailed, name, strings.Join(msgs, "; "))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w %s after %s", errWaitTimeout, name, s.opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, s.opts.PollInterval)
		err := s.do(ctx, func() error {
			var got *compute.Operation
			var err error
			if zone != "" {
				got, err = s.cmp.ZoneOperations.Get(project, zone, name).Context(ctx).Do()
			} else {
				got, err = s.cmp.GlobalOperations.Get(project, name).Context(ctx).Do()
			}
			if err == nil {
				op = got
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("look at operation %s: %w", name, err)
		}
	}
}

// labelValue makes a valid label value (lower case, 63 characters).
func labelValue(s string) string { return naming.LabelValue(s) }

// stepLabels are the labels of what the step makes (see naming).
func stepLabels(r *action.Request) map[string]string {
	return naming.StepLabels(r.RunID, r.Step, r.Incident)
}

func stepFilter(r *action.Request) string {
	l := stepLabels(r)
	if r.Incident != "" {
		return fmt.Sprintf(`(labels.incident = "%s") (labels.vigil-step = "%s")`, l["incident"], l["vigil-step"])
	}
	return fmt.Sprintf(`(labels.vigil-run = "%s") (labels.vigil-step = "%s")`, l["vigil-run"], l["vigil-step"])
}

func matchesStep(labels map[string]string, r *action.Request) bool {
	l := stepLabels(r)
	if labels["vigil-step"] != l["vigil-step"] {
		return false
	}
	if r.Incident != "" {
		return labels["incident"] == l["incident"]
	}
	return labels["vigil-run"] == l["vigil-run"]
}

func linkPath(link string) string {
	for _, pre := range linkPrefixes {
		link = strings.TrimPrefix(link, pre)
	}
	return link
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
