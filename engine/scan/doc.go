// Package scan runs the posture scan: it streams assets from sources,
// builds the cross-asset index, evaluates policies on all cores, applies
// waivers and returns findings with a summary.
//
// It is the one pipeline behind `vigil scan`, `vigil check`, scheduled scans
// and the core.scan runbook action. It must not render output or store
// history; callers do.
package scan
