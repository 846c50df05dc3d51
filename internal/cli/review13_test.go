package cli

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// The CLI tests of the independent review of issue 13 (round 1).

// A run deleted whole (row, journal, lease) is reported by verify RUN,
// verify --all and status from the heads the anchor still holds; before,
// verify said "run not found" (exit 2) and status no longer listed it.
func TestVerifyReportsADeletedRun(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	id := applyVM(t, state, "isolate")
	kept := applyVM(t, state, "isolate")
	db, err := sql.Open("sqlite", "file:"+state)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec(`DELETE FROM run_leases WHERE run_id = ?`, id) // a finished run holds none
	exec(t, db, `DELETE FROM journal WHERE run_id = ?`, id)
	exec(t, db, `DELETE FROM runs WHERE id = ?`, id)
	db.Close()

	code, out, errs := run(t, "runbook", "verify", id, "--state", state)
	if code != ExitFindings || !strings.Contains(out, "Journal of run "+id+" is NOT intact: the run was deleted from the database: the anchor file "+state+".anchor holds ") {
		t.Errorf("verify RUN: %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, "runbook", "verify", "--all", "--state", state)
	if code != ExitFindings || !strings.Contains(out, id+"  NOT intact: the run was deleted from the database") ||
		!strings.Contains(out, kept+"  intact: ") || !strings.Contains(out, "1 runs in the database, 1 deleted from it.") {
		t.Errorf("verify --all: %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, "runbook", "status", "--state", state)
	if code != ExitFindings || !strings.Contains(out, id+"  DELETED: ") || !strings.Contains(out, kept) {
		t.Errorf("status: %d %s %s", code, out, errs)
	}
	code, _, errs = run(t, "runbook", "timeline", id, "--state", state)
	if code != ExitFindings || !strings.Contains(errs, "deleted from the database") {
		t.Errorf("timeline: %d %s", code, errs)
	}
}

// The object-store anchors list their runs too, so a deleted run is found
// against S3 and GCS: see TestObjectStoreAnchors.

// With the anchor file gone, verify fails and resume refuses the run,
// until a resume names why with --reanchor, which the journal records and
// verify names. Before, resume wrote a fresh anchor from what the database
// held, and a journal cut short then verified as intact.
func TestResumeRefusesAnUnanchoredRun(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	id := applyVM(t, state)
	if err := os.Remove(state + ".anchor"); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "runbook", "verify", id, "--state", state)
	if code != ExitFindings || !strings.Contains(out, "the journal is not anchored: the anchor file "+state+".anchor has no heads of this run") {
		t.Errorf("verify: %d %s", code, out)
	}
	resume := []string{"runbook", "resume", id, "--approve", "isolate", "--state", state}
	code, out, errs := run(t, resume...)
	if code == 0 || !strings.Contains(errs, "--reanchor REASON") {
		t.Fatalf("resume: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(state + ".anchor"); err == nil {
		t.Error("the refused resume wrote an anchor")
	}
	code, out, errs = run(t, append(resume, "--reanchor", "the forensics host was rebuilt (INC-2041)")...)
	if code != 0 {
		t.Fatalf("resume --reanchor: %d %s %s", code, out, errs)
	}
	code, out, _ = run(t, "runbook", "verify", id, "--state", state)
	if code != 0 || !strings.Contains(out, "re-anchored the journal (resume --reanchor)") {
		t.Errorf("verify after --reanchor: %d %s", code, out)
	}
	code, out, _ = run(t, "runbook", "timeline", id, "--state", state, "--format", "json")
	if code != 0 || !strings.Contains(out, "the forensics host was rebuilt (INC-2041)") {
		t.Errorf("the timeline does not show the re-anchoring: %d %s", code, out)
	}
}

// Lines in the anchor file that are not heads are reported, and a line
// longer than any head (over a MiB) neither blocks verify nor resume.
func TestAnchorGarbageIsReported(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	id := applyVM(t, state)
	heads, err := os.ReadFile(state + ".anchor")
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(heads), "\n") // the garbage follows the run's heads
	fh, err := os.OpenFile(state+".anchor", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("not a head\n" + strings.Repeat("x", 2<<20) + "\n")
	fh.Close()
	code, out, errs := run(t, "runbook", "verify", id, "--state", state)
	if code != 0 || !strings.Contains(out, fmt.Sprintf(".anchor: line %d is not a journal head.\n", n+1)) || !strings.Contains(out, "is intact") {
		t.Errorf("verify: %d %s %s", code, out, errs)
	}
	if !strings.Contains(out, fmt.Sprintf("line %d is not a journal head (65536 bytes or more).\n", n+2)) {
		t.Errorf("the long line: %s", out)
	}
	code, out, _ = run(t, "runbook", "verify", "--all", "--state", state)
	if code != ExitFindings {
		t.Errorf("verify --all with a damaged anchor: %d %s", code, out)
	}
	code, out, errs = run(t, "runbook", "resume", id, "--approve", "isolate", "--state", state)
	if code != 0 {
		t.Errorf("resume: %d %s %s", code, out, errs)
	}
}

// A journal key replaced (the file removed, a new one made) is told apart
// from a rewritten chain: the anchor recorded the key that signed the run.
func TestVerifyTellsAReplacedKeyFromARewrite(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	state := filepath.Join(t.TempDir(), "s.db")
	id := applyVM(t, state, "isolate")
	key := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "vigil", "journal.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	applyVM(t, state, "isolate") // makes a new key
	code, out, _ := run(t, "runbook", "verify", id, "--state", state)
	if code != ExitFindings || !strings.Contains(out, "the key that signed this run is not available here") || strings.Contains(out, "rewritten") {
		t.Errorf("verify: %d %s", code, out)
	}
	// With no anchor heads to say which key wrote the run (another
	// machine's anchor), verify still says plainly that another journal key
	// signed it, naming it, and does not claim an edit; it does not pass.
	var runKey string
	if m := regexp.MustCompile(`signed with key (SHA256:[0-9a-f]+)`).FindStringSubmatch(out); m != nil {
		runKey = m[1]
	}
	if err := os.Remove(state + ".anchor"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "runbook", "verify", id, "--state", state)
	if code != ExitFindings || runKey == "" || !strings.Contains(out, "written with journal key "+runKey) || !strings.Contains(out, "cannot be vouched for with the journal key here") ||
		strings.Contains(out, "rewritten") || strings.Contains(out, "NOT intact") {
		t.Errorf("verify without the anchor: %d %s (run key %q)", code, out, runKey)
	}
}

// A state file vigil creates is readable by its owner only, in a directory
// vigil creates 0700.
func TestStateFileMode(t *testing.T) {
	state := filepath.Join(t.TempDir(), "new", "s.db")
	applyVM(t, state, "isolate")
	for path, want := range map[string]os.FileMode{state: 0o600, filepath.Dir(state): 0o700, state + ".anchor": 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
}

// A canary that Go's %q, JSON and HCL escape (a quote, a backslash, a tab,
// invalid UTF-8) never shows either: not in plan errors that quote it
// (core.wait's duration, parseint), not in a plan summary that quotes it
// (core.notify's message), not through a validation error_message, and not
// in any output of apply, resume, status, timeline, verify or the state's
// rows.
func TestEscapedCanaryNeverShows(t *testing.T) {
	const canary = "Can\"ary\\Q9\tzz\xffSecret-71"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	rb := filepath.Join(dir, "canary.hcl")
	os.WriteFile(rb, []byte(canaryRunbook), 0o644)
	esc := filepath.Join(dir, "esc.hcl")
	os.WriteFile(esc, []byte(`runbook "esc" {
  variable "token" {
    type      = string
    sensitive = true
  }
  phase "identification" {
    step "w" {
      action = "core.wait"
      args   = { duration = var.token }
    }
    step "n" {
      action = "core.log"
      args   = { message = "${parseint(var.token, 10)}" }
    }
  }
}
`), 0o644)
	val := filepath.Join(dir, "val.hcl")
	os.WriteFile(val, []byte(`runbook "val" {
  variable "token" {
    type      = string
    sensitive = true
    validation {
      condition     = length(var.token) > 100
      error_message = "token ${var.token} is too short"
    }
  }
  phase "identification" {
    step "a" {
      action = "core.log"
      args   = { message = "x" }
    }
  }
}
`), 0o644)
	plan, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "s.db")
	vars := []string{"-var", "token=" + canary, "-var", "notify_url=" + srv.URL + "/hook"}
	var outputs []string
	do := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := run(t, args...)
		if code != want {
			t.Fatalf("vigil %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, out, errs)
		}
		outputs = append(outputs, out, errs)
		return out + errs
	}
	for _, f := range []string{esc, val} {
		for _, verb := range []string{"plan", "apply"} {
			do(ExitError, "runbook", verb, f, "-var", "token="+canary, "--state", state)
		}
	}
	if out := do(ExitError, "runbook", "plan", val, "-var", "token="+canary); !strings.Contains(out, "the error message includes a sensitive value, so it is not shown") {
		t.Errorf("validation: %s", out)
	}
	do(0, append([]string{"runbook", "plan", rb, "-out", plan}, vars...)...)
	do(0, append([]string{"runbook", "plan", rb, "--format", "json"}, vars...)...)
	out := do(ExitWaiting, append([]string{"runbook", "apply", plan, "--state", state}, vars...)...)
	id := runID.FindStringSubmatch(out)[1]
	do(0, append([]string{"runbook", "resume", id, "--approve", "gate", "--state", state}, vars...)...)
	do(0, "runbook", "status", id, "--state", state)
	do(0, "runbook", "timeline", id, "--state", state)
	do(0, "runbook", "timeline", id, "--state", state, "--format", "json")
	do(0, "runbook", "verify", id, "--state", state)
	saved, _ := os.ReadFile(plan)
	outputs = append(outputs, string(saved))
	db, err := sql.Open("sqlite", "file:"+state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`SELECT id || runbook || actor || status || plan || state FROM runs`,
		`SELECT kind || step || coalesce(args, '') || coalesce(outputs, '') || error || coalesce(detail, '') FROM journal`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			outputs = append(outputs, s)
		}
		rows.Close()
	}
	all := strings.Join(outputs, "\n")
	// every spelling of the canary, in any case, holds one of these
	for _, form := range []string{`ary\`, `ARY\`, `zz\`, `ZZ\`, "Q9\tzz", "q9\tzz", "Secret-71", "SECRET-71", "secret-71", "Open-71"} {
		if i := strings.Index(all, form); i >= 0 {
			t.Errorf("%q shows: ...%s...", form, all[max(0, i-200):min(len(all), i+100)])
		}
	}
}

// A diagnostic's source snippet does not show a webhook URL's path: here
// an expression that does not evaluate, on the url line itself.
func TestDiagnosticsMaskWebhookPaths(t *testing.T) {
	cfg := write(t, "vigil.hcl", "notify \"slack\" {\n  url = \"https://hooks.example.com/services/T01/SECRETPATH7\" + 1\n}\n")
	vars := write(t, "vars.hcl", "notify_url = \"https://hooks.example.com/services/T01/SECRETPATH8\" + 1\n")
	code, _, errs := run(t, "runbook", "verify", "--all", "-c", cfg, "--state", filepath.Join(t.TempDir(), "s.db"))
	if code != ExitError || strings.Contains(errs, "SECRETPATH7") || !strings.Contains(errs, "https://hooks.example.com****") {
		t.Errorf("config: %d %s", code, errs)
	}
	code, _, errs = run(t, "runbook", "plan", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory", "--var-file", vars)
	// notify_url is a sensitive variable of the runbook: its whole value is
	// masked in the variables file's snippet, host included.
	if code != ExitError || strings.Contains(errs, "SECRETPATH8") || strings.Contains(errs, "hooks.example.com") || !strings.Contains(errs, "notify_url =****") {
		t.Errorf("var file: %d %s", code, errs)
	}
}

// A PostgreSQL state shared by two machines, each with its default anchor
// file: apply warns that the anchor is this machine's only, and the other
// machine's resume refuses the run its anchor has no record of (before, it
// went on, and a cut in the database was invisible to both). With a shared
// anchor named in vigil.hcl there is no warning and the resume proceeds.
func TestPostgresStateWithAPerMachineAnchor(t *testing.T) {
	url := testutil.Postgres(t)
	dir := t.TempDir()
	rb := filepath.Join(dir, "gate.hcl")
	os.WriteFile(rb, []byte(gateHCL), 0o644)
	machineA, machineB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	t.Setenv("XDG_STATE_HOME", machineA)
	code, out, errs := run(t, "runbook", "apply", rb, "--state", url)
	if code != ExitWaiting || !strings.Contains(errs, "WARNING: the state is a PostgreSQL database that other machines may share, but the journal's anchor is the anchor file "+filepath.Join(machineA, "vigil", "postgres-journal.anchor")) {
		t.Fatalf("apply on A: %d %s %s", code, out, errs)
	}
	id := runID.FindStringSubmatch(out)[1]
	t.Setenv("XDG_STATE_HOME", machineB)
	code, out, errs = run(t, "runbook", "resume", id, "--approve", "gate", "--state", url)
	if code == 0 || !strings.Contains(errs, "has no heads of this run") || !strings.Contains(errs, "--reanchor") {
		t.Errorf("resume on B: %d %s %s", code, out, errs)
	}

	shared := write(t, "vigil.hcl", `anchor = "`+filepath.Join(dir, "shared.anchor")+`"`+"\n")
	code, out, errs = run(t, "runbook", "apply", rb, "--state", url, "-c", shared)
	if code != ExitWaiting || strings.Contains(errs, "WARNING") {
		t.Fatalf("apply with a shared anchor: %d %s %s", code, out, errs)
	}
	id = runID.FindStringSubmatch(out)[1]
	t.Setenv("XDG_STATE_HOME", machineA)
	code, out, errs = run(t, "runbook", "resume", id, "--approve", "gate", "--state", url, "-c", shared)
	if code != 0 {
		t.Errorf("resume with the shared anchor: %d %s %s", code, out, errs)
	}
}

// A file that did not parse (nil) or is JSON is passed over.
func TestMaskURLsSkipsWhatItCannotRead(t *testing.T) {
	if got := maskURLs(map[string]*hcl.File{"gone.hcl": nil}); len(got) != 1 || got["gone.hcl"] != nil {
		t.Errorf("%v", got)
	}
}
