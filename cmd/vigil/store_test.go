package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scansIn is how many scans `vigil history --format json` lists.
func scansIn(t *testing.T, env []string, args ...string) int {
	t.Helper()
	code, out := vigil(t, env, append([]string{"history", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("vigil history %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	var scans []json.RawMessage
	if err := json.Unmarshal([]byte(out), &scans); err != nil {
		t.Fatalf("vigil history %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return len(scans)
}

// TestStoreTakesItsValue is issue 20's "vigil history --store h.db reads
// h.db": --store always takes a value, after a space or '='; --history
// records in the default store (VIGIL_STORE, else store in vigil.hcl).
func TestStoreTakesItsValue(t *testing.T) {
	dir := t.TempDir()
	state := []string{"XDG_STATE_HOME=" + filepath.Join(dir, "state"), "VIGIL_STORE="}
	db := filepath.Join(dir, "h.db")
	code, out := vigil(t, state, "scan", "-q", "--store", db, "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001", "examples/inventory/")
	if code != 1 {
		t.Fatalf("scan --store %s: exit %d, want 1 (findings)\n%s", db, code, out)
	}
	if n := scansIn(t, state, "--store", db); n != 1 {
		t.Errorf("history --store h.db lists %d scans, want the 1 recorded there", n)
	}
	if n := scansIn(t, state, "--store="+db); n != 1 {
		t.Errorf("history --store=h.db lists %d scans, want 1", n)
	}
	if n := scansIn(t, state); n != 0 {
		t.Errorf("the default store lists %d scans, want 0: --store h.db wrote elsewhere", n)
	}

	// a positional argument where none is taken is refused
	code, out = vigil(t, state, "history", db)
	if code != 2 || !strings.Contains(out, `vigil history takes no arguments, got "`+db+`"`) {
		t.Errorf("history h.db: exit %d, want 2 naming the argument\n%s", code, out)
	}
	// --store without a value is refused, whether last or before a flag
	code, out = vigil(t, state, "history", "--store")
	if code != 2 || !strings.Contains(out, "flag needs an argument: --store") {
		t.Errorf("history --store: exit %d, want 2\n%s", code, out)
	}
	code, out = vigil(t, state, "scan", "--store", "-c", "examples/vigil.hcl", "examples/inventory/")
	if code != 2 || !strings.Contains(out, `flag --store needs a value: it got "-c"`) {
		t.Errorf("scan --store -c ...: exit %d, want 2\n%s", code, out)
	}

	// --history: VIGIL_STORE when set ...
	envDB := filepath.Join(dir, "env.db")
	env := append(state, "VIGIL_STORE="+envDB)
	if code, out := vigil(t, env, "scan", "-q", "--history", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001", "examples/inventory/"); code != 1 {
		t.Fatalf("scan --history: exit %d\n%s", code, out)
	}
	if n := scansIn(t, state, "--store", envDB); n != 1 {
		t.Errorf("VIGIL_STORE lists %d scans, want 1", n)
	}
	// ... else store in vigil.hcl, relative to it
	cfgDir := filepath.Join(dir, "cfg")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../examples/vigil.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(cfgDir, "vigil.hcl")
	if err := os.WriteFile(cfg, append(src, "\nstore = \"history.db\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if code, out := vigil(t, state, "scan", "-q", "--history", "-c", cfg, "--policy", "VGL-NET-001", "examples/inventory/"); code != 1 {
			t.Fatalf("scan --history -c %s: exit %d\n%s", cfg, code, out)
		}
	}
	if n := scansIn(t, state, "--store", filepath.Join(cfgDir, "history.db")); n != 2 {
		t.Errorf("vigil.hcl's store lists %d scans, want 2", n)
	}
	if n := scansIn(t, state, "-c", cfg); n != 2 {
		t.Errorf("history -c vigil.hcl lists %d scans, want the store's 2", n)
	}
	if n := scansIn(t, state); n != 0 {
		t.Errorf("the state file lists %d scans, want 0", n)
	}
}
