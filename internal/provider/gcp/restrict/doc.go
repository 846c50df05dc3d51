// Package restrict decides what gcp.compute.restrict_firewall does to a
// rule's source ranges: which ranges go, which stay, and which arguments
// it refuses. The real provider and the simulated cloud both take it from
// here, so a rehearsal restricts exactly as the real run does.
//
// It is pure computation: it must not import a cloud SDK.
package restrict
