package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// Several `vigil serve` replicas share one PostgreSQL: each tick of a
// schedule is recorded once, the tick's row being written in the scan's
// own transaction, and while one replica scans a schedule the others wait
// on its advisory lock (released by the server when that replica's
// connection ends, killed or not) and then find the tick recorded, or
// scan it themselves.
const ticksSchema = `CREATE TABLE IF NOT EXISTS schedule_ticks (
	schedule    TEXT NOT NULL,
	tick        TEXT NOT NULL,
	scan_id     BIGINT NOT NULL,
	holder      TEXT NOT NULL,
	recorded_at TEXT NOT NULL,
	PRIMARY KEY (schedule, tick)
)`

// ErrTickRecorded says another replica recorded the tick.
var ErrTickRecorded = errors.New("the tick was recorded already")

// Tick is one recorded tick of a schedule.
type Tick struct {
	Schedule string    `json:"schedule"`
	Tick     time.Time `json:"tick"`
	ScanID   int64     `json:"scan_id"`
	Holder   string    `json:"holder"`
}

// Scheduling is what replicas share to run each tick once.
type Scheduling interface {
	// RecordTick stores the scan of one tick of its schedule and the tick
	// in one transaction; ErrTickRecorded (and nothing stored) when the
	// tick was recorded before.
	RecordTick(ctx context.Context, rec *ScanRecord, findings []StoredFinding, tick time.Time, holder string) (int64, error)
	TickRecorded(ctx context.Context, schedule string, tick time.Time) (bool, error)
	Ticks(ctx context.Context, schedule string) ([]Tick, error)
	// Lock takes a named lock shared by every process on the database,
	// waiting until ctx ends; unlock gives it back. A process that dies
	// holding it releases it.
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

// SchedulingOf returns the scheduling tables kept next to a history.
func SchedulingOf(ctx context.Context, h History) (Scheduling, error) {
	sh, ok := h.(*sqlHistory)
	if !ok {
		return nil, fmt.Errorf("open schedule ticks: %T keeps none", h)
	}
	if err := sh.ensure(ctx, "schedule_ticks", ticksSchema); err != nil {
		return nil, fmt.Errorf("open schedule ticks: %w", err)
	}
	return sh, nil
}

func tickText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (h *sqlHistory) RecordTick(ctx context.Context, rec *ScanRecord, findings []StoredFinding, tick time.Time, holder string) (int64, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// The tick first: a second replica's insert waits on the first's row
	// and then finds it, before writing any finding.
	res, err := tx.ExecContext(ctx, h.q(`INSERT INTO schedule_ticks (schedule, tick, scan_id, holder, recorded_at) VALUES (?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`),
		rec.Schedule, tickText(tick), holder, time.Now().UTC().Format(ts))
	if err != nil {
		return 0, fmt.Errorf("record tick: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, ErrTickRecorded
	}
	id, err := h.insertScan(ctx, tx, rec, findings)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, h.q(`UPDATE schedule_ticks SET scan_id = ? WHERE schedule = ? AND tick = ?`), id, rec.Schedule, tickText(tick)); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	rec.ID = id
	return id, nil
}

func (h *sqlHistory) TickRecorded(ctx context.Context, schedule string, tick time.Time) (bool, error) {
	var n int
	err := h.db.QueryRowContext(ctx, h.q(`SELECT COUNT(*) FROM schedule_ticks WHERE schedule = ? AND tick = ?`), schedule, tickText(tick)).Scan(&n)
	return n > 0, err
}

func (h *sqlHistory) Ticks(ctx context.Context, schedule string) ([]Tick, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT schedule, tick, scan_id, holder FROM schedule_ticks WHERE schedule = ? ORDER BY tick`), schedule)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tick
	for rows.Next() {
		var t Tick
		var at string
		if err := rows.Scan(&t.Schedule, &at, &t.ScanID, &t.Holder); err != nil {
			return nil, err
		}
		t.Tick, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// lockKey is the advisory lock's 64-bit key for a name.
func lockKey(name string) int64 {
	f := fnv.New64a()
	f.Write([]byte("vigil:" + name))
	return int64(f.Sum64())
}

var localLocks sync.Map // name -> chan struct{} (SQLite: one machine)

func (h *sqlHistory) Lock(ctx context.Context, name string) (func(), error) {
	if !h.pg {
		v, _ := localLocks.LoadOrStore(h.path+"\x00"+name, make(chan struct{}, 1))
		ch := v.(chan struct{})
		select {
		case ch <- struct{}{}:
			return func() { <-ch }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// A session lock on a connection of its own: held until unlocked, or
	// until the connection ends (the process died).
	conn, err := h.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	key := lockKey(name)
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var ok bool
			if err := conn.QueryRowContext(uctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&ok); err != nil || !ok {
				// A connection whose lock state is unknown never goes back
				// to the pool, where it would keep the lock.
				discard(conn)
				return
			}
			conn.Close()
		})
	}, nil
}

func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}
