package cli

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/store"
)

// shardFlags split a scan over a Kubernetes Indexed Job: shard I of N
// judges the accounts and projects whose scope hashes to I.
type shardFlags struct {
	spec  string
	group string
	index int
	count int
	// schedule labels the recorded scan (vigil history --schedule).
	schedule string
	// inputs is what every shard of the group must read alike (see
	// shardInputs).
	inputs string
}

// shardInputs names what a shard reads, as every shard of its group must:
// the files (each shard judges its slice of the scopes, with the same
// files' other assets as context), and the clouds and scopes collected
// (what a shard then collects, its own accounts and projects, differs by
// design). Shards reading different files would record one "complete"
// scan that matches no unsharded one.
func shardInputs(files []inventory.Source, live *liveFlags) string {
	var parts []string
	for _, src := range files {
		parts = append(parts, "files "+src.Describe())
	}
	if live.aws.enabled {
		a := live.aws
		parts = append(parts, fmt.Sprintf("aws regions %s, org role %q, assume role %q, profile %q", a.regions, a.orgRole, a.assumeRole, a.profile))
	}
	if live.gcp.scope != "" {
		parts = append(parts, "gcp "+live.gcp.scope)
	}
	return strings.Join(parts, "; ")
}

func (f *shardFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.spec, "shard", "", "judge one slice: I/N takes the accounts and projects whose scope hashes to I of N (I empty: $JOB_COMPLETION_INDEX)")
	fl.StringVar(&f.group, "shard-group", "", "with --shard and --store or --history (required): the id the N shards of one scan share (default $VIGIL_SHARD_GROUP; in a Job, its uid)")
	fl.StringVar(&f.schedule, "schedule", "", "record the scan under this schedule name (vigil history --schedule)")
}

// parse reads --shard; env supplies JOB_COMPLETION_INDEX and
// VIGIL_SHARD_GROUP.
func (f *shardFlags) parse(c *cobra.Command, env func(string) string, recording bool) error {
	if f.spec == "" {
		return nil
	}
	i, n, ok := strings.Cut(f.spec, "/")
	if i == "" {
		i = env("JOB_COMPLETION_INDEX")
		if ok && strings.TrimSpace(i) == "" {
			return usageError(c, "--shard %q takes I from $JOB_COMPLETION_INDEX, which is not set (a Kubernetes Indexed Job sets it): write I/N, such as 0/3", f.spec)
		}
	}
	idx, err1 := strconv.Atoi(strings.TrimSpace(i))
	cnt, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil || cnt < 1 || cnt > 10000 || idx < 0 || idx >= cnt {
		return usageError(c, "--shard %q: write I/N with 0 <= I < N, such as 0/3 (or /3 to take I from $JOB_COMPLETION_INDEX)", f.spec)
	}
	f.index, f.count = idx, cnt
	if f.group == "" {
		f.group = env("VIGIL_SHARD_GROUP")
	}
	// Every recording shard names its scan: with no group, tomorrow's
	// shards would join (and be dropped into) today's completed scan.
	if recording && strings.TrimSpace(f.group) == "" {
		return usageError(c, "--shard with --store or --history needs --shard-group (or VIGIL_SHARD_GROUP): the id every shard of one scan shares and no other scan does, such as the Job's uid (in a Kubernetes Job: the downward API's metadata.labels['batch.kubernetes.io/controller-uid']); nothing was recorded")
	}
	return nil
}

func (f *shardFlags) enabled() bool { return f.count > 0 }

// ShardOf is the shard a scope falls in: FNV-1a (64 bits) of the scope,
// modulo the number of shards. Every shard computes the same.
func ShardOf(scope string, shards int) int {
	h := fnv.New64a()
	h.Write([]byte(scope))
	return int(h.Sum64() % uint64(shards))
}

// mine reports whether an asset is judged by this shard.
func (f *shardFlags) mine(a *asset.Asset) bool { return ShardOf(a.Scope, f.count) == f.index }

// collectShard collects the live clouds for one shard: AWS accounts of the
// organization whose id falls in it; for a Google Cloud organization or
// folder, its projects that fall in it, one by one, with the
// organization's folders and projects as context for every shard.
func (a *app) collectShard(ctx context.Context, f *liveFlags, sf *shardFlags, quiet bool) (*inventory.Inventory, error) {
	var parts []*inventory.Inventory
	if f.aws.enabled {
		af := f.aws
		inv, err := a.collectAWSWith(ctx, &af, quiet, func(id string) bool { return ShardOf(id, sf.count) == sf.index })
		if err != nil {
			return nil, err
		}
		parts = append(parts, inv)
	}
	if scope := f.gcp.scope; scope != "" {
		if strings.HasPrefix(scope, "projects/") {
			if ShardOf(strings.TrimPrefix(scope, "projects/"), sf.count) == sf.index {
				inv, err := a.collectGCP(ctx, &f.gcp, quiet)
				if err != nil {
					return nil, err
				}
				parts = append(parts, inv)
			}
		} else {
			top := f.gcp
			top.assetTypes = []string{"cloudresourcemanager.googleapis.com/Organization", "cloudresourcemanager.googleapis.com/Folder", "cloudresourcemanager.googleapis.com/Project"}
			ctxInv, err := a.collectGCP(ctx, &top, quiet)
			if err != nil {
				return nil, err
			}
			parts = append(parts, ctxInv)
			for _, p := range ctxInv.Assets() {
				if p.Kind != asset.KindProject || p.Provider != "gcp" || ShardOf(p.Scope, sf.count) != sf.index {
					continue
				}
				pf := f.gcp
				pf.scope = "projects/" + p.Scope
				inv, err := a.collectGCP(ctx, &pf, quiet)
				if err != nil {
					return nil, err
				}
				parts = append(parts, inv)
			}
		}
	}
	return merge(parts...), nil
}

// recordShard records a shard's part of one scan; the shard that
// completes it notifies.
func (a *app) recordShard(ctx context.Context, f *judgeFlags, j *judge, rec *store.ScanRecord, fs []store.StoredFinding) error {
	h, err := a.openHistory(ctx, f.store)
	if err != nil {
		return err
	}
	defer h.Close()
	sh, err := store.ShardsOf(ctx, h)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	sf := f.shard
	rep, err := sh.RecordShard(ctx, sf.group, sf.index, sf.count, sf.inputs, rec, fs)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	switch {
	case rep.Completed:
		if !f.quiet {
			fmt.Fprintf(a.stderr, "vigil: recorded shard %d/%d of %s; all %d shards reported: scan %d (%d open findings)\n", sf.index, sf.count, sf.group, sf.count, rep.Scan.ID, rep.Scan.Findings)
		}
		// The whole scan's findings; which assets each shard judged is not
		// kept, so an announced finding is forgotten only on assets that
		// still have findings (history.Scan).
		sc := history.Scan{Findings: rep.Findings, Policies: history.PolicyIDs(j.engine.Policies())}
		if err := history.Notify(ctx, h, j.cfg.Notify, []history.Scan{sc}, http.DefaultClient); err != nil {
			fmt.Fprintf(a.stderr, "vigil: warning: %v\n", err)
		}
	case rep.Scan != nil:
		if !f.quiet {
			fmt.Fprintf(a.stderr, "vigil: shard %d/%d of %s reported again; the scan was recorded already (scan %d)\n", sf.index, sf.count, sf.group, rep.Scan.ID)
		}
	default:
		if !f.quiet {
			fmt.Fprintf(a.stderr, "vigil: recorded shard %d/%d of %s (%d of %d reported): the scan is recorded, diffed and notified once all have\n", sf.index, sf.count, sf.group, rep.Reported, sf.count)
		}
	}
	return nil
}
