// Package worker holds the startup script of gcp.compute.hash_snapshot's
// worker VM, embedded in the binary, and nothing else: the script runs on
// the worker, not in vigil.
package worker

import _ "embed"

// HashScript is the worker's startup script.
//
//go:embed hash.sh
var HashScript string

// Marker is a line of the script by which the fake (gcpfake) knows a
// worker when one is created.
const Marker = "# vigil evidence worker (gcp.compute.hash_snapshot)"
