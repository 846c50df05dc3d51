package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// goVersion is go.mod's go directive as major and minor.
func goVersion(t *testing.T) (int, int) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return major, minor
}

func atLeast(t *testing.T, what, version string) {
	t.Helper()
	major, minor := goVersion(t)
	m := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(version)
	if m == nil {
		t.Errorf("%s: Go %q is not a version", what, version)
		return
	}
	gotMajor, _ := strconv.Atoi(m[1])
	gotMinor, _ := strconv.Atoi(m[2])
	if gotMajor < major || gotMajor == major && gotMinor < minor {
		t.Errorf("%s: Go %s is older than go.mod's %d.%d: go install fails", what, version, major, minor)
	}
}

// The CI examples (issue 20): GitLab's JUnit report fails at the job's
// threshold (not --fail-on none, which showed 0 failures always), on a Go
// image at least go.mod's; GitHub's workflow grants actions: read, which
// upload-sarif needs in private repositories, and sets up a Go new enough.
func TestCIExamples(t *testing.T) {
	root := testutil.Root(t)
	var gitlab map[string]struct {
		Image     any               `yaml:"image"`
		Variables map[string]string `yaml:"variables"`
		Before    []string          `yaml:"before_script"`
		Script    []string          `yaml:"script"`
		Artifacts struct {
			Reports struct {
				JUnit string `yaml:"junit"`
			} `yaml:"reports"`
		} `yaml:"artifacts"`
	}
	b, err := os.ReadFile(filepath.Join(root, "examples/ci/gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &gitlab); err != nil {
		t.Fatalf("gitlab-ci.yml: %v", err)
	}
	job, ok := gitlab["vigil"]
	if !ok {
		t.Fatal("gitlab-ci.yml has no vigil job")
	}
	image, _ := job.Image.(string)
	tag, ok := strings.CutPrefix(image, "golang:")
	if !ok {
		t.Errorf("GitLab job image %v: want the Go image (Alpine's go package lags go.mod)", job.Image)
	} else {
		atLeast(t, "GitLab image "+image, tag)
	}
	for _, l := range job.Before {
		if strings.Contains(l, "apk add") && regexp.MustCompile(`\bgo\b`).MatchString(strings.SplitN(l, "apk add", 2)[1]) {
			t.Errorf("GitLab installs Alpine's go: %s", l)
		}
	}
	junit := ""
	for _, l := range job.Script {
		if strings.Contains(l, "--format junit") {
			junit = l
		}
	}
	threshold := regexp.MustCompile(`--fail-on\s+("?)(\S+?)("?)(\s|$)`).FindStringSubmatch(junit)
	switch {
	case junit == "":
		t.Error("GitLab's job writes no JUnit report")
	case !strings.Contains(junit, "--output "+job.Artifacts.Reports.JUnit):
		t.Errorf("the JUnit report is not the artifact %q: %s", job.Artifacts.Reports.JUnit, junit)
	case threshold == nil || threshold[2] == "none":
		t.Errorf("GitLab's JUnit report has no failing threshold: %s", junit)
	case threshold[2] == "$FAIL_ON" && job.Variables["FAIL_ON"] == "":
		t.Errorf("FAIL_ON is not set: %v", job.Variables)
	case !strings.Contains(junit, "|| status=$?") || !slices.Contains(job.Script, "exit ${status:-0}"):
		t.Errorf("the JUnit step's exit code is lost or stops the job before the SARIF file: %q", job.Script)
	}
	if v := job.Variables["FAIL_ON"]; v != "" {
		if code, _, errs := run(t, "check", "-q", "examples/terraform/plan.json", "--format", "junit", "--fail-on", v); code != ExitFindings && code != 0 {
			t.Errorf("--fail-on %s: exit %d: %s", v, code, errs)
		}
	}

	var gh struct {
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	b, err = os.ReadFile(filepath.Join(root, "examples/ci/github-actions.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &gh); err != nil {
		t.Fatalf("github-actions.yml: %v", err)
	}
	for perm, want := range map[string]string{"actions": "read", "security-events": "write", "contents": "read"} {
		if gh.Permissions[perm] != want {
			t.Errorf("GitHub permissions %s: %q, want %q", perm, gh.Permissions[perm], want)
		}
	}
	goSet := false
	for _, j := range gh.Jobs {
		for _, s := range j.Steps {
			if strings.HasPrefix(s.Uses, "actions/setup-go@") {
				goSet = true
				atLeast(t, "GitHub setup-go", s.With["go-version"])
			}
		}
	}
	if !goSet {
		t.Error("the GitHub workflow does not set up Go")
	}
}

// SARIF (or annotations) of a plan read from standard input without
// --stdin-filename name its entries "-": vigil says so, on stderr and in
// the SARIF log's notifications; with --stdin-filename it does not.
func TestSARIFFromStdinWarns(t *testing.T) {
	t.Chdir(testutil.Root(t))
	plan, err := os.ReadFile("examples/terraform/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		warn bool
	}{
		{[]string{"check", "-", "--chdir", "examples/terraform", "--format", "sarif"}, true},
		{[]string{"check", "-", "--chdir", "examples/terraform", "--format", "github"}, true},
		{[]string{"check", "-", "--chdir", "examples/terraform", "--format", "sarif", "--stdin-filename", "examples/terraform/plan.json"}, false},
		{[]string{"check", "-", "--chdir", "examples/terraform", "--format", "json"}, false},
	} {
		var stdout, stderr strings.Builder
		a := &app{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(string(plan)), env: os.Getenv}
		if code := a.run(t.Context(), append(tt.args, "-q")); code != ExitFindings {
			t.Fatalf("%v: exit %d: %s", tt.args, code, stderr.String())
		}
		const msg = `name "-", which cannot be resolved to a file; give --stdin-filename`
		if got := strings.Contains(stderr.String(), msg); got != tt.warn {
			t.Errorf("%v: warned %v, want %v: %s", tt.args, got, tt.warn, stderr.String())
		}
		if tt.args[4] == "sarif" && strings.Contains(stdout.String(), "cannot be resolved to a file") != tt.warn {
			t.Errorf("%v: the SARIF log's notifications disagree with stderr", tt.args)
		}
	}
}
