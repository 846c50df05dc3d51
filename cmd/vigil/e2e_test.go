package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

var binPath string

// TestMain builds the binary once for all end-to-end tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "vigil")
	// The binary makes its journal key on first use in the configuration
	// directory, and keeps default state in the state directory: both stay
	// in the test's own.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	// Every vigil serve of the tests signs with one key (the one serve
	// would make on first use there), and every CLI pins its public half,
	// as a team's deployment does (serve_public_key in vigil.hcl).
	pub, err := makeServeKey(dir)
	if err != nil {
		panic(err)
	}
	os.Setenv("VIGIL_SERVE_PUBLIC_KEY", pub)
	// The crash and fake-clock tests need the test hooks (internal/cli
	// testhooks.go), which a release build leaves out.
	args := []string{"build", "-tags", "vigil_testhooks", "-o", binPath}
	// In a clone the go command stamps the module version and commit
	// (vigil version); it finds none in a git worktree, whose .git is a
	// file. The flag overrides a GOFLAGS=-buildvcs=false.
	if fi, err := os.Stat("../../.git"); err == nil && fi.IsDir() {
		args = append(args, "-buildvcs=true")
	}
	if raceEnabled {
		// the binary is checked for data races too
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		panic("go build: " + err.Error())
	}
	code := m.Run()
	stopIdentityServer()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildVigil(t *testing.T) string { return binPath }

// readmeCommand returns the first `go run ./cmd/vigil ...` line of the
// README, so that the README cannot drift from what works.
func readmeCommand(t *testing.T) []string {
	f, err := os.Open(testutil.Path(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "go run ./cmd/vigil ") {
			if i := strings.Index(line, "#"); i >= 0 {
				line = line[:i]
			}
			return strings.Fields(line)[3:]
		}
	}
	t.Fatal("README has no `go run ./cmd/vigil` command")
	return nil
}

func TestREADMEFirstCommand(t *testing.T) {
	bin := buildVigil(t)
	args := readmeCommand(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = testutil.Root(t)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("vigil %s: %v (want exit 1: the examples have findings)", strings.Join(args, " "), err)
	}
	for _, want := range []string{"CRITICAL", "VGL-DATA-002", "VGL-NET-001", "Ran 35 policies"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBinaryReportsBrokenInput(t *testing.T) {
	bin := buildVigil(t)
	p := filepath.Join(t.TempDir(), "inv.ndjson")
	os.WriteFile(p, []byte(`{"name":"//storage.googleapis.com/a","asset_type":"storage.googleapis.com/Bucket","resource":{}}`+"\n{oops\n"), 0o644)
	cmd := exec.Command(bin, "scan", p)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), p+":2:") {
		t.Errorf("exit %v output %s", err, out)
	}
}

func TestHelp(t *testing.T) {
	bin := buildVigil(t)
	for _, args := range [][]string{{"--help"}, {"scan", "--help"}, {"policy", "test", "--help"}, {"inventory", "show", "--help"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage:") {
			t.Errorf("vigil %v: %v\n%s", args, err, out)
		}
	}
}
