// Package cli is vigil's command line: flag parsing and wiring of the
// engine packages, one file per command. It holds no policy, inventory or
// runbook logic of its own.
package cli
