// Package runbooktest holds the contract test every runbook.Store passes
// (the in-memory store, SQLite and PostgreSQL). It is only imported by
// tests.
package runbooktest
