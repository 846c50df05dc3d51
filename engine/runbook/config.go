package runbook

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Phases of incident response, in order. Runbook phases must appear in
// this order; each is a barrier: a phase starts when the previous is done.
var Phases = []string{"preparation", "identification", "triage", "investigation", "containment", "recovery", "lessons_learned"}

// Runbook is a decoded runbook file. Expressions stay hcl.Expression until
// plan or apply evaluates them.
type Runbook struct {
	ID          string
	Title       string
	Description string
	Tags        []string
	Variables   []*Variable
	Locals      []*Local
	Phases      []*Phase
	Steps       []*Step // in file order
	Outputs     []*Output
	// FromAlert maps variable names to expressions over an alert (alert.*),
	// for `vigil runbook plan --from-alert`.
	FromAlert map[string]hcl.Expression

	File      string
	Source    []byte
	DeclRange hcl.Range
}

// Hash identifies the runbook's exact text; a saved plan refuses to apply
// once it changes.
func (r *Runbook) Hash() string {
	h := sha256.Sum256(r.Source)
	return hex.EncodeToString(h[:])
}

// Variable is a runbook input.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value // cty.NilVal when required
	Description string
	Sensitive   bool
	Validations []*Validation
	DeclRange   hcl.Range
}

// Required reports whether the variable has no default.
func (v *Variable) Required() bool { return v.Default == cty.NilVal }

// Validation is a condition a variable's value must meet.
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

// Local is a named expression.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
}

// Phase groups the steps of one incident-response phase.
type Phase struct {
	Name      string
	Index     int // position in Phases
	Steps     []*Step
	DeclRange hcl.Range
}

// Step runs one action, possibly for each element of a collection.
type Step struct {
	Name        string
	Phase       *Phase
	Action      string
	ActionRange hcl.Range
	Description string
	// Args is the object expression of the arguments; ArgExprs its items.
	Args      hcl.Expression
	ArgExprs  map[string]*ArgExpr
	DependsOn []hcl.Traversal
	When      hcl.Expression
	ForEach   hcl.Expression
	Approval  *Approval
	Timeout   time.Duration
	Retry     *Retry
	// OnError is "stop" (default) or "continue".
	OnError   string
	Evidence  bool
	DeclRange hcl.Range
}

// ArgExpr is one argument of a step, with where it was written.
type ArgExpr struct {
	Name     string
	Expr     hcl.Expression
	KeyRange hcl.Range
}

// Approval makes a step wait for a responder's go-ahead.
type Approval struct {
	// Reason is evaluated per step instance (it may use var.*, each.*).
	Reason    hcl.Expression
	Approvers []string
	// DistinctApprover, when set, says whether the approver must be
	// another person than the run's starter (the two-person rule); unset,
	// destructive steps against real clouds need one (see
	// NeedsDistinctApprover).
	DistinctApprover *bool
	DeclRange        hcl.Range
}

// Retry retries a step whose action reports a retryable error.
type Retry struct {
	Attempts int
	Backoff  time.Duration
}

// Output is a value the run reports when it is done.
type Output struct {
	Name        string
	Value       hcl.Expression
	Description string
	Sensitive   bool
	DeclRange   hcl.Range
}

// Step returns a step by name, or nil.
func (r *Runbook) Step(name string) *Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Variable returns a variable by name, or nil.
func (r *Runbook) Variable(name string) *Variable {
	for _, v := range r.Variables {
		if v.Name == name {
			return v
		}
	}
	return nil
}
