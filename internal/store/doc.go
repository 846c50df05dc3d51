// Package store keeps vigil's state: runs with their journals and leases
// (runbook.Store) and scan history, in one SQLite file through the pure-Go
// driver, or in PostgreSQL for shared deployments, with the same SQL and
// the same contract tests. Leases use the database's clock and row
// locks, so that processes on different machines agree on who owns a run.
//
// It stores what the engine hands it and holds no engine logic: the
// journal's chain and signatures are computed by engine/runbook and only
// persisted (atomically, under the run's lease) here.
package store
