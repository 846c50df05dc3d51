package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// vigil version prints the module version and commit the go command
// stamped: in a clone, a pseudo-version naming HEAD (or its tag) and HEAD.
func TestVersionFromBuildInfo(t *testing.T) {
	root := testutil.Root(t)
	if fi, err := os.Stat(root + "/.git"); err != nil || !fi.IsDir() {
		t.Skip("not a clone (a git worktree or an export): the go command stamps no version control information")
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	head := git("rev-parse", "HEAD")
	code, out := vigil(t, nil, "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// v0.0.0-20261202010203-abcdef012345 (+dirty), or a tag's v1.2.3.
	version := regexp.MustCompile(`^vigil (v\d+\.\d+\.\d+\S*)$`)
	m := version.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("first line %q is not a module version:\n%s", lines[0], out)
	}
	if tag := git("tag", "--points-at", "HEAD"); tag == "" && !strings.Contains(m[1], head[:12]) {
		t.Errorf("version %s does not name commit %s", m[1], head[:12])
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "commit "+head) {
		t.Errorf("commit line %q, want commit %s", lines[1], head)
	}
	if !strings.Contains(out, "date   ") {
		t.Errorf("no build date:\n%s", out)
	}
	if _, v := vigil(t, nil, "--version"); strings.TrimSpace(v) != lines[0] {
		t.Errorf("--version says %q, version says %q", strings.TrimSpace(v), lines[0])
	}
}
