package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/inventory"
	gcpprov "github.com/vigil-ir/vigil/internal/provider/gcp"
)

// gcpFlags configure the Google Cloud provider.
type gcpFlags struct {
	scope         string
	assetTypes    []string
	export        string
	impersonate   string
	endpoint      string
	assetEndpoint string
	live          bool
}

func (f *gcpFlags) registerCollect(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.scope, "gcp-scope", "", "collect from Google Cloud: organizations/NUMBER, folders/NUMBER or projects/PROJECT (Cloud Asset API)")
	f.common(c)
	fl.StringSliceVar(&f.assetTypes, "asset-types", nil, "Cloud Asset types to collect (default: what the built-in policies read)")
	fl.StringVar(&f.export, "export", "", "collect through ExportAssets into gs://BUCKET/PREFIX and read the result (large organizations)")
}

func (f *gcpFlags) registerRunbook(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.scope, "gcp-scope", "", "with --gcp-live: organizations/N, folders/N or projects/P to collect")
	fl.BoolVar(&f.live, "gcp-live", false, "assets() and findings() read a live Cloud Asset collection of --gcp-scope, and core.scan steps collect again")
	f.common(c)
}

func (f *gcpFlags) common(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.impersonate, "impersonate-service-account", "", "act as this service account (Application Default Credentials otherwise)")
	fl.StringVar(&f.endpoint, "gcp-endpoint", "", "base URL of the Compute, IAM and Storage REST APIs (an emulator); VIGIL_GCP_ENDPOINT works too")
	fl.StringVar(&f.assetEndpoint, "gcp-asset-endpoint", "", "host:port of the Cloud Asset gRPC API (plaintext unless :443); VIGIL_GCP_ASSET_ENDPOINT works too")
}

func (f *gcpFlags) options(progress io.Writer) gcpprov.Options {
	return gcpprov.Options{Scope: f.scope, AssetTypes: f.assetTypes, Export: f.export, Impersonate: f.impersonate,
		Endpoint: f.endpoint, AssetEndpoint: f.assetEndpoint, Progress: progress}
}

func (a *app) collectGCP(ctx context.Context, f *gcpFlags, quiet bool) (*inventory.Inventory, error) {
	var progress io.Writer
	opts := f.options(nil)
	var meter *pageMeter
	if !quiet {
		progress = a.stderr
		opts = f.options(progress) // exports and warnings as lines
		meter = newPageMeter(a.stderr, a.progressTTY(), a.progressClock())
		opts.PageDone = meter.page // pages by the meter
	}
	inv, sum, err := gcpprov.Collect(ctx, opts)
	if meter != nil {
		meter.finish()
	}
	if sum != nil {
		for _, gap := range sum.Gaps {
			fmt.Fprintf(a.stderr, "vigil: warning: gcp: %s\n", gap.Message)
		}
	}
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	if !quiet {
		var types []string
		for t, n := range sum.ByType {
			types = append(types, fmt.Sprintf("%s %d", t[strings.LastIndex(t, "/")+1:], n))
		}
		sort.Strings(types)
		fmt.Fprintf(a.stderr, "gcp: collected %d records of %s in %d pages (%s)\n", sum.Records, sum.Scope, sum.Pages, strings.Join(types, ", "))
	}
	// what was read, for history to compare scans of the same scope only
	from := "gcp " + f.scope
	if len(f.assetTypes) > 0 {
		from += " types " + strings.Join(slices.Sorted(slices.Values(f.assetTypes)), ",")
	}
	inv.From = []string{from}
	if sum != nil {
		inv.Gaps = slices.Clone(sum.Gaps)
	}
	return inv, nil
}

// liveFlags are the collection flags of commands that read live clouds.
type liveFlags struct {
	aws awsFlags
	gcp gcpFlags
}

func (f *liveFlags) register(c *cobra.Command) {
	f.aws.registerCollect(c)
	f.gcp.registerCollect(c)
}

func (f *liveFlags) enabled() bool { return f.aws.enabled || f.gcp.scope != "" }

// collectLive collects from every cloud the flags name, into one inventory.
func (a *app) collectLive(ctx context.Context, f *liveFlags, quiet bool) (*inventory.Inventory, error) {
	var parts []*inventory.Inventory
	if f.aws.enabled {
		inv, err := a.collectAWS(ctx, &f.aws, quiet)
		if err != nil {
			return nil, err
		}
		parts = append(parts, inv)
	}
	if f.gcp.scope != "" {
		inv, err := a.collectGCP(ctx, &f.gcp, quiet)
		if err != nil {
			return nil, err
		}
		parts = append(parts, inv)
	}
	return merge(parts...), nil
}

// merge joins inventories (nil ones are skipped).
func merge(parts ...*inventory.Inventory) *inventory.Inventory {
	var out *inventory.Inventory
	for _, p := range parts {
		switch {
		case p == nil:
		case out == nil:
			out = p
		default:
			from := append(slices.Clone(out.From), p.From...)
			gaps := append(slices.Clone(out.Gaps), p.Gaps...)
			out = inventory.New(append(out.Assets(), p.Assets()...)...)
			out.From, out.Gaps = from, gaps
		}
	}
	return out
}

func init() {
	cloudProviders = append(cloudProviders, func(_ context.Context, _ *app, f *runbookFlags) (action.Provider, error) {
		return gcpprov.New(f.gcp.options(nil)), nil
	})
}
