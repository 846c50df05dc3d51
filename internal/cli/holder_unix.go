//go:build unix

package cli

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/vigil-ir/vigil/engine/runbook"
)

var nodeOnce = sync.OnceValue(func() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
})

// localHolder names this process in a run's lease. Node is the boot and
// the PID namespace: a process with the same node can tell whether the
// holder's PID still exists.
func localHolder(actor string) runbook.Holder {
	host, _ := os.Hostname()
	return runbook.Holder{Name: actor, Host: host, PID: os.Getpid(), Node: nodeOnce()}
}

// holderGone reports whether a lease's holder ran on this node and its
// process no longer exists (killed, crashed): like a file lock, its lease
// is then released. Any doubt (another node, no /proc) says no, and the
// lease must expire or be broken with unlock.
func holderGone(l *runbook.Lease) bool {
	node := nodeOnce()
	if node == "" || l.Holder.Node != node || l.Holder.PID <= 0 || l.Holder.PID == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(l.Holder.PID, 0), syscall.ESRCH)
}

// killSelf ends the process as a crash would: SIGKILL, no deferred code.
func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
