// Package runbook is the runbook engine: it decodes HCL runbooks (phases,
// steps, variables, locals, outputs), validates them against the action
// catalog, plans them as a dry run in which every action only reads, and
// applies plans step by step with approvals, retries, timeouts and the
// evidence rule.
//
// A plan is a contract: it pins every step instance (address, targets,
// argument hash) and apply runs exactly those, refusing a stale plan. A
// run is executed by one owner goroutine that holds its state and makes
// every journal write, with step instances on workers (run.go, unit.go)
// and approvals asked one at a time (approvals.go). A run is leased to one
// process in the Store (store.go); its journal is chained, signed with
// ed25519 and anchored outside the database (seal.go), and VerifyRun
// finds edits, truncation, rewrites, forged entries and a changed runs row
// (verify.go). Sensitive values travel as cty marks and are redacted
// wherever the engine writes (redact.go).
//
// It must not import cloud SDKs or open databases itself: actions come
// from an action.Registry, the store and the anchor are interfaces.
package runbook
