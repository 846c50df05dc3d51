package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Effect classifies what an action does to the environment.
type Effect string

// Effects, from least to most disruptive.
const (
	// Read actions only look: listing keys, scanning, logging.
	Read Effect = "read"
	// Reversible actions change things in a way a runbook can undo:
	// snapshots, isolation, stopping, disabling a key.
	Reversible Effect = "reversible"
	// Destructive actions cannot be undone: deleting or terminating. They
	// always need an approval, and deleting an asset needs the same run's
	// evidence steps for it to have succeeded.
	Destructive Effect = "destructive"
)

// Arg describes one argument of an action.
type Arg struct {
	Type        cty.Type
	Required    bool
	Description string
}

// Spec is an action's contract: its name, arguments, outputs and effect.
// Specs live in this package so that the simulated and the real providers
// implement the same contract, and a runbook rehearsed in a tabletop
// exercise runs unchanged for real.
type Spec struct {
	Name        string
	Description string
	Effect      Effect
	Args        map[string]Arg
	Outputs     map[string]cty.Type
	// Gate marks a pure approval gate (core.approval): its step always
	// waits for an approval.
	Gate bool
}

// ArgsType is the object type arguments convert to (optional attributes
// for optional arguments).
func (s *Spec) ArgsType() cty.Type {
	attrs := map[string]cty.Type{}
	var optional []string
	for name, a := range s.Args {
		attrs[name] = a.Type
		if !a.Required {
			optional = append(optional, name)
		}
	}
	return cty.ObjectWithOptionalAttrs(attrs, optional)
}

// OutputsType is the object type of the action's outputs.
func (s *Spec) OutputsType() cty.Type {
	attrs := map[string]cty.Type{}
	for name, t := range s.Outputs {
		attrs[name] = t
	}
	return cty.Object(attrs)
}

// Request is what a step hands to an action.
type Request struct {
	// Args holds the arguments, converted to the spec's types (optional ones
	// may be null). Marks are removed: actions see real values.
	Args map[string]cty.Value
	// Sensitive names the arguments whose value holds or was made from a
	// sensitive value (the marks Args no longer carry), and KeyedHash is the
	// hex HMAC-SHA256 of data under the run's value key (nil outside a
	// run): an action that records a hash of such an argument uses it, since
	// a bare SHA-256 of a short secret is found by hashing every candidate.
	Sensitive map[string]bool
	KeyedHash func(data []byte) string
	// RunID and Step identify the attempt; idempotent actions tag what they
	// make with them, so a re-run finds it instead of making it twice.
	RunID   string
	Step    string
	Attempt int
	// Incident is the runbook's incident id, when it has a variable named
	// incident; actions use it in names and labels.
	Incident string
	Env      *Env
	// Checkpoints are what earlier attempts of this step instance saved
	// with Checkpoint, oldest first: a long action (hashing a disk)
	// resumes from them instead of starting over.
	Checkpoints []json.RawMessage
	// Checkpoint saves progress in the run's journal (one signed entry);
	// it returns once the entry is stored. Nil outside a run.
	Checkpoint func(state json.RawMessage) error
	// Progress reports how far a long action is, for the console
	// (stderr); nil when nobody listens.
	Progress func(msg string)
}

// Save calls Checkpoint when there is one.
func (r *Request) Save(state any) error {
	if r.Checkpoint == nil {
		return nil
	}
	raw, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	return r.Checkpoint(raw)
}

// Say calls Progress when there is one.
func (r *Request) Say(format string, args ...any) {
	if r.Progress != nil {
		r.Progress(fmt.Sprintf(format, args...))
	}
}

// Env is what actions may use besides their arguments.
type Env struct {
	Log *slog.Logger
	// Inventory returns the asset inventory as it is now (the simulated
	// cloud's current state in rehearsals); nil when there is none.
	Inventory func() *inventory.Inventory
	// Findings runs the posture policies over the inventory.
	Findings func(ctx context.Context) ([]policy.Finding, error)
	// Now is the clock.
	Now func() time.Time
	// Notify sends HTTP requests (core.notify); tests replace it.
	HTTP Doer
}

// Doer sends HTTP requests.
type Doer interface {
	Do(req *HTTPRequest) (*HTTPResponse, error)
}

// HTTPRequest and HTTPResponse keep this package free of net/http types in
// its contract; core.notify adapts them.
type HTTPRequest struct {
	Method, URL string
	Header      map[string]string
	Body        []byte
	Timeout     time.Duration
}

// HTTPResponse is a minimal response.
type HTTPResponse struct {
	Status int
	Body   []byte
}

// Str returns a string argument, or "" when null.
func (r *Request) Str(name string) string {
	v, ok := r.Args[name]
	if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// Bool returns a bool argument, or def when null.
func (r *Request) Bool(name string, def bool) bool {
	v, ok := r.Args[name]
	if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
		return def
	}
	return v.True()
}

// Strings returns a list or set of strings argument.
func (r *Request) Strings(name string) []string {
	v, ok := r.Args[name]
	if !ok || v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// StringMap returns a map(string) argument.
func (r *Request) StringMap(name string) map[string]string {
	v, ok := r.Args[name]
	if !ok || v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out[k.AsString()] = e.AsString()
		}
	}
	return out
}

// Change is what an action says it would do, from Plan. Plan reads but
// never writes.
type Change struct {
	// Summary is one line for the plan view: "snapshot 2 disks of web-1".
	Summary string
	// Details are further lines (the rules a revoke would remove, ...).
	Details []string
	// Targets are the asset ids the step acts on (or takes evidence of).
	Targets []string
	// Deletes are the asset ids the step would delete.
	Deletes []string
	// Outputs are the outputs Plan can already tell; the rest are unknown.
	Outputs map[string]cty.Value
	// NoOp says there is nothing to do (already isolated, already stopped).
	NoOp bool
	// Requires is the evidence the step needs before it may run, for a
	// destructive one: the engine refuses it, naming what is missing,
	// unless an evidence step of the same run recorded each. Without it,
	// every asset in Deletes needs a record (or better) of itself.
	Requires []Need
}

// Need is evidence a destructive step needs: an item of one of Kinds
// recorded of Asset by an evidence step of the same run.
type Need struct {
	Asset string
	Kinds []string
	// What says it for the refusal: "a snapshot or content hash of volume vol-1".
	What string
}

// Result is what Apply did.
type Result struct {
	Outputs map[string]cty.Value
	Targets []string
	Deletes []string
	// Summary says what happened, for the journal and the console.
	Summary string
	// Evidence lists items whose hashes go into the custody record
	// (core.evidence and evidence steps).
	Evidence []Evidence
}

// DiskNeed is the evidence deleting an instance needs of one of its disks
// (volumes): a snapshot or a content hash of it.
func DiskNeed(asset, name, noun string) Need {
	return Need{Asset: asset, Kinds: []string{EvidenceSnapshot, EvidenceContent}, What: "a snapshot or content hash of " + noun + " " + name}
}

// VolumeNeed is DiskNeed for an EBS volume.
func VolumeNeed(asset, name string) Need { return DiskNeed(asset, name, "volume") }

// Evidence is one item of the chain-of-custody record.
type Evidence struct {
	Item   string `json:"item"`   // what: a snapshot id, a file, a value
	SHA256 string `json:"sha256"` // its hash
	Note   string `json:"note,omitempty"`
	// Kind says what the hash is of (EvidenceContent, EvidenceSnapshot,
	// ...), and Of the assets it is evidence of: the evidence gate reads
	// both.
	Kind string   `json:"kind,omitempty"`
	Of   []string `json:"of,omitempty"`
	// Ref is the resource whose content was hashed and Verify the action
	// that hashes it again ('vigil evidence verify'); Args are that
	// action's arguments besides the resource.
	Ref    string         `json:"ref,omitempty"`
	Verify string         `json:"verify,omitempty"`
	Args   map[string]any `json:"args,omitempty"`
	// Bytes is how many bytes the content hash covers.
	Bytes int64 `json:"bytes,omitempty"`
	// Detail is what else the item keeps: a block manifest, the MD5 and
	// CRC32C the object store computed.
	Detail map[string]any `json:"detail,omitempty"`
}

// Kinds of evidence, weakest first.
const (
	// EvidenceRecord is the hash of a resource's record (its inventory
	// entry or what the API returns for it): all there is of a firewall
	// rule or a key, and no copy of a disk.
	EvidenceRecord = "record"
	// EvidenceSnapshot is a snapshot (or image) of a disk, hashed as the
	// API describes it.
	EvidenceSnapshot = "snapshot"
	// EvidenceContent is the SHA-256 of a disk's raw bytes.
	EvidenceContent = "content"
	// EvidenceLog is the raw result of a log query (CloudTrail, Cloud
	// Audit Logs).
	EvidenceLog = "log"
	// EvidenceOutputs is the canonical JSON of a step's outputs.
	EvidenceOutputs = "outputs"
	// EvidenceFile and EvidenceValue are files and values core.evidence hashed.
	EvidenceFile  = "file"
	EvidenceValue = "value"
)

// Action is one operation a runbook step can perform.
type Action interface {
	Spec() *Spec
	// Plan describes what Apply would do. It reads, never writes.
	Plan(ctx context.Context, req *Request) (*Change, error)
	// Apply does it. It must be idempotent: called again for the same run
	// and step (after a crash), it finds what the first call made.
	Apply(ctx context.Context, req *Request) (*Result, error)
}

// Recoverer is implemented by actions that can tell whether an attempt
// interrupted by a crash took effect; resume asks before re-applying.
type Recoverer interface {
	Recover(ctx context.Context, req *Request) (res *Result, tookEffect bool, err error)
}

// Provider groups the actions of one implementation (core, sim, aws, gcp).
type Provider interface {
	Name() string
	Actions() []Action
}

// Retryable marks errors worth retrying (throttling, transient faults).
type Retryable interface{ Retryable() bool }

// RetryableError wraps an error as retryable.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string   { return e.Err.Error() }
func (e *RetryableError) Unwrap() error   { return e.Err }
func (e *RetryableError) Retryable() bool { return true }

// IsRetryable reports whether err (or an error it wraps) is retryable.
func IsRetryable(err error) bool {
	var r Retryable
	return errors.As(err, &r) && r.Retryable()
}

// NotFoundError says an argument names an asset that does not exist.
type NotFoundError struct {
	What, ID string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.What, e.ID) }

// IsNotFound reports whether err (or an error it wraps) is a NotFoundError:
// delete-like actions treat a target already gone as done.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// OutcomeUnknownError says a mutating call may or may not have taken
// effect: it timed out, its connection was reset, or the server answered
// 5xx after the request was sent. Retrying blindly could act twice, so the
// engine treats the attempt like one interrupted by a crash: it asks the
// action's Recover before any retry. Providers wrap such errors of their
// mutating calls with it; read-only calls stay plainly retryable.
type OutcomeUnknownError struct{ Err error }

func (e *OutcomeUnknownError) Error() string { return "outcome unknown: " + e.Err.Error() }
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// IsOutcomeUnknown reports whether err (or an error it wraps) is an
// OutcomeUnknownError.
func IsOutcomeUnknown(err error) bool {
	var u *OutcomeUnknownError
	return errors.As(err, &u)
}

// ActivityWindow reads the detection time ("at") and the window around it
// ("before", default 24h; "after", default 6h) that the activity-log
// actions (aws.cloudtrail.lookup_events, gcp.logging.list_entries) read.
func (r *Request) ActivityWindow() (at, start, end time.Time, err error) {
	at, err = time.Parse(time.RFC3339, r.Str("at"))
	if err != nil {
		return at, at, at, fmt.Errorf("at %q is not an RFC 3339 time such as 2026-11-27T09:00:00Z", r.Str("at"))
	}
	dur := func(name, def string) (time.Duration, error) {
		s := r.Str(name)
		if s == "" {
			s = def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s %q is not a duration such as 24h", name, s)
		}
		return d, nil
	}
	before, err := dur("before", "24h")
	if err != nil {
		return at, at, at, err
	}
	after, err := dur("after", "6h")
	if err != nil {
		return at, at, at, err
	}
	return at.UTC(), at.Add(-before).UTC(), at.Add(after).UTC(), nil
}
