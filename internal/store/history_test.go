package store

import (
	"context"
	"path/filepath"
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
	fs := []StoredFinding{
		{PolicyID: "VGL-NET-001", AssetID: "a", Severity: "high", Title: "t", Message: "m", Scope: "p", Phase: "preparation"},
		{PolicyID: "VGL-OWN-001", AssetID: "b", Severity: "low", Waived: true, WaiverReason: "because", Runbook: "rb"},
	}
	rec := &ScanRecord{Schedule: "hourly", StartedAt: t0, FinishedAt: t0.Add(2 * time.Second), Sources: []string{"inv/"}, PolicySet: "11 policies",
		Assets: 7, Findings: 1, Waived: 1, BySeverity: map[string]int{"high": 1}}
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
	if err != nil || got.Schedule != "hourly" || got.Assets != 7 || got.BySeverity["high"] != 1 || got.Duration() != 2*time.Second || got.Sources[0] != "inv/" {
		t.Fatalf("scan: %+v %v", got, err)
	}
	if only, _ := h.Scans(ctx, "hourly", 5); len(only) != 1 || only[0].ID != id {
		t.Errorf("by schedule: %+v", only)
	}
	back, err := h.Findings(ctx, id)
	if err != nil || len(back) != 2 || back[1] != fs[1] || back[0] != fs[0] {
		t.Fatalf("findings: %+v %v", back, err)
	}
	if _, err := h.Scan(ctx, 999); err == nil {
		t.Error("missing scan")
	}
	keys := []string{fs[0].Key(), fs[1].Key()}
	fresh, err := h.Unnotified(ctx, "slack", keys)
	if err != nil || len(fresh) != 2 {
		t.Fatalf("unnotified: %v %v", fresh, err)
	}
	if err := h.MarkNotified(ctx, "slack", fresh[:1]); err != nil {
		t.Fatal(err)
	}
	if err := h.MarkNotified(ctx, "slack", fresh[:1]); err != nil { // twice is fine
		t.Fatal(err)
	}
	if fresh, _ := h.Unnotified(ctx, "slack", keys); len(fresh) != 1 || fresh[0] != keys[1] {
		t.Errorf("after marking: %v", fresh)
	}
	if fresh, _ := h.Unnotified(ctx, "other", keys); len(fresh) != 2 {
		t.Errorf("per notifier: %v", fresh)
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
}
