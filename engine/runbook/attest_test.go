package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// approvedEntry is the run's step.approved entry, nil when none.
func approvedEntry(es []*Entry) *Entry {
	for _, e := range es {
		if e.Kind == EntryApproved {
			return e
		}
	}
	return nil
}

// A decision on a step that needs a second person counts only when vigil
// serve signed it, with the key pinned here, for this run, plan and step.
// Anything else leaves the step waiting (the run stops in
// awaiting_approval, nothing applied) and VerifyApprovals reports the row.
func TestForgedApprovals(t *testing.T) {
	ctx := context.Background()
	signed := func(k []byte, runID, planHash, addr string, by, starter Identity) *Attestation {
		return SignApproval(k, &ApprovalStatement{Run: runID, PlanSHA256: planHash, Address: addr, Approved: true, Approver: by, Starter: starter, Decision: "d-1", At: time.Now()})
	}
	for _, tc := range []struct {
		name string
		// att makes the row's attestation, given the run, the plan hash and
		// the starter; nil: a row written by hand.
		att  func(runID, planHash string, starter Identity) *Attestation
		want string
	}{
		{"a row written by hand", nil, "not signed by vigil serve"},
		{"signed by another key", func(id, ph string, st Identity) *Attestation { return signed(otherKey, id, ph, "cut", bob, st) }, "not with the trusted serve key " + KeyID(pubOf(serveKey))},
		{"for another plan", func(id, ph string, st Identity) *Attestation {
			return signed(serveKey, id, strings.Repeat("0", 64), "cut", bob, st)
		}, "for plan sha256 000000000000"},
		{"for another step", func(id, ph string, st Identity) *Attestation { return signed(serveKey, id, ph, "other", bob, st) }, "for step.other, not step.cut"},
		{"for another run", func(id, ph string, st Identity) *Attestation { return signed(serveKey, "run-x", ph, "cut", bob, st) }, "for run run-x"},
		{"a tampered statement", func(id, ph string, st Identity) *Attestation {
			a := signed(serveKey, id, ph, "cut", bob, st)
			a.Statement = strings.Replace(a.Statement, `"approved":true`, `"approved":true `, 1)
			return a
		}, "does not verify"},
	} {
		h := newHarness(t, twoPerson)
		x := h.twoPersonExecutor(nil)
		res, err := x.Start(ctx, h.rb, h.plan, h.vars)
		if err != nil || res.Status != RunAwaitingApproval {
			t.Fatalf("%s: start: %v %v", tc.name, res, err)
		}
		run := res.Run
		starter := StarterOf(run, h.entries(run.ID))
		row := &Decision{Approved: true, By: bob, ID: "d-1"}
		if tc.att != nil {
			row.Attestation = tc.att(run.ID, run.PlanSHA256, starter)
		}
		var said []string
		x = h.executor()
		x.Approvals, x.ServeKey = &decisions{m: map[string]*Decision{"cut": row}}, pubOf(serveKey)
		x.Progress = func(ev Event) { said = append(said, ev.Message) }
		res, err = x.Resume(ctx, run.ID, h.rb, h.vars)
		if err != nil || res.Status != RunAwaitingApproval || h.w.applied["cut"] != 0 {
			t.Fatalf("%s: resume took it: %v %v %v", tc.name, res.Status, err, h.w.applied)
		}
		if !strings.Contains(strings.Join(said, "\n"), tc.want) {
			t.Errorf("%s: the console does not say why (%q):\n%s", tc.name, tc.want, strings.Join(said, "\n"))
		}
		es := h.entries(run.ID)
		run, _ = h.j.GetRun(ctx, run.ID)
		if approvedEntry(es) != nil {
			t.Errorf("%s: journaled an approval", tc.name)
		}
		if v := VerifyRun(run, es, nil, nil, ""); v.Tamper != nil {
			t.Fatalf("%s: the journal itself: %v", tc.name, v.Tamper)
		}
		// The stored row is what verify reports, naming the step and why.
		tam := VerifyApprovals(run, es, []StoredDecision{{Address: "cut", PlanHash: run.PlanSHA256, Decision: *row}}, pubOf(serveKey))
		if tam == nil || tam.What != TamperApproval || tam.Step != "cut" || !strings.Contains(tam.Error(), tc.want) {
			t.Errorf("%s: verify: %v", tc.name, tam)
		}
	}
}

// A decision serve signed, by a second person, lets the run continue; the
// journal carries serve's signature, and verify checks it (against the
// pinned key, not one named in the journal). The starter's own approval,
// even signed, is refused.
func TestSignedApproval(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, twoPerson)
	src := &decisions{m: map[string]*Decision{"cut": {Approved: true, By: bob, ID: "d-1"}}, signer: serveKey}
	x := h.twoPersonExecutor(src)
	res, err := x.Start(ctx, h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted || h.w.applied["cut"] != 1 {
		t.Fatalf("bob's signed approval: %v %v %v", res.Status, err, h.w.applied)
	}
	run, _ := h.j.GetRun(ctx, res.Run.ID)
	es := h.entries(run.ID)
	a := approvedEntry(es)
	if a == nil || a.Actor != "bob@acme.example" || !strings.Contains(string(a.Detail), `"attestation"`) {
		t.Fatalf("approval entry: %+v", a)
	}
	row := src.m["cut"]
	if d, _ := src.Decision(ctx, run.ID, &ApprovalRequest{Address: "cut", PlanHash: run.PlanSHA256, Starter: StarterOf(run, es)}); d != nil {
		row = d
	}
	rows := []StoredDecision{{Address: "cut", PlanHash: run.PlanSHA256, Decision: *row}}
	if v := VerifyRun(run, es, nil, nil, ""); v.Tamper != nil {
		t.Fatal(v.Tamper)
	}
	if tam := VerifyApprovals(run, es, rows, pubOf(serveKey)); tam != nil {
		t.Fatalf("a genuine approval: %v", tam)
	}
	// Another pinned key, or none: verify cannot vouch for the run.
	if tam := VerifyApprovals(run, es, rows, pubOf(otherKey)); tam == nil || tam.What != TamperApproval || tam.Seq != 1 {
		t.Errorf("with another serve key: %v", tam)
	}
	if tam := VerifyApprovals(run, es, rows, nil); tam == nil || !strings.Contains(tam.Error(), "no serve public key is pinned") {
		t.Errorf("with no serve key: %v", tam)
	}
	// Whoever holds the journal key can write an approval entry; without
	// serve's signature in it verify names it.
	forged := *a
	var d map[string]any
	_ = json.Unmarshal(a.Detail, &d)
	delete(d, "attestation")
	forged.Detail, _ = json.Marshal(d)
	es2 := append([]*Entry(nil), es...)
	for i, e := range es2 {
		if e == a {
			es2[i] = &forged
		}
	}
	if tam := VerifyApprovals(run, es2, nil, pubOf(serveKey)); tam == nil || tam.Seq != a.Seq || tam.Step != "cut" || !strings.Contains(tam.Error(), "not signed by vigil serve") {
		t.Errorf("an approval entry without serve's signature: %v", tam)
	}
	// An approval by the starter, signed: serve never signs one, and the
	// executor refuses it anyway; verify does too.
	h = newHarness(t, twoPerson)
	src = &decisions{m: map[string]*Decision{"cut": {Approved: true, By: alice}}, signer: serveKey}
	x = h.twoPersonExecutor(src)
	res, err = x.Start(ctx, h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunFailed || h.w.applied["cut"] != 0 {
		t.Fatalf("the starter's own approval: %v %v %v", res.Status, err, h.w.applied)
	}
	es = h.entries(res.Run.ID)
	st := StarterOf(res.Run, es)
	att := SignApproval(serveKey, &ApprovalStatement{Run: res.Run.ID, PlanSHA256: res.Run.PlanSHA256, Address: "cut", Approved: true, Approver: alice, Starter: st})
	if _, err := VerifyApproval(pubOf(serveKey), att, res.Run.ID, res.Run.PlanSHA256, "cut", st); err == nil || !strings.Contains(err.Error(), "cannot also approve") {
		t.Errorf("VerifyApproval of the starter's own: %v", err)
	}
}

// A run with a step that needs a second person starts only with a starter
// serve vouched for: signed with the pinned key, for this plan, in time.
func TestStarterVouched(t *testing.T) {
	h := newHarness(t, twoPerson)
	old := time.Now().Add(-time.Hour)
	stale := alice
	stale.Attestation = SignIdentity(serveKey, &IdentityStatement{Identity: alice, Role: "responder", Audience: StarterAudience, PlanSHA256: h.plan.Hash(), IssuedAt: old, ExpiresAt: old.Add(StarterTTL)})
	wrongAud := alice
	wrongAud.Attestation = SignIdentity(serveKey, &IdentityStatement{Identity: alice, Role: "responder", Audience: "something else", PlanSHA256: h.plan.Hash(), IssuedAt: time.Now(), ExpiresAt: time.Now().Add(StarterTTL)})
	renamed := vouched(bob, h.plan)
	renamed.Subject = alice.Subject
	for _, tc := range []struct {
		name    string
		starter Identity
		key     []byte
		want    string
	}{
		{"verified, not vouched for", alice, serveKey, "not vouched for by vigil serve"},
		{"vouched for by another key", vouchedBy(otherKey, alice, h.plan.Hash()), serveKey, "not with the trusted serve key"},
		{"for another plan", vouchedBy(serveKey, alice, strings.Repeat("1", 64)), serveKey, "for plan sha256 111111111111"},
		{"expired", stale, serveKey, "was good from"},
		{"for another use", wrongAud, serveKey, "not for starting a run"},
		{"another subject", renamed, serveKey, "serve's statement names " + bob.Subject},
		{"no key pinned", vouched(alice, h.plan), nil, "no serve public key is pinned"},
	} {
		x := h.executor()
		x.Starter = tc.starter
		if tc.key != nil {
			x.ServeKey = pubOf(tc.key)
		}
		res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
		var ue *UnverifiedStarterError
		if !errors.As(err, &ue) || ue.Why == nil || !strings.Contains(err.Error(), tc.want) || res != nil {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if runs, _ := h.j.ListRuns(context.Background()); len(runs) != 0 {
		t.Errorf("refused starts stored %d runs", len(runs))
	}
}
