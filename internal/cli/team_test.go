package cli

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
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func eventually(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// api calls the server with a bearer token and decodes the JSON answer.
func api(t *testing.T, method, url, token string, body any) (int, map[string]any) {
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
	var out map[string]any
	if json.Unmarshal(raw, &out) != nil {
		var list []any
		if json.Unmarshal(raw, &list) == nil {
			out = map[string]any{"list": list}
		} else {
			out = map[string]any{"raw": string(raw)}
		}
	}
	return resp.StatusCode, out
}

// A team's server on a real PostgreSQL: sign-in, roles, a run started in
// the dashboard's API, the two-person rule, and sharded scans.
func TestTeamServer(t *testing.T) {
	pg := testutil.Postgres(t)
	idp := testutil.NewIdP(t)
	dir := t.TempDir()
	root := testutil.Root(t)
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
    admin     = ["user:root@acme.example"]
  }
  runbooks {
    provider  = "sim"
    inventory = [%q]
    dirs      = [%q]
  }
}
`, idp.URL, idp.ClientID, filepath.Join(root, "examples/inventory"), filepath.Join(root, "testdata/team"))), 0o644)
	signingKey := filepath.Join(dir, "serve-signing.key")
	if _, err := createKey(signingKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testutil.LockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--config", cfg, "--store", pg, "--listen", "127.0.0.1:0", "--signing-key", signingKey}, nil, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	addr := regexp.MustCompile(`serving on http://(\S+)`)
	eventually(t, "serve to listen", 30*time.Second, func() bool { return addr.MatchString(stderr.String()) })
	base := "http://" + addr.FindStringSubmatch(stderr.String())[1]

	tok := func(sub, email string, groups ...string) string {
		return idp.Token(t, map[string]any{"sub": sub, "email": email, "email_verified": true, "groups": groups})
	}
	carol := tok("u-3", "carol@acme.example", "ir-team", "ir-leads") // starts the run; an approver too
	bob := tok("u-2", "bob@acme.example", "ir-leads")
	victor := tok("u-4", "victor@acme.example", "ir-viewers")
	root1 := tok("u-0", "root@acme.example")

	t.Run("sign-in and the two-person rule", func(t *testing.T) {
		if code, _ := api(t, "GET", base+"/api/runs", "", nil); code != 401 {
			t.Fatalf("no token: %d", code)
		}
		if code, _ := api(t, "GET", base+"/healthz", "", nil); code != 200 {
			t.Errorf("healthz without a token: %d", code)
		}
		code, res := api(t, "POST", base+"/api/runs", victor, map[string]any{"runbook": "contain-web", "vars": map[string]string{"instance": webVM, "incident": "INC-1"}})
		if code != 403 {
			t.Fatalf("a viewer starts a run: %d %v", code, res)
		}
		// The server is configured for sim: a responder cannot make it act
		// on the real clouds.
		code, res = api(t, "POST", base+"/api/runs", carol, map[string]any{"runbook": "contain-web", "provider": "cloud", "vars": map[string]string{"instance": webVM, "incident": "INC-1"}})
		if code != 400 || !strings.Contains(fmt.Sprint(res["error"]), `with provider "sim" only`) {
			t.Fatalf("a cloud run on a sim server: %d %v", code, res)
		}
		code, res = api(t, "POST", base+"/api/runs", carol, map[string]any{"runbook": "contain-web", "vars": map[string]string{"instance": webVM, "incident": "INC-1"}})
		if code != 201 {
			t.Fatalf("start: %d %v", code, res)
		}
		id := res["run"].(map[string]any)["id"].(string)
		planHash := res["plan_sha256"].(string)
		var run map[string]any
		eventually(t, "the run to wait for an approval", 30*time.Second, func() bool {
			_, r := api(t, "GET", base+"/api/runs/"+id, victor, nil)
			run, _ = r["run"].(map[string]any)
			return run != nil && run["status"] == "awaiting_approval"
		})
		w := run["waiting"].([]any)
		if len(w) != 1 || w[0].(map[string]any)["address"] != "isolate" || w[0].(map[string]any)["distinct_approver"] != true {
			t.Fatalf("waiting: %v", w)
		}
		if st := run["starter"].(map[string]any); st["email"] != "carol@acme.example" || st["verified"] != true {
			t.Errorf("starter: %v", st)
		}
		approve := map[string]any{"address": "isolate", "plan_sha256": planHash, "approve": true, "comment": "looks right"}
		if code, res := api(t, "POST", base+"/api/runs/"+id+"/approvals", victor, approve); code != 403 {
			t.Errorf("a viewer's approval: %d %v", code, res)
		}
		if code, res := api(t, "POST", base+"/api/runs/"+id+"/approvals", carol, approve); code != 403 || !strings.Contains(fmt.Sprint(res["error"]), "started this run") {
			t.Errorf("the starter's own approval: %d %v", code, res)
		}
		stale := map[string]any{"address": "isolate", "plan_sha256": strings.Repeat("0", 64), "approve": true}
		if code, res := api(t, "POST", base+"/api/runs/"+id+"/approvals", bob, stale); code != 409 {
			t.Errorf("an approval of another plan: %d %v", code, res)
		}
		if _, r := api(t, "GET", base+"/api/runs/"+id, victor, nil); r["run"].(map[string]any)["status"] != "awaiting_approval" {
			t.Fatalf("refused approvals moved the run: %v", r)
		}
		// Someone with the database's credentials writes bob's approval in
		// by hand: serve did not sign it, so resuming the run does not take
		// it, and the journal does not verify while it is there.
		st, err := store.OpenRuns(context.Background(), pg)
		if err != nil {
			t.Fatal(err)
		}
		bobID := runbook.Identity{Subject: "oidc:" + idp.URL + "#u-2", Name: "bob@acme.example", Email: "bob@acme.example", Verified: true, Via: "vigil serve (oidc)"}
		err = st.(store.Approvals).RecordDecision(context.Background(), &store.StepDecision{RunID: id, Address: "isolate", PlanHash: planHash,
			Decision: runbook.Decision{Approved: true, By: bobID, Comment: "forged"}})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if code, res := api(t, "POST", base+"/api/runs/"+id+"/resume", carol, nil); code != 202 {
			t.Fatalf("resume: %d %v", code, res)
		}
		// The resume runs in the background: it is over once the journal
		// records it and nobody holds the run.
		eventually(t, "the resume to end", 30*time.Second, func() bool {
			_, j := api(t, "GET", base+"/api/runs/"+id+"/journal", victor, nil)
			resumed := false
			for _, e := range j["entries"].([]any) {
				resumed = resumed || e.(map[string]any)["kind"] == "run.resumed"
			}
			_, r := api(t, "GET", base+"/api/runs/"+id, victor, nil)
			return resumed && r["run"].(map[string]any)["held"] == false && r["run"].(map[string]any)["status"] != "running"
		})
		if _, r := api(t, "GET", base+"/api/runs/"+id, victor, nil); r["run"].(map[string]any)["status"] != "awaiting_approval" {
			t.Fatalf("a hand-written approval moved the run: %v", r["run"])
		}
		_, j := api(t, "GET", base+"/api/runs/"+id+"/journal", victor, nil)
		if j["verified"] != false || !strings.Contains(fmt.Sprint(j["tamper"]), "step.isolate") || !strings.Contains(fmt.Sprint(j["tamper"]), "not signed by vigil serve") {
			t.Fatalf("journal with a forged approval row: %v %v", j["verified"], j["tamper"])
		}
		code, res = api(t, "POST", base+"/api/runs/"+id+"/approvals", bob, approve)
		if code != 201 || res["resumed"] != true {
			t.Fatalf("bob's approval: %d %v", code, res)
		}
		eventually(t, "the run to complete", 30*time.Second, func() bool {
			_, r := api(t, "GET", base+"/api/runs/"+id, victor, nil)
			return r["run"].(map[string]any)["status"] == "completed"
		})
		if code, res := api(t, "POST", base+"/api/runs/"+id+"/approvals", bob, approve); code != 409 {
			t.Errorf("a second decision: %d %v", code, res)
		}
		_, j = api(t, "GET", base+"/api/runs/"+id+"/journal", victor, nil)
		if j["verified"] != true {
			t.Fatalf("journal: %v", j)
		}
		var approvedBy string
		for _, e := range j["entries"].([]any) {
			if e := e.(map[string]any); e["kind"] == "step.approved" {
				approvedBy = e["actor"].(string)
			}
		}
		if approvedBy != "bob@acme.example" {
			t.Errorf("the journal's approval is by %q", approvedBy)
		}
		_, tl := api(t, "GET", base+"/api/runs/"+id+"/timeline", victor, nil)
		if steps := tl["steps"].([]any); len(steps) != 1 || steps[0].(map[string]any)["status"] != "succeeded" {
			t.Errorf("timeline: %v", tl["steps"])
		}
		// The audit log has who did what, refusals included.
		if code, _ := api(t, "GET", base+"/api/audit", bob, nil); code != 403 {
			t.Errorf("the audit log is for admins: %d", code)
		}
		_, au := api(t, "GET", base+"/api/audit?limit=50", root1, nil)
		var lines []string
		for _, e := range au["list"].([]any) {
			e := e.(map[string]any)
			lines = append(lines, fmt.Sprintf("%v %v %v", e["name"], e["action"], e["outcome"]))
		}
		all := strings.Join(lines, "\n")
		for _, want := range []string{"carol@acme.example run.start ok", "victor@acme.example run.start refused", "victor@acme.example step.approve refused",
			"carol@acme.example step.approve refused", "bob@acme.example step.approve ok"} {
			if !strings.Contains(all, want) {
				t.Errorf("audit lacks %q:\n%s", want, all)
			}
		}
		// Pages need sign-in too, and a browser is sent to sign in.
		req, _ := http.NewRequest("GET", base+"/runs/"+id, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil || resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login") {
			t.Errorf("a page without sign-in: %v %v", err, resp)
		}
		req.Header.Set("Authorization", "Bearer "+victor)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "journal") && !strings.Contains(string(page), "Journal") {
			t.Errorf("run page: %d", resp.StatusCode)
		}
	})

	t.Run("shards record one scan", func(t *testing.T) {
		inv := filepath.Join(root, "examples/inventory")
		// The example settings and a webhook: notifications wait for the
		// last shard.
		var posts atomic.Int32
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
		defer hook.Close()
		example, err := os.ReadFile(filepath.Join(root, "examples/vigil.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "shards.hcl")
		os.WriteFile(conf, append(example, fmt.Sprintf("\nnotify \"hook\" {\n  url = %q\n  min_severity = \"high\"\n}\n", hook.URL)...), 0o644)
		// reported counts the findings in a scan's JSON report.
		reported := func(path string) int {
			var rep struct{ Findings []json.RawMessage }
			raw, err := os.ReadFile(path)
			if err != nil || json.Unmarshal(raw, &rep) != nil {
				t.Fatalf("report %s: %v", path, err)
			}
			return len(rep.Findings)
		}
		var perShard []int
		for i := 0; i < 3; i++ {
			out := filepath.Join(dir, fmt.Sprintf("s%d.json", i))
			code, _, errs := run(t, "scan", "--quiet=false", "-c", conf, inv, "--fail-on", "none", "--format", "json", "-o", out,
				"--store="+pg, "--shard", fmt.Sprintf("%d/3", i), "--shard-group", "job-7", "--schedule", "nightly")
			if code != 0 {
				t.Fatalf("shard %d: %d %s", i, code, errs)
			}
			h, err := store.OpenHistory(context.Background(), pg)
			if err != nil {
				t.Fatal(err)
			}
			scans, _ := h.Scans(context.Background(), "nightly", 0)
			h.Close()
			if want := map[bool]int{true: 1, false: 0}[i == 2]; len(scans) != want {
				t.Fatalf("after shard %d: %d scans of the group in the history, want %d", i, len(scans), want)
			}
			perShard = append(perShard, reported(out))
			if n := posts.Load(); (i < 2 && n != 0) || (i == 2 && n == 0) {
				t.Errorf("after shard %d: %d webhook posts", i, n)
			}
		}
		// The shards of one group read the same inputs: one that read
		// other files (or fewer) is refused, naming both, and the group
		// stays incomplete.
		if code, _, errs := run(t, "scan", "-q", "-c", conf, inv, "--fail-on", "none", "-o", os.DevNull, "--store="+pg, "--shard", "0/2", "--shard-group", "job-8", "--schedule", "odd"); code != 0 {
			t.Fatalf("job-8 shard 0: %d %s", code, errs)
		}
		fewer := filepath.Join(inv, "gcp-resources.ndjson")
		if code, _, errs := run(t, "scan", "-q", "-c", conf, fewer, "--fail-on", "none", "-o", os.DevNull, "--store="+pg, "--shard", "1/2", "--shard-group", "job-8", "--schedule", "odd"); code != ExitError ||
			!strings.Contains(errs, `scan group "job-8" reads files 4 files:`) || !strings.Contains(errs, "this shard files "+fewer+": every shard must read the same inputs") {
			t.Errorf("a shard that read other inputs: exit %d, %s", code, errs)
		}
		if h, err := store.OpenHistory(context.Background(), pg); err == nil {
			if scans, _ := h.Scans(context.Background(), "odd", 0); len(scans) != 0 {
				t.Errorf("a group whose shards read different inputs was recorded: %+v", scans)
			}
			h.Close()
		}
		if code, _, errs := run(t, "scan", "-q", "-c", conf, inv, "--fail-on", "none", "--format", "json", "-o", filepath.Join(dir, "s.json"), "--store="+pg, "--schedule", "whole"); code != 0 {
			t.Fatalf("unsharded: %d %s", code, errs)
		}
		h, err := store.OpenHistory(context.Background(), pg)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		key := func(schedule string) ([]string, *store.ScanRecord) {
			scans, err := h.Scans(context.Background(), schedule, 0)
			if err != nil || len(scans) != 1 {
				t.Fatalf("%s: %v %v", schedule, err, scans)
			}
			fs, _ := h.Findings(context.Background(), scans[0].ID)
			var out []string
			for _, f := range fs {
				out = append(out, fmt.Sprintf("%s %s %s %v %s", f.Key(), f.Severity, f.Scope, f.Waived, f.Message))
			}
			sort.Strings(out)
			return out, scans[0]
		}
		sharded, s1 := key("nightly")
		whole, s2 := key("whole")
		if strings.Join(sharded, "\n") != strings.Join(whole, "\n") {
			t.Errorf("sharded findings differ from the unsharded scan's:\nsharded %d, whole %d", len(sharded), len(whole))
		}
		// Each shard judged a part: none had them all, and together they
		// found each finding once.
		if wholeN := reported(filepath.Join(dir, "s.json")); perShard[0]+perShard[1]+perShard[2] != wholeN ||
			perShard[0] == wholeN || perShard[1] == wholeN || perShard[2] == wholeN {
			t.Errorf("findings per shard %v, unsharded %d", perShard, wholeN)
		}
		if len(whole) < 50 || s1.Assets != s2.Assets || s1.Findings != s2.Findings || s1.Waived != s2.Waived {
			t.Errorf("records: sharded %+v, whole %+v (findings %d)", s1, s2, len(whole))
		}
	})
}
