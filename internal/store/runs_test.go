package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/engine/runbook/runbooktest"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// The run store contract, on SQLite: each handle is its own connection to
// the file, as another process would have.
func TestSQLiteRunStoreContract(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "vigil.db")
	runbooktest.StoreContract(t, func(t *testing.T) runbook.Store {
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// The same contract on a real PostgreSQL server.
func TestPostgresRunStoreContract(t *testing.T) {
	url := testutil.Postgres(t)
	runbooktest.StoreContract(t, func(t *testing.T) runbook.Store {
		s, err := OpenRuns(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
