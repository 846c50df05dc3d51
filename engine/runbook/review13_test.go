package runbook

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// The tests of the independent review of issue 13 (round 1).

// A secret is removed from text however it was quoted: Go's %q and %+q,
// JSON, HCL's escapes, invalid UTF-8 made valid, quoted twice over.
func TestRedactorCatchesEscapedSpellings(t *testing.T) {
	for _, secret := range []string{`Hunter"2pass`, `Hunter\2pass`, "Hunter\t2pass", "Hunter\xff2pass", "Hunter\n2pass", "Hunter${x}2pass"} {
		r := newRedactor(map[string]*VarValue{"s": {Value: cty.StringVal(secret), Sensitive: true}})
		js, _ := json.Marshal(secret)
		texts := []string{
			fmt.Sprintf("duration %q is not a duration", secret),
			fmt.Sprintf("%+q", secret),
			"json " + string(js),
			`hcl "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "${", "$${").Replace(secret) + `"`,
			fmt.Sprintf("wrapped %q", fmt.Sprintf("cannot parse %q", secret)),
			"plain " + secret,
			"made valid " + strings.ToValidUTF8(secret, "\uFFFD"),
		}
		for _, text := range texts {
			if got := r.text(text); strings.Contains(got, "Hunter") || !strings.Contains(got, SensitiveText) {
				t.Errorf("secret %q: %q became %q", secret, text, got)
			}
		}
	}
}

// A secret shorter than four characters is removed where it stands alone,
// and words that merely contain it are left alone.
func TestRedactorShortSecrets(t *testing.T) {
	r := newRedactor(map[string]*VarValue{"pin": {Value: cty.StringVal("7x"), Sensitive: true}})
	for text, want := range map[string]string{
		`cannot parse "7x"`:      `cannot parse "(sensitive)"`,
		"pin 7x is wrong":        "pin (sensitive) is wrong",
		"7x":                     "(sensitive)",
		"a17xb and 7xy stay put": "a17xb and 7xy stay put",
	} {
		if got := r.text(text); got != want {
			t.Errorf("%q became %q, want %q", text, got, want)
		}
	}
}

// What actions and functions say about a sensitive value at plan time
// never shows it, even when they quote it (core.wait's duration error,
// parseint's).
func TestPlanErrorsDoNotShowAnEscapedSecret(t *testing.T) {
	src := `runbook "esc" {
  variable "secret" {
    type      = string
    sensitive = true
  }
  phase "identification" {
    step "w" {
      action = "core.wait"
      args   = { duration = var.secret }
    }
    step "n" {
      action = "core.log"
      args   = { message = "${parseint(var.secret, 10)}" }
    }
  }
}`
	for _, secret := range []string{`Hunter"2pass`, `Hunter\2pass`, "Hunter\t2pass", "Hunter\xff2pass", "7x"} {
		rb, _, diags := Parse([]byte(src), "esc.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		vars, _, diags := rb.ResolveVariables(Inputs{Vars: []string{"secret=" + secret}})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, diags = (&Planner{Registry: coreRegistry(t), Key: testKey(t)}).Plan(context.Background(), rb, "esc.hcl", vars)
		if !diags.HasErrors() {
			t.Fatalf("%q: the plan should fail", secret)
		}
		var text string
		for _, d := range diags {
			text += d.Summary + ": " + d.Detail + "\n"
		}
		if strings.Contains(text, "Hunter") || strings.Contains(text, `"7x"`) || !strings.Contains(text, SensitiveText) {
			t.Errorf("secret %q shows: %s", secret, text)
		}
	}
}

// A validation error_message made from a sensitive value is not shown, as
// Terraform does.
func TestValidationMessageWithSensitiveValueIsHidden(t *testing.T) {
	rb, _, diags := Parse([]byte(`runbook "val" {
  variable "secret" {
    type      = string
    sensitive = true
    validation {
      condition     = length(var.secret) > 100
      error_message = "secret ${var.secret} is too short"
    }
  }
  variable "plain" {
    type = string
    validation {
      condition     = length(var.plain) > 100
      error_message = "plain ${var.plain} is too short"
    }
  }
  phase "identification" {
    step "a" {
      action = "core.log"
      args   = { message = "x" }
    }
  }
}`), "val.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, _, diags = rb.ResolveVariables(Inputs{Vars: []string{"secret=Hunter2pass", "plain=visible"}})
	var text string
	for _, d := range diags {
		text += d.Summary + ": " + d.Detail + "\n"
	}
	if strings.Contains(text, "Hunter2pass") || !strings.Contains(text, "includes a sensitive value") {
		t.Errorf("sensitive: %s", text)
	}
	if !strings.Contains(text, "plain visible is too short") {
		t.Errorf("a message without sensitive values is shown as it is: %s", text)
	}
}

// completedRun applies src to completion with an anchor.
func completedRun(t *testing.T, src string, approve ...string) (*harness, *memAnchor, *Run) {
	t.Helper()
	h := plannedWith(t, src, nil, nil, "token=abcd1234")
	an := &memAnchor{}
	x := h.executor(approve...)
	x.Anchor = an
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("%v %v", res, err)
	}
	return h, an, res.Run
}

func (h *harness) verify(runID string, an *memAnchor, anchorName string) *Verification {
	run, err := h.j.GetRun(context.Background(), runID)
	if err != nil {
		h.t.Fatal(err)
	}
	var heads []Head
	if an != nil {
		heads, _ = an.Heads(context.Background(), runID)
	}
	return VerifyRun(run, h.entries(runID), heads, h.key.Public().(ed25519.PublicKey), anchorName)
}

// Text after a column's JSON value, a duplicate key and another spelling
// of the same value all change what is stored without changing the hash
// of the canonical form: verify holds the stored bytes to that form.
func TestVerifyRefusesTextAfterAColumn(t *testing.T) {
	for name, edit := range map[string]func(json.RawMessage) json.RawMessage{
		"text appended": func(r json.RawMessage) json.RawMessage { return append(r, ` {"forged":"by mallory"}`...) },
		"duplicate key": func(r json.RawMessage) json.RawMessage { return json.RawMessage(`{"value":"x","value":"one"}`) },
		"respelled": func(r json.RawMessage) json.RawMessage {
			return json.RawMessage(strings.ReplaceAll(string(r), ":", ": "))
		},
		"trailing space": func(r json.RawMessage) json.RawMessage { return append(r, ' ') },
	} {
		t.Run(name, func(t *testing.T) {
			h, an, run := completedRun(t, pipeline, "gate")
			es := h.j.entries[run.ID]
			var seq int64
			for _, e := range es {
				if e.Kind == EntryStepSucceeded && e.Step == "a" {
					e.Outputs = edit(e.Outputs)
					seq = e.Seq
				}
			}
			if seq == 0 {
				t.Fatal("no success entry of a")
			}
			v := h.verify(run.ID, an, "the test anchor")
			if v.Tamper == nil || v.Tamper.What != TamperEntry || v.Tamper.Seq != seq || !strings.Contains(v.Tamper.Error(), "outputs column") {
				t.Errorf("got %v", v.Tamper)
			}
			// The timeline of the tampered journal can still be written.
			r, _ := h.j.GetRun(context.Background(), run.ID)
			if _, err := json.Marshal(BuildTimeline(r, h.entries(run.ID), v)); err != nil {
				t.Errorf("timeline: %v", err)
			}
		})
	}
}

const evidenceRunbook = `runbook "ev" {
  variable "token" {
    type = string
  }
  phase "investigation" {
    step "ev" {
      action   = "test.evidence"
      args     = { target = "vm-1" }
      evidence = true
    }
    step "after" {
      action     = "test.make"
      args       = { target = "two" }
      depends_on = [step.ev]
    }
  }
}`

// cut removes a run's entries after seq, and sets the runs row to what the
// remaining journal says, as someone with SQL access would.
func (h *harness) cut(runID string, seq int64) {
	es := h.j.entries[runID][:seq]
	h.j.entries[runID] = es
	r := h.j.runs[runID]
	r.Status = RunRunning
	for _, e := range es {
		if st, ok := statusOf(e); ok {
			r.Status = st
		}
	}
	r.UpdatedAt = es[len(es)-1].At
}

func seqOf(t *testing.T, es []*Entry, kind, step string) int64 {
	t.Helper()
	for _, e := range es {
		if e.Kind == kind && e.Step == step {
			return e.Seq
		}
	}
	t.Fatalf("no %s entry of %s", kind, step)
	return 0
}

// An evidence step's success without its evidence entry (they are written
// in one transaction) is reported, even with no anchor to compare with.
func TestVerifyFindsMissingEvidence(t *testing.T) {
	h, _, run := completedRun(t, evidenceRunbook)
	ok := seqOf(t, h.entries(run.ID), EntryStepSucceeded, "ev")
	h.cut(run.ID, ok)
	v := h.verify(run.ID, nil, "")
	if v.Tamper == nil || v.Tamper.What != TamperEvidence || v.Tamper.Seq != ok || !strings.Contains(v.Tamper.Error(), "has no evidence entry") {
		t.Errorf("got %v", v.Tamper)
	}
}

// A journal cut short and its anchor lost: verify says the journal is not
// anchored, and resume refuses it unless told why (--reanchor), which it
// journals. Before, resume wrote a fresh anchor from the cut journal and
// verify then called it intact.
func TestResumeRefusesAnUnanchoredJournal(t *testing.T) {
	h := plannedWith(t, pipeline, nil, nil, "token=abcd1234")
	an := &memAnchor{}
	x := h.executor()
	x.Anchor = an
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunAwaitingApproval {
		t.Fatalf("%v %v", res, err)
	}
	id := res.Run.ID
	h.cut(id, seqOf(t, h.entries(id), EntryStepSucceeded, "b"))
	an.heads = nil
	if v := h.verify(id, an, "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperUnanchored {
		t.Fatalf("verify: %v", v.Tamper)
	}
	x = h.executor("gate")
	x.Anchor = an
	if _, err := x.Resume(context.Background(), id, h.rb, h.vars); err == nil || !strings.Contains(err.Error(), "--reanchor") {
		t.Fatalf("resume without --reanchor: %v", err)
	}
	if len(an.heads) != 0 || h.w.count("d") != 0 {
		t.Fatalf("the refused resume anchored %d heads, applied d %d times", len(an.heads), h.w.count("d"))
	}
	x.Reanchor = "the anchor's disk was replaced (INC-9)"
	res, err = x.Resume(context.Background(), id, h.rb, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("resume --reanchor: %v %v", res, err)
	}
	re := seqOf(t, h.entries(id), EntryRunReanchored, "")
	v := h.verify(id, an, "the test anchor")
	if v.Tamper != nil || v.Reanchored == nil || v.Reanchored.Seq != re || !strings.Contains(string(v.Reanchored.Detail), "INC-9") {
		t.Errorf("after re-anchoring: %v %+v", v.Tamper, v.Reanchored)
	}
	// Heads removed from the anchor's start are found too.
	an.heads = an.heads[1:]
	if v := h.verify(id, an, "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperUnanchored {
		t.Errorf("heads removed: %v", v.Tamper)
	}
}

// Sensitive values are hashed with a key that is not in the plan, the runs
// row or the journal: a 6-digit PIN cannot be found by hashing every PIN.
// The same key gives the same hash (plan, apply, resume); another key
// gives another.
func TestSensitiveHashesAreKeyed(t *testing.T) {
	src := `runbook "pin" {
  variable "pin" {
    type      = string
    sensitive = true
  }
  phase "triage" {
    step "k" {
      action   = "test.make"
      for_each = toset([var.pin])
      args     = { target = "x" }
    }
  }
}`
	h := plannedWith(t, src, nil, nil, "pin=042917")
	bare := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	res, err := h.executor().Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("%v %v", res, err)
	}
	planJSON, _ := json.Marshal(h.plan)
	var journal strings.Builder
	for _, e := range h.entries(res.Run.ID) {
		b, _ := json.Marshal(e)
		journal.Write(b)
	}
	run, _ := h.j.GetRun(context.Background(), res.Run.ID)
	all := string(planJSON) + journal.String() + string(run.Plan)
	// what an attacker with the database would try: hashing every PIN bare
	// and looking for the hash (in full, or as an address's 12 digits)
	for _, h := range []string{bare(strconv.Quote("042917")), bare("042917")} {
		if strings.Contains(all, h) || strings.Contains(all, h[:12]) {
			t.Errorf("the bare hash %s of the PIN is stored", h[:12])
		}
	}
	pv := h.plan.Variables["pin"]
	if pv.HMAC == "" || pv.HMAC != valueHash(ValueKey(h.key), []byte(`"042917"`)) {
		t.Errorf("the plan's HMAC: %+v", pv)
	}
	other := testKey(t)
	if SensitiveKey(ValueKey(other), "042917") == SensitiveKey(ValueKey(h.key), "042917") {
		t.Error("two journal keys give the same address")
	}
	// Applying with another journal key is refused, naming the key.
	x := h.executor()
	x.Key = other
	h.j = NewMemoryStore()
	x.Store = h.j
	if _, err := x.Start(context.Background(), h.rb, h.plan, h.vars); err == nil || !strings.Contains(err.Error(), "journal key it was planned with") {
		t.Errorf("another key: %v", err)
	}
}

// The runs row's last-change time and plan_sha256 column are bound: the
// timeline shows the first, the second is what makes a saved plan
// applicable once.
func TestVerifyBindsUpdatedAtAndPlanSHA(t *testing.T) {
	h, an, run := completedRun(t, pipeline, "gate")
	r := h.j.runs[run.ID]
	r.UpdatedAt = r.UpdatedAt.Add(-3600e9)
	if v := h.verify(run.ID, an, "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperRunRow || !strings.Contains(v.Tamper.Error(), "last change time") {
		t.Errorf("updated_at: %v", v.Tamper)
	}
	r.UpdatedAt = r.UpdatedAt.Add(3600e9)
	r.PlanSHA256 = ""
	if v := h.verify(run.ID, an, "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperRunRow || !strings.Contains(v.Tamper.Error(), "plan_sha256") {
		t.Errorf("plan_sha256: %v", v.Tamper)
	}
	// and the plan cannot be applied again though the column is gone
	if _, err := h.executor("gate").Start(context.Background(), h.rb, h.plan, h.vars); err == nil || !strings.Contains(err.Error(), run.ID) {
		t.Errorf("applied again: %v", err)
	}
}

// A holder whose lease is broken (vigil runbook unlock) stops the step it
// is running as soon as its heartbeat finds the lease gone: the step's
// context is cancelled, so its action does not run on beside the new
// holder's. The step here would otherwise block for an hour.
func TestLeaseLossCancelsTheRunningStep(t *testing.T) {
	src := `runbook "r" {
  phase "triage" {
    step "slow" {
      action  = "test.slow"
      args    = { target = "x" }
      timeout = "1h"
    }
  }
}`
	h := plannedWith(t, src, nil, nil)
	x := h.executor()
	x.LeaseTTL = 200 * time.Millisecond
	started := make(chan string, 1)
	x.Progress = func(ev Event) {
		if ev.Kind == "started" && ev.Step == "slow" {
			runs, _ := h.j.ListRuns(context.Background())
			started <- runs[0].ID
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
		done <- err
	}()
	id := <-started
	if _, err := h.j.BreakLease(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "cancelled the steps it was running") {
			t.Errorf("the holder whose lease was broken: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the running step was not cancelled when the lease was lost")
	}
}
