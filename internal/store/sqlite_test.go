package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
)

func open(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "vigil.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// A state file made before leases and signatures is brought up to date
// when opened, keeping its runs.
func TestOldStateGainsLeasesAndSignatures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range allMigrations() {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, len(allMigrations())))
	db.Exec(`INSERT INTO runs VALUES ('run-old', 'rb', 'f', 'h', 'sim', 'ann', 'completed', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '{}', '')`)
	db.Close()
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetRun(context.Background(), "run-old"); err != nil {
		t.Errorf("the old run: %v", err)
	}
	if _, err := s.AcquireLease(context.Background(), "run-old", runbook.Holder{Name: "ann"}, time.Minute); err != nil {
		t.Errorf("lease on an upgraded state: %v", err)
	}
	if es, err := s.Entries(context.Background(), "run-old"); err != nil || len(es) != 0 {
		t.Errorf("entries with the new column: %v %v", es, err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/tmp/xdg")
	if p := DefaultPath(); p != "/tmp/xdg/vigil/vigil.db" {
		t.Errorf("DefaultPath = %s", p)
	}
}

// Several processes may open a state file that does not exist yet (an apply
// and a status started together): each must get a migrated schema, not an
// error from racing to create the same tables.
func TestConcurrentOpenOfNewState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := OpenSQLite(path)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			_, err = st.ListRuns(context.Background())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	st, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v int
	st.DB().QueryRow(`PRAGMA user_version`).Scan(&v)
	if v != len(allMigrations()) {
		t.Errorf("schema version %d, want %d", v, len(allMigrations()))
	}
}
