package runbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
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
	EntryEvidence         = "evidence"
	EntryLog              = "log"
)

// Run is one execution of a plan.
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
// changing any recorded entry breaks the chain from there on.
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

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// Journal stores runs and their entries. Implementations must make Append
// atomic: it assigns Seq, Prev and Hash from the run's last entry.
type Journal interface {
	CreateRun(ctx context.Context, r *Run) error
	UpdateRun(ctx context.Context, id, status string, at time.Time) error
	SetRunState(ctx context.Context, id, state string) error
	GetRun(ctx context.Context, id string) (*Run, error)
	ListRuns(ctx context.Context) ([]*Run, error)
	Append(ctx context.Context, e *Entry) error
	Entries(ctx context.Context, runID string) ([]*Entry, error)
}

// ErrRunNotFound is returned for an unknown run id.
var ErrRunNotFound = errors.New("run not found")

// Tamper describes where a journal's chain breaks.
type Tamper struct {
	Seq    int64
	Step   string
	Kind   string
	Reason string
}

func (t *Tamper) Error() string {
	return fmt.Sprintf("journal entry %d (%s %s) %s", t.Seq, t.Kind, t.Step, t.Reason)
}

// Verify checks a run's hash chain and returns the first broken entry.
func Verify(entries []*Entry) *Tamper {
	prev := ""
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			return &Tamper{Seq: e.Seq, Step: e.Step, Kind: e.Kind, Reason: fmt.Sprintf("is out of sequence (expected %d): an entry was removed or inserted", i+1)}
		}
		if e.Prev != prev {
			return &Tamper{Seq: e.Seq, Step: e.Step, Kind: e.Kind, Reason: "does not follow the previous entry's hash"}
		}
		if e.ComputeHash() != e.Hash {
			return &Tamper{Seq: e.Seq, Step: e.Step, Kind: e.Kind, Reason: "was altered: its content does not match its hash"}
		}
		prev = e.Hash
	}
	return nil
}

// MemoryJournal keeps runs in memory (tests, --state none).
type MemoryJournal struct {
	mu      sync.Mutex
	runs    map[string]*Run
	entries map[string][]*Entry
}

// NewMemoryJournal returns an empty in-memory journal.
func NewMemoryJournal() *MemoryJournal {
	return &MemoryJournal{runs: map[string]*Run{}, entries: map[string][]*Entry{}}
}

func (m *MemoryJournal) CreateRun(_ context.Context, r *Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *r
	m.runs[r.ID] = &c
	return nil
}

func (m *MemoryJournal) UpdateRun(_ context.Context, id, status string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return ErrRunNotFound
	}
	r.Status, r.UpdatedAt = status, at
	return nil
}

func (m *MemoryJournal) SetRunState(_ context.Context, id, state string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return ErrRunNotFound
	}
	r.State = state
	return nil
}

func (m *MemoryJournal) GetRun(_ context.Context, id string) (*Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return nil, ErrRunNotFound
	}
	c := *r
	return &c, nil
}

func (m *MemoryJournal) ListRuns(_ context.Context) ([]*Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Run
	for _, r := range m.runs {
		c := *r
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (m *MemoryJournal) Append(_ context.Context, e *Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.entries[e.RunID]
	e.Seq = int64(len(list) + 1)
	e.Prev = ""
	if len(list) > 0 {
		e.Prev = list[len(list)-1].Hash
	}
	e.Hash = e.ComputeHash()
	c := *e
	m.entries[e.RunID] = append(list, &c)
	return nil
}

func (m *MemoryJournal) Entries(_ context.Context, runID string) ([]*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Entry
	for _, e := range m.entries[runID] {
		c := *e
		out = append(out, &c)
	}
	return out, nil
}

// Tamper lets tests alter a stored entry.
func (m *MemoryJournal) Tamper(runID string, seq int64, f func(*Entry)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries[runID] {
		if e.Seq == seq {
			f(e)
		}
	}
}
