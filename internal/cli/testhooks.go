package cli

import "fmt"

// testHooks turns on the crash-test and clock hooks (VIGIL_FAILPOINT,
// VIGIL_FAILPOINT_TRACE, VIGIL_FAILPOINT_HOLD, VIGIL_FAKE_CLOCK). A
// release binary has them off, so that an environment variable cannot make
// serve SIGKILL itself or run its schedules on a made-up clock; the
// end-to-end tests build vigil with -tags vigil_testhooks
// (testhooks_on.go).
var testHooks = false

// hook reads a test hook's variable; in a build without hooks a set one
// is ignored, and said so once.
func (a *app) hook(name string) string {
	v := a.env(name)
	if v == "" || testHooks {
		return v
	}
	if a.warnedHooks == nil {
		a.warnedHooks = map[string]bool{}
	}
	if !a.warnedHooks[name] {
		a.warnedHooks[name] = true
		fmt.Fprintf(a.stderr, "vigil: WARNING: ignoring %s: this build has no test hooks (they are for vigil's own tests: go build -tags vigil_testhooks)\n", name)
	}
	return ""
}
