package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// call is one API request with a bearer token; the answer's JSON is
// decoded into out when given.
func call(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

var servingRe = regexp.MustCompile(`serving on (http://\S+)`)

// serveAt waits for a daemon's "serving on" line and returns its base URL.
func serveAt(t *testing.T, d *daemon) string {
	t.Helper()
	waitUntil(t, "serve to listen", 60*time.Second, func() bool { return servingRe.MatchString(d.output()) })
	return servingRe.FindStringSubmatch(d.output())[1]
}

// Three replicas of vigil serve share one PostgreSQL, on a fast clock
// (a minute passes in 5 seconds, 10 under -race). Over ten ticks each of two schedules is
// recorded exactly once per tick. The replica that holds schedule a's
// lock at the first of them is killed there (SIGKILL, holding the lock
// mid-run): another replica records that tick.
func TestReplicasShareSchedules(t *testing.T) {
	pg := testutil.Postgres(t)
	dir := t.TempDir()
	// A small inventory and few policies: a tick's scan must end well
	// within its interval on a loaded machine, or the next tick is missed
	// (as cron would: ticks are not caught up).
	raw, err := os.ReadFile(testutil.Path(t, "examples/inventory/gcp-resources.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	inv := filepath.Join(dir, "small.ndjson")
	os.WriteFile(inv, []byte(strings.Join(lines[:min(12, len(lines))], "")), 0o644)
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(`
schedule "a" {
  cron     = "* * * * *"
  sources  = ["`+inv+`"]
  policies = ["VGL-NET-001"]
}
schedule "b" {
  cron     = "* * * * *"
  sources  = ["`+inv+`"]
  policies = ["VGL-NET-*"]
}
`), 0o644)
	rate := 12.0 // fake seconds per wall second: a tick every 5s
	if raceEnabled {
		rate = 6 // the race detector slows the scans down
	}
	start := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	anchor := time.Now()
	fakeNow := func() time.Time { return start.Add(time.Duration(float64(time.Since(anchor)) * rate)) }
	hold := filepath.Join(dir, "hold")
	env := []string{fmt.Sprintf("VIGIL_FAKE_CLOCK=%s@%dx%g", start.Format(time.RFC3339), anchor.UnixMilli(), rate),
		"VIGIL_FAILPOINT_HOLD=scan:a=" + hold}
	var replicas []*daemon
	for i := 0; i < 3; i++ {
		replicas = append(replicas, startVigil(t, env, "serve", "--config", cfg, "--store="+pg, "--listen", "127.0.0.1:0",
			"--tokens-file", writeTokens(t, dir)))
	}
	for _, r := range replicas {
		serveAt(t, r)
	}
	// Every replica waits for the next tick now: the window is the ten
	// ticks from it, and the first replica to take schedule a's lock
	// from now on holds it until killed.
	first := fakeNow().Truncate(time.Minute).Add(time.Minute)
	window := make([]time.Time, 10)
	for i := range window {
		window[i] = first.Add(time.Duration(i) * time.Minute)
	}
	os.WriteFile(hold, nil, 0o644)
	reached := regexp.MustCompile(`failpoint scan:a reached \(pid (\d+)\)`)
	var killed int
	waitUntil(t, "a replica to hold schedule a's lock", 60*time.Second, func() bool {
		for _, r := range replicas {
			if m := reached.FindStringSubmatch(r.output()); m != nil {
				killed, _ = strconv.Atoi(m[1])
				r.cmd.Process.Signal(syscall.SIGKILL)
				return true
			}
		}
		return false
	})
	os.Remove(hold)

	h, err := store.OpenHistory(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sched, err := store.SchedulingOf(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	last := window[len(window)-1]
	waitUntil(t, "the ten ticks of both schedules", 3*time.Minute, func() bool {
		for _, name := range []string{"a", "b"} {
			ticks, err := sched.Ticks(context.Background(), name)
			if err != nil || len(ticks) == 0 || ticks[len(ticks)-1].Tick.Before(last) {
				return false
			}
		}
		return true
	})
	for _, r := range replicas {
		if r.cmd.Process.Pid != killed {
			if code := r.stop(t); code != 0 {
				t.Errorf("replica %d exited %d", r.cmd.Process.Pid, code)
			}
		}
	}
	killedHolder := fmt.Sprintf("/%d", killed)
	for _, name := range []string{"a", "b"} {
		ticks, err := sched.Ticks(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		count := map[time.Time]int{}
		holders := map[string]int{}
		for _, tk := range ticks {
			count[tk.Tick.UTC()]++
			holders[tk.Holder]++
			if name == "a" && strings.HasSuffix(tk.Holder, killedHolder) && !tk.Tick.Before(first) {
				t.Errorf("schedule a's tick %s recorded by the killed replica %s", tk.Tick, tk.Holder)
			}
		}
		for _, w := range window {
			if count[w] != 1 {
				t.Errorf("schedule %s, tick %s: recorded %d times, want 1", name, w.Format("15:04"), count[w])
			}
		}
		scans, err := h.Scans(context.Background(), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A scan is recorded with its tick, in one transaction: as many
		// scans as ticks, none twice.
		if len(scans) != len(ticks) {
			t.Errorf("schedule %s: %d scans for %d ticks", name, len(scans), len(ticks))
		}
		t.Logf("schedule %s: %d ticks, by %v", name, len(ticks), holders)
	}
}

// writeTokens writes a tokens file with one admin token (the replicas
// test does not sign in: it reads the database).
func writeTokens(t *testing.T, dir string) string {
	path := filepath.Join(dir, "tokens")
	if _, err := os.Stat(path); err != nil {
		os.WriteFile(path, []byte("ops admin "+strings.Repeat("a1", 20)+"\n"), 0o600)
	}
	return path
}

// A run started with the CLI against the team's PostgreSQL waits for a
// second person: it shows in serve's API, a signed-in approver (not the
// CLI's user) approves it there, and the CLI run completes with a journal
// that verifies and names the approver.
func TestCLIRunApprovedThroughServe(t *testing.T) {
	pg := testutil.Postgres(t)
	idp := testutil.NewIdP(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
server {
  oidc {
    issuer    = %q
    client_id = %q
  }
  roles {
    viewer    = ["ir-viewers"]
    responder = ["ir-team"]
    approver  = ["ir-leads"]
  }
  runbooks {
    provider  = "sim"
    inventory = [%q]
    dirs      = [%q]
  }
}
`, idp.URL, idp.ClientID, testutil.Path(t, "examples/inventory"), testutil.Path(t, "testdata/team"))), 0o644)
	srv := startVigil(t, nil, "serve", "--config", cfg, "--store="+pg, "--listen", "127.0.0.1:0")
	base := serveAt(t, srv)
	bob := idp.Token(t, map[string]any{"sub": "u-2", "email": "bob@acme.example", "email_verified": true, "groups": []string{"ir-leads"}})
	victor := idp.Token(t, map[string]any{"sub": "u-4", "email": "victor@acme.example", "email_verified": true, "groups": []string{"ir-viewers"}})

	// alice starts the run signed in; she is an approver too, so only the
	// two-person rule can refuse her own approval.
	alice := idp.Token(t, map[string]any{"sub": "u-1", "email": "alice@acme.example", "email_verified": true, "groups": []string{"ir-team", "ir-leads"}})
	apply := []string{"runbook", "apply", "testdata/team/contain-web.hcl", "--provider", "sim",
		"-i", "examples/inventory", "-var", "instance=" + webVM, "-var", "incident=INC-77", "--state", pg}

	fakeWhoami := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"subject":"oidc:%s#u-1","name":"alice@acme.example","email":"alice@acme.example","role":"approver","via":"oidc"}`, idp.URL)
	}))
	defer fakeWhoami.Close()
	otherPub, err := makeServeKeyPub(dir)
	if err != nil {
		t.Fatal(err)
	}

	// The attack the rule is about: a run started unverified (no token, or
	// a self-declared --actor naming someone else) could be approved by its
	// starter as "another person". It is refused before anything runs.
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no sign-in", nil, nil, "VIGIL_SERVER and VIGIL_TOKEN are not set"},
		{"--actor", nil, []string{"--actor", "bob"}, "--actor cannot name who starts such a run"},
		{"a token but no server", []string{"VIGIL_TOKEN=" + alice}, nil, "neither --server nor VIGIL_SERVER is set"},
		{"signed in, renamed by --actor", []string{"VIGIL_TOKEN=" + alice}, []string{"--server", base, "--actor", "bob"}, "--actor cannot rename a signed-in starter"},
		{"a wrong token", []string{"VIGIL_TOKEN=nope"}, []string{"--server", base}, "refused VIGIL_TOKEN (401)"},
		// a viewer starts no run, through the API or the CLI: else one
		// approver could start a run under a viewer's token and approve it
		{"a viewer's token", []string{"VIGIL_TOKEN=" + victor}, []string{"--server", base, "--no-wait"}, "will not let VIGIL_TOKEN start a run (403): starting a run needs the responder role (or higher); victor@acme.example is a viewer"},
		// /api/whoami's answer counts only as far as serve's signature,
		// checked with the key pinned here, vouches for it.
		{"a fake whoami", []string{"VIGIL_TOKEN=" + alice}, []string{"--server", fakeWhoami.URL}, "is not vouched for by vigil serve: it is not signed by vigil serve"},
		{"no serve key pinned", []string{"VIGIL_TOKEN=" + alice, "VIGIL_SERVE_PUBLIC_KEY="}, []string{"--server", base}, "nothing here says which key is serve's"},
		{"another key pinned", []string{"VIGIL_TOKEN=" + alice, "VIGIL_SERVE_PUBLIC_KEY=" + otherPub}, []string{"--server", base}, "not with the trusted serve key"},
	} {
		code, out := vigil(t, append([]string{"VIGIL_SERVER=", "VIGIL_TOKEN="}, tc.env...), append(apply, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want 2 and %q:\n%s", tc.name, code, tc.want, out)
		}
		if strings.Contains(out, "succeeded") {
			t.Errorf("%s: something ran:\n%s", tc.name, out)
		}
	}
	var none []struct{}
	if call(t, "GET", base+"/api/runs", victor, nil, &none); len(none) != 0 {
		t.Fatalf("refused applies left %d runs", len(none))
	}

	cli := startVigil(t, []string{"VIGIL_APPROVAL_POLL=200ms", "VIGIL_SERVER=" + base, "VIGIL_TOKEN=" + alice}, apply...)

	type view struct {
		Run struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Waiting []struct {
				Address          string `json:"address"`
				DistinctApprover bool   `json:"distinct_approver"`
			} `json:"waiting"`
			PlanSHA256 string `json:"plan_sha256"`
			Held       bool   `json:"held"`
			Starter    struct {
				Subject  string `json:"subject"`
				Verified bool   `json:"verified"`
			} `json:"starter"`
		} `json:"run"`
	}
	var id string
	var v view
	waitUntil(t, "the CLI's run to wait for an approval in the API", 60*time.Second, func() bool {
		var runs []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if call(t, "GET", base+"/api/runs", victor, nil, &runs) != 200 || len(runs) == 0 {
			return false
		}
		id = runs[0].ID
		call(t, "GET", base+"/api/runs/"+id, victor, nil, &v)
		// The CLI holds the run (running) while it waits.
		return len(v.Run.Waiting) == 1
	})
	if v.Run.Waiting[0].Address != "isolate" || !v.Run.Waiting[0].DistinctApprover || !v.Run.Held || v.Run.Status != "running" {
		t.Fatalf("the waiting run: %+v", v.Run)
	}
	// The API shows who holds the run and until when, never the lease's
	// token (with it, anyone could act as the holder).
	if st, err := store.OpenRuns(context.Background(), pg); err != nil {
		t.Fatal(err)
	} else {
		l, err := st.Lease(context.Background(), id)
		st.Close()
		req, _ := http.NewRequest("GET", base+"/api/runs/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+victor)
		resp, rerr := http.DefaultClient.Do(req)
		if err != nil || rerr != nil || l == nil || l.Token == "" {
			t.Fatalf("the CLI's lease: %v %v %v", l, err, rerr)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(raw), l.Token) || !strings.Contains(string(raw), `"expires_at"`) {
			t.Errorf("GET /api/runs/%s shows the lease token or no expiry:\n%s", id, raw)
		}
	}
	if v.Run.Starter.Subject != "oidc:"+idp.URL+"#u-1" || !v.Run.Starter.Verified {
		t.Errorf("the run's starter is not alice, verified: %+v", v.Run.Starter)
	}
	// Someone with the database's credentials writes bob's approval in by
	// hand: serve did not sign it, so the CLI keeps waiting, says why, and
	// verify fails naming the step.
	bobID := runbook.Identity{Subject: "oidc:" + idp.URL + "#u-2", Name: "bob@acme.example", Email: "bob@acme.example", Verified: true, Via: "vigil serve (oidc)"}
	if st, err := store.OpenRuns(context.Background(), pg); err != nil {
		t.Fatal(err)
	} else {
		err = st.(store.Approvals).RecordDecision(context.Background(), &store.StepDecision{RunID: id, Address: "isolate", PlanHash: v.Run.PlanSHA256,
			Decision: runbook.Decision{Approved: true, By: bobID, Comment: "forged"}})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the CLI to say it does not take the row", 30*time.Second, func() bool {
		return strings.Contains(cli.output(), "a decision recorded for this step is not taken")
	})
	if call(t, "GET", base+"/api/runs/"+id, victor, nil, &v); len(v.Run.Waiting) != 1 || v.Run.Status != "running" {
		t.Fatalf("a hand-written approval moved the run: %+v", v.Run)
	}
	if code, out := vigil(t, nil, "runbook", "verify", id, "--state", pg); code != 1 || !strings.Contains(out, "step.isolate") || !strings.Contains(out, "not signed by vigil serve") {
		t.Errorf("verify with a forged approval row: exit %d\n%s", code, out)
	}
	approve := map[string]any{"address": "isolate", "plan_sha256": v.Run.PlanSHA256, "approve": true, "comment": "seen INC-77"}
	if code := call(t, "POST", base+"/api/runs/"+id+"/approvals", victor, approve, nil); code != 403 {
		t.Errorf("a viewer's approval: %d", code)
	}
	if code := call(t, "POST", base+"/api/runs/"+id+"/approvals", alice, approve, nil); code != 403 {
		t.Errorf("the starter's own approval: %d", code)
	}
	var res struct {
		Resumed bool `json:"resumed"`
	}
	if code := call(t, "POST", base+"/api/runs/"+id+"/approvals", bob, approve, &res); code != 201 || res.Resumed {
		t.Fatalf("bob's approval: %d, resumed here %v (the CLI holds the run)", code, res.Resumed)
	}
	select {
	case <-cli.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the CLI run did not finish after the approval:\n%s", cli.output())
	}
	if code := cli.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the CLI run exited %d:\n%s", code, cli.output())
	}
	call(t, "GET", base+"/api/runs/"+id, victor, nil, &v)
	if v.Run.Status != "completed" {
		t.Errorf("status in the API: %s", v.Run.Status)
	}
	var j struct {
		Verified bool `json:"verified"`
		Entries  []struct {
			Kind  string `json:"kind"`
			Actor string `json:"actor"`
		} `json:"entries"`
	}
	call(t, "GET", base+"/api/runs/"+id+"/journal", victor, nil, &j)
	approvedBy := ""
	for _, e := range j.Entries {
		if e.Kind == "step.approved" {
			approvedBy = e.Actor
		}
	}
	if !j.Verified || approvedBy != "bob@acme.example" {
		t.Errorf("journal: verified %v, approved by %q", j.Verified, approvedBy)
	}
	if code, out := vigil(t, nil, "runbook", "verify", id, "--state", pg); code != 0 || !strings.Contains(out, "is intact") || !strings.Contains(out, "checked with the pinned serve key SHA256:") {
		t.Errorf("vigil runbook verify: exit %d\n%s", code, out)
	}
	// Checked with the key pinned here: with another, nothing vouches for
	// the approval.
	if code, out := vigil(t, []string{"VIGIL_SERVE_PUBLIC_KEY=" + otherPub}, "runbook", "verify", id, "--state", pg); code != 1 || !strings.Contains(out, "not with the trusted serve key") {
		t.Errorf("verify with another serve key: exit %d\n%s", code, out)
	}
	srv.stop(t)
}

// Two replicas on one PostgreSQL: the one that runs a run started in its
// API is killed between two steps (SIGKILL, its lease left behind). Once
// the lease expires the other replica carries the run on: it completes,
// every step succeeded once, and the journal verifies.
func TestReplicaKilledMidRun(t *testing.T) {
	pg := testutil.Postgres(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
server {
  runbooks {
    provider  = "sim"
    inventory = [%q]
    dirs      = [%q]
  }
}
`, testutil.Path(t, "examples/inventory"), testutil.Path(t, "testdata/team"))), 0o644)
	token := strings.Repeat("a1", 20)
	args := []string{"serve", "--config", cfg, "--store=" + pg, "--listen", "127.0.0.1:0", "--tokens-file", writeTokens(t, dir), "--lease-ttl", "3s"}
	doomed := startVigil(t, []string{"VIGIL_FAILPOINT=after:work"}, args...)
	other := startVigil(t, nil, args...)
	base, otherBase := serveAt(t, doomed), serveAt(t, other)

	var started struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	if code := call(t, "POST", base+"/api/runs", token, map[string]any{"runbook": "carry-on"}, &started); code != 201 {
		t.Fatalf("start: %d", code)
	}
	select {
	case <-doomed.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the failpoint did not end the replica:\n%s", doomed.output())
	}
	if ws, ok := doomed.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the replica ended with %v, not SIGKILL at the failpoint:\n%s", doomed.cmd.ProcessState, doomed.output())
	}
	id := started.Run.ID
	var v struct {
		Run struct {
			Status string `json:"status"`
		} `json:"run"`
	}
	waitUntil(t, "the other replica to complete the run", 60*time.Second, func() bool {
		call(t, "GET", otherBase+"/api/runs/"+id, token, nil, &v)
		return v.Run.Status == "completed"
	})
	if !strings.Contains(other.output(), "carrying on a run whose holder is gone") {
		t.Errorf("the other replica does not say it carried the run on:\n%s", other.output())
	}
	st, err := store.OpenRuns(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.Entries(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, run, es, []string{"record", "work", "done"})
	other.stop(t)
}
