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

// migrate creates the run tables once; an advisory lock keeps two
// processes starting together from racing.
func (p *Postgres) migrate(ctx context.Context) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319002)`); err != nil {
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
