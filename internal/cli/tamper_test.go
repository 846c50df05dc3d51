package cli

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
)

// applyVM runs compromised-vm-gcp in the simulated cloud and returns the
// run id; approve may be empty (the run then waits for isolate).
func applyVM(t *testing.T, state string, approve ...string) string {
	t.Helper()
	args := []string{"runbook", "apply", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory",
		"-var", "instance=" + webVM, "-var", "incident=INC-2041", "--state", state}
	for _, a := range approve {
		args = append(args, "--approve", a)
	}
	_, out, errs := run(t, args...)
	m := runID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run: %s\n%s", out, errs)
	}
	return m[1]
}

// copyState copies a state file and its anchor, so that each edit starts
// from the untouched journal.
func copyState(t *testing.T, state string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "s.db")
	for _, suffix := range []string{"", ".anchor"} {
		raw, err := os.ReadFile(state + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// rechain recomputes the hashes of entries from index i on and writes them
// back, as someone with the database but not the key would; with key, it
// signs them too.
func rechain(t *testing.T, db *sql.DB, es []*runbook.Entry, from int, key ed25519.PrivateKey) {
	t.Helper()
	for i := from; i < len(es); i++ {
		e := es[i]
		e.Prev = ""
		if i > 0 {
			e.Prev = es[i-1].Hash
		}
		e.Hash = e.ComputeHash()
		if key != nil {
			e.Sig = runbook.Sign(key, e.Hash)
		}
		exec(t, db, `UPDATE journal SET kind = ?, step = ?, actor = ?, args = ?, outputs = ?, detail = ?, error = ?, prev_hash = ?, hash = ?, sig = ? WHERE run_id = ? AND seq = ?`,
			e.Kind, e.Step, e.Actor, nullable(e.Args), nullable(e.Outputs), nullable(e.Detail), e.Error, e.Prev, e.Hash, e.Sig, e.RunID, e.Seq)
	}
}

func nullable(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// Every edit of the state database that the issue found passing verify is
// now reported, naming the entry, or truncation, or the runs row; resume
// refuses each.
func TestVerifyFindsEveryEdit(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	id := applyVM(t, state, "isolate")
	if code, out, _ := run(t, "runbook", "verify", id, "--state", state); code != 0 || !strings.Contains(out, "is intact") || !strings.Contains(out, "Its head matches the anchor file") {
		t.Fatalf("untouched: %d %s", code, out)
	}
	entriesOf := func(db *sql.DB) []*runbook.Entry {
		st, err := store.OpenSQLite(dbPath(t, db))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		es, err := st.Entries(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	seqOf := func(es []*runbook.Entry, kind, step string) int64 {
		for _, e := range es {
			if e.Kind == kind && e.Step == step {
				return e.Seq
			}
		}
		t.Fatalf("no %s %s", kind, step)
		return 0
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name string
		edit func(t *testing.T, db *sql.DB, es []*runbook.Entry)
		want string
	}{
		{"cut entries off the end", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `DELETE FROM journal WHERE run_id = ? AND seq > ?`, id, len(es)-3)
		}, "the journal was truncated: the anchor file"},
		{"delete all entries", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `DELETE FROM journal WHERE run_id = ?`, id)
		}, "the journal was truncated: every entry was deleted"},
		{"rewrite the whole chain with recomputed hashes", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			for _, e := range es {
				e.Actor = "mallory"
			}
			rechain(t, db, es, 0, nil)
		}, "the chain was rewritten without the journal key from journal entry 1 (run.started)"},
		{"rewrite the whole chain and sign it with another key", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			for _, e := range es {
				e.Actor = "mallory"
			}
			rechain(t, db, es, 0, otherKey)
		}, "the chain was rewritten without the journal key from journal entry 1 (run.started)"},
		{"edit the last entry", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `UPDATE journal SET detail = replace(detail, 'completed', 'failed') WHERE run_id = ? AND seq = ?`, id, len(es))
		}, "run.finished) was altered"},
		{"edit the last entry and recompute its hash", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			last := es[len(es)-1]
			last.Detail = []byte(strings.Replace(string(last.Detail), "completed", "failed", 1))
			rechain(t, db, es, len(es)-1, nil)
		}, "(run.finished): its hash is not the one the anchor file"},
		{"delete an evidence entry and re-chain", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			seq := seqOf(es, runbook.EntryEvidence, "snapshot")
			exec(t, db, `DELETE FROM journal WHERE run_id = ? AND seq = ?`, id, seq)
			exec(t, db, `UPDATE journal SET seq = -seq WHERE run_id = ? AND seq > ?`, id, seq)
			exec(t, db, `UPDATE journal SET seq = -seq - 1 WHERE run_id = ? AND seq < 0`, id)
			rest := append(append([]*runbook.Entry{}, es[:seq-1]...), es[seq:]...)
			for i := int(seq - 1); i < len(rest); i++ {
				rest[i].Seq--
			}
			rechain(t, db, rest, int(seq-1), nil)
		}, "the chain was rewritten without the journal key from journal entry"},
		{"append a forged approval", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			last := es[len(es)-1]
			e := &runbook.Entry{RunID: id, Seq: last.Seq + 1, Kind: runbook.EntryApproved, Step: "isolate", Actor: "mallory", At: last.At,
				Detail: []byte(`{"via":"prompt"}`), Prev: last.Hash, Sig: last.Sig}
			e.Hash = e.ComputeHash()
			exec(t, db, `INSERT INTO journal (run_id, seq, kind, step, attempt, args, outputs, error, actor, at, detail, prev_hash, hash, sig)
				VALUES (?, ?, ?, ?, 0, NULL, NULL, '', ?, ?, ?, ?, ?, ?)`, id, e.Seq, e.Kind, e.Step, e.Actor, e.At.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), string(e.Detail), e.Prev, e.Hash, e.Sig)
		}, "(step.approved isolate) is forged"},
		{"edit the runs row's status", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `UPDATE runs SET status = 'awaiting_approval' WHERE id = ?`, id)
		}, `the runs row was changed: its status is "awaiting_approval", but the journal's last status entry`},
		{"edit the runs row's actor", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `UPDATE runs SET actor = 'mallory' WHERE id = ?`, id)
		}, `the runs row was changed: its actor is "mallory"`},
		{"edit the runs row's runbook hash", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `UPDATE runs SET runbook_hash = 'ffff' WHERE id = ?`, id)
		}, `the runs row was changed: its runbook hash is "ffff"`},
		{"edit the runs row's plan", func(t *testing.T, db *sql.DB, es []*runbook.Entry) {
			exec(t, db, `UPDATE runs SET plan = replace(plan, 'instances/web-1', 'instances/web-2') WHERE id = ?`, id)
		}, `the runs row was changed: its plan (sha256) is`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			copy := copyState(t, state)
			db, err := sql.Open("sqlite", "file:"+copy)
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(t, db, entriesOf(db))
			db.Close()
			code, out, errs := run(t, "runbook", "verify", id, "--state", copy)
			if code != ExitFindings || !strings.Contains(out, "is NOT intact") || !strings.Contains(out, tt.want) {
				t.Errorf("verify: exit %d\n%s%s\nwant %q", code, out, errs, tt.want)
			}
			if code, out, errs := run(t, "runbook", "resume", id, "--state", copy, "--approve", "isolate"); code != ExitError || !strings.Contains(errs, "not intact") {
				t.Errorf("resume of an edited journal: exit %d\n%s%s", code, out, errs)
			}
		})
	}

	// The attack the issue showed: a waiting run's plan edited to point
	// isolate at another VM. Resume refuses, web-2 is untouched.
	waiting := filepath.Join(t.TempDir(), "w.db")
	wid := applyVM(t, waiting)
	db, _ := sql.Open("sqlite", "file:"+waiting)
	exec(t, db, `UPDATE runs SET plan = replace(plan, 'instances/web-1', 'instances/web-2') WHERE id = ?`, wid)
	db.Close()
	code, out, errs := run(t, "runbook", "resume", wid, "--state", waiting, "--approve", "isolate")
	if code != ExitError || !strings.Contains(errs, "the runs row was changed: its plan (sha256)") || strings.Contains(out, "step.isolate: running") {
		t.Errorf("resume of a run whose plan was edited: exit %d\n%s%s", code, out, errs)
	}
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed nothing", query)
	}
}

// dbPath finds the file of a database opened with sql.Open("sqlite", ...).
func dbPath(t *testing.T, db *sql.DB) string {
	t.Helper()
	var seq int
	var name, file string
	if err := db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}
