package runbook

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// decisions is an ApprovalSource: what a store would hand back.
type decisions struct {
	mu sync.Mutex
	m  map[string]*Decision // address -> decision
	// asked counts look-ups, so a test can give the decision later.
	asked int
	// signer, when set, plays vigil serve: it signs each decision that has
	// no attestation for the run, plan and step asked about, as serve does
	// when it records one.
	signer ed25519.PrivateKey
}

func (d *decisions) Decision(_ context.Context, runID string, req *ApprovalRequest) (*Decision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	dec := d.m[req.Address]
	if dec != nil && d.signer != nil && dec.Attestation == nil {
		c := *dec
		c.Attestation = SignApproval(d.signer, &ApprovalStatement{Run: runID, PlanSHA256: req.PlanHash, Address: req.Address,
			Approved: dec.Approved, Approver: dec.By, Starter: req.Starter, Decision: dec.ID, At: time.Now()})
		dec = &c
	}
	return dec, nil
}

// serveKey is the tests' vigil serve signing key; otherKey is another.
var serveKey, otherKey = newKey(), newKey()

func newKey() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// vouched is id with serve's statement that it starts plan.
func vouched(id Identity, plan *Plan) Identity {
	return vouchedBy(serveKey, id, plan.Hash())
}

func vouchedBy(k ed25519.PrivateKey, id Identity, planHash string) Identity {
	now := time.Now().UTC()
	id.Attestation = SignIdentity(k, &IdentityStatement{Identity: id, Role: "responder", Audience: StarterAudience, PlanSHA256: planHash,
		IssuedAt: now, ExpiresAt: now.Add(StarterTTL)})
	return id
}

// twoPersonExecutor is an executor that trusts serveKey, started by alice
// (vouched for).
func (h *harness) twoPersonExecutor(src ApprovalSource) *Executor {
	x := h.executor()
	x.Starter, x.ServeKey, x.Approvals = vouched(alice, h.plan), pubOf(serveKey), src
	return x
}

func (d *decisions) set(addr string, dec *Decision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[addr] = dec
}

const twoPerson = `runbook "r" {
  phase "containment" {
    step "cut" {
      action = "test.make"
      args   = { target = "vm-1" }
      approval {
        reason            = "cuts vm-1 off"
        distinct_approver = true
      }
    }
  }
}`

var (
	alice = Identity{Subject: "oidc:idp#u-1", Name: "alice@acme.example", Email: "alice@acme.example", Verified: true}
	bob   = Identity{Subject: "oidc:idp#u-2", Name: "bob@acme.example", Email: "bob@acme.example", Verified: true, Groups: []string{"ir-leads"}}
)

func TestTwoPersonRule(t *testing.T) {
	if !newHarness(t, twoPerson).plan.Step("cut").DistinctApprover {
		t.Fatal("the plan does not say the step needs a second person")
	}

	// The starter's own --approve and --auto-approve do not count: the run
	// stops waiting.
	h := newHarness(t, twoPerson)
	x := h.executor("cut")
	x.AutoApprove, x.Starter, x.ServeKey = true, vouched(alice, h.plan), pubOf(serveKey)
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunAwaitingApproval || h.w.applied["cut"] != 0 {
		t.Fatalf("the starter's own approval: %v %v %v", res.Status, err, h.w.applied)
	}
	if got := StarterOf(res.Run, h.entries(res.Run.ID)); got.Subject != alice.Subject {
		t.Errorf("the run's starter: %+v", got)
	}

	// A run waiting for a second person (WaitDistinct) continues once one
	// decides; the approval is journaled with the approver as its actor.
	h = newHarness(t, twoPerson)
	src := &decisions{m: map[string]*Decision{}, signer: serveKey}
	x = h.twoPersonExecutor(src)
	x.Wait, x.ApprovalPoll = WaitDistinct, time.Millisecond
	go func() {
		for {
			src.mu.Lock()
			n := src.asked
			src.mu.Unlock()
			if n >= 3 { // the run is waiting
				src.set("cut", &Decision{Approved: true, By: bob, Comment: "confirmed with the owner", ID: "d-1"})
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	res, err = x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted || h.w.applied["cut"] != 1 {
		t.Fatalf("after bob's approval: %v %v %v", res.Status, err, h.w.applied)
	}
	var approved *Entry
	for _, e := range h.entries(res.Run.ID) {
		if e.Kind == EntryApproved {
			approved = e
		}
	}
	var d map[string]any
	if approved == nil || approved.Actor != "bob@acme.example" || json.Unmarshal(approved.Detail, &d) != nil || d["via"] != "vigil serve" ||
		d["plan_sha256"] != h.plan.Hash() || d["address"] != "cut" || d["comment"] != "confirmed with the owner" {
		t.Fatalf("approval entry: %+v", approved)
	}
	if tam := Verify(h.entries(res.Run.ID)); tam != nil {
		t.Fatal(tam)
	}

	// Decisions that break the rule are refusals, whoever recorded them.
	for _, tc := range []struct {
		name string
		by   Identity
		want string
	}{
		{"the starter", Identity{Subject: "oidc:idp#u-1", Email: "alice@acme.example", Verified: true}, "started this run"},
		{"the starter under another name", Identity{Subject: "os:alice", Verified: true}, "started this run"},
		{"not signed in", Identity{Subject: "os:bob"}, "not signed in"},
	} {
		h = newHarness(t, twoPerson)
		// Signed by serve (which itself refuses them: the executor does
		// not rely on that).
		src := &decisions{m: map[string]*Decision{"cut": {Approved: true, By: tc.by}}, signer: serveKey}
		x = h.twoPersonExecutor(src)
		x.Wait = WaitDistinct
		res, err = x.Start(context.Background(), h.rb, h.plan, h.vars)
		if err != nil || res.Status != RunFailed || h.w.applied["cut"] != 0 {
			t.Fatalf("%s: %v %v", tc.name, res.Status, err)
		}
		var rejected *Entry
		for _, e := range h.entries(res.Run.ID) {
			if e.Kind == EntryRejected {
				rejected = e
			}
		}
		if rejected == nil || !strings.Contains(string(rejected.Detail), tc.want) {
			t.Errorf("%s: %+v", tc.name, rejected)
		}
	}
}

// A decision recorded while nobody ran the run is read by resume.
func TestResumeReadsRecordedDecision(t *testing.T) {
	h := newHarness(t, twoPerson)
	x := h.twoPersonExecutor(nil)
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunAwaitingApproval || strings.Join(Waiting(h.entries(res.Run.ID)), ",") != "cut" {
		t.Fatalf("%v %v", res.Status, err)
	}
	src := &decisions{m: map[string]*Decision{"cut": {Approved: true, By: bob}}, signer: serveKey}
	x = h.executor()
	x.Approvals, x.ServeKey = src, pubOf(serveKey) // WaitNone: read once
	res, err = x.Resume(context.Background(), res.Run.ID, h.rb, h.vars)
	if err != nil || res.Status != RunCompleted || h.w.applied["cut"] != 1 {
		t.Fatalf("resume: %v %v", res.Status, err)
	}
}

func TestSamePerson(t *testing.T) {
	for _, tc := range []struct {
		a, b Identity
		same bool
	}{
		{Identity{Subject: "os:alice"}, Identity{Subject: "oidc:idp#9", Email: "alice@acme.example"}, true},
		{Identity{Subject: "os:root", Aliases: []string{"alice@acme.example"}}, alice, true},
		{Identity{Subject: "os:carol"}, alice, false},
		{alice, bob, false},
		{Identity{Subject: "token:ci-bot", Name: "ci-bot"}, Identity{Subject: "token:ci-bot", Name: "ci-bot"}, true},
		{Identity{Subject: "oidc:idp#u-1"}, Identity{Subject: "OIDC:IDP#U-1"}, true},
	} {
		if got := tc.a.SamePerson(tc.b); got != tc.same || tc.b.SamePerson(tc.a) != tc.same {
			t.Errorf("%v vs %v: %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
	if err := CheckDecider(bob, alice, true, []string{"group:ir-leads"}); err != nil {
		t.Error(err)
	}
	if err := CheckDecider(bob, alice, false, []string{"group:secops", "user:carol@acme.example"}); err == nil || !strings.Contains(err.Error(), "not among the step's approvers") {
		t.Errorf("approvers: %v", err)
	}
	if err := CheckDecider(bob, alice, false, []string{"user:bob@acme.example"}); err != nil {
		t.Error(err)
	}
	// A bare name in approvers is a subject or a static token's name, not
	// the local part of any verified email (review 18, bug 9).
	for _, tc := range []struct {
		by   Identity
		want bool
	}{
		{Identity{Subject: "oidc:idp#u-7", Name: "bob@gmail.example", Email: "bob@gmail.example", Verified: true}, false},
		{Identity{Subject: "oidc:idp#u-8", Name: "bob", Verified: true}, false}, // preferred_username is the user's to set
		{Identity{Subject: "token:bob", Name: "bob", Verified: true}, true},
		{Identity{Subject: "token:bobby", Name: "bobby", Verified: true}, false},
	} {
		if err := CheckDecider(tc.by, alice, false, []string{"bob"}); (err == nil) != tc.want {
			t.Errorf("approvers [bob], %s: %v, want listed %v", tc.by.Subject, err, tc.want)
		}
	}
	// An unverified email (the IdP said email_verified=false, so Email is
	// empty) names nobody, even as the name the token chose for itself.
	mallory := Identity{Subject: "oidc:idp#u-6", Name: "bob@acme.example", Aliases: []string{"bob@acme.example"}, Verified: true}
	if err := CheckDecider(mallory, alice, false, []string{"user:bob@acme.example"}); err == nil {
		t.Error("a name that looks like a listed email approves")
	}
	if err := CheckDecider(Identity{Subject: "token:bob", Name: "bob", Verified: true}, alice, false, []string{"user:bob"}); err != nil {
		t.Errorf("a listed name: %v", err)
	}
}

// The two-person rule needs a starter someone verified: an OS user or a
// self-declared --actor could be the approver under another name. A run
// with a step needing a second person is refused before anything runs;
// one whose only such step is skipped starts as before; and a run whose
// starter was recorded unverified (made before this rule) takes nobody's
// approval of such a step.
func TestUnverifiedStarter(t *testing.T) {
	for _, starter := range []Identity{{}, {Subject: "os:alice", Name: "bob", Aliases: []string{"bob"}}} {
		h := newHarness(t, twoPerson)
		x := h.executor()
		x.Starter, x.Approvals, x.Wait = starter, &decisions{m: map[string]*Decision{"cut": {Approved: true, By: bob}}}, WaitDistinct
		res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
		var ue *UnverifiedStarterError
		if !errors.As(err, &ue) || ue.Step != "cut" || res != nil || h.w.applied["cut"] != 0 {
			t.Fatalf("starter %+v: %v %v %v", starter, res, err, h.w.applied)
		}
		if runs, _ := h.j.ListRuns(context.Background()); len(runs) != 0 {
			t.Errorf("starter %+v: a run was stored: %v", starter, runs)
		}
	}

	skipped := strings.Replace(twoPerson, `action = "test.make"`, "action = \"test.make\"\n      when   = false", 1)
	h := newHarness(t, skipped)
	if FirstDistinct(h.plan) != "" {
		t.Fatalf("a skipped step counts: %+v", h.plan.Step("cut"))
	}
	x := h.executor()
	x.Starter = Identity{Subject: "os:alice", Name: "alice"}
	if res, err := x.Start(context.Background(), h.rb, h.plan, h.vars); err != nil || res.Status != RunCompleted {
		t.Fatalf("a run whose distinct step is skipped: %v %v", res, err)
	}

	// bob is verified and not the starter, but nobody verified the starter.
	old := StarterOf(&Run{Actor: "alice"}, nil)
	if err := CheckDecider(bob, old, true, nil); err == nil || !strings.Contains(err.Error(), "without signing in") {
		t.Errorf("an unverified starter's run: %v", err)
	}
	if err := CheckDecider(bob, old, false, nil); err != nil {
		t.Errorf("a step that needs no second person: %v", err)
	}
}
