package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// Both stores pass the same contract test.
func historyContract(t *testing.T, h History) {
	ctx := context.Background()
	if s, err := h.Scans(ctx, "", 0); err != nil || len(s) != 0 {
		t.Fatalf("empty history: %v %v", s, err)
	}
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	// Two findings of one constraint on one asset (a policy library
	// constraint finds both), and one of another policy.
	fs := []StoredFinding{
		{PolicyID: "GCP-CV-FW", AssetID: "a", Severity: "high", Title: "t", Message: "allows 22 from 0.0.0.0/0", Scope: "p", Phase: "preparation"},
		{PolicyID: "GCP-CV-FW", AssetID: "a", Severity: "high", Title: "t", Message: "allows 3389 from 0.0.0.0/0", Scope: "p", Phase: "preparation",
			Controls: []string{}}, // names no control: kept apart from not known (nil)
		{PolicyID: "VGL-OWN-001", AssetID: "b", Severity: "low", Waived: true, WaiverReason: "because", Runbook: "rb",
			Controls: []string{"cis-gcp-3.0:2.4", "cis-gcp-3.0:2.9"}, Instance: "//compute.googleapis.com/projects/p/zones/z/instances/web-1"},
	}
	rec := &ScanRecord{Schedule: "hourly", StartedAt: t0, FinishedAt: t0.Add(2 * time.Second), Sources: []string{"inv/"}, PolicySet: "11 policies",
		Inputs: []string{"aws accounts 111111111111 regions eu-west-1", "inv/a.ndjson"}, Assets: 7, Findings: 2, Waived: 1, BySeverity: map[string]int{"high": 2}}
	id, err := h.RecordScan(ctx, rec, fs)
	if err != nil || id == 0 || rec.ID != id {
		t.Fatalf("record: %d %v", id, err)
	}
	id2, err := h.RecordScan(ctx, &ScanRecord{Schedule: "daily", StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour), BySeverity: map[string]int{}}, nil)
	if err != nil || id2 <= id {
		t.Fatalf("second: %d %v", id2, err)
	}
	scans, err := h.Scans(ctx, "", 0)
	if err != nil || len(scans) != 2 || scans[0].ID != id2 {
		t.Fatalf("scans newest first: %+v %v", scans, err)
	}
	got, err := h.Scan(ctx, id)
	if err != nil || got.Schedule != "hourly" || got.Assets != 7 || got.Findings != 2 || got.BySeverity["high"] != 2 || got.Duration() != 2*time.Second || got.Sources[0] != "inv/" {
		t.Fatalf("scan: %+v %v", got, err)
	}
	if !reflect.DeepEqual(got.Inputs, rec.Inputs) {
		t.Errorf("inputs %q, want %q", got.Inputs, rec.Inputs)
	}
	// a scan whose inputs were not known (an in-memory inventory) keeps nil
	if second, _ := h.Scan(ctx, id2); second == nil || second.Inputs != nil {
		t.Errorf("inputs not known came back as %#v", second)
	}
	if only, _ := h.Scans(ctx, "hourly", 5); len(only) != 1 || only[0].ID != id {
		t.Errorf("by schedule: %+v", only)
	}
	// every finding comes back, in policy, asset and message order
	back, err := h.Findings(ctx, id)
	if err != nil || len(back) != 3 || !reflect.DeepEqual(back, fs) {
		t.Fatalf("findings: %+v %v", back, err)
	}
	if back[0].Key() == back[1].Key() {
		t.Errorf("two findings, one key: %s", back[0].Key())
	}
	// the same finding twice is refused, and nothing of that scan is kept
	if _, err := h.RecordScan(ctx, &ScanRecord{StartedAt: t0, FinishedAt: t0, BySeverity: map[string]int{}}, []StoredFinding{fs[0], fs[0]}); err == nil {
		t.Error("a finding given twice was accepted")
	}
	if scans, _ := h.Scans(ctx, "", 0); len(scans) != 2 {
		t.Errorf("a refused scan was recorded: %d scans", len(scans))
	}
	if _, err := h.Scan(ctx, 999); err == nil {
		t.Error("missing scan")
	}
	if sent, err := h.Notified(ctx, "slack"); err != nil || len(sent) != 0 {
		t.Fatalf("notified before any: %v %v", sent, err)
	}
	ids := []FindingID{fs[0].ID(), fs[1].ID()}
	if err := h.MarkNotified(ctx, "slack", ids, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.MarkNotified(ctx, "slack", ids[:1], nil); err != nil { // twice is fine
		t.Fatal(err)
	}
	sent, err := h.Notified(ctx, "slack")
	if err != nil || len(sent) != 2 || !slices.Contains(sent, ids[0]) || !slices.Contains(sent, ids[1]) {
		t.Errorf("after marking both: %v %v", sent, err)
	}
	// a finding whose message changed takes the place of its old mark
	changed := FindingID{PolicyID: "GCP-CV-FW", AssetID: "a", Fingerprint: "0123"}
	if err := h.MarkNotified(ctx, "slack", []FindingID{changed}, ids[1:]); err != nil {
		t.Fatal(err)
	}
	if sent, _ := h.Notified(ctx, "slack"); len(sent) != 2 || !slices.Contains(sent, changed) || slices.Contains(sent, ids[1]) {
		t.Errorf("after replacing: %v", sent)
	}
	if sent, _ := h.Notified(ctx, "other"); len(sent) != 0 {
		t.Errorf("per notifier: %v", sent)
	}
}

func TestSQLiteHistory(t *testing.T) {
	h, err := OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	historyContract(t, h)
}

// PostgreSQL, a real server started from the machine's binaries.
func TestPostgresHistory(t *testing.T) {
	url := testutil.Postgres(t)
	h, err := OpenHistory(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	historyContract(t, h)
	h.Close()
	// Reopening finds the schema in place.
	h, err = OpenHistory(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if s, err := h.Scans(context.Background(), "", 0); err != nil || len(s) != 2 {
		t.Errorf("reopened: %v %v", s, err)
	}
	if _, err := OpenHistory(context.Background(), "postgres://nobody:secret@127.0.0.1:1/x?connect_timeout=2"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a bad URL fails without echoing the password: %v", err)
	}

	// A version 1 history in a database of its own is upgraded.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE v1`); err != nil {
		t.Fatal(err)
	}
	v1URL := strings.Replace(url, "/postgres?", "/v1?", 1)
	old, err := sql.Open("pgx", v1URL)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Exec(postgresSchema); err != nil {
		t.Fatal(err)
	}
	writeV1(t, old, true)
	upgradeContract(t, func() (History, error) { return OpenHistory(context.Background(), v1URL) })
}

// writeV1 fills a version 1 history: two scans, and what a notifier sent,
// keyed "POLICY ASSET".
func writeV1(t *testing.T, db *sql.DB, pg bool) {
	t.Helper()
	h := &sqlHistory{db: db, pg: pg}
	for _, stmt := range []string{
		`INSERT INTO scans (schedule, started_at, finished_at, sources, policy_set, assets, findings, waived, by_severity)
			VALUES ('hourly', '2026-11-27T08:00:00Z', '2026-11-27T08:00:01Z', '["inv/"]', '11 policies', 3, 2, 0, '{"high": 2}')`,
		`INSERT INTO scans (schedule, started_at, finished_at, sources, policy_set, assets, findings, waived, by_severity)
			VALUES ('hourly', '2026-11-27T09:00:00Z', '2026-11-27T09:00:01Z', '["inv/"]', '11 policies', 3, 2, 0, '{"high": 2}')`,
		`INSERT INTO scan_findings (scan_id, policy_id, asset_id, severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook)
			VALUES (1, 'GCP-CV-FW', 'a', 'high', 't', 'allows 22 from 0.0.0.0/0', 'firewall', 'gcp', 'p', 'global', 'preparation', 0, '', ''),
			       (1, 'VGL-NET-001', 'module.net.x["a b"]', 'high', 't', 'm', 'firewall', 'gcp', 'p', 'global', 'preparation', 0, '', ''),
			       (2, 'GCP-CV-FW', 'a', 'high', 't', 'allows 22 from 0.0.0.0/0', 'firewall', 'gcp', 'p', 'global', 'preparation', 0, '', ''),
			       (2, 'VGL-NET-001', 'module.net.x["a b"]', 'high', 't', 'm', 'firewall', 'gcp', 'p', 'global', 'preparation', 0, '', '')`,
		`INSERT INTO notified (notifier, finding, sent_at) VALUES ('slack', 'GCP-CV-FW a', '2026-11-27T08:00:02Z'),
			('slack', 'VGL-NET-001 module.net.x["a b"]', '2026-11-27T08:00:02Z')`,
	} {
		if _, err := db.Exec(h.q(stmt)); err != nil {
			t.Fatal(err)
		}
	}
}

// upgradeContract opens a version 1 history (twice: the upgrade is done
// once) and checks that nothing was lost and every finding is kept from
// then on.
func upgradeContract(t *testing.T, open func() (History, error)) {
	ctx := context.Background()
	for range 2 {
		h, err := open()
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	h, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	scans, err := h.Scans(ctx, "hourly", 0)
	if err != nil || len(scans) != 2 || scans[0].Findings != 2 {
		t.Fatalf("scans after the upgrade: %+v %v", scans, err)
	}
	fs, err := h.Findings(ctx, scans[1].ID)
	if err != nil || len(fs) != 2 || fs[0].Message != "allows 22 from 0.0.0.0/0" || fs[1].AssetID != `module.net.x["a b"]` {
		t.Fatalf("findings after the upgrade: %+v %v", fs, err)
	}
	sent, err := h.Notified(ctx, "slack")
	want := []FindingID{{PolicyID: "GCP-CV-FW", AssetID: "a"}, {PolicyID: "VGL-NET-001", AssetID: `module.net.x["a b"]`}}
	if err != nil || !slices.Equal(sent, want) {
		t.Errorf("sent after the upgrade: %v %v, want %v", sent, err, want)
	}
	// a scan recorded before version 5 did not say what it read
	if scans[0].Inputs != nil || scans[1].Inputs != nil {
		t.Errorf("old scans upgraded with inputs: %q %q", scans[0].Inputs, scans[1].Inputs)
	}
	// a row kept from before version 3 had no expired waiver
	if fs[0].WaiverExpired || fs[0].WaiverExpires != "" || fs[0].Instance != "" {
		t.Errorf("an old row upgraded with an expired waiver: %+v", fs[0])
	}
	// now a second finding of the constraint on the asset is kept, and an
	// expired waiver with it
	two := []StoredFinding{fs[0], fs[0], fs[1]}
	two[1].Message = "allows 3389 from 0.0.0.0/0"
	two[2].WaiverExpired, two[2].WaiverExpires, two[2].WaiverReason = true, "2026-10-31", "until the migration; SEC-398"
	id, err := h.RecordScan(ctx, &ScanRecord{Schedule: "hourly", StartedAt: time.Now(), FinishedAt: time.Now(), Findings: 3, BySeverity: map[string]int{"high": 3},
		Inputs: []string{"inv/a.json"}}, two)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := h.Scan(ctx, id); err != nil || !slices.Equal(rec.Inputs, []string{"inv/a.json"}) {
		t.Errorf("inputs after the upgrade: %+v %v", rec, err)
	}
	back, err := h.Findings(ctx, id)
	if err != nil || len(back) != 3 {
		t.Fatalf("after the upgrade, %d of 3 findings kept: %v", len(back), err)
	}
	// ordered by policy, asset, message: the VGL-NET-001 finding is last
	if b := back[2]; !b.WaiverExpired || b.WaiverExpires != "2026-10-31" || b.WaiverReason != "until the migration; SEC-398" || back[0].WaiverExpired {
		t.Errorf("the expired waiver after the upgrade: %+v", back)
	}
}

func TestSQLiteHistoryUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := OpenSQLite(path) // the state file, with version 1 of the history
	if err != nil {
		t.Fatal(err)
	}
	writeV1(t, s.DB(), false)
	s.Close()
	upgradeContract(t, func() (History, error) { return OpenHistory(context.Background(), path) })
}
