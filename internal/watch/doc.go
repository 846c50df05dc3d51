// Package watch consumes cloud events from a queue (an SQS queue fed by
// EventBridge, a Pub/Sub subscription fed by a log sink and Security
// Command Center) and reacts within seconds: a configuration change has
// its assets read again and judged with the policies, in the context of
// the last recorded inventory, recorded as an event scan, and each new
// finding notified once; an alert becomes a triage card, and a respond
// rule may plan a runbook for a person to approve.
//
// Delivery is at least once, made idempotent by the provider's event id.
// A message is acknowledged only after its result is recorded; a poison
// message goes to a dead-letter queue (or is reported and dropped) after
// MaxAttempts tries; an event from an account or project the watch is not
// configured to read is reported once (per account or project), counted
// and acknowledged, since no retry can read it; at most Concurrency events
// are in flight, and the
// queue is not read while they are; on shutdown in-flight events finish
// within the grace period and the others stay on the queue.
//
// Notifications are at least once, each post with an Idempotency-Key that
// is the same on a resend; an in-flight log beside the watch's files (see
// inflightLog) tells a restart exactly which posts are in doubt, and only
// those are sent again.
//
// The package never changes the cloud: it reads, records and tells.
package watch
