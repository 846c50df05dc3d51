package cli

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dumpRuns is every row of the runs and journal tables, as text.
func dumpRuns(t *testing.T, state string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	for _, table := range []string{"runs", "journal"} {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					out = append(out, string(b))
				} else {
					out = append(out, fmt.Sprint(v))
				}
			}
		}
		rows.Close()
	}
	return strings.Join(out, "\n")
}

// core.evidence over a value made from a sensitive variable keeps the
// value-key HMAC, not a bare SHA-256 that hashing every 6-digit PIN finds
// in a second. Before, sha256('{"pin":"482913"}') was in the outputs, the
// evidence entry and the timeline.
func TestEvidenceOfASensitiveValueIsKeyed(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "ev.hcl")
	os.WriteFile(rb, []byte(`runbook "ev" {
  variable "pin" {
    type      = string
    sensitive = true
  }
  phase "identification" {
    step "h" {
      action   = "core.evidence"
      args     = { values = { pin = var.pin } }
      evidence = true
    }
    step "plain" {
      action   = "core.evidence"
      args     = { values = { pin = "not secret" } }
      evidence = true
    }
  }
}
`), 0o644)
	state := filepath.Join(dir, "s.db")
	code, out, errs := run(t, "runbook", "apply", rb, "-var", "pin=482913", "--state", state)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	id := runID.FindStringSubmatch(out)[1]
	_, tl, _ := run(t, "runbook", "timeline", id, "--state", state, "--format", "json")
	all := out + errs + tl + dumpRuns(t, state)
	bare := sha256.Sum256([]byte(`{"pin":"482913"}`))
	if strings.Contains(all, hex.EncodeToString(bare[:])) {
		t.Errorf("the bare SHA-256 of the sensitive value is stored or shown")
	}
	if !strings.Contains(tl, "hmac-sha256:") {
		t.Errorf("the timeline has no keyed hash of the sensitive value:\n%s", tl)
	}
	// A value with nothing sensitive keeps its plain SHA-256, which anyone
	// can check.
	plain := sha256.Sum256([]byte(`{"pin":"not secret"}`))
	if !strings.Contains(tl, hex.EncodeToString(plain[:])) {
		t.Errorf("the plain value's SHA-256 is missing from the timeline:\n%s", tl)
	}
}

// The anchor records a run's first entry before the run is stored; when
// storing it then fails (two applies of one plan racing for the unique
// index, a store error, a crash), the anchor holds only the intent head of
// a run that never existed, which verify --all must not report as a
// deleted run. A run with a head after its first entry committed is.
func TestFailedCreateIsNotADeletedRun(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "one.hcl")
	os.WriteFile(rb, []byte(`runbook "one" {
  phase "triage" {
    step "say" {
      action = "core.log"
      args   = { message = "hello" }
    }
  }
}
`), 0o644)
	state := filepath.Join(dir, "s.db")
	if code, out, errs := run(t, "runbook", "apply", rb, "--state", state); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	raw, _ := os.ReadFile(state + ".anchor")
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], `"seq":1,`) || !strings.Contains(lines[0], `"intent":true`) || strings.Contains(lines[1], "intent") {
		t.Fatalf("the anchor does not start with the first entry's intent head, then the committed heads:\n%s", raw)
	}
	key := regexp.MustCompile(`"key":"[^"]+"`).FindString(lines[0])
	f, _ := os.OpenFile(state+".anchor", os.O_APPEND|os.O_WRONLY, 0o600)
	fmt.Fprintf(f, `{"run":"run-20261202-010101-aaaaaa","seq":1,"hash":"%s",%s,"at":"2026-12-02T01:01:01Z","intent":true}`+"\n", strings.Repeat("a", 64), key)
	f.Close()
	if code, out, errs := run(t, "runbook", "verify", "--all", "--state", state); code != 0 || !strings.Contains(out, "0 deleted") || strings.Contains(out, "aaaaaa") {
		t.Errorf("verify --all with an intent-only run: %d %s %s", code, out, errs)
	}
	f, _ = os.OpenFile(state+".anchor", os.O_APPEND|os.O_WRONLY, 0o600)
	fmt.Fprintf(f, `{"run":"run-20261202-010101-bbbbbb","seq":1,"hash":"%s",%s,"at":"2026-12-02T01:01:01Z"}`+"\n", strings.Repeat("b", 64), key)
	f.Close()
	if code, out, _ := run(t, "runbook", "verify", "--all", "--state", state); code != 1 || !strings.Contains(out, "run-20261202-010101-bbbbbb  NOT intact: the run was deleted") || strings.Contains(out, "aaaaaa") {
		t.Errorf("verify --all with a deleted run: %d %s", code, out)
	}
}

// A value made from a sensitive one (lower, upper, ...) keeps its mark: an
// approval reason built from it shows as "(sensitive value)" on the plan,
// in plan JSON, the runs row and the journal, and a function's error over
// it is replaced by one naming the function and the line. Before, the
// redactor knew only the secret's own spellings, and the lowered secret
// showed in all of them.
func TestTransformedSecretNeverShows(t *testing.T) {
	const secret = "Alpha7x-Bravo9y-Charlie3z"
	dir := t.TempDir()
	rb := filepath.Join(dir, "mix.hcl")
	os.WriteFile(rb, []byte(`runbook "mix" {
  variable "secret" {
    type      = string
    sensitive = true
  }
  phase "identification" {
    step "g" {
      action = "core.approval"
      args   = {}
      approval { reason = "approve ${lower(var.secret)}" }
    }
    step "plain" {
      action = "core.approval"
      args   = {}
      approval { reason = "approve ${length(["x"])} host" }
    }
  }
}
`), 0o644)
	state := filepath.Join(dir, "s.db")
	_, pout, perr := run(t, "runbook", "plan", rb, "-var", "secret="+secret)
	_, jout, _ := run(t, "runbook", "plan", rb, "-var", "secret="+secret, "--format", "json")
	code, aout, aerr := run(t, "runbook", "apply", rb, "-var", "secret="+secret, "--state", state)
	if code != ExitWaiting {
		t.Fatalf("apply: %d %s %s", code, aout, aerr)
	}
	all := pout + perr + jout + aout + aerr + dumpRuns(t, state)
	for _, form := range []string{secret, strings.ToLower(secret), "alpha7x"} {
		if strings.Contains(all, form) {
			t.Errorf("%q shows", form)
		}
	}
	if !strings.Contains(jout, `"approval_reason": "(sensitive value)"`) || !strings.Contains(jout, `"approval_reason": "approve 1 host"`) {
		t.Errorf("plan JSON approval reasons:\n%s", jout)
	}

	fe := filepath.Join(dir, "fe.hcl")
	os.WriteFile(fe, []byte(`runbook "fe" {
  variable "secret" {
    type      = string
    sensitive = true
  }
  variable "n" {
    type    = string
    default = "plainbad"
  }
  phase "identification" {
    step "a" {
      action = "core.log"
      args   = { message = "${parseint(lower(var.secret), 10)}" }
    }
    step "b" {
      action = "core.log"
      args   = { message = "${tonumber(upper(var.secret))}" }
    }
    step "c" {
      action = "core.log"
      args   = { message = "${parseint(var.n, 10)}" }
    }
  }
}
`), 0o644)
	code, out, errs := run(t, "runbook", "plan", fe, "-var", "secret="+secret)
	text := out + errs
	if code != 2 {
		t.Fatalf("plan fe: %d %s", code, text)
	}
	for _, form := range []string{strings.ToLower(secret), strings.ToUpper(secret), "alpha7x", "ALPHA7X"} {
		if strings.Contains(text, form) {
			t.Errorf("%q shows: %s", form, text)
		}
	}
	for _, want := range []string{`fe.hcl line 13`, `function "parseint" failed on an argument made from a sensitive value`,
		`fe.hcl line 17`, `function "tonumber" failed`, `cannot parse "plainbad" as a base 10 integer`} {
		if !strings.Contains(text, want) {
			t.Errorf("plan fe lacks %q:\n%s", want, text)
		}
	}
}

// A saved plan edited by hand (a step's targets, a variable's value) is
// refused before anything runs, exit 2 and no run stored, as an edited
// runbook already was. Before, apply ran the earlier steps and failed the
// edited ones one by one.
func TestEditedSavedPlanIsRefusedUpFront(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "fw.json")
	if code, out, errs := run(t, "runbook", "plan", "open-firewall-remediation", "--provider", "sim", "-i", "examples/inventory", "-c", "examples/vigil.hcl", "-out", plan); code != 0 {
		t.Fatalf("plan: %d %s %s", code, out, errs)
	}
	raw, _ := os.ReadFile(plan)
	restrict := `"address":"restrict[\"//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug\"]"`
	if !strings.Contains(strings.ReplaceAll(string(raw), " ", ""), restrict) {
		t.Fatalf("the plan has no restrict step of allow-ssh-debug:\n%s", raw)
	}
	edits := map[string]func(p map[string]any){
		"a target": func(p map[string]any) {
			for _, s := range p["steps"].([]any) {
				st := s.(map[string]any)
				if strings.HasPrefix(st["address"].(string), `restrict["//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug"]`) {
					st["targets"] = []any{"//compute.googleapis.com/projects/acme-prod/global/firewalls/harmless"}
				}
			}
		},
		"a variable": func(p map[string]any) {
			p["variables"].(map[string]any)["allowed_ranges"].(map[string]any)["value"] = []any{"0.0.0.0/0"}
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			var p map[string]any
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			edit(p)
			b, _ := json.Marshal(p)
			edited := filepath.Join(t.TempDir(), "edited.json")
			os.WriteFile(edited, b, 0o644)
			state := filepath.Join(t.TempDir(), "s.db")
			code, out, errs := run(t, "runbook", "apply", edited, "--state", state, "--approve", "restrict")
			if code != 2 || !strings.Contains(errs, "the plan is stale") || strings.Contains(out, "Run run-") {
				t.Fatalf("apply of a plan with %s edited: exit %d\n%s\n%s", name, code, out, errs)
			}
			if _, err := os.Stat(state); err == nil {
				if _, st, _ := run(t, "runbook", "status", "--state", state); strings.Contains(st, "run-") {
					t.Errorf("a run was stored: %s", st)
				}
			}
		})
	}
}

// A webhook that answers 400 echoing the payload it refused writes the
// secret as json.Marshal does (\u003c, \u0026, \u003e): neither the console
// nor the journal shows it.
func TestNotifyEchoOfAnHTMLEscapedSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		echo, _ := json.Marshal(body) // HTML-escaped, as most servers write JSON
		w.WriteHeader(http.StatusBadRequest)
		w.Write(append([]byte("bad payload: "), echo...))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rb := filepath.Join(dir, "nb.hcl")
	os.WriteFile(rb, []byte(`runbook "nb" {
  variable "notify_url" {
    type      = string
    sensitive = true
  }
  variable "secret" {
    type      = string
    sensitive = true
  }
  phase "triage" {
    step "notify" {
      action   = "core.notify"
      args     = { url = var.notify_url, message = "token ${var.secret}" }
      on_error = "continue"
    }
  }
}
`), 0o644)
	state := filepath.Join(dir, "s.db")
	code, out, errs := run(t, "runbook", "apply", rb, "-var", "notify_url="+srv.URL+"/services/T01/B02/hookSECRET88", "-var", "secret=Hunter<2&pass>", "--state", state)
	if code != 0 || !strings.Contains(out+errs, "bad payload") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errs)
	}
	all := out + errs + dumpRuns(t, state)
	for _, form := range []string{`Hunter\u003c2\u0026pass\u003e`, "Hunter<2&pass>", "Hunter"} {
		if strings.Contains(all, form) {
			t.Errorf("%q shows", form)
		}
	}
}
