package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-ir/vigil/internal/testutil"
)

func watchContract(t *testing.T, h History) {
	ctx := context.Background()
	wl, err := WatchLogOf(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WatchLogOf(ctx, h); err != nil { // twice is fine
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if ok, err := wl.Processed(ctx, "w", "e1"); ok || err != nil {
		t.Fatalf("processed before: %v %v", ok, err)
	}
	scan := &ScanRecord{Schedule: "watch/w", StartedAt: t0, FinishedAt: t0, Sources: []string{"event e1"}, BySeverity: map[string]int{"high": 1}, Findings: 1, Assets: 1}
	fs := []StoredFinding{{PolicyID: "VGL-NET-001", AssetID: "sg", Severity: "high"}}
	asset := json.RawMessage(`{"id":"sg","kind":"firewall"}`)
	e1 := &WatchEvent{Watch: "w", ID: "e1", Kind: "config", Name: "AuthorizeSecurityGroupIngress", ReceivedAt: t0, RecordedAt: t0.Add(time.Second)}
	if err := wl.RecordEvent(ctx, e1, scan, fs, []WatchAsset{{ID: "sg", Asset: asset, ReadAt: t0}, {ID: "gone", ReadAt: t0}}); err != nil {
		t.Fatal(err)
	}
	if e1.ScanID == 0 || scan.ID != e1.ScanID {
		t.Fatalf("scan id %d / %d", e1.ScanID, scan.ID)
	}
	// A replay records nothing: neither the event nor a second scan.
	again := &ScanRecord{Schedule: "watch/w", StartedAt: t0, FinishedAt: t0, BySeverity: map[string]int{}}
	if err := wl.RecordEvent(ctx, &WatchEvent{Watch: "w", ID: "e1", Kind: "config", ReceivedAt: t0, RecordedAt: t0}, again, fs, nil); !errors.Is(err, ErrEventRecorded) {
		t.Fatalf("replay: %v", err)
	}
	if scans, _ := h.Scans(ctx, "watch/w", 0); len(scans) != 1 {
		t.Fatalf("replay recorded a scan: %d scans", len(scans))
	}
	if ok, _ := wl.Processed(ctx, "w", "e1"); !ok {
		t.Fatal("not processed after record")
	}
	if ok, _ := wl.Processed(ctx, "other", "e1"); ok {
		t.Fatal("processed for another watch")
	}
	card := json.RawMessage(`{"cards":[]}`)
	if err := wl.RecordEvent(ctx, &WatchEvent{Watch: "w", ID: "e2", Kind: "alert", Name: "gd", ReceivedAt: t0, RecordedAt: t0.Add(2 * time.Second), Payload: card}, nil, nil,
		[]WatchAsset{{ID: "sg", Asset: json.RawMessage(`{"id":"sg","kind":"firewall","name":"new"}`), ReadAt: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	pend, err := wl.Pending(ctx, "w")
	if err != nil || len(pend) != 2 || pend[0].ID != "e1" || pend[0].ScanID != e1.ScanID || pend[1].ID != "e2" || string(pend[1].Payload) != string(card) {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	if err := wl.MarkSent(ctx, "w", []string{"e1"}); err != nil {
		t.Fatal(err)
	}
	if pend, _ := wl.Pending(ctx, "w"); len(pend) != 1 || pend[0].ID != "e2" {
		t.Fatalf("pending after sent: %+v", pend)
	}
	// One block's part of e2, not the last block: marked, e2 still owed;
	// the last block's part clears it, with its marks, in one commit.
	cardID := FindingID{PolicyID: "card", AssetID: "e2"}
	if err := wl.MarkDelivered(ctx, "w", "e2", "first", []FindingID{cardID}, nil, false); err != nil {
		t.Fatal(err)
	}
	if pend, _ := wl.Pending(ctx, "w"); len(pend) != 1 {
		t.Fatalf("pending after a block that is not the last: %+v", pend)
	}
	if err := wl.MarkDelivered(ctx, "w", "e2", "second", []FindingID{cardID}, nil, true); err != nil {
		t.Fatal(err)
	}
	if pend, _ := wl.Pending(ctx, "w"); len(pend) != 0 {
		t.Fatalf("pending after the last block: %+v", pend)
	}
	for _, nb := range []string{"first", "second"} {
		if got, _ := h.Notified(ctx, nb); len(got) != 1 || got[0] != cardID {
			t.Fatalf("%s was told %v", nb, got)
		}
	}
	as, err := wl.Assets(ctx, "w")
	if err != nil || len(as) != 2 || as[0].ID != "gone" || as[0].Asset != nil || as[1].ID != "sg" || !as[1].ReadAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("assets: %+v %v", as, err)
	}
	// An older read of sg committed after the newer one (two events on one
	// asset, handled side by side) leaves the newer read; a newer one
	// replaces it.
	older := json.RawMessage(`{"id":"sg","kind":"firewall","name":"older"}`)
	if err := wl.RecordEvent(ctx, &WatchEvent{Watch: "w", ID: "e3", Kind: "alert", ReceivedAt: t0, RecordedAt: t0.Add(3 * time.Second)}, nil, nil,
		[]WatchAsset{{ID: "sg", Asset: older, ReadAt: t0.Add(30 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if as, _ := wl.Assets(ctx, "w"); len(as) != 2 || string(as[1].Asset) != `{"id":"sg","kind":"firewall","name":"new"}` || !as[1].ReadAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("an older read replaced a newer one: %+v", as)
	}
	newer := json.RawMessage(`{"id":"sg","kind":"firewall","name":"newer"}`)
	if err := wl.RecordEvent(ctx, &WatchEvent{Watch: "w", ID: "e4", Kind: "alert", ReceivedAt: t0, RecordedAt: t0.Add(4 * time.Second)}, nil, nil,
		[]WatchAsset{{ID: "sg", Asset: newer, ReadAt: t0.Add(time.Minute + time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	if as, _ := wl.Assets(ctx, "w"); len(as) != 2 || string(as[1].Asset) != string(newer) {
		t.Fatalf("a newer read was not kept: %+v", as)
	}
	for i := 1; i <= 3; i++ {
		if n, err := wl.Failed(ctx, "w", "m1", "boom"); n != i || err != nil {
			t.Fatalf("failed #%d: %d %v", i, n, err)
		}
	}
	if err := wl.Forget(ctx, "w", "m1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := wl.Failed(ctx, "w", "m1", "boom"); n != 1 {
		t.Fatalf("after forget: %d", n)
	}
}

func TestSQLiteWatchLog(t *testing.T) {
	h, err := OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	watchContract(t, h)
}

func TestPostgresWatchLog(t *testing.T) {
	h, err := OpenHistory(context.Background(), testutil.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	watchContract(t, h)
}

// A batch records its events in one transaction; a duplicate among them
// does not stop the others.
func TestRecordEventsBatch(t *testing.T) {
	h, err := OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	wl, _ := WatchLogOf(ctx, h)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ev := func(id string) *EventResult {
		return &EventResult{Event: &WatchEvent{Watch: "w", ID: id, Kind: "config", ReceivedAt: t0, RecordedAt: t0},
			Scan: &ScanRecord{Schedule: "watch/w", StartedAt: t0, FinishedAt: t0, BySeverity: map[string]int{}}, Findings: []StoredFinding{{PolicyID: "P", AssetID: id}}}
	}
	if errs := wl.RecordEvents(ctx, []*EventResult{ev("a")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	batch := []*EventResult{ev("b"), ev("a"), ev("c")}
	errs := wl.RecordEvents(ctx, batch)
	if errs[0] != nil || !errors.Is(errs[1], ErrEventRecorded) || errs[2] != nil {
		t.Fatalf("errors: %v", errs)
	}
	if batch[0].Event.ScanID == 0 || batch[2].Event.ScanID == 0 || batch[1].Event.ScanID != 0 {
		t.Errorf("scan ids: %d %d %d", batch[0].Event.ScanID, batch[1].Event.ScanID, batch[2].Event.ScanID)
	}
	if scans, _ := h.Scans(ctx, "watch/w", 0); len(scans) != 3 {
		t.Errorf("%d scans, want 3 (a once, b, c)", len(scans))
	}
	if fs, _ := h.Findings(ctx, batch[2].Event.ScanID); len(fs) != 1 || fs[0].AssetID != "c" {
		t.Errorf("findings of c: %+v", fs)
	}
}

// Which store failures are the database's state (busy, out of reach) and
// not what was written: `vigil watch` retries those without counting them.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"PostgreSQL serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"PostgreSQL admin shutdown", fmt.Errorf("record: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"PostgreSQL connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"PostgreSQL unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"PostgreSQL syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"a full disk", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"a plain error", errors.New("no such table: watch_events"), false},
		{"nil", nil, false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	// SQLite busy: another connection holds the write lock (a second
	// connection that does not wait for it sees the error vigil's does
	// after its busy timeout).
	dir := t.TempDir()
	h, err := OpenHistory(context.Background(), filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := WatchLogOf(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	holder, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "h.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	impatient, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "h.db")+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	_, err = impatient.Exec(`INSERT INTO watch_failures (watch, message_id, failures, reason, updated_at) VALUES ('w', 'm', 1, 'x', 'now')`)
	if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || !Transient(fmt.Errorf("record: %w", err)) {
		t.Errorf("a locked database: %v (transient %v)", err, Transient(err))
	}
}
