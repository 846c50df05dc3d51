// Package runbook is the runbook engine: it decodes HCL runbooks (phases,
// steps, variables, locals, outputs), validates them against the action
// catalog, plans them as a dry run in which every action only reads, and
// applies plans step by step with approvals, retries, timeouts, the
// evidence rule and a hash-chained journal that makes runs resumable after
// a crash and reviewable afterwards.
//
// It must not import cloud SDKs or open databases itself: actions come
// from an action.Registry and the journal is an interface.
package runbook
