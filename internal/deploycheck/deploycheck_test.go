package deploycheck

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// kubeconformVersion is the validator the tests install with go install
// (a module the Go proxy serves); its module also carries the Kubernetes
// definitions the shipped schemas are made from.
const kubeconformVersion = "v0.8.0"

// definitions is that file inside the kubeconform module: the
// definitions of yannh/kubernetes-json-schema's master, which its tests
// keep in a cache named by the hash of their address.
const definitions = "fixtures/cache/6dc6142c64b944d783a3e783526114da8e747a14a11d8b32dd1f12e2d89a8330"

var update = flag.Bool("update", false, "regenerate testdata/kubernetes from the kubeconform module's definitions")

var (
	toolOnce sync.Once
	toolBin  string
	toolErr  error
)

// kubeconform installs the validator once per machine (in the user's
// cache directory, by version) and returns its path.
func kubeconform(t *testing.T) string {
	t.Helper()
	toolOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "vigil-test-tools", "kubeconform-"+kubeconformVersion)
		toolBin = filepath.Join(dir, "kubeconform")
		if _, err := os.Stat(toolBin); err == nil {
			return
		}
		tmp, err := os.MkdirTemp("", "kubeconform-*")
		if err != nil {
			toolErr = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command("go", "install", "github.com/yannh/kubeconform/cmd/kubeconform@"+kubeconformVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			toolErr = &installError{out: string(out), err: err}
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			toolErr = err
			return
		}
		toolErr = os.Rename(filepath.Join(tmp, "kubeconform"), toolBin)
	})
	if toolErr != nil {
		t.Fatalf("go install kubeconform %s: %v", kubeconformVersion, toolErr)
	}
	return toolBin
}

type installError struct {
	out string
	err error
}

func (e *installError) Error() string { return e.err.Error() + "\n" + e.out }

// validate runs kubeconform strictly on paths against the shipped
// schemas only (no network), with a JSON report.
func validate(t *testing.T, paths ...string) (int, report) {
	t.Helper()
	schemas := testutil.Path(t, "testdata/kubernetes")
	args := append([]string{"-strict", "-summary", "-output", "json",
		"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json")}, paths...)
	cmd := exec.Command(kubeconform(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("kubeconform's report: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return code, rep
}

type report struct {
	Resources []struct {
		Filename string `json:"filename"`
		Kind     string `json:"kind"`
		Name     string `json:"name"`
		Status   string `json:"status"`
		Msg      string `json:"msg"`
	} `json:"resources"`
	Summary struct {
		Valid, Invalid, Errors, Skipped int
	} `json:"summary"`
}

// The deploy examples pass kubeconform -strict, every resource checked
// against a shipped schema (none skipped), and they hold what a team
// deployment needs.
func TestExamplesPassKubeconform(t *testing.T) {
	dir := testutil.Path(t, "examples/deploy/kubernetes")
	code, rep := validate(t, dir)
	for _, r := range rep.Resources {
		if r.Status != "statusValid" {
			t.Errorf("%s: %s %s: %s %s", r.Filename, r.Kind, r.Name, r.Status, r.Msg)
		}
	}
	if code != 0 || rep.Summary.Invalid+rep.Summary.Errors+rep.Summary.Skipped > 0 {
		t.Fatalf("kubeconform exit %d: %+v", code, rep.Summary)
	}
	// kubeconform lists only failures in its report: count the kinds in
	// the files by hand.
	kinds := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	kindRe := regexp.MustCompile(`(?m)^kind: (\S+)`)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range kindRe.FindAllStringSubmatch(string(b), -1) {
			kinds[m[1]]++
		}
	}
	total := 0
	for _, n := range kinds {
		total += n
	}
	if rep.Summary.Valid != total {
		t.Errorf("kubeconform found %d valid resources, the files hold %d: %v", rep.Summary.Valid, total, kinds)
	}
	for _, want := range []string{"Deployment", "PodDisruptionBudget", "NetworkPolicy", "Job", "CronJob", "Secret", "ServiceAccount", "Service", "ConfigMap"} {
		if kinds[want] == 0 {
			t.Errorf("examples/deploy/kubernetes has no %s", want)
		}
	}
}

// Broken manifests fail: a misspelt field, a wrong type, a kind without
// a schema. So the check above can fail.
func TestKubeconformRejects(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"misspelt field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n  selector: {matchLabels: {app: x}}\n  template: {metadata: {labels: {app: x}}, spec: {containers: [{name: x, image: x}]}}\n", "replica"},
		{"wrong type", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {minAvailable: [1]}\n", "minAvailable"},
		{"no schema", "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: x}\n", "could not find schema"},
		{"index out of a job's spec", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  completionMode: Indexed\n  template: {spec: {restartPolicy: Never, containers: [{name: x, image: x, env: [{name: A, valueFrom: {fieldRef: {fieldpath: x}}}]}]}}\n", "fieldpath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "m.yaml")
			os.WriteFile(f, []byte(tc.yaml), 0o644)
			code, rep := validate(t, f)
			if code != 1 || len(rep.Resources) != 1 || !strings.Contains(rep.Resources[0].Msg, tc.want) {
				t.Errorf("exit %d, report %+v; want a failure naming %q", code, rep.Resources, tc.want)
			}
		})
	}
}

// The shipped schemas are what Generate makes of the definitions in the
// kubeconform module (go test -update rewrites them).
func TestSchemasAreGenerated(t *testing.T) {
	// Outside this module, so that go.sum is left alone.
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/yannh/kubeconform@"+kubeconformVersion)
	cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download kubeconform: %v %s %s", err, mod.Error, out)
	}
	src := filepath.Join(mod.Dir, definitions)
	defs, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("the kubeconform module's definitions: %v", err)
	}
	files, err := Generate(defs, Kinds)
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.Path(t, "testdata/kubernetes")
	for _, name := range Names(files) {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, files[name], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(have, files[name]) {
			t.Errorf("%s differs from what Generate makes (go test ./internal/deploycheck -run TestSchemasAreGenerated -update): %v", path, err)
		}
	}
}
