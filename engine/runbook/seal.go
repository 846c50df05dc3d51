package runbook

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sigContext separates journal signatures from any other use of the key.
const sigContext = "vigil journal entry v1\n"

// Sign signs an entry's hash with the journal key.
func Sign(key ed25519.PrivateKey, hash string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(sigContext+hash)))
}

// checkSig reports whether sig is pub's signature of hash.
func checkSig(pub ed25519.PublicKey, hash, sig string) bool {
	raw, err := base64.StdEncoding.DecodeString(sig)
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, []byte(sigContext+hash), raw)
}

// KeyID is a public key's short fingerprint, as verify prints it.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "SHA256:" + hex.EncodeToString(h[:])[:16]
}

// EncodePublicKey and DecodePublicKey write public keys into journal entries.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodePublicKey reads a public key written by EncodePublicKey.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not an ed25519 public key")
	}
	return ed25519.PublicKey(raw), nil
}

// Head is a journal's head as an anchor records it: after each entry, its
// run, sequence number and hash (and the run's key id) are copied outside
// the database, so that cutting entries off the end or rewriting the chain
// shows against the copy.
type Head struct {
	RunID string    `json:"run"`
	Seq   int64     `json:"seq"`
	Hash  string    `json:"hash"`
	Key   string    `json:"key,omitempty"`
	At    time.Time `json:"at"`
	// Intent marks the head of a run's first entry recorded before that
	// entry commits: from then on a run the database holds always has a
	// head in the anchor, so a journal cut to its first entry with the
	// anchor deleted shows as unanchored. A run with only intent heads and
	// no row is one whose creation failed, not one that was deleted.
	Intent bool `json:"intent,omitempty"`
}

// Anchor keeps journal heads outside the database: an append-only file by
// default, an object store with retention when configured.
type Anchor interface {
	// Record durably adds a head.
	Record(ctx context.Context, h Head) error
	// Heads returns every head recorded for a run, in any order.
	Heads(ctx context.Context, runID string) ([]Head, error)
	// String says where the anchor is, for messages.
	String() string
}

// AnchorLister is an anchor that can name every run it holds heads of, so
// that verify and status find a run deleted from the database whole.
type AnchorLister interface {
	Runs(ctx context.Context) ([]string, error)
}

// AnchorDamage is an anchor that can report what it holds that is not a
// journal head (a line written into the anchor file by something else).
type AnchorDamage interface {
	Damage(ctx context.Context) ([]string, error)
}

// JournalError is a journal write that failed: the run stops, since what
// it does next could not be recorded.
type JournalError struct {
	RunID string
	Seq   int64 // the entry that could not be written
	Err   error
}

func (e *JournalError) Error() string {
	if errors.Is(e.Err, ErrLeaseLost) {
		// The new holder may be running: this process stopped writing and
		// cancelled its steps, but a call already made may have taken
		// effect unrecorded. The new holder's resume asks each such step's
		// action before acting again.
		return fmt.Sprintf("write journal of run %s (entry %d): %v. This process stopped and cancelled the steps it was running; a step whose call was already made may have taken effect without this process recording it, and whoever holds the run now asks that step's action whether it did (as resume does after a crash) before acting again. See who holds it with: vigil runbook status %s",
			e.RunID, e.Seq, e.Err, e.RunID)
	}
	return fmt.Sprintf("write journal of run %s (entry %d): %v; the run stopped so that nothing happens unrecorded. Fix the state store, then continue with: vigil runbook resume %s",
		e.RunID, e.Seq, e.Err, e.RunID)
}

func (e *JournalError) Unwrap() error { return e.Err }

// sealer writes one run's journal: it numbers, chains and signs entries,
// stores them under the run's lease and anchors each new head. Only the
// run's owner goroutine calls it.
type sealer struct {
	store     Store
	lease     *Lease
	key       ed25519.PrivateKey
	anchor    Anchor
	runID     string
	seq       int64
	head      string
	failpoint func(string)
	broken    error // set by the first failure: nothing is written after it
}

// seal fills in an entry's chain fields. What is stored is exactly what
// is hashed: JSON columns in canonical form, text as valid UTF-8 (which
// PostgreSQL requires, and which JSON hashing would otherwise fold).
func (s *sealer) seal(e *Entry, seq int64, prev string) {
	e.RunID, e.Seq, e.Prev = s.runID, seq, prev
	e.Args, e.Outputs, e.Detail = canonicalColumn(e.Args), canonicalColumn(e.Outputs), canonicalColumn(e.Detail)
	e.Kind, e.Step, e.Error, e.Actor = validUTF8(e.Kind), validUTF8(e.Step), validUTF8(e.Error), validUTF8(e.Actor)
	e.At = e.At.UTC()
	e.Hash = e.ComputeHash()
	e.Sig = Sign(s.key, e.Hash)
}

// append writes entries as one transaction (a step's result with its
// evidence), setting the run's status with them when status is not "".
func (s *sealer) append(ctx context.Context, status string, entries ...*Entry) error {
	if s.broken != nil {
		return s.broken
	}
	if len(entries) == 0 {
		return nil
	}
	seq, prev := s.seq, s.head
	for _, e := range entries {
		seq++
		s.seal(e, seq, prev)
		prev = e.Hash
	}
	ctx = context.WithoutCancel(ctx) // what happened is recorded even after Ctrl-C
	if err := s.store.Append(ctx, s.lease, status, entries...); err != nil {
		s.broken = &JournalError{RunID: s.runID, Seq: s.seq + 1, Err: err}
		return s.broken
	}
	s.seq, s.head = seq, prev
	s.point("sealed:" + strconv.FormatInt(seq, 10))
	if err := s.anchorHead(ctx); err != nil {
		s.broken = &JournalError{RunID: s.runID, Seq: seq, Err: err}
		return s.broken
	}
	return nil
}

// anchorHead copies the current head to the anchor.
func (s *sealer) anchorHead(ctx context.Context) error {
	if s.anchor == nil || s.seq == 0 {
		return nil
	}
	return s.record(ctx, Head{RunID: s.runID, Seq: s.seq, Hash: s.head, Key: KeyID(s.key.Public().(ed25519.PublicKey)), At: time.Now().UTC()})
}

// anchorIntent records the head of a run's sealed first entry before the
// entry is stored.
func (s *sealer) anchorIntent(ctx context.Context, first *Entry) error {
	if s.anchor == nil {
		return nil
	}
	return s.record(ctx, Head{RunID: s.runID, Seq: first.Seq, Hash: first.Hash, Key: KeyID(s.key.Public().(ed25519.PublicKey)), At: time.Now().UTC(), Intent: true})
}

func (s *sealer) record(ctx context.Context, h Head) error {
	var err error
	for try := 0; try < 3; try++ { // object stores have bad seconds
		if err = s.anchor.Record(ctx, h); err == nil {
			return nil
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	return fmt.Errorf("anchor the journal head in %s: %w", s.anchor, err)
}

// validUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func (s *sealer) point(p string) {
	if s.failpoint != nil {
		s.failpoint(p)
	}
}

// errBroken reports whether err is the sealer's failure.
func isJournalError(err error) bool {
	var je *JournalError
	return errors.As(err, &je)
}
