package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// What a team's server needs of the store, on SQLite and on one real
// PostgreSQL server shared by the subtests: decisions on steps, ticks
// recorded once, the lock replicas share, shards assembled into one scan,
// the audit log.
func TestTeamStore(t *testing.T) {
	ctx := context.Background()
	sqlite := filepath.Join(t.TempDir(), "team.db")
	pg := testutil.Postgres(t)
	for _, dsn := range []string{sqlite, pg} {
		name := "sqlite"
		if IsPostgres(dsn) {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			runs, err := OpenRuns(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer runs.Close()
			h, err := OpenHistory(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			t.Run("decisions", func(t *testing.T) { testDecisions(t, runs) })
			t.Run("ticks", func(t *testing.T) { testTicks(t, h, dsn) })
			t.Run("shards", func(t *testing.T) { testShards(t, h) })
			t.Run("audit", func(t *testing.T) {
				al, err := AuditLogOf(ctx, h)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range []string{"sign-in", "step.approve"} {
					if err := al.Audit(ctx, &AuditEntry{Subject: "token:bot", Name: "bot", Action: a, Outcome: "ok"}); err != nil {
						t.Fatal(err)
					}
				}
				es, err := al.AuditEntries(ctx, 10)
				if err != nil || len(es) != 2 || es[0].Action != "step.approve" || es[1].Action != "sign-in" || es[0].At.IsZero() {
					t.Fatalf("%v %+v", err, es)
				}
			})
		})
	}
}

func testDecisions(t *testing.T, runs RunStore) {
	ctx := context.Background()
	run := &runbook.Run{ID: "run-d1", Runbook: "rb", File: "rb.hcl", Hash: "h", Actor: "alice", Status: runbook.RunAwaitingApproval,
		CreatedAt: time.Now(), UpdatedAt: time.Now(), Plan: []byte(`{"p":1}`)}
	first := &runbook.Entry{RunID: run.ID, Seq: 1, Kind: runbook.EntryRunStarted, At: time.Now()}
	if err := runs.CreateRun(ctx, run, &runbook.Lease{Holder: runbook.Holder{Name: "x"}, TTL: time.Minute}, first); err != nil {
		t.Fatal(err)
	}
	ap := runs.(Approvals)
	if d, err := ap.Decision(ctx, run.ID, "delete", "plan-1"); err != nil || d != nil {
		t.Fatalf("before: %v %v", d, err)
	}
	bob := runbook.Identity{Subject: "oidc:idp#bob", Email: "bob@acme.example", Verified: true}
	if err := ap.RecordDecision(ctx, &StepDecision{RunID: run.ID, Address: "delete", PlanHash: "plan-1", Decision: runbook.Decision{Approved: true, By: bob, Comment: "ok"}}); err != nil {
		t.Fatal(err)
	}
	var decided *DecidedError
	err := ap.RecordDecision(ctx, &StepDecision{RunID: run.ID, Address: "delete", PlanHash: "plan-1", Decision: runbook.Decision{Approved: false, By: bob}})
	if !errors.As(err, &decided) || !decided.Decision.Approved {
		t.Fatalf("second decision: %v", err)
	}
	// Another plan's decision is another decision.
	if d, _ := ap.Decision(ctx, run.ID, "delete", "plan-2"); d != nil {
		t.Errorf("a decision under another plan hash: %+v", d)
	}
	d, err := ap.Decision(ctx, run.ID, "delete", "plan-1")
	if err != nil || d == nil || !d.Approved || d.By.Email != "bob@acme.example" || !d.By.Verified || d.Comment != "ok" {
		t.Fatalf("%+v %v", d, err)
	}
	got, err := DecisionSource{Store: ap}.Decision(ctx, run.ID, &runbook.ApprovalRequest{Address: "delete", PlanHash: "plan-1"})
	if err != nil || got == nil || got.By.Subject != bob.Subject {
		t.Fatalf("decision source: %+v %v", got, err)
	}
	if got, err := (DecisionSource{Store: ap}).Decision(ctx, run.ID, &runbook.ApprovalRequest{Address: "isolate", PlanHash: "plan-1"}); got != nil || err != nil {
		t.Errorf("no decision: %+v %v", got, err)
	}
	if d.Attestation != nil {
		t.Errorf("an unsigned decision reads back signed: %+v", d.Attestation)
	}
	// serve's signature is kept exactly as given: the statement's text is
	// what it signed.
	att := &runbook.Attestation{Statement: `{"run":"run-d1","address":"isolate"}`, Key: "SHA256:0123456789abcdef", Sig: "c2ln"}
	if err := ap.RecordDecision(ctx, &StepDecision{RunID: run.ID, Address: "isolate", PlanHash: "plan-1", Decision: runbook.Decision{Approved: true, By: bob, Attestation: att}}); err != nil {
		t.Fatal(err)
	}
	got, err = DecisionSource{Store: ap}.Decision(ctx, run.ID, &runbook.ApprovalRequest{Address: "isolate", PlanHash: "plan-1"})
	if err != nil || got == nil || got.Attestation == nil || *got.Attestation != *att {
		t.Fatalf("signed decision: %+v %v", got, err)
	}
	sd, err := StoredDecisions(ctx, runs, run.ID)
	if err != nil || len(sd) != 2 || sd[1].Address != "isolate" || sd[1].Attestation == nil || sd[0].Attestation != nil || sd[0].PlanHash != "plan-1" {
		t.Fatalf("stored decisions: %+v %v", sd, err)
	}
}

func testTicks(t *testing.T, h History, dsn string) {
	ctx := context.Background()
	s, err := SchedulingOf(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC)
	rec := &ScanRecord{Schedule: "hourly", StartedAt: tick, FinishedAt: tick.Add(time.Second), BySeverity: map[string]int{}}
	fs := []StoredFinding{{PolicyID: "VGL-NET-001", AssetID: "a", Severity: "high", Message: "m"}}
	if _, err := s.RecordTick(ctx, rec, fs, tick, "replica-1"); err != nil {
		t.Fatal(err)
	}
	again := *rec
	if _, err := s.RecordTick(ctx, &again, fs, tick, "replica-2"); !errors.Is(err, ErrTickRecorded) {
		t.Fatalf("the same tick twice: %v", err)
	}
	scans, _ := h.Scans(ctx, "hourly", 0)
	ticks, _ := s.Ticks(ctx, "hourly")
	if len(scans) != 1 || len(ticks) != 1 || ticks[0].Holder != "replica-1" || ticks[0].ScanID != scans[0].ID || !ticks[0].Tick.Equal(tick) {
		t.Fatalf("scans %d, ticks %+v", len(scans), ticks)
	}
	if ok, _ := s.TickRecorded(ctx, "hourly", tick); !ok {
		t.Error("TickRecorded")
	}
	// The lock: a second holder (another connection pool, as another
	// replica would have) waits until the first unlocks.
	h2, err := OpenHistory(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	s2, _ := SchedulingOf(ctx, h2)
	unlock, err := s.Lock(ctx, "schedule:hourly")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s2.Lock(short, "schedule:hourly"); err == nil {
		t.Fatal("two holders of one lock")
	}
	got := make(chan error, 1)
	go func() {
		u, err := s2.Lock(ctx, "schedule:hourly")
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting holder did not get the lock once it was given back")
	}
}

func testShards(t *testing.T, h History) {
	ctx := context.Background()
	sh, err := ShardsOf(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	shard := func(i int, fs ...StoredFinding) *ScanRecord {
		return &ScanRecord{Schedule: "nightly", StartedAt: t0.Add(time.Duration(i) * time.Second), FinishedAt: t0.Add(time.Duration(10+i) * time.Second),
			Sources: []string{"gcp:organizations/1"}, PolicySet: "35 policies, abc", Assets: 10 * (i + 1)}
	}
	f := func(asset, sev string, waived bool) StoredFinding {
		return StoredFinding{PolicyID: "VGL-X", AssetID: asset, Severity: sev, Message: "m " + asset, Waived: waived}
	}
	in := "files inventory.ndjson"
	rep, err := sh.RecordShard(ctx, "job-1", 0, 3, in, shard(0), []StoredFinding{f("a", "high", false)})
	if err != nil || rep.Reported != 1 || rep.Scan != nil {
		t.Fatalf("%+v %v", rep, err)
	}
	// A retried pod reports shard 0 again: its result replaces the first.
	if rep, err = sh.RecordShard(ctx, "job-1", 0, 3, in, shard(0), []StoredFinding{f("a", "critical", false)}); err != nil || rep.Reported != 1 {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if _, err := sh.RecordShard(ctx, "job-1", 1, 4, in, shard(1), nil); err == nil {
		t.Error("a shard that says another N")
	}
	// A shard that read other files is refused, and its result is not kept.
	if _, err := sh.RecordShard(ctx, "job-1", 2, 3, in+", extra.json", shard(2), []StoredFinding{f("x", "low", false)}); err == nil ||
		!strings.Contains(err.Error(), `scan group "job-1" reads files inventory.ndjson, this shard files inventory.ndjson, extra.json: every shard must read the same inputs`) {
		t.Errorf("a shard that read other inputs: %v", err)
	}
	if rep, err = sh.RecordShard(ctx, "job-1", 2, 3, in, shard(2), []StoredFinding{f("c", "low", false), f("d", "low", true)}); err != nil || rep.Reported != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	if scans, _ := h.Scans(ctx, "nightly", 0); len(scans) != 0 {
		t.Fatalf("an incomplete sharded scan is in the history: %+v", scans)
	}
	rep, err = sh.RecordShard(ctx, "job-1", 1, 3, in, shard(1), []StoredFinding{f("b", "high", false)})
	if err != nil || !rep.Completed || rep.Scan == nil {
		t.Fatalf("last shard: %+v %v", rep, err)
	}
	scans, _ := h.Scans(ctx, "nightly", 0)
	if len(scans) != 1 {
		t.Fatalf("%d scans", len(scans))
	}
	s := scans[0]
	// Worked out by hand: assets 10+20+30; open a (critical, the retry),
	// b (high), c (low); d waived; from the first start to the last end.
	if s.Assets != 60 || s.Findings != 3 || s.Waived != 1 || s.BySeverity["critical"] != 1 || s.BySeverity["high"] != 1 || s.BySeverity["low"] != 1 ||
		!s.StartedAt.Equal(t0) || !s.FinishedAt.Equal(t0.Add(12*time.Second)) || s.PolicySet != "35 policies, abc" {
		t.Errorf("assembled scan: %+v", s)
	}
	fs, _ := h.Findings(ctx, s.ID)
	if len(fs) != 4 {
		t.Errorf("findings: %+v", fs)
	}
	// A late retry of a shard changes nothing and does not complete it again.
	rep, err = sh.RecordShard(ctx, "job-1", 2, 3, in, shard(2), nil)
	if err != nil || rep.Completed || rep.Scan == nil || rep.Scan.ID != s.ID {
		t.Fatalf("late retry: %+v %v", rep, err)
	}
	if scans, _ := h.Scans(ctx, "nightly", 0); len(scans) != 1 {
		t.Errorf("%d scans after a late retry", len(scans))
	}
}

// A store whose run_approvals was made before decisions were signed gains
// the attestation column when opened, keeping its decisions (unsigned).
func TestDecisionsGainAttestations(t *testing.T) {
	ctx := context.Background()
	sqlite := filepath.Join(t.TempDir(), "old.db")
	pg := testutil.Postgres(t)
	for _, dsn := range []string{sqlite, pg} {
		runs, err := OpenRuns(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		run := &runbook.Run{ID: "run-old", Runbook: "rb", File: "rb.hcl", Hash: "h", Actor: "alice", Status: runbook.RunAwaitingApproval,
			CreatedAt: time.Now(), UpdatedAt: time.Now(), Plan: []byte(`{"p":1}`)}
		if err := runs.CreateRun(ctx, run, &runbook.Lease{Holder: runbook.Holder{Name: "x"}, TTL: time.Minute}, &runbook.Entry{RunID: run.ID, Seq: 1, Kind: runbook.EntryRunStarted, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		runs.Close()
		// Back to the table as it was: no attestation column, one decision.
		driver, src := "sqlite", "file:"+sqlite
		if IsPostgres(dsn) {
			driver, src = "pgx", dsn
		}
		db, err := sql.Open(driver, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`ALTER TABLE run_approvals DROP COLUMN attestation`,
			`INSERT INTO run_approvals (run_id, address, plan_sha256, id, approved, identity, comment, decided_at) VALUES ('run-old', 'cut', 'plan-1', 'd-0', 1, '{"subject":"token:bob"}', '', '2026-01-01T00:00:00Z')`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %s: %v", dsn, q, err)
			}
		}
		db.Close()
		runs, err = OpenRuns(ctx, dsn)
		if err != nil {
			t.Fatalf("reopen %s: %v", dsn, err)
		}
		ap := runs.(Approvals)
		d, err := ap.Decision(ctx, "run-old", "cut", "plan-1")
		if err != nil || d == nil || d.By.Subject != "token:bob" || d.Attestation != nil {
			t.Errorf("%s: the old decision: %+v %v", dsn, d, err)
		}
		att := &runbook.Attestation{Statement: "{}", Key: "k", Sig: "s"}
		if err := ap.RecordDecision(ctx, &StepDecision{RunID: "run-old", Address: "kill", PlanHash: "plan-1", Decision: runbook.Decision{Approved: true, Attestation: att}}); err != nil {
			t.Errorf("%s: a signed decision on the upgraded store: %v", dsn, err)
		}
		runs.Close()
	}
}
