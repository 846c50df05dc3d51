//go:build !unix

package cli

import (
	"os"

	"github.com/vigil-ir/vigil/engine/runbook"
)

func localHolder(actor string) runbook.Holder {
	host, _ := os.Hostname()
	return runbook.Holder{Name: actor, Host: host, PID: os.Getpid()}
}

// holderGone cannot tell here: leases expire or are broken with unlock.
func holderGone(*runbook.Lease) bool { return false }

// killSelf ends the process at once.
func killSelf() { os.Exit(137) }
