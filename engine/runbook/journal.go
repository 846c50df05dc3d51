package runbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
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
	EntryRunStarted       = "run.started"
	EntryRunResumed       = "run.resumed"
	EntryRunFinished      = "run.finished"
	EntryRunUnlocked      = "run.unlocked"
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
// numbers: a store may hand back what it was given reformatted.
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
