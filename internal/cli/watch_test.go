package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestWatchUsage(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	store := "--store=" + filepath.Join(t.TempDir(), "state.db")
	noWatch := write(t, "vigil.hcl", "required_labels = [\"owner\"]\n")
	badWatch := write(t, "vigil.hcl", "watch \"w\" {\n  sqs {\n    queue_url = \"sqs-queue\"\n  }\n}\n")
	oneWatch := write(t, "vigil.hcl", "watch \"w\" {\n  sqs {\n    queue_url = \"http://127.0.0.1:9/q\"\n  }\n}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"watch"}, "watch needs --config"},
		{[]string{"watch", "--config", noWatch, store}, "declares no watch"},
		{[]string{"watch", "--config", badWatch, store}, "Invalid queue_url"},
		{[]string{"watch", "--config", oneWatch, "--watch", "other", store}, `--watch "other"`},
	} {
		code, _, errs := run(t, tc.args...)
		if code != ExitError || !strings.Contains(errs, tc.want) {
			t.Errorf("vigil %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	code, out, _ := run(t, "watch", "--help")
	if code != 0 || !strings.Contains(out, "vigil watch --config vigil.hcl --listen") || !strings.Contains(out, "dead-letter") {
		t.Errorf("help: %d\n%s", code, out)
	}
}
