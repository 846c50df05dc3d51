package runbook

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps runs, their journals and their leases. SQLite and PostgreSQL
// implement it (internal/store), and so does MemoryStore; all pass the
// same contract test (runbooktest.StoreContract).
//
// The engine computes every entry's sequence number, hash and signature;
// a store persists them atomically and refuses what would fork the chain
// or come from a writer that no longer holds the run.
type Store interface {
	// CreateRun stores a new run, its lease and its first journal entry in
	// one transaction. It sets the lease's token and times. A plan is
	// applied once: when a run of the same plan (the same bytes) exists it
	// fails with a *PlanAppliedError naming it.
	CreateRun(ctx context.Context, r *Run, l *Lease, first *Entry) error
	GetRun(ctx context.Context, id string) (*Run, error)
	// ListRuns lists runs, oldest first.
	ListRuns(ctx context.Context) ([]*Run, error)
	Entries(ctx context.Context, runID string) ([]*Entry, error)
	// Append stores sealed entries in one transaction, and sets the run's
	// status in the same transaction when status is not "". It fails with
	// ErrLeaseLost unless l is the run's lease, and with ErrSeqConflict
	// unless entries[0].Seq follows the run's last stored entry. A
	// successful append also renews the lease.
	Append(ctx context.Context, l *Lease, status string, entries ...*Entry) error
	// AcquireLease takes the run's lease for h for ttl, by the store's
	// clock. When another holder's unexpired lease is in the way it returns
	// a *LeaseHeldError naming it.
	AcquireLease(ctx context.Context, runID string, h Holder, ttl time.Duration) (*Lease, error)
	// RenewLease moves the lease's expiry to ttl after now (the heartbeat);
	// ErrLeaseLost when the lease is no longer the run's.
	RenewLease(ctx context.Context, l *Lease) error
	// ReleaseLease gives the lease up; releasing a lease already lost is
	// not an error.
	ReleaseLease(ctx context.Context, l *Lease) error
	// BreakLease removes the run's lease whatever its state, when its token
	// is token (or for any token when token is ""), and returns what it
	// removed: nil when there was none.
	BreakLease(ctx context.Context, runID, token string) (*Lease, error)
	// Lease returns the run's current lease (expired or not), nil if none.
	Lease(ctx context.Context, runID string) (*Lease, error)
}

// Errors of stores.
var (
	ErrRunNotFound = errors.New("run not found")
	// ErrLeaseLost: the writer's lease expired and was taken, or was broken
	// with unlock; it must stop writing.
	ErrLeaseLost = errors.New("the run's lease was lost (it expired and another process took it, or it was broken with 'vigil runbook unlock')")
	// ErrSeqConflict: the journal moved on under the writer.
	ErrSeqConflict = errors.New("the journal has entries this writer did not make")
)

// PlanAppliedError says a run of the plan exists already: as in Terraform,
// a saved plan is applied once; the run is continued with resume.
type PlanAppliedError struct{ RunID string }

func (e *PlanAppliedError) Error() string {
	return fmt.Sprintf("this plan was applied already, as run %s: continue that run with 'vigil runbook resume %s', or make a new plan", e.RunID, e.RunID)
}

// Holder says who holds a lease.
type Holder struct {
	// Name is the actor (the OS user or --actor).
	Name string `json:"name"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Node identifies the host and process namespace the holder runs in, so
	// that a process on the same node can tell that the holder is gone (as
	// a file lock would be released); "" when unknown.
	Node string `json:"node,omitempty"`
}

func (h Holder) String() string {
	if h.Host == "" {
		return h.Name
	}
	return fmt.Sprintf("%s (pid %d on %s)", h.Name, h.PID, h.Host)
}

// Lease is a run's exclusive ownership, like Terraform's state lock: apply
// and resume hold one, renew it while they run and give it up at the end.
type Lease struct {
	RunID       string        `json:"run_id"`
	Token       string        `json:"token"`
	Holder      Holder        `json:"holder"`
	AcquiredAt  time.Time     `json:"acquired_at"`
	HeartbeatAt time.Time     `json:"heartbeat_at"`
	ExpiresAt   time.Time     `json:"expires_at"`
	TTL         time.Duration `json:"ttl"`
}

// DefaultLeaseTTL is how long a lease outlives its holder's last heartbeat.
const DefaultLeaseTTL = 2 * time.Minute

// LeaseHeldError says another holder owns the run.
type LeaseHeldError struct{ Lease *Lease }

func (e *LeaseHeldError) Error() string {
	l := e.Lease
	return fmt.Sprintf("run %s is locked by %s since %s; the lease expires at %s unless its holder renews it. If that process is gone, wait for the lease to expire or break it with: vigil runbook unlock %s",
		l.RunID, l.Holder, l.AcquiredAt.UTC().Format(time.RFC3339), l.ExpiresAt.UTC().Format(time.RFC3339), l.RunID)
}

// IsLeaseHeld reports whether err says another holder owns the run.
func IsLeaseHeld(err error) bool {
	var h *LeaseHeldError
	return errors.As(err, &h)
}
