package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
)

// The evidence actions of issue 16 in a rehearsal. The simulated cloud
// holds no disk bytes and no provider logs, and says so: a content hash
// is the SHA-256 of a small synthetic image standing in for the disk
// (derived from the snapshot, so a second hash of the same snapshot
// matches, as 'vigil evidence verify' expects), and a log step reads
// nothing. Neither changes the simulated world: the real GCP hash's disk
// and worker are deleted before it finishes.

// syntheticImage is the rehearsal's stand-in for a snapshot's content: 1 MiB.
const syntheticImage = 1 << 20

func syntheticHash(snapshot string) string {
	h := sha256.New()
	var blk [32]byte
	for n := uint64(0); n*32 < syntheticImage; n++ {
		var ctr [8]byte
		binary.BigEndian.PutUint64(ctr[:], n)
		blk = sha256.Sum256(append([]byte(snapshot+"/"), ctr[:]...))
		h.Write(blk[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

const syntheticNote = "rehearsal: the simulated cloud has no disk bytes; this is the SHA-256 of a 1 MiB synthetic image standing in for the snapshot's content"

func (c *Cloud) evidenceActions() []action.Action {
	return []action.Action{
		&action.Func{S: action.MustSpec("aws.ebs.hash_snapshot"), PlanFn: c.hashPlan("snapshot_ids"), ApplyFn: c.hashApply("snapshot_ids", "aws.ebs.hash_snapshot")},
		&action.Func{S: action.MustSpec("gcp.compute.hash_snapshot"), PlanFn: c.hashPlan("snapshots"), ApplyFn: c.hashApply("snapshots", "gcp.compute.hash_snapshot")},
		&action.Func{S: action.MustSpec("aws.cloudtrail.lookup_events"), PlanFn: logPlan("CloudTrail"), ApplyFn: logApply("CloudTrail")},
		&action.Func{S: action.MustSpec("gcp.logging.list_entries"), PlanFn: logPlan("Cloud Audit Logs"), ApplyFn: logApply("Cloud Audit Logs")},
	}
}

func (c *Cloud) hashPlan(arg string) func(context.Context, *action.Request) (*action.Change, error) {
	return func(_ context.Context, r *action.Request) (*action.Change, error) {
		snaps, err := c.snapshots(r.Strings(arg))
		if err != nil {
			return nil, err
		}
		var targets []string
		for _, s := range snaps {
			targets = append(targets, s.ID)
		}
		return &action.Change{Summary: fmt.Sprintf("hash the content of %d snapshots (rehearsal: a synthetic image each)", len(snaps)), Targets: targets}, nil
	}
}

func (c *Cloud) hashApply(arg, name string) func(context.Context, *action.Request) (*action.Result, error) {
	return func(_ context.Context, r *action.Request) (*action.Result, error) {
		snaps, err := c.snapshots(r.Strings(arg))
		if err != nil {
			return nil, err
		}
		res := &action.Result{}
		hashes, second := map[string]cty.Value{}, map[string]cty.Value{}
		for i, s := range snaps {
			ref := r.Strings(arg)[i]
			sum := syntheticHash(s.ID)
			hashes[ref] = cty.StringVal(sum)
			if name == "gcp.compute.hash_snapshot" {
				second[ref] = cty.StringVal(fmt.Sprintf("gs://%s/%s.sha256", strings.TrimPrefix(r.Str("bucket"), "gs://"), s.Name))
			} else {
				second[ref] = cty.StringVal(action.HashValue(map[string]string{}))
			}
			of := []string{s.ID, ref}
			if s.Provider == asset.GCP {
				of = append(of, selfLink(s.ID))
			}
			res.Targets = append(res.Targets, s.ID)
			res.Evidence = append(res.Evidence, action.Evidence{Item: "content of snapshot " + s.Name, SHA256: sum, Kind: action.EvidenceContent,
				Of: of, Ref: ref, Verify: name, Bytes: syntheticImage, Note: syntheticNote, Args: verifyArgs(r, arg, ref)})
		}
		other := "manifests"
		if name == "gcp.compute.hash_snapshot" {
			other = "objects"
		}
		res.Summary = fmt.Sprintf("hashed %d snapshots (synthetic images)", len(snaps))
		res.Outputs = map[string]cty.Value{"hashes": mapOrEmpty(hashes), other: mapOrEmpty(second)}
		return res, nil
	}
}

// verifyArgs are the arguments a second hash needs besides the snapshot.
func verifyArgs(r *action.Request, arg, ref string) map[string]any {
	out := map[string]any{arg: []string{ref}}
	for k, v := range r.Args {
		if k != arg && !v.IsNull() && v.IsWhollyKnown() {
			out[k] = action.Encode(v)
		}
	}
	return out
}

func logPlan(what string) func(context.Context, *action.Request) (*action.Change, error) {
	return func(_ context.Context, r *action.Request) (*action.Change, error) {
		return &action.Change{Summary: fmt.Sprintf("read %s around %s (rehearsal: the simulated cloud keeps no logs)", what, r.Str("at"))}, nil
	}
}

func logApply(what string) func(context.Context, *action.Request) (*action.Result, error) {
	return func(_ context.Context, r *action.Request) (*action.Result, error) {
		note := "rehearsal: the simulated cloud keeps no " + what + "; a real run reads them here"
		return &action.Result{Summary: "no events (rehearsal)",
			Evidence: []action.Evidence{{Item: what + " around " + r.Str("at"), SHA256: action.HashValue([]any{}), Kind: action.EvidenceLog, Note: note}},
			Outputs: map[string]cty.Value{"events": cty.ListValEmpty(action.ActivityEvent), "count": cty.NumberIntVal(0),
				"notes": action.StringList([]string{note})}}, nil
	}
}

func mapOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	return cty.MapVal(m)
}
