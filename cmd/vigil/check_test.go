package main

import (
	"archive/zip"
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/report/schematest"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// readmeCheckCommands returns the `vigil check` commands on the bundled
// examples in the README's "Check a Terraform plan in CI" section.
func readmeCheckCommands(t *testing.T) []string {
	f, err := os.Open(testutil.Path(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Check a Terraform plan in CI"
		case in && strings.HasPrefix(line, "vigil check examples/"):
			if i := strings.Index(line, "#"); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			cmds = append(cmds, line)
		}
	}
	if len(cmds) == 0 {
		t.Fatal("the README's check section has no `vigil check examples/...` command")
	}
	return cmds
}

// shell runs a command line as a user would, with the built vigil first on
// PATH, from the repository root.
func shell(t *testing.T, line string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("bash", "-o", "pipefail", "-c", line)
	cmd.Dir = testutil.Root(t)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binPath)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// The README's check commands run as printed; the SARIF one puts its
// results on the .tf lines and follows the SARIF 2.1.0 schema.
func TestREADMECheckCommands(t *testing.T) {
	for _, line := range readmeCheckCommands(t) {
		out, errs, code := shell(t, line)
		if code != 1 {
			t.Errorf("%s: exit %d (want 1: the example has findings)\n%s", line, code, errs)
			continue
		}
		if strings.Contains(line, "--format sarif") {
			schematest.Validate(t, testutil.Path(t, "testdata", "schemas", "sarif", "sarif-2.1.0.json"), []byte(out))
			if !strings.Contains(out, `"uri": "examples/terraform/main.tf"`) || strings.Contains(out, `"unplaced"`) {
				t.Errorf("%s: results are not on the .tf lines:\n%s", line, out)
			}
		}
	}
}

func TestCheckFromAPipe(t *testing.T) {
	out, errs, code := shell(t, "cat examples/terraform/plan.json | vigil check - --chdir examples/terraform --format github --policy VGL-NET-001")
	if code != 1 || !strings.Contains(out, "::error file=examples/terraform/main.tf,line=35,title=VGL-NET-001") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

func TestCheckBinaryPlanFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "plan.out")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("tfplan")
	w.Write([]byte("not json"))
	zw.Close()
	f.Close()
	_, errs, code := shell(t, "vigil check "+p)
	if code != 2 || !strings.Contains(errs, "this is a binary plan: run `terraform show -json "+p+" > plan.json`") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
