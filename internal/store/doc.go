// Package store keeps vigil's state: run journals (and, for scheduled
// scans, scan history) in one SQLite file through the pure-Go driver, or in
// PostgreSQL for shared deployments. It stores what the engine hands it and
// holds no engine logic: the journal's hash chain is computed by
// engine/runbook and only persisted here.
package store
