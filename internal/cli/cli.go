package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Version is the module version the go command stamped (version.go), or
// what a build sets with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// Exit codes: CI reads them.
const (
	ExitOK       = 0 // nothing at or above --fail-on
	ExitFindings = 1 // findings at or above --fail-on, or a plan with changes
	ExitError    = 2 // bad input or usage
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exit returns an error that makes Run return code without printing.
func exit(code int) error { return &exitError{code: code} }

// app is what every command shares.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	// stdinTaken: an input named "-" has read stdin already.
	stdinTaken bool
	log        *slog.Logger
	// diagsPrinted marks that the error has been shown as diagnostics.
	env func(string) string
	// warnedAnchor: the warning about a per-machine anchor of a shared
	// state is given once per command.
	warnedAnchor bool
	// warnedHooks: the test hooks a build without them ignored, said once.
	warnedHooks map[string]bool
	// cfg is the vigil.hcl the command loaded, if any (its store is the
	// default history).
	cfg   *config.Config
	cfgMu sync.Mutex
	// storeConfig is --config of the history commands.
	storeConfig string
	// terminal, when set, says whether stdin is a terminal (tests).
	terminal func() bool
	// lines reads stdin's lines for prompts (confirm.go).
	lines *lineReader
	// clock, when set, is the progress meter's clock (tests); and
	// stderrTTY says whether stderr is a terminal.
	clock     func() time.Time
	stderrTTY func() bool
}

// Run runs vigil with args (without the program name) and returns the exit
// code. It is the whole program; main only wires signals.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return (&app{stdout: stdout, stderr: stderr, stdin: stdin, env: os.Getenv}).run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	stdout, stderr, stdin := a.stdout, a.stderr, a.stdin
	level := slog.LevelWarn
	if os.Getenv("VIGIL_DEBUG") != "" {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	root := a.root()
	root.SetArgs(terraformStyle(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "vigil: %v\n", ee.err)
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "vigil: interrupted")
		return ExitError
	}
	fmt.Fprintf(stderr, "vigil: %v\n", err)
	return ExitError
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "vigil",
		Short: "Policy-as-code posture scans and incident-response runbooks for AWS and Google Cloud",
		Long: `vigil judges cloud asset inventories with Rego policies for the gaps that make
incidents worse (admin ports open to the internet, unapproved networks, data
outside its regions, assets nobody owns, audit logging or threat detection off,
an IR team without access), checks Terraform plans with the same policies before
they deploy, and plans and executes incident-response runbooks written in HCL.

Start with the bundled examples:

  vigil scan --config examples/vigil.hcl examples/inventory/

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 bad input or usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetVersionTemplate("vigil {{.Version}}\n")
	root.AddCommand(a.scanCmd(), a.checkCmd(), a.policyCmd(), a.inventoryCmd(), a.versionCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra(a))
	}
	conventions(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: ExitError, err: fmt.Errorf("%v%s\nRun '%s --help' for usage.", err, flagSuggestion(c, err), c.CommandPath())}
	})
	return root
}

// terraformStyle accepts the single-dash long flags Terraform users type:
// -var, -var-file and -out become --var, --var-file and --out.
func terraformStyle(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for _, f := range []string{"-var", "-var-file", "-out"} {
			if a == f || strings.HasPrefix(a, f+"=") {
				out[i] = "-" + a
			}
		}
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
	}
	return out
}

// extraCommands lets command files register themselves (runbook, serve, ...).
var extraCommands []func(*app) *cobra.Command

// usageError is a mistake in how vigil was called.
func usageError(c *cobra.Command, format string, args ...any) error {
	return &exitError{code: ExitError, err: fmt.Errorf(format+"\nRun '%s --help' for usage.", append(args, c.CommandPath())...)}
}

// inputError reports bad input (exit 2), printing HCL diagnostics with their
// source lines when there are any.
func (a *app) inputError(err error) error {
	var pe *inventory.ParseError
	var pol policy.Errors
	switch {
	case errors.As(err, &pe):
		return &exitError{code: ExitError, err: err}
	case errors.As(err, &pol):
		for _, e := range pol {
			fmt.Fprintf(a.stderr, "vigil: %v\n", e)
		}
		return exit(ExitError)
	}
	return &exitError{code: ExitError, err: err}
}

// printDiags writes diagnostics with file:line:col and the offending source
// line, the way Terraform does.
func (a *app) printDiags(files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	width := 0
	color := false
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = w
		}
		color = os.Getenv("NO_COLOR") == ""
	}
	wr := hcl.NewDiagnosticTextWriter(a.stderr, maskURLs(files), uint(width), color)
	_ = wr.WriteDiagnostics(diags)
}

// diagsError prints diagnostics and returns the matching exit error when
// there are errors among them.
func (a *app) diagsError(files map[string]*hcl.File, diags hcl.Diagnostics) error {
	a.printDiags(files, diags)
	if diags.HasErrors() {
		n := 0
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		return &exitError{code: ExitError, err: fmt.Errorf("%d error%s", n, plural(n))}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// openOutput returns the writer for --output (stdout when empty or "-").
func (a *app) openOutput(path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return a.stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, &exitError{code: ExitError, err: fmt.Errorf("create output: %w", err)}
	}
	return f, f.Close, nil
}

// splitList splits comma-separated flag values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
