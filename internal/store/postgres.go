package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Postgres keeps runs, journals and leases in a PostgreSQL database shared
// by every machine that runs vigil: leases use the server's clock and row
// locks, so two machines cannot both own a run.
type Postgres struct {
	*runsSQL
	url string
}

// OpenPostgresRuns connects to PostgreSQL and creates the run tables it
// lacks.
func OpenPostgresRuns(ctx context.Context, url string) (*Postgres, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redactURL(url), err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactURL(url), err)
	}
	p := &Postgres{runsSQL: &runsSQL{db: db, pg: true}, url: url}
	if err := p.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare %s: %w", redactURL(url), err)
	}
	return p, nil
}

// schemaCurrent asks the catalog, taking no lock on the tables, whether
// the run tables are as this version needs them. DDL (even IF NOT EXISTS)
// locks a table exclusively, so it must not run on every open while other
// processes write.
const schemaCurrent = `SELECT
	EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'journal' AND column_name = 'sig') AND
	EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'runs' AND column_name = 'plan_sha256') AND
	EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'run_leases') AND
	EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'run_approvals' AND column_name = 'attestation') AND
	EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'runs_plan_sha256')`

// migrate creates or completes the run tables when they are not current;
// an advisory lock keeps two processes starting together from racing.
func (p *Postgres) migrate(ctx context.Context) error {
	var current bool
	if err := p.db.QueryRowContext(ctx, schemaCurrent).Scan(&current); err != nil {
		return err
	}
	if current {
		return nil
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319002)`); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, schemaCurrent).Scan(&current); err != nil || current {
		return err
	}
	for _, stmt := range postgresRunsSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Path implements RunStore: a server has no file.
func (p *Postgres) Path() string { return "" }

// Name says where the state is, without the password.
func (p *Postgres) Name() string { return redactURL(p.url) }

// Close closes the connections.
func (p *Postgres) Close() error { return p.db.Close() }
