package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sharded scan that records needs its group (review 18, bug 7): with
// --history and no --shard-group every day's shards joined group "", whose
// scan was complete already, and were dropped with exit 0.
func TestShardRecordingNeedsGroup(t *testing.T) {
	t.Setenv("VIGIL_SHARD_GROUP", "")
	db := filepath.Join(t.TempDir(), "history.db")
	for _, args := range [][]string{
		{"scan", "--history", "--shard", "0/3", "examples/inventory/"},
		{"scan", "--store=" + db, "--shard", "1/3", "examples/inventory/"},
		{"scan", "--store=" + db, "--shard", "2/3", "--shard-group", " ", "examples/inventory/"},
	} {
		code, out, errs := run(t, args...)
		if code != ExitError || !strings.Contains(errs, "needs --shard-group (or VIGIL_SHARD_GROUP)") || !strings.Contains(errs, "controller-uid") || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and the --shard-group hint", args, code, out, errs)
		}
	}
	// Refused before the history is opened: nothing was recorded.
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused shard opened the history %s: %v", db, err)
	}
	// Not recording, a shard needs no group.
	if code, _, errs := run(t, "scan", "--shard", "0/3", "--fail-on", "none", "examples/inventory/"); code != ExitOK {
		t.Errorf("unrecorded shard: exit %d %s", code, errs)
	}
}

// "--shard /3" outside an Indexed Job says the variable is missing (review
// 18, 12), not only the I/N form.
func TestShardIndexFromJobNeedsTheVariable(t *testing.T) {
	t.Setenv("JOB_COMPLETION_INDEX", "")
	code, _, errs := run(t, "scan", "--shard", "/3", "examples/inventory/")
	if code != ExitError || !strings.Contains(errs, "$JOB_COMPLETION_INDEX, which is not set") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "2")
	if code, _, errs := run(t, "scan", "--shard", "/3", "--fail-on", "none", "examples/inventory/"); code != ExitOK {
		t.Errorf("with the variable: exit %d %s", code, errs)
	}
}
