package main

import (
	"context"
	"fmt"
	"net"
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
			if !runsVigil.MatchString(s) {
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

// runsVigil matches a line that runs vigil: directly, after environment
// assignments (VIGIL_STORE=h.db vigil ..., or on a line of their own
// continued by "\"), after `cd DIR &&`, or at the end of a pipe.
var runsVigil = regexp.MustCompile(`^(([A-Z_][A-Z0-9_]*=\S*\s+)*(vigil|go run \./cmd/vigil)(\s|$)|([A-Z_][A-Z0-9_]*=\S*\s+)+\\$|cd \S+ && |.*\| vigil\s)`)

// stripComment drops a trailing shell comment (" # ..."), not a '#' in a
// word such as 'revoke[*]' or a URL fragment.
func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// shellFences are the README code blocks whose vigil lines are examples.
var shellFences = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

func readmeExamples(t *testing.T) []example {
	raw, err := os.ReadFile(testutil.Path(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	var block []string
	start, in, section, lang := 0, false, "README.md", ""
	for i, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "## ") && !in:
			section = "README.md " + strings.TrimPrefix(l, "## ")
		case strings.HasPrefix(l, "```") && !in:
			lang = strings.TrimSpace(strings.TrimPrefix(l, "```"))
			in = shellFences[lang]
			block, start = nil, i+2
		case strings.HasPrefix(l, "```"):
			s := start
			for _, ex := range joinLines(func(n int) string { return fmt.Sprintf("README.md:%d", s+n) }, block) {
				ex.group = section
				out = append(out, ex)
			}
			in = false
		case in && lang == "console":
			// a transcript: commands follow "$ ", the rest is their output
			// (a continued command's next lines have no prompt)
			if c, ok := strings.CutPrefix(l, "$ "); ok {
				block = append(block, c)
			} else if n := len(block); n > 0 && strings.HasSuffix(strings.TrimSpace(block[n-1]), "\\") {
				block = append(block, l)
			} else {
				block = append(block, "")
			}
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
	// the text before Usage: is the Long description: its indented vigil
	// lines are examples too ("Start with the bundled examples:")
	section := "Long"
	for _, l := range strings.Split(string(out), "\n") {
		if l == "Usage:" || section != "Long" && regexp.MustCompile(`^[A-Z][A-Za-z ]*:$`).MatchString(l) {
			section = l
			continue
		}
		switch section {
		case "Long":
			if strings.HasPrefix(l, " ") {
				exs = append(exs, l)
			} else {
				exs = append(exs, "") // prose ends a continued line
			}
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
	"vigil serve --config vigil.hcl --store postgres://vigil@db/vigil --listen 0.0.0.0:8443 --allowed-host vigil.acme.example --tls-cert tls.crt --tls-key tls.key":                                                                                                                             "needs a PostgreSQL server and a certificate",
	"vigil runbook apply testdata/team/contain-web.hcl --provider sim -i examples/inventory --state postgres://vigil@db.internal/vigil --server https://vigil.internal:8443 -var incident=INC-1 -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1": "needs a PostgreSQL server and vigil serve to sign in to (TestCLIRunApprovedThroughServe runs it)",
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

// onPostgres are the examples that name a PostgreSQL store: they run, with
// the store's URL replaced by a server the test starts (testutil.Postgres:
// skipped where the machine has no PostgreSQL, an error in CI).
var onPostgres = map[string]bool{
	"vigil history --store postgres://vigil@db/vigil --schedule hourly-prod --format json":                                true,
	"vigil scan --shard 1/3 --shard-group job-7 --schedule nightly --store=postgres://vigil@db/vigil examples/inventory/": true,
}

// pgURL is the examples' PostgreSQL store.
const pgURL = "postgres://vigil@db/vigil"

// outcome is what an example must do when it does not simply succeed:
// its exit code, and a line of its output that shows it stopped for the
// documented reason (exit 2 is also "bad input": a missing file or an
// unknown instance must not pass for the confirmation).
type outcome struct {
	exit int
	out  string
}

// confirmHint is how runbook apply refuses to act on the real cloud
// without a terminal to confirm the plan on.
const confirmHint = "asks to confirm the plan, but stdin is not a terminal"

// wantExit are the examples whose documented outcome is not success (exit
// 0, or 1 = findings for scan and check).
var wantExit = map[string]outcome{
	"vigil runbook apply plan.json": {3, "Waiting for approval of: isolate"}, // "stops at the approval, exit 3"
	// the README's applies against the real cloud (the fakes here) plan,
	// then ask for 'yes'; a test has no terminal, so they refuse with the
	// hint after the plan
	"vigil runbook apply compromised-ec2 -i aws.ndjson -var instance=arn:aws:ec2:eu-west-1:111111111111:instance/i-0aaaaaaaaaaaa0001 -var incident=INC-7 --aws-evidence-role arn:aws:iam::333333333333:role/vigil-evidence":                                                                                                                                                                                                         {2, confirmHint},
	"vigil runbook apply compromised-vm-gcp -i org.ndjson -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 -var incident=INC-2041":                                                                                                                                                                                                                                                    {2, confirmHint},
	"vigil runbook apply compromised-ec2 -i aws.ndjson -var instance=arn:aws:ec2:eu-west-1:111111111111:instance/i-0aaaaaaaaaaaa0001 -var incident=INC-7 -var detected_at=2026-11-27T09:00:00Z -var principal=AKIAIOSFODNN7EXAMPLE --approve isolate --aws-evidence-role arn:aws:iam::333333333333:role/vigil-evidence":                                                                                                             {2, confirmHint},
	"vigil runbook apply compromised-vm-gcp -i org.ndjson -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 -var incident=INC-2041 -var detected_at=2026-11-27T08:30:00Z -var worker_service_account=vigil-hash-writer@acme-sec-forensics.iam.gserviceaccount.com -var worker_subnetwork=projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1 --approve isolate": {2, confirmHint},
}

// findingsExit are the commands for which exit 1 means "findings at or
// above --fail-on", a result; for every other command it is a failure (a
// step failed, a journal is not intact, a policy test failed ...).
var findingsExit = map[string]bool{"scan": true, "check": true}

// lastCommand is the vigil subcommand whose exit status sh returns for a
// line: the last one of a pipeline or list.
func lastCommand(line string) string {
	segs := regexp.MustCompile(`;|&&|\|\||\|`).Split(line, -1)
	f := strings.Fields(segs[len(segs)-1])
	for len(f) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(f[0]) {
		f = f[1:]
	}
	if len(f) > 1 && f[0] == "vigil" {
		return f[1]
	}
	return ""
}

// daemons run until stopped: they must start and stop cleanly on SIGTERM.
var daemons = regexp.MustCompile(`^vigil (serve|watch) `)

// sandbox is a directory where the examples' file names exist: the
// bundled examples, the names the help uses (inv/, resources.ndjson,
// waivers.hcl, ./policies, plan.json ...) and seeds (the inventories the
// README collects from the clouds: aws.ndjson, org.ndjson).
func sandbox(t *testing.T, seeds map[string][]byte) string {
	root := testutil.Root(t)
	dir := t.TempDir()
	for name, b := range seeds {
		// copies, not links: an example may write the file (collect --output)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
// AWS and Google Cloud fakes, and checks the exit codes: 0, or 1 for
// scan and check (findings), unless wantExit gives another exit and the
// output that shows why. A new example that does not run fails.
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

	// the inventories the README's "collect" lines write, collected from
	// the fakes once, for the sections that apply runbooks to them
	seeds := map[string][]byte{}
	seedDir := t.TempDir()
	for name, args := range map[string][]string{
		"aws.ndjson": {"inventory", "collect", "-q", "--aws", "--regions", "eu-west-1", "--output", "aws.ndjson"},
		"org.ndjson": {"inventory", "collect", "-q", "--gcp-scope", "organizations/684315297612", "--output", "org.ndjson"},
	} {
		c := exec.Command(binPath, args...)
		c.Dir, c.Env = seedDir, env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("collecting %s from the fake: %v\n%s", name, err, out)
		}
		b, err := os.ReadFile(filepath.Join(seedDir, name))
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = b
	}

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
	var pgExamples []example
	for _, where := range order {
		t.Run(where, func(t *testing.T) {
			dir := sandbox(t, seeds)
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
				if onPostgres[ex.line] {
					pgExamples = append(pgExamples, ex)
					continue
				}
				line := ex.line
				if runIDs.MatchString(line) {
					line = runIDs.ReplaceAllString(line, latestRun(t, dir, cmdEnv))
				}
				line = strings.Replace(line, "go run ./cmd/vigil ", "vigil ", 1)
				want, special := wantExit[ex.line]
				code, out := runExample(t, dir, cmdEnv, line, daemons.MatchString(line) && !strings.Contains(line, "--show-signing-key"))
				findings := findingsExit[lastCommand(line)]
				switch {
				case special && (code != want.exit || !strings.Contains(out, want.out)):
					t.Errorf("%s: %s\nexit %d, want %d and %q\n%s", ex.where, ex.line, code, want.exit, want.out, out)
				case !special && findings && code != 0 && code != 1:
					t.Errorf("%s: %s\nexit %d, want 0 or 1 (findings)\n%s", ex.where, ex.line, code, out)
				case !special && !findings && code != 0:
					t.Errorf("%s: %s\nexit %d, want 0\n%s", ex.where, ex.line, code, out)
				}
			}
		})
	}
	t.Run("PostgreSQL", func(t *testing.T) {
		if len(pgExamples) != len(onPostgres) {
			t.Errorf("%d PostgreSQL examples found, onPostgres lists %d", len(pgExamples), len(onPostgres))
		}
		url := testutil.Postgres(t)
		dir := sandbox(t, seeds)
		cmdEnv := append(append([]string(nil), env...), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
		for _, ex := range pgExamples {
			if !strings.Contains(ex.line, pgURL) {
				t.Fatalf("%s: names no %s: %s", ex.where, pgURL, ex.line)
			}
			line := strings.ReplaceAll(ex.line, pgURL, url)
			code, out := runExample(t, dir, cmdEnv, line, false)
			if ok := code == 0 || code == 1 && findingsExit[lastCommand(line)]; !ok {
				t.Errorf("%s: %s\n(run against %s) exit %d\n%s", ex.where, ex.line, url, code, out)
			}
		}
	})
	for line := range onPostgres {
		if !seen[line] {
			t.Errorf("onPostgres lists %q, which is no longer an example", line)
		}
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
		cmd = exec.CommandContext(ctx, "sh", "-c", "exec "+onFreePort(t, line))
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

var listenFlag = regexp.MustCompile(`--listen[ =](127\.0\.0\.1|localhost):[0-9]+`)

// onFreePort moves a daemon example off its printed port (8080 may be held
// by anything else on the machine, a parallel test package included) to
// one free now; a serve example without --listen gets one, instead of the
// default 127.0.0.1:8080.
func onFreePort(t *testing.T, line string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if listenFlag.MatchString(line) {
		return listenFlag.ReplaceAllString(line, "--listen "+addr)
	}
	if strings.HasPrefix(line, "vigil serve ") && !strings.Contains(line, "--listen") {
		return line + " --listen " + addr
	}
	return line
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
