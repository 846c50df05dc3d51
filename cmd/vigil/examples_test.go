package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// An example is one command line a user may copy: from a ```sh block of
// README.md or from the Examples of a --help.
type example struct {
	where string // "README.md:622" or "vigil scan --help"
	line  string // as printed, continuation lines joined
	// group shares a sandbox: a README section, or one command's help
	group string
}

// joinLines turns printed lines into command lines: "\" continues a
// line, "#" starts a comment, and only lines that run vigil count.
func joinLines(where func(int) string, lines []string) []example {
	var out []example
	cur, at := "", 0
	for i, l := range lines {
		s := strings.TrimSpace(l)
		if cur == "" {
			if !strings.HasPrefix(s, "vigil ") && !strings.HasPrefix(s, "go run ./cmd/vigil ") && !strings.Contains(s, "| vigil ") &&
				!strings.HasPrefix(s, "AWS_ACCESS_KEY_ID=") {
				continue
			}
			at = i
		}
		if cur != "" {
			cur += " "
		}
		cur += s
		if strings.HasSuffix(cur, "\\") {
			cur = strings.TrimSpace(strings.TrimSuffix(cur, "\\"))
			continue
		}
		out = append(out, example{where: where(at), line: stripComment(cur)})
		cur = ""
	}
	return out
}

// stripComment drops a trailing shell comment (" # ..."), not a '#' in a
// word such as 'revoke[*]' or a URL fragment.
func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func readmeExamples(t *testing.T) []example {
	raw, err := os.ReadFile(testutil.Path(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	var block []string
	start, in, section := 0, false, "README.md"
	for i, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "## ") && !in:
			section = "README.md " + strings.TrimPrefix(l, "## ")
		case strings.HasPrefix(l, "```") && !in:
			in = strings.TrimSpace(l) == "```sh"
			block, start = nil, i+2
		case strings.HasPrefix(l, "```"):
			s := start
			for _, ex := range joinLines(func(n int) string { return fmt.Sprintf("README.md:%d", s+n) }, block) {
				ex.group = section
				out = append(out, ex)
			}
			in = false
		case in:
			block = append(block, l)
		}
	}
	return out
}

// helpExamples walks every command's --help: its Examples section, and
// its subcommands.
func helpExamples(t *testing.T, path ...string) []example {
	out, err := exec.Command(binPath, append(path, "--help")...).Output()
	if err != nil {
		t.Fatalf("vigil %s --help: %v", strings.Join(path, " "), err)
	}
	var exs, subs []string
	section := ""
	for _, l := range strings.Split(string(out), "\n") {
		if regexp.MustCompile(`^[A-Z][A-Za-z ]*:$`).MatchString(l) {
			section = l
			continue
		}
		switch section {
		case "Examples:":
			exs = append(exs, l)
		case "Available Commands:":
			if f := strings.Fields(l); len(f) > 0 && f[0] != "help" && f[0] != "completion" {
				subs = append(subs, f[0])
			}
		}
	}
	where := "vigil " + strings.Join(path, " ") + " --help"
	res := joinLines(func(int) string { return where }, exs)
	for i := range res {
		res[i].group = where
	}
	for _, s := range subs {
		res = append(res, helpExamples(t, append(append([]string(nil), path...), s)...)...)
	}
	return res
}

// cannotRun are the examples a test cannot run as printed, and why. Each
// must still be an example (the list cannot go stale), and any other
// example must run.
var cannotRun = map[string]string{
	"vigil history --store postgres://vigil@db/vigil --schedule hourly-prod --format json":                                                                                                                                                                                                      "needs a PostgreSQL server",
	"vigil serve --config vigil.hcl --store postgres://vigil@db/vigil --listen 0.0.0.0:8443 --allowed-host vigil.acme.example --tls-cert tls.crt --tls-key tls.key":                                                                                                                             "needs a PostgreSQL server and a certificate",
	"vigil runbook apply testdata/team/contain-web.hcl --provider sim -i examples/inventory --state postgres://vigil@db.internal/vigil --server https://vigil.internal:8443 -var incident=INC-1 -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1": "needs a PostgreSQL server and vigil serve to sign in to (TestCLIRunApprovedThroughServe runs it)",
	"vigil scan --shard 1/3 --shard-group job-7 --schedule nightly --store=postgres://vigil@db/vigil examples/inventory/":                                                                                                                                                                       "needs a PostgreSQL server (TestTeamServer runs the shards)",
	"vigil watch --config vigil.hcl --watch aws-events --store postgres://vigil@db/vigil":                                                                                                                                                                                                       "needs a PostgreSQL server",
	"terraform show -json plan.out | vigil check -":                                                                                            "needs terraform",
	"terraform -chdir=infra show -json plan.out | vigil check - --stdin-filename infra/plan.json":                                              "needs terraform",
	"AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test vigil inventory collect --aws --aws-endpoint http://127.0.0.1:5000 --output aws.ndjson": "needs an emulator on 127.0.0.1:5000",
	"vigil inventory collect --gcp-scope organizations/684315297612 --export gs://acme-sec-cai/vigil --output org.ndjson":                      "the GCP fake serves assets.list, not a bucket named acme-sec-cai",
	"vigil inventory collect --aws --org-role OrganizationAccountAccessRole --regions eu-west-1,us-east-1 --output org.ndjson":                 "the AWS fake's account is in no organization",
	"vigil watch --config examples/watch/vigil.hcl --listen 127.0.0.1:9464":                                                                    "needs the SQS queues and Pub/Sub subscriptions it names",
	"vigil watch --config vigil.hcl --listen 127.0.0.1:9464":                                                                                   "needs the queues its watch blocks name",
	"vigil history --schedule watch/aws-events":                                                                                                "needs the watch above to have run",
}

// wantExit are examples whose documented exit code is not 0 or 1.
var wantExit = map[string]int{
	"vigil runbook apply plan.json": 3, // "stops at the approval, exit 3"
	// the README's applies against the real cloud ask for 'yes'; a test
	// has no terminal, so they refuse with the hint (exit 2)
	"vigil runbook apply compromised-ec2 -i aws.ndjson -var instance=arn:aws:ec2:eu-west-1:111111111111:instance/i-0abc -var incident=INC-7 --aws-evidence-role arn:aws:iam::333333333333:role/vigil-evidence":                                                                                                                                                                                                                      2,
	"vigil runbook apply compromised-vm-gcp -i org.ndjson -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 -var incident=INC-2041":                                                                                                                                                                                                                                                    2,
	"vigil runbook apply compromised-ec2 -i aws.ndjson -var instance=arn:aws:ec2:eu-west-1:111111111111:instance/i-0abc -var incident=INC-7 -var detected_at=2026-11-27T09:00:00Z -var principal=AKIAIOSFODNN7EXAMPLE --approve isolate --aws-evidence-role arn:aws:iam::333333333333:role/vigil-evidence":                                                                                                                          2,
	"vigil runbook apply compromised-vm-gcp -i org.ndjson -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 -var incident=INC-2041 -var detected_at=2026-11-27T08:30:00Z -var worker_service_account=vigil-hash-writer@acme-sec-forensics.iam.gserviceaccount.com -var worker_subnetwork=projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1 --approve isolate": 2,
}

// daemons run until stopped: they must start and stop cleanly on SIGTERM.
var daemons = regexp.MustCompile(`^vigil (serve|watch) `)

// sandbox is a directory where the examples' file names exist: the
// bundled examples, and the names the help uses (inv/, resources.ndjson,
// waivers.hcl, ./policies, plan.json ...).
func sandbox(t *testing.T) string {
	root := testutil.Root(t)
	dir := t.TempDir()
	link := func(target, name string) {
		if err := os.Symlink(filepath.Join(root, target), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("examples", "examples")
	link("examples/inventory", "inv")
	link("examples/inventory", "inventory")
	link("examples/inventory/gcp-resources.ndjson", "resources.ndjson")
	link("examples/inventory/gcp-iam-policies.ndjson", "iam.ndjson")
	link("examples/inventory/gcp-resources.ndjson", "export.ndjson")
	link("examples/waivers.hcl", "waivers.hcl")
	link("testdata/fixtures/GoogleCloudPlatform__policy-library", "policy-library")
	link("testdata/examples/policies", "policies")
	link("runbooks/compromised-ec2.hcl", "my-runbook.hcl")
	cfg, err := os.ReadFile(filepath.Join(root, "examples/vigil.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	// the configuration the help's serve example names: the examples' own,
	// with a schedule
	cfg = append(cfg, "\nschedule \"hourly-prod\" {\n  cron    = \"0 * * * *\"\n  sources = [\"inventory/\"]\n}\n"...)
	if err := os.WriteFile(filepath.Join(dir, "vigil.hcl"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := os.ReadFile(filepath.Join(root, "examples/terraform/plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), plan, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runIDs are the placeholders of a run's id: RUN in the README, an
// example id in the help. They stand for the latest run of the sandbox.
var runIDs = regexp.MustCompile(`\bRUN\b|run-20261127-091500-3fa2c1`)

// TestEveryExampleRuns runs every command example of README.md and of
// every --help as printed (through sh, so redirections and ';' work), in
// a sandbox against the bundled examples, the simulated provider and the
// AWS and Google Cloud fakes, and checks the exit codes: 0 or 1 (findings),
// unless wantExit says otherwise. A new example that does not run fails.
func TestEveryExampleRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every example")
	}
	aws := awsfake.Scenario()
	awsSrv := aws.Start()
	defer awsSrv.Close()
	gcp := gcpfake.Scenario()
	gcpSrv, err := gcp.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer gcpSrv.Close()
	env := append(os.Environ(), awsfake.Env(awsSrv.URL)...)
	env = append(env, "VIGIL_GCP_ENDPOINT="+gcpSrv.REST, "VIGIL_GCP_ASSET_ENDPOINT="+gcpSrv.Asset, "VIGIL_GCP_POLL_INTERVAL=20ms",
		"VIGIL_STORE=", "PATH="+filepath.Dir(binPath)+string(os.PathListSeparator)+os.Getenv("PATH"))

	groups := map[string][]example{}
	var order []string
	for _, ex := range append(readmeExamples(t), helpExamples(t)...) {
		if groups[ex.group] == nil {
			order = append(order, ex.group)
		}
		groups[ex.group] = append(groups[ex.group], ex)
	}
	seen := map[string]bool{}
	total := 0
	for _, where := range order {
		t.Run(where, func(t *testing.T) {
			dir := sandbox(t)
			state := filepath.Join(dir, "state")
			cmdEnv := append(append([]string(nil), env...), "XDG_STATE_HOME="+state)
			if where == "vigil diff --help" {
				// the two scans the help's diff compares
				for i := 0; i < 2; i++ {
					c := exec.Command(binPath, "scan", "-q", "--history", "-c", "examples/vigil.hcl", "examples/inventory/")
					c.Dir, c.Env = dir, cmdEnv
					if out, err := c.CombinedOutput(); exitCode(t, err) != 1 {
						t.Fatalf("recording a scan: %v\n%s", err, out)
					}
				}
			}
			if strings.HasPrefix(where, "vigil runbook ") || strings.HasPrefix(where, "vigil evidence ") {
				// the run the help's run ids stand for, waiting at isolate
				c := exec.Command(binPath, "runbook", "apply", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory",
					"-var", "instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1", "-var", "incident=INC-2041")
				c.Dir, c.Env = dir, cmdEnv
				if out, err := c.CombinedOutput(); exitCode(t, err) != 3 {
					t.Fatalf("setting up a run: %v\n%s", err, out)
				}
			}
			for _, ex := range groups[where] {
				seen[ex.line] = true
				total++
				if why, ok := cannotRun[ex.line]; ok {
					t.Logf("%s: not run (%s): %s", ex.where, why, ex.line)
					continue
				}
				line := ex.line
				if runIDs.MatchString(line) {
					line = runIDs.ReplaceAllString(line, latestRun(t, dir, cmdEnv))
				}
				line = strings.Replace(line, "go run ./cmd/vigil ", "vigil ", 1)
				want, special := wantExit[ex.line]
				code, out := runExample(t, dir, cmdEnv, line, daemons.MatchString(line))
				switch {
				case special && code != want:
					t.Errorf("%s: %s\nexit %d, want %d\n%s", ex.where, ex.line, code, want, out)
				case !special && code != 0 && code != 1:
					t.Errorf("%s: %s\nexit %d, want 0 or 1\n%s", ex.where, ex.line, code, out)
				}
			}
		})
	}
	for line := range cannotRun {
		if !seen[line] {
			t.Errorf("cannotRun lists %q, which is no longer an example", line)
		}
	}
	for line := range wantExit {
		if !seen[line] {
			t.Errorf("wantExit lists %q, which is no longer an example", line)
		}
	}
	if total < 60 {
		t.Errorf("only %d examples found: the README's ```sh blocks and the --help Examples sections should give more", total)
	}
}

// runExample runs line with sh in dir. A daemon gets a few seconds to
// start and is then stopped with SIGTERM; it must exit 0.
func runExample(t *testing.T, dir string, env []string, line string, daemon bool) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	if daemon {
		cmd = exec.CommandContext(ctx, "sh", "-c", "exec "+line)
	}
	cmd.Dir, cmd.Env = dir, env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if !daemon {
		err := cmd.Run()
		return exitCode(t, err), out.String()
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		return -1, out.String() + "\n(it had already exited)"
	}
	err := cmd.Wait()
	return exitCode(t, err), out.String()
}

// latestRun is the id of the sandbox's latest run.
func latestRun(t *testing.T, dir string, env []string) string {
	t.Helper()
	c := exec.Command(binPath, "runbook", "status")
	c.Dir, c.Env = dir, env
	out, err := c.Output()
	if err != nil {
		t.Fatalf("runbook status: %v", err)
	}
	id := regexp.MustCompile(`run-[0-9]{8}-[0-9]{6}-[0-9a-f]+`).FindString(string(out))
	if id == "" {
		t.Fatalf("runbook status shows no run:\n%s", out)
	}
	return id
}
