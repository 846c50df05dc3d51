package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestTakesArgs(t *testing.T) {
	for use, want := range map[string]bool{
		"history":                           false,
		"list":                              false,
		"serve --config vigil.hcl":          false,
		"report --format html [--out FILE]": false,
		"collect --aws|--gcp-scope SCOPE [flags] --out FILE": false,
		"watch --config vigil.hcl [--watch NAME]...":         false,
		"scan [flags] INVENTORY...":                          true,
		"check [flags] PLAN.json...":                         true,
		"diff [SCAN_A] [SCAN_B]":                             true,
		"apply RUNBOOK|PLAN.json":                            true,
		"verify RUN | --show-key":                            true,
		"triage [ASSET_ID] [--alert FILE] -i INVENTORY...":   true,
		"test [DIR...]":                                      true,
	} {
		if got := takesArgs(use); got != want {
			t.Errorf("takesArgs(%q) = %v, want %v", use, got, want)
		}
	}
}

// walk calls fn on every runnable command of vigil.
func walk(t *testing.T, fn func(*cobra.Command)) {
	a := &app{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader(""), env: func(string) string { return "" }}
	var rec func(*cobra.Command)
	rec = func(c *cobra.Command) {
		if c.Runnable() {
			fn(c)
		}
		for _, s := range c.Commands() {
			rec(s)
		}
	}
	rec(a.root())
}

// TestCommandsWithoutArgumentsRefuseThem walks every command: one whose
// usage names no argument must refuse a stray one (a flag's value typed
// after a space where the flag takes none, a file given to the wrong
// command) instead of ignoring it.
func TestCommandsWithoutArgumentsRefuseThem(t *testing.T) {
	n, groups := 0, 0
	walk(t, func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || strings.Contains(c.CommandPath(), " completion ") {
			return
		}
		if takesArgs(c.Use) {
			return
		}
		n++
		if c.Args == nil {
			t.Errorf("%s: takes no arguments but accepts any", c.CommandPath())
			return
		}
		if c.HasSubCommands() && c.HasParent() {
			// a group: a stray word is a mistyped subcommand
			groups++
			if err := c.Args(c, []string{"h.db"}); err == nil || !strings.Contains(err.Error(), `unknown command "h.db" for "`+c.CommandPath()+`"`) {
				t.Errorf("%s h.db: %v", c.CommandPath(), err)
			}
			return
		}
		if err := c.Args(c, []string{"h.db"}); err == nil || !strings.Contains(err.Error(), `takes no arguments, got "h.db"`) {
			t.Errorf("%s h.db: %v", c.CommandPath(), err)
		}
	})
	if n < 5 {
		t.Errorf("only %d commands without arguments: history, report, serve, watch, policy list, runbook list at least", n)
	}
	if groups < 5 {
		t.Errorf("only %d command groups: runbook, policy, evidence, alert, inventory at least", groups)
	}
}

// TestMistypedSubcommand: a group given a word that is none of its
// subcommands is a usage error with the closest names, not its help and
// exit 0 (so `vigil runbook aply` fails a CI job); the group alone still
// shows its help.
func TestMistypedSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"runbook", "aply", "compromised-ec2"}, `unknown command "aply" for "vigil runbook"; did you mean apply?`},
		{[]string{"policy", "lst"}, `unknown command "lst" for "vigil policy"; did you mean list or test?`},
		{[]string{"evidence", "verfy", "RUN"}, `unknown command "verfy" for "vigil evidence"; did you mean verify?`},
		{[]string{"alert", "shw", "x"}, `unknown command "shw" for "vigil alert"; did you mean show?`},
		{[]string{"runbook", "nothing-like-it"}, `unknown command "nothing-like-it" for "vigil runbook"` + "\nRun 'vigil runbook --help' for usage."},
	} {
		code, stdout, stderr := run(t, tc.args...)
		if code != ExitError || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("vigil %s: exit %d, want 2 and %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.want, stdout, stderr)
		}
	}
	code, stdout, stderr := run(t, "runbook")
	if code != ExitOK || !strings.Contains(stdout, "Available Commands:") || stderr != "" {
		t.Errorf("vigil runbook: exit %d, want 0 and its help\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// TestNoOptionalValueFlags: a flag with an optional value makes "--flag
// VALUE" mean the default plus an argument (issue 20's --store h.db).
func TestNoOptionalValueFlags(t *testing.T) {
	walk(t, func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal != "" && f.Value.Type() != "bool" {
				t.Errorf("%s --%s: optional value %q", c.CommandPath(), f.Name, f.NoOptDefVal)
			}
		})
	})
}

func TestResolveStore(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg := write(t, "vigil.hcl", "store = \"h.db\"\n")
	for _, tc := range []struct {
		flag, env, config, want string
	}{
		{"x.db", "env.db", cfg, "x.db"},
		{"", "env.db", cfg, "env.db"},
		{"", "", cfg, strings.TrimSuffix(cfg, "vigil.hcl") + "h.db"},
		{"", "", "", ""},
	} {
		a := &app{stderr: io.Discard, env: func(k string) string {
			if k == "VIGIL_STORE" {
				return tc.env
			}
			return ""
		}, storeConfig: tc.config}
		got, err := a.resolveStore(tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("--store %q VIGIL_STORE %q --config %q: %q %v, want %q", tc.flag, tc.env, tc.config, got, err, tc.want)
		}
	}
}

// A mistyped flag or policy id gets the closest name.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--polcy", "VGL-NET-001", "examples/inventory/"}, "unknown flag: --polcy (did you mean --policy?)"},
		{[]string{"runbook", "plan", "compromised-ec2", "--provder=sim"}, "unknown flag: --provder (did you mean --provider?)"},
		{[]string{"scan", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-01", "examples/inventory/"}, "unknown policy id VGL-NET-01 (did you mean VGL-NET-001?)"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != ExitError || !strings.Contains(errs, tc.want) {
			t.Errorf("vigil %s: exit %d, want 2 with %q\n%s", strings.Join(tc.args, " "), code, tc.want, errs)
		}
	}
	// nothing close: no suggestion
	if _, _, errs := run(t, "scan", "--zzzzzz", "x"); strings.Contains(errs, "did you mean") {
		t.Errorf("--zzzzzz: %s", errs)
	}
}

// -o json is a format mistaken for a file name: refused before anything is
// written.
func TestOutputIsNotAFormat(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb strings.Builder
	a := &app{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), env: func(string) string { return "" }}
	code := a.run(t.Context(), []string{"scan", "-o", "json", "nothing/"})
	if code != ExitError || !strings.Contains(errb.String(), "--output json names a file; for the format use -f json") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat("json"); err == nil {
		t.Error("a file named json was written")
	}
}

// TestOneNamePerConcept walks every command's flags: none shows a second
// name for a concept (--out beside --output elsewhere, --aws-regions beside
// --regions), and the old names still set the same value.
func TestOneNamePerConcept(t *testing.T) {
	names := map[string]map[string]bool{} // concept -> visible names
	walk(t, func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			if canonical, ok := aliases[f.Name]; ok {
				t.Errorf("%s shows --%s: the name is --%s", c.CommandPath(), f.Name, canonical)
			}
		})
		for old, name := range aliases {
			o, n := c.Flags().Lookup(old), c.Flags().Lookup(name)
			if o != nil && (n == nil || o.Value != n.Value) {
				t.Errorf("%s: --%s and --%s do not share their value", c.CommandPath(), old, name)
			}
			if n != nil {
				if names[name] == nil {
					names[name] = map[string]bool{}
				}
				names[name][c.CommandPath()] = true
			}
		}
	})
	for _, want := range []string{"output", "regions", "profile", "assume-role", "org-role", "rate-limit"} {
		if len(names[want]) < 2 {
			t.Errorf("--%s on %d commands: %v", want, len(names[want]), names[want])
		}
	}
}

// The old names still work: runbook plan -out (Terraform's) and --output
// write the same file.
func TestOldFlagNamesStillWork(t *testing.T) {
	dir := t.TempDir()
	for _, flag := range []string{"-out", "--out", "--output"} {
		plan := filepath.Join(dir, strings.TrimLeft(flag, "-")+".json")
		code, _, errs := run(t, "runbook", "plan", "compromised-ec2", "--provider", "sim", "-i", "examples/inventory",
			"-var", "instance=i-0a1b2c3d4e5f60001", "-var", "incident=INC-7", flag, plan)
		if code == ExitError {
			t.Fatalf("plan %s: %s", flag, errs)
		}
		if _, err := os.Stat(plan); err != nil {
			t.Errorf("plan %s %s: %v", flag, plan, err)
		}
	}
}

// -f is --format on version too (issue 20: "-f/--format everywhere"), and
// runbook status takes one RUN, not a second one it would ignore.
func TestVersionShortFormatAndStatusArgs(t *testing.T) {
	code, out, errs := run(t, "version", "-f", "json")
	if code != ExitOK || !strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("version -f json: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = run(t, "runbook", "status", "a", "b", "--state", filepath.Join(t.TempDir(), "s.db"))
	if code != ExitError || !strings.Contains(errs, "accepts at most 1 arg(s), received 2") {
		t.Errorf("runbook status a b: exit %d\n%s", code, errs)
	}
}
