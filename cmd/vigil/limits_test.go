package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// Hostile input is refused with exit 2 and the file and line it is on,
// never with a crash: 100,000 nested brackets overflowed the Go stack in
// every HCL parser before, and a 200 MB value in vigil.hcl did not finish.
func TestBinaryRefusesHostileInput(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	const n = 100000
	tuples := strings.Repeat("[", n) + strings.Repeat("]", n)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv := testutil.Path(t, "examples/inventory")
	cfg := write("vigil.hcl", "admin_ports = [22]\n\nrequired_labels = "+tuples+"\n")
	waivers := write("waivers.hcl", "waiver {\n  policy  = \"VGL-NET-001\"\n  asset   = "+strings.Repeat("!", n)+"true\n}\n")
	runbook := write("deep.hcl", "runbook \"deep\" {\n  title = \"t\"\n  description = \""+strings.Repeat("${\"", n/2)+"\n}\n")
	varFile := write("vars.json", "{\n\"instance\": "+tuples+"}\n")
	cai := write("cai.ndjson", `{"name":"//storage.googleapis.com/a","asset_type":"storage.googleapis.com/Bucket","resource":{"data":{}}}`+"\n"+
		`{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","resource":{"data":{"x":`+tuples+`}}}`+"\n")
	caiArray := write("cai.json", "[\n"+`{"name":"//storage.googleapis.com/a","asset_type":"storage.googleapis.com/Bucket","resource":{"data":{}}},`+"\n"+
		`{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","resource":{"data":{"x":`+tuples+`}}}`+"\n]\n")
	awsConfig := write("config.json", "{\"configSnapshotId\": \"s\", \"configurationItems\": [\n"+
		`{"resourceType":"AWS::S3::Bucket","resourceId":"b","arn":"arn:aws:s3:::b","awsRegion":"us-east-1","configuration":`+tuples+"}\n]}\n")
	// configuration given as a JSON string, which vigil decodes in turn
	configString := write("item.json", `{"resourceType":"AWS::S3::Bucket","resourceId":"b","arn":"arn:aws:s3:::b","awsRegion":"us-east-1","configuration":"`+tuples+`"}`+"\n")
	vigilNDJSON := write("assets.ndjson", `{"id":"x","provider":"gcp","kind":"bucket","data":`+tuples+"}\n")
	plan := write("plan.json", "{\"format_version\": \"1.2\", \"terraform_version\": \"1.9.0\",\n\"resource_changes\": [\n"+
		`{"address":"google_storage_bucket.b","mode":"managed","type":"google_storage_bucket","name":"b","change":{"actions":["create"],"after":{"x":`+tuples+"}}}\n]}\n")
	alert := write("alert.json", "{\"Findings\": [\n{\"Id\": \"f\", \"Resource\": "+tuples+"}]}\n")
	savedPlan := write("saved-plan.json", "{\"format_version\": \"1\",\n\"runbook\": "+tuples+"}\n")

	// 200 MB in one string of vigil.hcl, on line 3
	big := filepath.Join(dir, "big.hcl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("admin_ports = [22]\n\nrequired_labels = [\"")
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 200 {
		f.Write(chunk)
	}
	f.WriteString("\"]\n")
	f.Close()

	tests := []struct {
		name string
		args []string
		want string // in stderr: the file and line, or the diagnostic's "on FILE line N"
	}{
		{"vigil.hcl", []string{"scan", "-c", cfg, inv}, "on " + cfg + " line 3:"},
		{"waivers", []string{"scan", "-w", waivers, inv}, "on " + waivers + " line 3:"},
		{"runbook", []string{"runbook", "validate", runbook}, "on " + runbook + " line 3:"},
		{"variables file", []string{"runbook", "plan", "compromised-vm-gcp", "--provider", "sim", "-i", inv, "-var-file", varFile}, "on " + varFile + " line 2:"},
		{"CAI export", []string{"scan", cai}, cai + ":2: objects and arrays nested more than 256 levels deep"},
		{"CAI array", []string{"scan", caiArray}, caiArray + ":3: objects and arrays nested"},
		{"AWS Config snapshot", []string{"scan", awsConfig}, awsConfig + ":2: objects and arrays nested"},
		{"AWS Config item, configuration as a string", []string{"scan", configString}, configString + ":1: AWS::S3::Bucket b: configuration (a JSON string): objects and arrays nested"},
		{"vigil NDJSON", []string{"scan", vigilNDJSON}, vigilNDJSON + ":1: objects and arrays nested"},
		{"Terraform plan", []string{"check", plan}, plan + ":3: objects and arrays nested"},
		{"alert", []string{"alert", "show", alert}, alert + ":2:"},
		// not a plan vigil can read, so apply reads it as a runbook, and
		// refuses it as HCL
		{"saved plan", []string{"runbook", "apply", savedPlan}, "on " + savedPlan + " line 2:"},
		{"200 MB value", []string{"scan", "-c", big, inv}, "on " + big + " line 3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("vigil %s: %v (want exit 2)\n%.2000s", strings.Join(tt.args, " "), err, stderr.String())
			}
			out := stderr.String()
			if strings.Contains(out, "goroutine") || strings.Contains(out, "stack overflow") || len(out) > 4000 {
				t.Fatalf("not a diagnostic:\n%.2000s", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, out)
			}
			t.Logf("%s: refused in %v", tt.name, took.Round(time.Millisecond))
		})
	}
}
