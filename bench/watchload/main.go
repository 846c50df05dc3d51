// Command watchload measures `vigil watch` under load, end to end: it
// serves the AWS fake with N security groups, records their inventory,
// opens port 22 to the internet on all of them, starts goaws (an SQS
// emulator the project does not write) and the built vigil binary, then
// publishes one AuthorizeSecurityGroupIngress event per group at a fixed
// rate and times each from publication to the VGL-NET-001 notification
// its webhook receives.
//
// With -kill-at K it kills the watcher (-signal KILL or TERM) once K events
// are published and starts it again at once. Delivery is at least once,
// made idempotent by the Idempotency-Key: the webhook dedupes nothing and
// counts raw posts, the distinct keys, and the redeliveries (posts whose
// key it had received already). Before the restart it reads the killed
// watcher's in-flight log (watch/bench/notify-inflight.log), which says
// exactly which posts were in doubt at the kill (sent, no answer read). It
// fails when an event is lost (expected, never notified), when a key is
// received twice that was not in doubt at a kill (vigil notifying twice by
// itself), when one event is notified under two keys (a receiver
// deduplicating by key would see it twice), when vigil's own
// "redelivering N in-doubt notifications" disagrees with its log, and,
// with -max-p99, when the p99 latency is above the target.
//
// It prints one JSON object; bench/watch.sh runs it and renders the table.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/watch"
)

type result struct {
	Events      int     `json:"events"`
	Rate        float64 `json:"rate_per_s"`
	PublishSecs float64 `json:"publish_seconds"`
	Kill        string  `json:"kill,omitempty"`
	KilledAt    int     `json:"killed_at,omitempty"`
	KillInPost  bool    `json:"kill_in_post,omitempty"`
	// Distinct are the notifications received, by Idempotency-Key; Posts
	// the raw posts; Redelivered the posts whose key had been received
	// before. Lost are the events expected and never notified.
	Distinct    int `json:"distinct_notifications"`
	Posts       int `json:"raw_posts"`
	Redelivered int `json:"redeliveries"`
	Lost        int `json:"lost"`
	// InDoubt are the posts the killed watcher's in-flight log had in
	// doubt; ReceivedBeforeKill how many of them the webhook had received
	// already (the others died on the way: their resend is the first);
	// VigilSaid the N of the restarted watcher's "redelivering N
	// in-doubt notifications" (-1: it said none).
	InDoubt            []string `json:"in_doubt_at_kill"`
	InDoubtCount       int      `json:"in_doubt_count"`
	ReceivedBeforeKill int      `json:"in_doubt_received_before_kill"`
	VigilSaid          int      `json:"vigil_said_redelivering"`
	// Unexplained are the redeliveries whose key was not in doubt at a
	// kill; TwoKeys the events notified under more than one key.
	Unexplained int     `json:"redeliveries_not_in_doubt"`
	TwoKeys     int     `json:"events_under_two_keys"`
	NoKey       int     `json:"posts_without_idempotency_key"`
	EventScans  int     `json:"event_scans"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	// After the restart: latencies of the events published while the
	// watcher was down or starting, reported apart.
	Restart struct {
		Events int     `json:"events"`
		P50    float64 `json:"p50_ms"`
		P99    float64 `json:"p99_ms"`
		Down   float64 `json:"down_ms"`
	} `json:"restart,omitempty"`
}

func main() {
	n := flag.Int("events", 1000, "events to publish (one security group each)")
	rate := flag.Float64("rate", 200, "events published per second")
	killAt := flag.Int("kill-at", 0, "kill the watcher once this many events are published (0: never)")
	inPost := flag.Bool("kill-in-post", false, "with -kill-at: the webhook kills the watcher while it holds the first post after that many events are published, before it answers (a post in doubt for certain)")
	sig := flag.String("signal", "KILL", "how to kill it: KILL or TERM")
	vigilBin := flag.String("vigil", "bench/bin/vigil", "the vigil binary")
	goawsBin := flag.String("goaws", "", "the goaws binary (default: built with go install)")
	concurrency := flag.Int("concurrency", 16, "the watch's concurrency")
	work := flag.String("dir", "", "working directory (default: a temporary one, removed)")
	maxP99 := flag.Float64("max-p99", 0, "fail (exit 1) when the p99 latency is above this many milliseconds")
	flag.Parse()
	res, err := run(*n, *rate, *killAt, *inPost, *sig, *vigilBin, *goawsBin, *concurrency, *work)
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchload:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(res)
	fail := false
	failf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "watchload: FAIL: "+format+"\n", args...)
		fail = true
	}
	if res.Lost > 0 || res.EventScans != res.Events {
		failf("%d events lost, %d event scans recorded for %d events", res.Lost, res.EventScans, res.Events)
	}
	if res.Unexplained > 0 {
		failf("%d posts repeated a key that was not in doubt at a kill: vigil notified twice by itself", res.Unexplained)
	}
	if res.TwoKeys > 0 {
		failf("%d events were notified under two Idempotency-Keys: a receiver deduplicating by key sees them twice", res.TwoKeys)
	}
	if res.Kill != "" && max(res.VigilSaid, 0) != len(res.InDoubt) {
		failf("the in-flight log had %d posts in doubt at the kill, the restarted watcher said it redelivers %d", len(res.InDoubt), res.VigilSaid)
	}
	if res.NoKey > 0 {
		failf("%d posts had no Idempotency-Key", res.NoKey)
	}
	if *maxP99 > 0 && res.P99 > *maxP99 {
		failf("p99 %.0f ms is above the target of %.0f ms", res.P99, *maxP99)
	}
	if fail {
		os.Exit(1)
	}
}

func sgID(i int) string { return fmt.Sprintf("sg-0b%015x", i) }

func run(n int, rate float64, killAt int, inPost bool, sig, vigilBin, goawsBin string, concurrency int, dir string) (*result, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-watchload-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	// The cloud: N closed groups, recorded, then all opened.
	f := awsfake.New(awsfake.ProdAccount)
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		reg.VPCs["vpc-0b0000000000001"] = &awsfake.VPC{ID: "vpc-0b0000000000001", CIDR: "10.0.0.0/16"}
		for i := 0; i < n; i++ {
			reg.SecurityGroups[sgID(i)] = &awsfake.SecurityGroup{ID: sgID(i), Name: fmt.Sprintf("bench-%d", i), VpcID: "vpc-0b0000000000001",
				Ingress: []awsfake.Perm{{Protocol: "tcp", From: 22, To: 22, CIDRs: []string{"10.0.0.0/8"}}}}
		}
	})
	cloud := f.Start()
	defer cloud.Close()
	env := append(os.Environ(), awsfake.Env(cloud.URL)...)
	inv := filepath.Join(dir, "inventory.ndjson")
	if out, err := command(env, vigilBin, "inventory", "collect", "--aws", "--regions", "eu-west-1", "--out", inv).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("collect: %v\n%s", err, out)
	}
	f.With(func(f *awsfake.Fake) {
		for _, g := range f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups {
			g.Ingress = append(g.Ingress, awsfake.Perm{Protocol: "tcp", From: 22, To: 22, CIDRs: []string{"0.0.0.0/0"}})
		}
	})

	// The queue.
	if goawsBin == "" {
		var err error
		if goawsBin, err = buildGoaws(); err != nil {
			return nil, err
		}
	}
	endpoint, stopGoaws, err := startGoaws(goawsBin, dir)
	if err != nil {
		return nil, err
	}
	defer stopGoaws()
	client := sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider("AKIDVIGILTEST", "x", "")},
		func(o *sqs.Options) { o.Protocol = awsquery.New(&smithy.ServiceSchema{Version: "2012-11-05"}) })
	// A short visibility timeout: what a killed watcher had received comes
	// back after 5 s (vigil extends it while it works on a message).
	q, err := client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("vigil-bench"),
		Attributes: map[string]string{"VisibilityTimeout": "5"}})
	if err != nil {
		return nil, err
	}
	queue := aws.ToString(q.QueueUrl)

	// The webhook: which Idempotency-Key each group's finding came
	// under, when each key first arrived, and every post. It dedupes
	// nothing.
	var mu sync.Mutex
	firstAt := map[string]time.Time{} // key -> first received
	keysOf := map[string][]string{}   // group -> distinct keys
	posts, noKey, redelivered := 0, 0, 0
	var repeated []string // the key of every redelivery
	// With -kill-in-post the webhook kills the watcher itself, holding
	// the first post that arrives once kill-at events are published, and
	// answers only after: that post is in doubt for certain.
	var hookKill func()
	var killOnce sync.Once
	var publishedN atomic.Int64
	publishedN.Store(-1)
	published := make([]time.Time, n)
	res := &result{Events: n, Rate: rate, VigilSaid: -1, InDoubt: []string{}}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		raw, _ := io.ReadAll(r.Body)
		var body struct {
			Findings []struct {
				PolicyID string `json:"policy_id"`
				AssetID  string `json:"asset_id"`
			} `json:"findings"`
		}
		json.Unmarshal(raw, &body)
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		kill := hookKill
		mu.Unlock()
		if inPost && kill != nil && publishedN.Load() >= int64(killAt) {
			defer kill() // after the receipt is counted, before the answer
		}
		mu.Lock()
		defer mu.Unlock()
		posts++
		if key == "" {
			noKey++
			key = fmt.Sprintf("(none %d)", posts)
		}
		if _, seen := firstAt[key]; seen {
			redelivered++
			repeated = append(repeated, key)
			return
		}
		firstAt[key] = now
		for _, fd := range body.Findings {
			if fd.PolicyID == "VGL-NET-001" {
				keysOf[fd.AssetID] = append(keysOf[fd.AssetID], key)
			}
		}
	}))
	defer hook.Close()

	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`notify "bench" {
  url = %q
}
watch "bench" {
  sqs {
    queue_url = %q
    endpoint  = %q
    protocol  = "query"
    wait_time = "1s"
    visibility_timeout = "5s"
  }
  inventory   = [%q]
  policies    = ["VGL-NET-001"]
  concurrency = %d
}
`, hook.URL, queue, endpoint, inv, concurrency)), 0o644)
	state := filepath.Join(dir, "state.db")
	logf, err := os.Create(filepath.Join(dir, "watch.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	start := func() (*exec.Cmd, error) {
		cmd := command(env, vigilBin, "watch", "--config", cfg, "--store="+state, "--dir", filepath.Join(dir, "watch"), "--grace", "20s", "--rate-limit", "2000")
		cmd.Stdout, cmd.Stderr = logf, logf
		return cmd, cmd.Start()
	}
	watcher, err := start()
	if err != nil {
		return nil, err
	}
	defer func() { watcher.Process.Kill(); watcher.Wait() }()
	if err := waitLog(logf.Name(), "watch: consuming", 1, 60*time.Second); err != nil {
		return nil, err
	}

	template, err := os.ReadFile("engine/event/testdata/aws/authorize-security-group-ingress.json")
	if err != nil {
		return nil, err
	}
	var killedAt, restarted time.Time
	// doKill kills the watcher and restarts it once it is gone.
	doKill := func() chan struct{} {
		gone := make(chan struct{})
		mu.Lock()
		killedAt = time.Now()
		victim := watcher
		mu.Unlock()
		s := syscall.SIGKILL
		if sig == "TERM" {
			s = syscall.SIGTERM
		}
		victim.Process.Signal(s)
		// Publishing goes on while it is down; it comes back at once
		// (after a TERM, once it has finished its events in flight).
		go func(old *exec.Cmd) {
			old.Wait()
			close(gone)
			// What the killed watcher had in doubt, read before the
			// new one touches the log.
			doubt, err := watch.InDoubt(filepath.Join(dir, "watch", "bench", watch.InFlightFile))
			if err != nil {
				fmt.Fprintln(os.Stderr, "watchload: read the in-flight log:", err)
			}
			mu.Lock()
			res.InDoubt = append(res.InDoubt, doubt...)
			for _, k := range doubt {
				if _, ok := firstAt[k]; ok {
					res.ReceivedBeforeKill++
				}
			}
			mu.Unlock()
			w, err := start()
			if err != nil {
				fmt.Fprintln(os.Stderr, "watchload: restart:", err)
				return
			}
			mu.Lock()
			watcher = w
			mu.Unlock()
		}(victim)
		mu.Lock()
		res.Kill, res.KilledAt, res.KillInPost = sig, killAt, inPost
		mu.Unlock()
		return gone
	}
	mu.Lock()
	hookKill = func() {
		// Answer only once the watcher is gone: it never reads the 2xx.
		var gone chan struct{}
		killOnce.Do(func() { gone = doKill() })
		if gone != nil {
			<-gone
		}
	}
	mu.Unlock()
	interval := time.Duration(float64(time.Second) / rate)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if killAt > 0 && i == killAt && !inPost {
			doKill()
		}
		publishedN.Store(int64(i))
		body := bytes.ReplaceAll(template, []byte("sg-0aaaaaaaaaaaa0003"), []byte(sgID(i)))
		body = bytes.Replace(body, []byte(`"eventID": "`), []byte(fmt.Sprintf(`"eventID": "bench-%06d-`, i)), 1)
		body = bytes.Replace(body, []byte(`"id": "`), []byte(fmt.Sprintf(`"id": "bench-%06d-`, i)), 1)
		published[i] = time.Now()
		if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(body))}); err != nil {
			return nil, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	res.PublishSecs = time.Since(t0).Seconds()
	arn := func(i int) string { return "arn:aws:ec2:eu-west-1:111111111111:security-group/" + sgID(i) }
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := len(keysOf)
		mu.Unlock()
		if got == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if killAt > 0 {
		if err := waitLog(logf.Name(), "watch: consuming", 2, 30*time.Second); err == nil {
			restarted = fileTimeOf(logf.Name(), "watch: consuming", 2)
		}
	}
	// Anything late would be a duplicate: give it a moment.
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	var lat, restartLat []float64
	for i := 0; i < n; i++ {
		keys := keysOf[arn(i)]
		if len(keys) == 0 {
			res.Lost++
			continue
		}
		if len(keys) > 1 {
			res.TwoKeys++
		}
		ms := float64(firstAt[keys[0]].Sub(published[i]).Microseconds()) / 1000
		if killAt > 0 && !restarted.IsZero() && published[i].After(killedAt) && published[i].Before(restarted) {
			restartLat = append(restartLat, ms)
		} else {
			lat = append(lat, ms)
		}
	}
	res.Distinct, res.Posts, res.Redelivered, res.NoKey = len(firstAt), posts, redelivered, noKey
	res.InDoubtCount = len(res.InDoubt)
	for _, k := range repeated {
		if !slices.Contains(res.InDoubt, k) {
			res.Unexplained++
		}
	}
	// A key delivered that is no bench group's: counted, never silently
	// ignored (it would be a finding on an asset the bench did not make).
	for id := range keysOf {
		if !strings.HasPrefix(id, "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0b") {
			fmt.Fprintf(os.Stderr, "watchload: a notification for %s, which the bench did not open\n", id)
		}
	}
	if raw, err := os.ReadFile(logf.Name()); err == nil {
		if m := saidRe.FindSubmatch(raw); m != nil {
			res.VigilSaid, _ = strconv.Atoi(string(m[1]))
		}
	}
	res.P50, res.P90, res.P99, res.Max = pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100)
	if len(restartLat) > 0 {
		res.Restart.Events, res.Restart.P50, res.Restart.P99 = len(restartLat), pct(restartLat, 50), pct(restartLat, 99)
		res.Restart.Down = float64(restarted.Sub(killedAt).Milliseconds())
	}
	watcher.Process.Signal(syscall.SIGTERM)
	watcher.Wait()
	if h, err := store.OpenHistory(context.Background(), state); err == nil {
		scans, _ := h.Scans(context.Background(), "watch/bench", 0)
		res.EventScans = len(scans)
		h.Close()
	}
	return res, nil
}

// saidRe is the restarted watcher's line about the posts in doubt.
var saidRe = regexp.MustCompile(`redelivering (\d+) in-doubt notifications`)

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func command(env []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}

// waitLog waits for the k-th line containing s.
func waitLog(path, s string, k int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		raw, _ := os.ReadFile(path)
		if strings.Count(string(raw), s) >= k {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	raw, _ := os.ReadFile(path)
	return fmt.Errorf("no %q in the watcher's log after %s:\n%s", s, d, raw)
}

// fileTimeOf reads the time= of the k-th log line containing s.
func fileTimeOf(path, s string, k int) time.Time {
	raw, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, s) {
			if k--; k == 0 {
				f := strings.Fields(line)
				if len(f) > 0 {
					t, _ := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time="))
					return t
				}
			}
		}
	}
	return time.Time{}
}

// buildGoaws installs goaws from the module proxy into the temporary
// directory (as the tests do), outside this module.
func buildGoaws() (string, error) {
	bin := filepath.Join(os.TempDir(), "vigil-goaws-v0.4.5", "goaws")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	gobin, err := os.MkdirTemp("", "vigil-goaws-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(gobin)
	cmd := exec.Command("go", "install", "github.com/Admiral-Piett/goaws/app/cmd@v0.4.5")
	cmd.Dir = gobin
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build goaws: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Dir(bin), 0o755)
	return bin, os.Rename(filepath.Join(gobin, "cmd"), bin)
}

func startGoaws(bin, dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "goaws.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf("Local:\n  Host: 127.0.0.1\n  Port: %d\n  Region: eu-west-1\n  AccountId: \"111111111111\"\n  LogToFile: false\n"+
		"  QueueAttributeDefaults:\n    VisibilityTimeout: 30\n    ReceiveMessageWaitTimeSeconds: 0\n    MaximumMessageSize: 262144\n", port)), 0o644)
	cmd := exec.Command(bin, "-config", conf)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(url + "/health"); err == nil {
			resp.Body.Close()
			return url, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("goaws did not start")
}
