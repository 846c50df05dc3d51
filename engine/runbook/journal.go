package runbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Run statuses.
const (
	RunRunning          = "running"
	RunAwaitingApproval = "awaiting_approval"
	RunCompleted        = "completed"
	RunFailed           = "failed"
	RunInterrupted      = "interrupted"
)

// Entry kinds.
const (
	EntryRunStarted  = "run.started"
	EntryRunResumed  = "run.resumed"
	EntryRunFinished = "run.finished"
	EntryRunUnlocked = "run.unlocked"
	// EntryRunReanchored records a resume told (--reanchor) to go on
	// although the anchor had no record of the journal: who did it, and
	// what the anchor held. Verify names it.
	EntryRunReanchored    = "run.reanchored"
	EntryStepExpanded     = "step.expanded"
	EntryStepSkipped      = "step.skipped"
	EntryApprovalRequired = "step.awaiting_approval"
	EntryApproved         = "step.approved"
	EntryRejected         = "step.rejected"
	EntryStepStarted      = "step.started"
	EntryStepRetry        = "step.retry"
	EntryStepSucceeded    = "step.succeeded"
	EntryStepFailed       = "step.failed"
	EntryStepRecovered    = "step.recovered"
	// EntryOutcomeUnknown records an attempt that may or may not have taken
	// effect (a timeout, reset or 5xx on a mutating call): the action's
	// Recover is asked before the step runs again.
	EntryOutcomeUnknown = "step.outcome_unknown"
	// EntryStepCheckpoint records how far a long action got (a disk hash
	// part-way): an attempt after a crash resumes from it.
	EntryStepCheckpoint = "step.checkpoint"
	EntryEvidence       = "evidence"
	EntryLog            = "log"
)

// Run is one execution of a plan: the runs row. Its first journal entry
// binds it (see Binding), so that editing the row is found by verify.
type Run struct {
	ID        string          `json:"id"`
	Runbook   string          `json:"runbook"`
	File      string          `json:"file"`
	Hash      string          `json:"runbook_sha256"`
	Provider  string          `json:"provider"`
	Actor     string          `json:"actor"`
	Status    string          `json:"status"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	// PlanSHA256 is the column that lets a saved plan be applied once; it
	// is bound like the rest of the row.
	PlanSHA256 string `json:"plan_sha256,omitempty"`
	// State holds provider state a resume needs (the simulated cloud's file).
	State string `json:"state,omitempty"`
}

// Entry is one journal record. Entries are append-only; each carries the
// SHA-256 of the previous entry's hash and its own content, so that
// changing any recorded entry breaks the chain from there on, and an
// ed25519 signature of that hash by the journal key, so that the chain
// cannot be rewritten without the key.
type Entry struct {
	RunID   string          `json:"run_id"`
	Seq     int64           `json:"seq"`
	Kind    string          `json:"kind"`
	Step    string          `json:"step,omitempty"`
	Attempt int             `json:"attempt,omitempty"`
	Args    json.RawMessage `json:"args,omitempty"`
	Outputs json.RawMessage `json:"outputs,omitempty"`
	Error   string          `json:"error,omitempty"`
	Actor   string          `json:"actor"`
	At      time.Time       `json:"at"`
	Detail  json.RawMessage `json:"detail,omitempty"`
	Prev    string          `json:"prev_hash"`
	Hash    string          `json:"hash"`
	Sig     string          `json:"sig,omitempty"`
}

// ComputeHash is sha256(previous hash || canonical entry).
func (e *Entry) ComputeHash() string {
	c := struct {
		RunID   string          `json:"run_id"`
		Seq     int64           `json:"seq"`
		Kind    string          `json:"kind"`
		Step    string          `json:"step"`
		Attempt int             `json:"attempt"`
		Args    json.RawMessage `json:"args"`
		Outputs json.RawMessage `json:"outputs"`
		Error   string          `json:"error"`
		Actor   string          `json:"actor"`
		At      string          `json:"at"`
		Detail  json.RawMessage `json:"detail"`
	}{e.RunID, e.Seq, e.Kind, e.Step, e.Attempt, compact(e.Args), compact(e.Outputs), e.Error, e.Actor, e.At.UTC().Format(time.RFC3339Nano), compact(e.Detail)}
	body, _ := json.Marshal(c)
	h := sha256.New()
	h.Write([]byte(e.Prev))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// compact canonicalizes JSON (sorted keys, no spaces) without losing
// numbers. A column that is not exactly one JSON value is returned as it
// is (and fails verify: see columnProblem).
func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// canonicalColumn is how a sealed entry stores a JSON column: in the
// canonical form its hash is computed over, so that verify can require the
// stored bytes to be exactly that (no text after the value, no duplicate
// keys, no other spelling of the same value). JSON null is stored as no
// value.
func canonicalColumn(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	c := compact(raw)
	if string(c) == "null" {
		return nil
	}
	return c
}

// JournalFormat is the version of the journal's sealing rules that a run's
// first entry records. Format 2 stores every JSON column in canonical form
// and every text column as valid UTF-8, and verify holds the stored bytes
// to exactly that; journals of format 1 (which stored columns as written)
// are held to one JSON value with distinct keys.
const JournalFormat = 2

// columnProblem says why an entry's stored columns are not what sealing
// wrote, or "" when they are. Hashing canonicalizes JSON, so without this
// check text appended after a column's value, or a duplicate key that the
// decoder folds away, would change the row without changing its hash.
func columnProblem(e *Entry, format int) string {
	for _, c := range []struct {
		name string
		raw  json.RawMessage
	}{{"args", e.Args}, {"outputs", e.Outputs}, {"detail", e.Detail}} {
		if len(c.raw) == 0 {
			continue
		}
		if err := strictJSON(c.raw); err != nil {
			return fmt.Sprintf("its %s column is not one JSON value as written: %v", c.name, err)
		}
		if format >= 2 && (string(c.raw) == "null" || !bytes.Equal(c.raw, compact(c.raw))) {
			return fmt.Sprintf("its %s column is not in the canonical form it was written in", c.name)
		}
	}
	if format >= 2 {
		for _, f := range []struct{ name, val string }{{"run", e.RunID}, {"kind", e.Kind}, {"step", e.Step}, {"error", e.Error}, {"actor", e.Actor}} {
			if !utf8.ValidString(f.val) {
				return fmt.Sprintf("its %s column is not valid UTF-8", f.name)
			}
		}
	}
	return ""
}

// strictJSON checks that raw is exactly one JSON value, in valid UTF-8,
// whose objects have distinct keys. It walks tokens with an explicit
// stack, so that a deeply nested column cannot exhaust the goroutine's.
func strictJSON(raw []byte) error {
	if !utf8.Valid(raw) {
		return errors.New("it is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // object: the next token is a key
	}
	var stack []*frame
	started := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !started || len(stack) > 0 {
				return errors.New("it ends before its value does")
			}
			return nil
		}
		if err != nil {
			if started && len(stack) == 0 {
				return errors.New("text follows its value")
			}
			return err
		}
		if started && len(stack) == 0 {
			return errors.New("a second value follows the first")
		}
		started = true
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k, _ := tok.(string)
			if top.keys[k] {
				return fmt.Errorf("key %q appears twice", k)
			}
			top.keys[k] = true
			top.expect = false
			continue
		}
		if top != nil && top.object {
			top.expect = true // after this value, a key or the end
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, expect: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// statusOf returns the run status an entry sets, if it is a status entry.
func statusOf(e *Entry) (string, bool) {
	switch e.Kind {
	case EntryRunStarted, EntryRunResumed:
		return RunRunning, true
	case EntryRunFinished, EntryRunUnlocked:
		var d struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(e.Detail, &d)
		return d.Status, true
	}
	return "", false
}

// LastStatus is the status the journal's last status entry gives the run.
func LastStatus(entries []*Entry) string {
	st := ""
	for _, e := range entries {
		if s, ok := statusOf(e); ok {
			st = s
		}
	}
	return st
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
