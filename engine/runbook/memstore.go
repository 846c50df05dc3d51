package runbook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"
)

// MemoryStore keeps runs in memory (tests, --state none). Its clock is
// the process's.
type MemoryStore struct {
	mu      sync.Mutex
	runs    map[string]*Run
	entries map[string][]*Entry
	leases  map[string]*Lease
	// BeforeAppend, when set, may refuse an append (tests of a failing
	// journal).
	BeforeAppend func(entries []*Entry) error
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{runs: map[string]*Run{}, entries: map[string][]*Entry{}, leases: map[string]*Lease{}}
}

// NewToken makes a lease token.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *MemoryStore) CreateRun(_ context.Context, r *Run, l *Lease, first *Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.runs[r.ID]; ok {
		return ErrSeqConflict
	}
	for _, other := range m.runs {
		if bytes.Equal(other.Plan, r.Plan) {
			return &PlanAppliedError{RunID: other.ID}
		}
	}
	if first.Seq != 1 {
		return ErrSeqConflict
	}
	c := *r
	m.runs[r.ID] = &c
	m.grant(l, r.ID, time.Now().UTC())
	e := *first
	m.entries[r.ID] = []*Entry{&e}
	return nil
}

func (m *MemoryStore) grant(l *Lease, runID string, now time.Time) {
	l.RunID, l.Token, l.AcquiredAt, l.HeartbeatAt, l.ExpiresAt = runID, NewToken(), now, now, now.Add(l.TTL)
	c := *l
	m.leases[runID] = &c
}

func (m *MemoryStore) GetRun(_ context.Context, id string) (*Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return nil, ErrRunNotFound
	}
	c := *r
	return &c, nil
}

func (m *MemoryStore) ListRuns(_ context.Context) ([]*Run, error) {
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

func (m *MemoryStore) held(l *Lease) bool {
	cur := m.leases[l.RunID]
	return cur != nil && cur.Token == l.Token
}

func (m *MemoryStore) Append(_ context.Context, l *Lease, status string, entries ...*Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.BeforeAppend != nil {
		if err := m.BeforeAppend(entries); err != nil {
			return err
		}
	}
	if len(entries) == 0 {
		return nil
	}
	r, ok := m.runs[entries[0].RunID]
	if !ok {
		return ErrRunNotFound
	}
	if !m.held(l) {
		return ErrLeaseLost
	}
	list := m.entries[r.ID]
	for i, e := range entries {
		if e.Seq != int64(len(list)+1+i) || e.RunID != r.ID {
			return ErrSeqConflict
		}
	}
	for _, e := range entries {
		c := *e
		list = append(list, &c)
	}
	m.entries[r.ID] = list
	now := time.Now().UTC()
	if status != "" {
		r.Status = status
	}
	r.UpdatedAt = entries[len(entries)-1].At
	cur := m.leases[r.ID]
	cur.HeartbeatAt, cur.ExpiresAt = now, now.Add(cur.TTL)
	return nil
}

func (m *MemoryStore) Entries(_ context.Context, runID string) ([]*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Entry
	for _, e := range m.entries[runID] {
		c := *e
		out = append(out, &c)
	}
	return out, nil
}

func (m *MemoryStore) AcquireLease(_ context.Context, runID string, h Holder, ttl time.Duration) (*Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.runs[runID]; !ok {
		return nil, ErrRunNotFound
	}
	now := time.Now().UTC()
	if cur := m.leases[runID]; cur != nil && cur.ExpiresAt.After(now) {
		c := *cur
		return nil, &LeaseHeldError{Lease: &c}
	}
	l := &Lease{Holder: h, TTL: ttl}
	m.grant(l, runID, now)
	return l, nil
}

func (m *MemoryStore) RenewLease(_ context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.held(l) {
		return ErrLeaseLost
	}
	now := time.Now().UTC()
	cur := m.leases[l.RunID]
	cur.HeartbeatAt, cur.ExpiresAt = now, now.Add(cur.TTL)
	l.HeartbeatAt, l.ExpiresAt = cur.HeartbeatAt, cur.ExpiresAt
	return nil
}

func (m *MemoryStore) ReleaseLease(_ context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held(l) {
		delete(m.leases, l.RunID)
	}
	return nil
}

func (m *MemoryStore) BreakLease(_ context.Context, runID, token string) (*Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.leases[runID]
	if cur == nil || (token != "" && cur.Token != token) {
		return nil, nil
	}
	delete(m.leases, runID)
	c := *cur
	return &c, nil
}

func (m *MemoryStore) Lease(_ context.Context, runID string) (*Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.leases[runID]
	if cur == nil {
		return nil, nil
	}
	c := *cur
	return &c, nil
}

// Tamper lets tests alter a stored entry.
func (m *MemoryStore) Tamper(runID string, seq int64, f func(*Entry)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries[runID] {
		if e.Seq == seq {
			f(e)
		}
	}
}
