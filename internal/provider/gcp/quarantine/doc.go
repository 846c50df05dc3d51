// Package quarantine decides the firewall rules that isolate a Compute
// Engine instance: which rules, in which network, at which priority, from
// which ranges. The real provider and the simulated cloud both take their
// rules from here, so a rehearsal isolates exactly as the real run does.
//
// It is pure computation: it must not import a cloud SDK.
package quarantine
