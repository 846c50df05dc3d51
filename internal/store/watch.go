package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// WatchLog keeps what `vigil watch` needs to handle each cloud event once:
// which events it recorded (by the provider's event id), what it still has
// to tell the webhooks (an outbox), the assets it read again since the
// last recorded inventory, and how often a message failed.
type WatchLog interface {
	// Processed reports whether an event was recorded.
	Processed(ctx context.Context, watch, eventID string) (bool, error)
	// RecordEvent stores an event's result in one transaction: the event
	// (ErrEventRecorded if it already was), its scan and findings when it
	// has one (scan may be nil), and the assets it read.
	RecordEvent(ctx context.Context, e *WatchEvent, scan *ScanRecord, findings []StoredFinding, assets []WatchAsset) error
	// RecordEvents records several in one transaction, with an error per
	// event.
	RecordEvents(ctx context.Context, batch []*EventResult) []error
	// Pending lists recorded events whose notifications are not all sent,
	// oldest first.
	Pending(ctx context.Context, watch string) ([]*WatchEvent, error)
	MarkSent(ctx context.Context, watch string, eventIDs []string) error
	// MarkDelivered records, in one transaction (one disk sync), what one
	// notify block accepted for an event: the findings it was sent and
	// those it forgets (as History.MarkNotified), and, when last is true,
	// that the event owes nothing more. The watcher writes it after a
	// webhook's 2xx, which its in-flight log has recorded already: a
	// crash before this commits is marked after the restart, not resent.
	MarkDelivered(ctx context.Context, watch, eventID, notifier string, sent, replaced []FindingID, last bool) error
	// Assets are the assets the watch read, newest read of each.
	Assets(ctx context.Context, watch string) ([]WatchAsset, error)
	// Failed counts a failed attempt at a message and returns how many
	// there were; Forget drops the count.
	Failed(ctx context.Context, watch, messageID, reason string) (int, error)
	Forget(ctx context.Context, watch, messageID string) error
}

// WatchEvent is a recorded event.
type WatchEvent struct {
	Watch      string    `json:"watch"`
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	ReceivedAt time.Time `json:"received_at"`
	RecordedAt time.Time `json:"recorded_at"`
	// ScanID is the event scan of a configuration event (0 for alerts).
	ScanID int64 `json:"scan_id,omitempty"`
	// Payload is what the notifier sends for an alert (the triage cards).
	Payload json.RawMessage `json:"payload,omitempty"`
	Sent    bool            `json:"sent"`
}

// EventResult is an event with what it recorded.
type EventResult struct {
	Event    *WatchEvent
	Scan     *ScanRecord
	Findings []StoredFinding
	Assets   []WatchAsset
}

// WatchAsset is an asset as a watch last read it; a nil Asset means it was
// gone.
type WatchAsset struct {
	ID     string          `json:"id"`
	Asset  json.RawMessage `json:"asset,omitempty"`
	ReadAt time.Time       `json:"read_at"`
}

// ErrEventRecorded is returned when an event was recorded before.
var ErrEventRecorded = errors.New("event already recorded")

// The tables are created when first needed, with the same SQL on SQLite and
// PostgreSQL, outside the numbered migrations.
const watchSchema = `
CREATE TABLE IF NOT EXISTS watch_events (
	watch       TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	kind        TEXT NOT NULL,
	name        TEXT NOT NULL,
	received_at TEXT NOT NULL,
	recorded_at TEXT NOT NULL,
	scan_id     BIGINT NOT NULL DEFAULT 0,
	payload     TEXT NOT NULL DEFAULT '',
	sent        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (watch, event_id)
);
CREATE INDEX IF NOT EXISTS watch_events_pending ON watch_events(watch, sent, recorded_at);
CREATE TABLE IF NOT EXISTS watch_assets (
	watch    TEXT NOT NULL,
	asset_id TEXT NOT NULL,
	asset    TEXT NOT NULL,
	read_at  TEXT NOT NULL,
	PRIMARY KEY (watch, asset_id)
);
CREATE TABLE IF NOT EXISTS watch_failures (
	watch      TEXT NOT NULL,
	message_id TEXT NOT NULL,
	failures   INTEGER NOT NULL,
	reason     TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (watch, message_id)
);`

var watchSchemaMu sync.Mutex

// WatchLogOf returns the watch log kept next to a history (the same SQLite
// file or PostgreSQL database), creating its tables if needed.
func WatchLogOf(ctx context.Context, h History) (WatchLog, error) {
	sh, ok := h.(*sqlHistory)
	if !ok {
		return nil, fmt.Errorf("open watch log: %T keeps no watch log", h)
	}
	watchSchemaMu.Lock()
	defer watchSchemaMu.Unlock()
	if sh.pg {
		// One statement at a time, under the lock two servers share.
		tx, err := sh.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("open watch log: %w", err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319002)`); err != nil {
			return nil, fmt.Errorf("open watch log: %w", err)
		}
		if _, err := tx.ExecContext(ctx, watchSchema); err != nil {
			return nil, fmt.Errorf("open watch log: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("open watch log: %w", err)
		}
	} else if _, err := sh.db.ExecContext(ctx, watchSchema); err != nil {
		return nil, fmt.Errorf("open watch log: %w", err)
	}
	return sh, nil
}

func (h *sqlHistory) Processed(ctx context.Context, watch, eventID string) (bool, error) {
	var n int
	err := h.db.QueryRowContext(ctx, h.q(`SELECT COUNT(*) FROM watch_events WHERE watch = ? AND event_id = ?`), watch, eventID).Scan(&n)
	return n > 0, err
}

func (h *sqlHistory) RecordEvent(ctx context.Context, e *WatchEvent, scan *ScanRecord, findings []StoredFinding, assets []WatchAsset) error {
	return h.RecordEvents(ctx, []*EventResult{{Event: e, Scan: scan, Findings: findings, Assets: assets}})[0]
}

// RecordEvents records several events in one transaction (one disk sync
// for all: a watcher under load commits what its workers finished
// together). It returns an error per event: ErrEventRecorded for one that
// was recorded before (the others are recorded all the same), or the
// transaction's error for all.
func (h *sqlHistory) RecordEvents(ctx context.Context, batch []*EventResult) []error {
	errs := make([]error, len(batch))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	for i, r := range batch {
		e := r.Event
		res, err := tx.ExecContext(ctx, h.q(`INSERT INTO watch_events (watch, event_id, kind, name, received_at, recorded_at, scan_id, payload, sent)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0) ON CONFLICT DO NOTHING`),
			e.Watch, e.ID, e.Kind, e.Name, e.ReceivedAt.UTC().Format(ts), e.RecordedAt.UTC().Format(ts), string(e.Payload))
		if err != nil {
			return fail(fmt.Errorf("record event %s: %w", e.ID, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			errs[i] = ErrEventRecorded
			continue
		}
		if r.Scan != nil {
			id, err := h.insertScan(ctx, tx, r.Scan, r.Findings)
			if err != nil {
				return fail(err)
			}
			if _, err := tx.ExecContext(ctx, h.q(`UPDATE watch_events SET scan_id = ? WHERE watch = ? AND event_id = ?`), id, e.Watch, e.ID); err != nil {
				return fail(err)
			}
			e.ScanID, r.Scan.ID = id, id
		}
		for _, a := range r.Assets {
			if err := h.putWatchAsset(ctx, tx, e.Watch, a); err != nil {
				return fail(fmt.Errorf("record asset %s: %w", a.ID, err))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return errs
}

// putWatchAsset keeps the newest read of an asset: two events on one asset
// are handled side by side (by one watcher, or two on one database), and
// the one that read it first may commit last. The times are compared as
// times (rows written before this check hold RFC 3339 text of varying
// length, which does not sort as text).
func (h *sqlHistory) putWatchAsset(ctx context.Context, tx *sql.Tx, watch string, a WatchAsset) error {
	res, err := tx.ExecContext(ctx, h.q(`INSERT INTO watch_assets (watch, asset_id, asset, read_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (watch, asset_id) DO NOTHING`), watch, a.ID, string(a.Asset), a.ReadAt.UTC().Format(ts))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	// SQLite's transactions are IMMEDIATE (one writer); PostgreSQL's row
	// lock makes another writer of this row wait for the comparison.
	lock := ""
	if h.pg {
		lock = " FOR UPDATE"
	}
	var at string
	if err := tx.QueryRowContext(ctx, h.q(`SELECT read_at FROM watch_assets WHERE watch = ? AND asset_id = ?`+lock), watch, a.ID).Scan(&at); err != nil {
		return err
	}
	if prev, perr := time.Parse(ts, at); perr == nil && !a.ReadAt.After(prev) {
		return nil // a newer read is recorded
	}
	_, err = tx.ExecContext(ctx, h.q(`UPDATE watch_assets SET asset = ?, read_at = ? WHERE watch = ? AND asset_id = ?`),
		string(a.Asset), a.ReadAt.UTC().Format(ts), watch, a.ID)
	return err
}

func (h *sqlHistory) Pending(ctx context.Context, watch string) ([]*WatchEvent, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT event_id, kind, name, received_at, recorded_at, scan_id, payload FROM watch_events
		WHERE watch = ? AND sent = 0 ORDER BY recorded_at, event_id`), watch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*WatchEvent
	for rows.Next() {
		e := &WatchEvent{Watch: watch}
		var recv, rec, payload string
		if err := rows.Scan(&e.ID, &e.Kind, &e.Name, &recv, &rec, &e.ScanID, &payload); err != nil {
			return nil, err
		}
		e.ReceivedAt, _ = time.Parse(ts, recv)
		e.RecordedAt, _ = time.Parse(ts, rec)
		if payload != "" {
			e.Payload = json.RawMessage(payload)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (h *sqlHistory) MarkSent(ctx context.Context, watch string, ids []string) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, h.q(`UPDATE watch_events SET sent = 1 WHERE watch = ? AND event_id = ?`), watch, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (h *sqlHistory) MarkDelivered(ctx context.Context, watch, eventID, notifier string, sent, replaced []FindingID, last bool) error {
	// This commit need not reach the disk before it returns: losing it
	// (to a power cut, not a crash of vigil, whose writes the kernel
	// keeps) only makes the post be sent again, with its Idempotency-Key,
	// never lost. Not waiting for the disk keeps it short, which matters
	// because the watcher makes one per event. SQLite in WAL mode with
	// synchronous=NORMAL, and PostgreSQL's synchronous_commit=off, do
	// exactly that; the next commit that syncs takes it along.
	conn, err := h.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !h.pg {
		if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
			return err
		}
		defer func() {
			if _, err := conn.ExecContext(context.Background(), `PRAGMA synchronous = FULL`); err != nil {
				// Never hand the pool a connection that does not sync.
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if h.pg {
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
	}
	if err := h.markNotified(ctx, tx, notifier, sent, replaced); err != nil {
		return err
	}
	if last {
		if _, err := tx.ExecContext(ctx, h.q(`UPDATE watch_events SET sent = 1 WHERE watch = ? AND event_id = ?`), watch, eventID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (h *sqlHistory) Assets(ctx context.Context, watch string) ([]WatchAsset, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT asset_id, asset, read_at FROM watch_assets WHERE watch = ? ORDER BY asset_id`), watch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WatchAsset
	for rows.Next() {
		var a WatchAsset
		var raw, at string
		if err := rows.Scan(&a.ID, &raw, &at); err != nil {
			return nil, err
		}
		a.ReadAt, _ = time.Parse(ts, at)
		if raw != "" {
			a.Asset = json.RawMessage(raw)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (h *sqlHistory) Failed(ctx context.Context, watch, messageID, reason string) (int, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO watch_failures (watch, message_id, failures, reason, updated_at) VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (watch, message_id) DO UPDATE SET failures = watch_failures.failures + 1, reason = excluded.reason, updated_at = excluded.updated_at`),
		watch, messageID, reason, time.Now().UTC().Format(ts)); err != nil {
		return 0, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, h.q(`SELECT failures FROM watch_failures WHERE watch = ? AND message_id = ?`), watch, messageID).Scan(&n); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

func (h *sqlHistory) Forget(ctx context.Context, watch, messageID string) error {
	_, err := h.db.ExecContext(ctx, h.q(`DELETE FROM watch_failures WHERE watch = ? AND message_id = ?`), watch, messageID)
	return err
}

// Transient reports whether a store error is the database being busy or
// out of reach (locked by another writer, a lost or refused connection, a
// server shutting down, a transaction to retry, a full disk) rather than
// something wrong with what was written. `vigil watch` retries an event
// that failed so without counting it against the event.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Classes 08 (connection exception), 40 (transaction rollback:
		// serialization failure, deadlock), 53 (insufficient resources),
		// 57 (operator intervention: shutdown, cancel), 58 (system error).
		switch pe.Code[:min(2, len(pe.Code))] {
		case "08", "40", "53", "57", "58":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, context.DeadlineExceeded)
}
