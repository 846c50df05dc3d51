package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// webhook keeps the bodies it was posted.
type webhook struct {
	mu     sync.Mutex
	bodies []map[string]any
	url    string
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var v map[string]any
		json.Unmarshal(raw, &v)
		h.mu.Lock()
		h.bodies = append(h.bodies, v)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *webhook) posts() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...)
}

func (h *webhook) findings() []string {
	var out []string
	for _, b := range h.posts() {
		list, _ := b["findings"].([]any)
		for _, f := range list {
			m := f.(map[string]any)
			out = append(out, fmt.Sprint(m["policy_id"], " ", m["asset_id"]))
		}
	}
	return out
}

// daemon is the binary running in the background.
type daemon struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan error
}

func startVigil(t *testing.T, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(binPath, args...), done: make(chan error, 1)}
	d.cmd.Dir = testutil.Root(t)
	d.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.out.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	go func() { err := d.cmd.Wait(); pw.Close(); d.done <- err }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("vigil %s:\n%s", strings.Join(args, " "), d.output())
		}
	})
	return d
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatal("vigil did not stop within 60s of SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// metric scrapes one sample of /metrics.
func metric(addr, line string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(raw), line)
}

// sqsQueue makes a queue on goaws (which speaks SQS's query protocol).
func sqsQueue(t *testing.T, endpoint, name string) (*sqs.Client, string) {
	t.Helper()
	c := sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider("AKIDVIGILTEST", "x", "")},
		func(o *sqs.Options) { o.Protocol = awsquery.New(&smithy.ServiceSchema{Version: "2012-11-05"}) })
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return c, aws.ToString(out.QueueUrl)
}

func sendSQS(t *testing.T, c *sqs.Client, queue, path string) {
	t.Helper()
	body, err := os.ReadFile(testutil.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
}

// The README's watch flow, with the built binary, goaws as the queue and
// the AWS fake for the re-reads: an AuthorizeSecurityGroupIngress event
// opening 22 to the internet produces one VGL-NET-001 notification, and
// its replay nothing; a GuardDuty finding produces a triage card whose
// rehearsal command runs as printed against sim; SIGTERM stops it cleanly.
func TestWatchAWSEndToEnd(t *testing.T) {
	f := awsfake.Scenario()
	srv := f.Start()
	defer srv.Close()
	dir := t.TempDir()
	env := append(awsfake.Env(srv.URL), "XDG_STATE_HOME="+dir)
	inv := filepath.Join(dir, "aws.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--aws", "--regions", "eu-west-1,us-east-1", "--out", inv); code != 0 {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	f.With(func(f *awsfake.Fake) {
		g := f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.InternalGroup]
		g.Ingress = append(g.Ingress, awsfake.Perm{Protocol: "tcp", From: 22, To: 22, CIDRs: []string{"0.0.0.0/0"}})
	})
	goaws := testutil.Goaws(t)
	client, events := sqsQueue(t, goaws, "vigil-events")
	_, dlq := sqsQueue(t, goaws, "vigil-events-dlq")
	_, alerts := sqsQueue(t, goaws, "vigil-alerts")
	hook := newWebhook(t)
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
notify "secops" {
  url = %q
}
watch "aws" {
  sqs {
    queue_url             = %q
    dead_letter_queue_url = %q
    endpoint              = %q
    protocol              = "query"
    wait_time             = "1s"
  }
  inventory = [%q]
}
watch "alerts" {
  sqs {
    queue_url = %q
    endpoint  = %q
    protocol  = "query"
    wait_time = "1s"
  }
  inventory = ["examples/inventory"]
}
respond "leaked-keys" {
  source   = "guardduty"
  types    = ["UnauthorizedAccess:IAMUser/*"]
  runbook  = "leaked-aws-access-key"
  provider = "sim"
}
`, hook.url, events, dlq, goaws, inv, alerts, goaws)), 0o644)
	state := filepath.Join(dir, "state.db")
	addr := freeAddr(t)
	d := startVigil(t, env, "watch", "--config", cfg, "--store="+state, "--listen", addr)
	waitUntil(t, "the metrics endpoint", 30*time.Second, func() bool { return metric(addr, "vigil_watch_events_received_total") || metric(addr, "# HELP") })

	sg := "arn:aws:ec2:eu-west-1:111111111111:security-group/" + awsfake.InternalGroup
	sendSQS(t, client, events, "engine/event/testdata/aws/authorize-security-group-ingress.json")
	waitUntil(t, "the VGL-NET-001 notification", 30*time.Second, func() bool { return slices.Contains(hook.findings(), "VGL-NET-001 "+sg) })
	sendSQS(t, client, events, "engine/event/testdata/aws/authorize-security-group-ingress.json")
	waitUntil(t, "the replay to be skipped", 30*time.Second, func() bool {
		return metric(addr, `vigil_watch_events_processed_total{outcome="duplicate",watch="aws"} 1`)
	})
	time.Sleep(300 * time.Millisecond)
	if got := hook.findings(); len(got) != 1 || len(hook.posts()) != 1 {
		t.Errorf("notified %v in %d posts, want the one finding once", got, len(hook.posts()))
	}

	sendSQS(t, client, alerts, "examples/alerts/guardduty-eventbridge-access-key.json")
	var card map[string]any
	waitUntil(t, "the triage card", 30*time.Second, func() bool {
		for _, p := range hook.posts() {
			if p["event"] == "triage_card" {
				card = p
				return true
			}
		}
		return false
	})
	var rehearse string
	for _, c := range card["cards"].([]any) {
		for _, rb := range c.(map[string]any)["runbooks"].([]any) {
			if s, _ := rb.(map[string]any)["rehearse"].(string); s != "" && rehearse == "" {
				rehearse = s
			}
		}
	}
	// The respond rule planned the runbook, and only planned it.
	planned, _ := card["planned"].([]any)
	if len(planned) != 1 {
		t.Fatalf("planned: %v", card["planned"])
	}
	pl := planned[0].(map[string]any)
	plan, _ := pl["plan"].(string)
	if raw, err := os.ReadFile(plan); err != nil || !json.Valid(raw) || pl["apply"] != "vigil runbook apply "+plan {
		t.Errorf("plan %q: %v (%v)", plan, err, pl)
	}
	args := strings.Fields(rehearse)
	if len(args) < 4 || args[0] != "vigil" {
		t.Fatalf("no rehearsal command on the card: %v", card)
	}
	code, out := vigil(t, []string{"XDG_STATE_HOME=" + dir}, args[1:]...)
	if code != 0 || !strings.Contains(out, "AKIAQ3EGV2EXAMPLE001") {
		t.Errorf("%s: %d\n%s", rehearse, code, out)
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, d.output())
	}
	code, out = vigil(t, []string{"XDG_STATE_HOME=" + dir}, "history", "--store="+state, "--schedule", "watch/aws", "--format", "json")
	var scans []map[string]any
	json.Unmarshal([]byte(out), &scans)
	if code != 0 || len(scans) != 1 {
		t.Errorf("history: %d %s", code, out)
	}
}

// The same with Google Cloud: the built binary reads the Pub/Sub emulator,
// and a compute.firewalls.insert audit-log entry produces one VGL-NET-001
// notification; the same entry published again sends nothing more.
func TestWatchGCPEndToEnd(t *testing.T) {
	emu := testutil.PubSubEmulator(t)
	f := gcpfake.Scenario()
	f.SetClock(time.Now)
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	env := []string{"VIGIL_GCP_ENDPOINT=" + srv.REST, "VIGIL_GCP_ASSET_ENDPOINT=" + srv.Asset, "PUBSUB_EMULATOR_HOST=" + emu, "XDG_STATE_HOME=" + dir}
	inv := filepath.Join(dir, "gcp.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--gcp-scope", "organizations/684315297612", "--out", inv); code != 0 {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", emu)
	ctx := context.Background()
	ps, err := pubsub.NewClient(ctx, "vigil-test")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/vigil-test/topics/audit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/vigil-test/subscriptions/vigil",
		Topic: "projects/vigil-test/topics/audit", AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	body := `{"name":"allow-ssh-anywhere","network":"https://www.googleapis.com/compute/v1/projects/acme-prod/global/networks/prod-vpc",` +
		`"direction":"INGRESS","priority":1000,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`
	resp, err := http.Post(srv.REST+"/compute/v1/projects/acme-prod/global/firewalls", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("firewalls.insert: %v %v", err, resp)
	}
	err = gcpfake.AwaitOperation(srv.REST, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("firewalls.insert: %v", err)
	}
	hook := newWebhook(t)
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
notify "secops" {
  url = %q
}
watch "gcp" {
  pubsub {
    subscription = "projects/vigil-test/subscriptions/vigil"
  }
  inventory = [%q]
}
`, hook.url, inv)), 0o644)
	addr := freeAddr(t)
	d := startVigil(t, env, "watch", "--config", cfg, "--store="+filepath.Join(dir, "state.db"), "--listen", addr)
	waitUntil(t, "the metrics endpoint", 30*time.Second, func() bool { return metric(addr, "# HELP") })
	entry, _ := os.ReadFile(testutil.Path(t, "engine/event/testdata/gcp/compute-firewalls-insert.json"))
	pub := ps.Publisher("projects/vigil-test/topics/audit")
	defer pub.Stop()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: entry}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	fw := "VGL-NET-001 //compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-anywhere"
	waitUntil(t, "the VGL-NET-001 notification", 30*time.Second, func() bool { return slices.Contains(hook.findings(), fw) })
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: entry}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the replay to be skipped", 30*time.Second, func() bool {
		return metric(addr, `vigil_watch_events_processed_total{outcome="duplicate",watch="gcp"} 1`)
	})
	time.Sleep(300 * time.Millisecond)
	// World-open (VGL-NET-001) and not logging (VGL-NET-007), once each.
	if got := hook.findings(); !slices.Equal(got, []string{fw, "VGL-NET-007 //compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-anywhere"}) || len(hook.posts()) != 1 {
		t.Errorf("notified %v in %d posts", got, len(hook.posts()))
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// vigil serve runs the watch blocks of vigil.hcl beside its schedules, and
// serves their metrics on its /metrics.
func TestServeRunsWatchBlocks(t *testing.T) {
	f := awsfake.Scenario()
	srv := f.Start()
	defer srv.Close()
	dir := t.TempDir()
	env := append(awsfake.Env(srv.URL), "XDG_STATE_HOME="+dir)
	inv := filepath.Join(dir, "aws.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--aws", "--regions", "eu-west-1,us-east-1", "--out", inv); code != 0 {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	f.With(func(f *awsfake.Fake) {
		g := f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.InternalGroup]
		g.Ingress = append(g.Ingress, awsfake.Perm{Protocol: "tcp", From: 22, To: 22, CIDRs: []string{"0.0.0.0/0"}})
	})
	goaws := testutil.Goaws(t)
	client, events := sqsQueue(t, goaws, "vigil-events")
	hook := newWebhook(t)
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
notify "secops" {
  url = %q
}
watch "aws" {
  sqs {
    queue_url = %q
    endpoint  = %q
    protocol  = "query"
    wait_time = "1s"
  }
  inventory = [%q]
}
`, hook.url, events, goaws, inv)), 0o644)
	addr := freeAddr(t)
	d := startVigil(t, env, "serve", "--config", cfg, "--store="+filepath.Join(dir, "state.db"), "--listen", addr, "--public-metrics")
	waitUntil(t, "serve", 30*time.Second, func() bool { return metric(addr, "# HELP") })
	sendSQS(t, client, events, "engine/event/testdata/aws/authorize-security-group-ingress.json")
	sg := "arn:aws:ec2:eu-west-1:111111111111:security-group/" + awsfake.InternalGroup
	waitUntil(t, "the notification", 30*time.Second, func() bool { return slices.Contains(hook.findings(), "VGL-NET-001 "+sg) })
	waitUntil(t, "the watch's metrics on serve's /metrics", 10*time.Second, func() bool {
		return metric(addr, `vigil_watch_events_processed_total{outcome="config",watch="aws"} 1`) && metric(addr, "# TYPE go_goroutines gauge") // serve's own registry (client_golang shows no family without series: no schedule, no vigil_scans_total)
	})
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}
