package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

func (a *app) inventoryCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "inventory",
		Short: "Inspect, convert and collect asset inventories",
	}
	c.AddCommand(a.inventoryShowCmd(), a.inventoryExportCmd())
	for _, extra := range inventoryCommands {
		c.AddCommand(extra(a))
	}
	return c
}

// inventoryCommands lets other files add inventory subcommands (collect, owners).
var inventoryCommands []func(*app) *cobra.Command

// inventoryStats counts assets by provider, kind, scope and region.
type inventoryStats struct {
	Assets     int               `json:"assets"`
	Files      map[string]string `json:"files"`
	ByProvider map[string]int    `json:"by_provider"`
	ByKind     map[string]int    `json:"by_kind"`
	ByScope    map[string]int    `json:"by_scope"`
	ByRegion   map[string]int    `json:"by_region"`
	Unknown    map[string]int    `json:"unknown_types,omitempty"`
	Skipped    map[string]int64  `json:"skipped,omitempty"`
	Synthetic  []string          `json:"synthesized_scopes,omitempty"`
	byKindProv map[string]map[string]int
}

func (a *app) inventoryShowCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "show INVENTORY...",
		Short: "Count assets by provider, kind, scope and region",
		Long: `Show reads inventories the way 'vigil scan' does and counts what they hold,
so you can check an export before scanning it: by provider, kind, scope
(project or account) and region, plus the types vigil does not model and the
project or account assets it had to synthesize. An INVENTORY of - reads
standard input.`,
		Example: `  vigil inventory show examples/inventory/
  vigil inventory show export.ndjson --format json`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "no inventory given")
			}
			args, names, rename, cleanup, err := a.stdinInventoryNamed(args)
			defer cleanup()
			if err != nil {
				return err
			}
			fs, err := inventory.Open(args...)
			if err != nil {
				return a.inputError(rename(err))
			}
			fs.Names = names
			inv, err := inventory.Collect(c.Context(), fs)
			if err != nil {
				return a.inputError(rename(err))
			}
			st := inventoryStats{Files: map[string]string{}, ByProvider: map[string]int{}, ByKind: map[string]int{}, ByScope: map[string]int{}, ByRegion: map[string]int{}, Unknown: map[string]int{}, Skipped: fs.Skipped()}
			for f, format := range fs.Files() {
				st.Files[f] = format.String()
			}
			for _, as := range inv.Assets() {
				st.Assets++
				st.ByProvider[as.Provider]++
				st.ByKind[as.Kind]++
				st.ByScope[as.Scope]++
				st.ByRegion[as.Region]++
				if as.Kind == asset.KindOther {
					st.Unknown[as.Type]++
				}
				if as.Facets.Synthesized {
					st.Synthetic = append(st.Synthetic, as.ID)
				}
			}
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			case "table":
			default:
				return usageError(c, "unknown --format %q: use table or json", format)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "%d assets from %d files\n", st.Assets, len(st.Files))
			for _, sec := range []struct {
				title string
				m     map[string]int
			}{{"PROVIDER", st.ByProvider}, {"KIND", st.ByKind}, {"SCOPE", st.ByScope}, {"REGION", st.ByRegion}, {"TYPES NOT MODELED (kind other)", st.Unknown}} {
				if len(sec.m) == 0 {
					continue
				}
				fmt.Fprintf(tw, "\n%s\tASSETS\n", sec.title)
				keys := make([]string, 0, len(sec.m))
				for k := range sec.m {
					keys = append(keys, k)
				}
				sort.Slice(keys, func(i, j int) bool {
					if sec.m[keys[i]] != sec.m[keys[j]] {
						return sec.m[keys[i]] > sec.m[keys[j]]
					}
					return keys[i] < keys[j]
				})
				for _, k := range keys {
					name := k
					if name == "" {
						name = "(none)"
					}
					fmt.Fprintf(tw, "%s\t%d\n", name, sec.m[k])
				}
			}
			if len(st.Synthetic) > 0 {
				fmt.Fprintf(tw, "\n%d projects or accounts were named by assets but not in the inventory; vigil added them:\n", len(st.Synthetic))
				for _, id := range st.Synthetic {
					fmt.Fprintf(tw, "  %s\n", id)
				}
			}
			for reason, n := range st.Skipped {
				fmt.Fprintf(tw, "\nskipped %d records: %s\n", n, reason)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return c
}

func (a *app) inventoryExportCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "export INVENTORY... --output FILE",
		Short: "Write inventories as normalized vigil NDJSON",
		Long: `Export reads inventories in any format vigil understands and writes them as
vigil NDJSON: one normalized asset per line (id, kind, scope, region, labels,
facets, and the native payload as data), with CAI IAM policies merged into
their resources and missing projects and accounts added. Use it to feed other
tools the same normalized assets vigil's policies see.`,
		Example: `  vigil inventory export resources.ndjson iam.ndjson --output assets.ndjson`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "no inventory given")
			}
			inv, err := inventory.Load(c.Context(), args...)
			if err != nil {
				return a.inputError(err)
			}
			w, closeOut, err := a.openOutput(out)
			if err != nil {
				return err
			}
			if err := inv.WriteNDJSON(w); err != nil {
				closeOut()
				return err
			}
			return closeOut()
		},
	}
	c.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	return c
}
