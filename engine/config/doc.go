// Package config reads vigil.hcl, the organization settings policies judge
// against (approved networks, required labels, the IR team's principals,
// admin ports, data residency) and the settings of scheduled scans.
//
// It only parses and validates; it must not evaluate policies or touch the
// network. Every error is an hcl.Diagnostic pointing at the source.
package config
