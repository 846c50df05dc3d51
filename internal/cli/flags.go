package cli

import (
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Flag conventions every command shares, applied once to the whole tree by
// conventions: no optional-value flags (a value always follows its flag,
// after a space or '='), a flag's value is never another flag, and a
// command whose usage names no argument refuses them.

const storeHelp = "scan history: FILE.db (SQLite) or postgres://USER@HOST/DB (default: VIGIL_STORE, store in vigil.hcl, or the state file)"

// storeFlag registers --store URL. It always takes a value: an optional
// value made "--store h.db" mean the default store plus an argument.
func storeFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVar(dst, "store", "", storeHelp)
}

// resolveStore is the history a command opens: --store, else VIGIL_STORE,
// else store in vigil.hcl (the one the command loaded, or ./vigil.hcl),
// else "" (store.OpenHistory's state file).
func (a *app) resolveStore(dsn string) (string, error) {
	if dsn != "" {
		return dsn, nil
	}
	if env := a.env("VIGIL_STORE"); env != "" {
		return env, nil
	}
	if a.loadedConfig() == nil {
		path := a.storeConfig
		if path == "" {
			if _, err := os.Stat("vigil.hcl"); err == nil {
				path = "vigil.hcl"
			}
		}
		if path != "" {
			if _, err := a.loadConfig(path); err != nil {
				return "", err
			}
		}
	}
	if cfg := a.loadedConfig(); cfg != nil {
		return cfg.Store, nil
	}
	return "", nil
}

// storeConfigFlag registers --config on the commands that only read the
// history (history, diff, report): vigil.hcl may name the store.
func (a *app) storeConfigFlag(c *cobra.Command) {
	c.Flags().StringVarP(&a.storeConfig, "config", "c", "", "vigil.hcl whose store is the history (default ./vigil.hcl when present)")
}

// noteConfig remembers the vigil.hcl a command loaded, for the store.
// serve's schedules load their configs concurrently, hence the lock.
func (a *app) noteConfig(cfg *config.Config) {
	if cfg != nil && cfg.File != "" {
		a.cfgMu.Lock()
		a.cfg = cfg
		a.cfgMu.Unlock()
	}
}

// loadedConfig is the vigil.hcl noteConfig remembered, or nil.
func (a *app) loadedConfig() *config.Config {
	a.cfgMu.Lock()
	defer a.cfgMu.Unlock()
	return a.cfg
}

// conventions applies the shared flag rules to c and every command below.
func conventions(c *cobra.Command) {
	for _, sub := range c.Commands() {
		conventions(sub)
	}
	if !c.Runnable() {
		if c.HasParent() && c.HasSubCommands() {
			// a group (runbook, policy, ...): cobra would print its help
			// and exit 0 for any word, so `vigil runbook aply` would pass
			// in CI
			c.Args = unknownSubcommand
			c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
		}
		return
	}
	if c.Args == nil && !takesArgs(c.Use) {
		c.Args = noArgs
	}
	for old, name := range aliases {
		alias(c, old, name)
	}
	prev := c.PreRunE
	c.PreRunE = func(c *cobra.Command, args []string) error {
		if err := flagValuesAreNotFlags(c); err != nil {
			return err
		}
		if err := outputIsNotAFormat(c); err != nil {
			return err
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// aliases are the second names some commands gave a concept, and the one
// name every command now shows: --out was --output elsewhere, runbook's
// --aws-regions was collect's --regions. The old names still work, hidden
// (runbook plan -out is Terraform's spelling).
var aliases = map[string]string{
	"out":             "output",
	"aws-regions":     "regions",
	"aws-profile":     "profile",
	"aws-assume-role": "assume-role",
	"aws-org-role":    "org-role",
	"aws-rate-limit":  "rate-limit",
}

// alias gives c's flag old the name name too, sharing its value, and
// hides old.
func alias(c *cobra.Command, old, name string) {
	f := c.Flags().Lookup(old)
	if f == nil || c.Flags().Lookup(name) != nil {
		return
	}
	nf := &pflag.Flag{Name: name, Usage: f.Usage, Value: f.Value, DefValue: f.DefValue}
	if name == "output" && f.Shorthand == "" && c.Flags().ShorthandLookup("o") == nil {
		nf.Shorthand = "o" // -o/--output everywhere
	}
	c.Flags().AddFlag(nf)
	if f.Shorthand != "" {
		// the shorthand stays registered to old; say so
		c.Flags().Lookup(name).Usage += " (-" + f.Shorthand + ")"
	}
	f.Hidden = true
}

// noArgs refuses positional arguments, naming the first: most often a
// flag's value typed after '=' was expected, or a file given to the wrong
// command.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError(c, "%s takes no arguments, got %q", c.CommandPath(), args[0])
}

// unknownSubcommand refuses a word given to a command group that names
// none of its subcommands, as cobra does for the root's.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only on the root's path
	}
	hint := ""
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		hint = "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError(c, "unknown command %q for %q%s", args[0], c.CommandPath(), hint)
}

// takesArgs reports whether a command's usage line names a positional
// argument: an upper-case word (RUNBOOK, [SCAN_A], INVENTORY...) that is not
// the value of the flag before it (--out FILE, [--watch NAME]).
func takesArgs(use string) bool {
	fields := strings.Fields(use)
	for i := 1; i < len(fields); i++ {
		w := strings.Trim(fields[i], "[]().")
		if w == "" || strings.HasPrefix(w, "-") || w == "|" {
			continue
		}
		prev := strings.TrimLeft(fields[i-1], "[(")
		if strings.HasPrefix(prev, "-") && !strings.HasSuffix(fields[i-1], "]") {
			continue // a flag's value
		}
		for _, alt := range strings.Split(w, "|") {
			if base, _, _ := strings.Cut(alt, "."); isPlaceholder(base) {
				return true
			}
		}
	}
	return false
}

// isPlaceholder: RUN, SCAN_A, PLAN (of PLAN.json).
func isPlaceholder(w string) bool {
	if w == "" || !unicode.IsUpper(rune(w[0])) {
		return false
	}
	for _, r := range w {
		if !unicode.IsUpper(r) && !unicode.IsDigit(r) && r != '_' {
			return false
		}
	}
	return true
}

// flagSuggestion is " (did you mean --policy?)" for "unknown flag:
// --polcy", naming the command's closest flag.
func flagSuggestion(c *cobra.Command, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return ""
	}
	name, _, _ = strings.Cut(name, "=")
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if s := policy.Closest(name, names); s != "" {
		return fmt.Sprintf(" (did you mean --%s?)", s)
	}
	return ""
}

// outputFormats are names -o may be mistaken for: -o json wrote a table
// to a file named json.
var outputFormats = []string{"table", "json", "sarif", "junit", "github", "csv", "asff", "ocsf", "html", "md", "text", "ndjson", "xml"}

// outputIsNotAFormat refuses --output FORMAT (with no extension) on a
// command that has --format.
func outputIsNotAFormat(c *cobra.Command) error {
	for _, name := range []string{"output", "out"} {
		f := c.Flags().Lookup(name)
		if f == nil || !f.Changed || c.Flags().Lookup("format") == nil {
			continue
		}
		v := f.Value.String()
		for _, format := range outputFormats {
			if strings.EqualFold(v, format) {
				return usageError(c, "--%s %s names a file; for the format use -f %s (--format %s), and --%s FILE.%s to write it to a file",
					name, v, v, v, name, strings.ToLower(v))
			}
		}
	}
	return nil
}

// flagValuesAreNotFlags refuses "--store -c vigil.hcl": the value of a flag
// that takes one was forgotten, and the next flag was taken for it.
func flagValuesAreNotFlags(c *cobra.Command) error {
	var err error
	c.Flags().Visit(func(f *pflag.Flag) {
		if err != nil || f.Value.Type() != "string" {
			return
		}
		v := f.Value.String()
		if !strings.HasPrefix(v, "-") || v == "-" {
			return
		}
		name := strings.TrimLeft(v, "-")
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		if c.Flags().Lookup(name) != nil || (len(name) == 1 && c.Flags().ShorthandLookup(name) != nil) {
			err = usageError(c, "flag --%s needs a value: it got %q, which is a flag (--%s VALUE or --%s=VALUE)", f.Name, v, f.Name, f.Name)
		}
	})
	return err
}

// sourceFiles parses HCL files again for diagnostics found after loading
// (a schedule's cron): without them a diagnostic says "(source code not
// available)" instead of showing the line.
func sourceFiles(paths ...string) map[string]*hcl.File {
	files := map[string]*hcl.File{}
	p := hclparse.NewParser()
	for _, path := range paths {
		if path == "" {
			continue
		}
		if f, _ := p.ParseHCLFile(path); f != nil {
			files[path] = f
		}
	}
	return files
}
