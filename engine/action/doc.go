// Package action defines what a runbook step runs: the Action and Provider
// interfaces, the catalog of action contracts (names, typed arguments and
// outputs, effect classes) that the simulated and the real cloud providers
// implement alike, and the registry that resolves names.
//
// It must not import cloud SDKs; providers live under internal/provider.
package action
