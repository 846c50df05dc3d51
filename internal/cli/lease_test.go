package cli

import (
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
)

const gateHCL = `runbook "gate" {
  phase "containment" {
    step "gate" {
      action = "core.approval"
      args   = { reason = "go?" }
    }
    step "after" {
      action     = "core.log"
      args       = { message = "after" }
      depends_on = [step.gate]
    }
  }
}
`

// A run held by a process on another machine is refused, naming it, until
// the lease is broken with unlock, which is journaled like any change.
func TestUnlockBreaksAStaleLease(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "gate.hcl")
	os.WriteFile(rb, []byte(gateHCL), 0o644)
	state := filepath.Join(dir, "s.db")
	code, out, errs := run(t, "runbook", "apply", rb, "--state", state)
	if code != ExitWaiting {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	id := runID.FindStringSubmatch(out)[1]
	// A responder's laptop took the run and went away.
	st, err := store.OpenSQLite(state)
	if err != nil {
		t.Fatal(err)
	}
	ghost := runbook.Holder{Name: "ghost", Host: "far-away", PID: 1, Node: "another-node"}
	if _, err := st.AcquireLease(context.Background(), id, ghost, time.Hour); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errs = run(t, "runbook", "resume", id, "--approve", "gate", "--state", state)
	if code != ExitError || !strings.Contains(errs, "run "+id+" is locked by ghost (pid 1 on far-away)") || !strings.Contains(errs, "vigil runbook unlock "+id) {
		t.Fatalf("resume of a held run: %d %s %s", code, out, errs)
	}
	if _, out, _ := run(t, "runbook", "status", id, "--state", state); !strings.Contains(out, "Held by ghost (pid 1 on far-away)") {
		t.Errorf("status: %s", out)
	}
	if code, _, errs := run(t, "runbook", "unlock", id, "--state", state); code != ExitError || !strings.Contains(errs, "pass --force") {
		t.Errorf("unlock without a terminal: %d %s", code, errs)
	}
	code, out, errs = run(t, "runbook", "unlock", id, "--state", state, "--force", "--actor", "carol")
	if code != 0 || !strings.Contains(out, "is locked by ghost") || !strings.Contains(out, "broke the lease of ghost (pid 1 on far-away) (journaled)") {
		t.Fatalf("unlock: %d %s %s", code, out, errs)
	}
	st, _ = store.OpenSQLite(state)
	es, _ := st.Entries(context.Background(), id)
	st.Close()
	last := es[len(es)-1]
	if last.Kind != runbook.EntryRunUnlocked || last.Actor != "carol" || !strings.Contains(string(last.Detail), `"name":"ghost"`) {
		t.Errorf("the unlock entry: %+v %s", last, last.Detail)
	}
	if code, out, _ := run(t, "runbook", "verify", id, "--state", state); code != 0 {
		t.Errorf("verify after unlock: %s", out)
	}
	if code, out, errs := run(t, "runbook", "resume", id, "--approve", "gate", "--state", state); code != 0 || !strings.Contains(out, ": completed.") {
		t.Errorf("resume after unlock: %d %s %s", code, out, errs)
	}
	if code, out, _ := run(t, "runbook", "unlock", id, "--state", state, "--force"); code != 0 || !strings.Contains(out, "is not locked") {
		t.Errorf("unlock of a free run: %d %s", code, out)
	}
}

// verify --show-key tells where the journal key is and its public half.
func TestShowKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")
	code, _, errs := run(t, "runbook", "verify", "--show-key", "--journal-key", key)
	if code != ExitError || !strings.Contains(errs, "journal key "+key) {
		t.Errorf("a missing explicit key: %d %s", code, errs)
	}
	// (made by an earlier test, or not yet: stderr, or stdout, says)
	code, out, errs := run(t, "runbook", "verify", "--show-key")
	if code != 0 || !strings.Contains(out+errs, "Journal key: ") {
		t.Fatalf("show-key: %d %s", code, out)
	}
	// The default key exists once a run was made; it is the user's only.
	rb := filepath.Join(dir, "gate.hcl")
	os.WriteFile(rb, []byte(gateHCL), 0o644)
	run(t, "runbook", "apply", rb, "--state", filepath.Join(dir, "s.db"))
	code, out, errs = run(t, "runbook", "verify", "--show-key")
	path := defaultKeyPath()
	info, err := os.Stat(path)
	if code != 0 || err != nil || info.Mode().Perm() != 0o600 || !strings.Contains(errs, "Journal key: "+path) || !strings.Contains(errs, "SHA256:") {
		t.Errorf("show-key: %d %s %v %v", code, errs, err, info)
	}
	// stdout is the PEM and nothing else, to redirect into a file
	if block, rest := pem.Decode([]byte(out)); block == nil || block.Type != "PUBLIC KEY" || strings.TrimSpace(string(rest)) != "" || !strings.HasPrefix(out, "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("show-key's stdout is not one PEM public key:\n%s", out)
	}
	// A key others can read is refused, as ssh does.
	os.Chmod(path, 0o644)
	defer os.Chmod(path, 0o600)
	if code, _, errs := run(t, "runbook", "apply", rb, "--state", filepath.Join(dir, "s.db")); code != ExitError || !strings.Contains(errs, "chmod 600") {
		t.Errorf("a readable key: %d %s", code, errs)
	}
}

// The journal key can be given as a file or, as CI secrets are, as the PEM
// text itself in VIGIL_JOURNAL_KEY; a run signed with one key is not
// continued with another.
func TestJournalKeyFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "gate.hcl")
	os.WriteFile(rb, []byte(gateHCL), 0o644)
	state := filepath.Join(dir, "s.db")
	keyFile := filepath.Join(dir, "ci.key")
	if _, err := createKey(keyFile); err != nil {
		t.Fatal(err)
	}
	pemText, _ := os.ReadFile(keyFile)
	t.Setenv("VIGIL_JOURNAL_KEY", string(pemText))
	code, out, errs := run(t, "runbook", "apply", rb, "--state", state)
	if code != ExitWaiting {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	id := runID.FindStringSubmatch(out)[1]
	t.Setenv("VIGIL_JOURNAL_KEY", keyFile)
	if code, out, _ := run(t, "runbook", "verify", id, "--state", state); code != 0 || !strings.Contains(out, "The key is the journal key "+keyFile) {
		t.Errorf("verify with the key's file: %d %s", code, out)
	}
	t.Setenv("VIGIL_JOURNAL_KEY", "")
	code, out, errs = run(t, "runbook", "resume", id, "--approve", "gate", "--state", state)
	if code != ExitError || !strings.Contains(errs, "is signed with journal key SHA256:") || !strings.Contains(errs, "continue it with the run's key") {
		t.Errorf("resume with another key: %d %s %s", code, out, errs)
	}
	if code, out, _ := run(t, "runbook", "verify", id, "--state", state); code != ExitFindings || !strings.Contains(out, "the key that signed this run is not available here") {
		t.Errorf("verify against another journal key: %d %s", code, out)
	}
}

// A journal write that fails ends apply with exit 1 and says how to go on.
func TestJournalErrorExitsOne(t *testing.T) {
	var out, errb strings.Builder
	a := &app{stdout: &out, stderr: &errb}
	err := a.finishRun(context.Background(), &runbookFlags{}, nil, nil, &runbook.JournalError{RunID: "run-1", Seq: 7, Err: errors.New("database is locked")})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitFindings || !strings.Contains(err.Error(), "write journal of run run-1 (entry 7): database is locked") || !strings.Contains(err.Error(), "vigil runbook resume run-1") {
		t.Errorf("%v", err)
	}
}

// The hint printed when a run waits is a command that continues it as
// printed: it names the state the run is in (not the default one), and
// approves the waiting step.
func TestResumeHintRunsAsPrinted(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "gate.hcl")
	os.WriteFile(rb, []byte(gateHCL), 0o644)
	state := filepath.Join(dir, "my state.db") // a space: the hint must quote it
	code, out, errs := run(t, "runbook", "apply", rb, "--state", state, "--parallel", "2")
	if code != ExitWaiting {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	_, hint, ok := strings.Cut(out, "Continue with: ")
	if !ok {
		t.Fatalf("no hint:\n%s", out)
	}
	hint, _, _ = strings.Cut(hint, "\n")
	id := runID.FindStringSubmatch(out)[1]
	// Expected by hand: the run, --approve for the gate, then the flags
	// given that resume takes (-var is left out: values may be secrets).
	want := "vigil runbook resume " + id + " --approve gate --parallel 2 --state '" + state + "'"
	if hint != want {
		t.Fatalf("hint\n%s\nwant\n%s", hint, want)
	}
	args := shellWords(t, strings.TrimPrefix(hint, "vigil "))
	if code, out, errs := run(t, args...); code != 0 || !strings.Contains(out, "completed") {
		t.Fatalf("the hint as printed: %d %s %s", code, out, errs)
	}
}

// shellWords splits a command line as sh would, for the words and single
// quotes shellQuote writes (the resume hint, the report's remediation
// commands).
func shellWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\' || c == '"':
			t.Fatalf("unexpected %q in %s", c, line)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
