package cli

import (
	"bytes"
	"strings"
	"testing"
)

// A build without test hooks ignores them (review 18, 12: an environment
// variable could make serve run on a fake clock or SIGKILL itself), and
// says so once; with them, the same variables arm the failpoint.
func TestTestHooksOffInARelease(t *testing.T) {
	if testHooks {
		t.Skip("built with -tags vigil_testhooks")
	}
	env := map[string]string{"VIGIL_FAILPOINT": "during:snapshot", "VIGIL_FAILPOINT_HOLD": "scan=/tmp/x", "VIGIL_FAKE_CLOCK": "2026-12-02T00:00:00Z@now x60"}
	var errb bytes.Buffer
	a := &app{stderr: &errb, env: func(k string) string { return env[k] }}
	if a.failpoint() != nil || a.serveFailpoint() != nil || a.hook("VIGIL_FAKE_CLOCK") != "" {
		t.Fatal("a release build armed a test hook")
	}
	a.failpoint()
	for _, name := range []string{"VIGIL_FAILPOINT", "VIGIL_FAILPOINT_HOLD", "VIGIL_FAKE_CLOCK"} {
		if n := strings.Count(errb.String(), "ignoring "+name+":"); n != 1 {
			t.Errorf("%s: warned %d times, want once:\n%s", name, n, errb.String())
		}
	}
	testHooks = true
	defer func() { testHooks = false }()
	if a.failpoint() == nil {
		t.Error("with test hooks, VIGIL_FAILPOINT arms nothing")
	}
}
