package cli

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const canaryRunbook = `runbook "canary" {
  variable "token" {
    type      = string
    sensitive = true
  }
  variable "notify_url" {
    type      = string
    sensitive = true
  }
  phase "triage" {
    step "keys" {
      action   = "core.log"
      for_each = toset([upper(var.token), "plain"])
      args     = { message = "key ${each.key}" }
    }
    step "mapped" {
      action   = "core.log"
      for_each = { for k in ["a"] : "${k}-${lower(var.token)}" => k }
      args     = { message = each.value }
    }
    step "derived" {
      action   = "core.evidence"
      args     = { values = { t = replace(var.token, "Secret", "Open") }, note = "derived" }
      evidence = true
    }
    step "notify" {
      action = "core.notify"
      args   = { url = var.notify_url, message = "${var.token} is contained" }
    }
    step "fails" {
      action   = "core.assert"
      args     = { condition = false, message = "bad ${var.token}" }
      on_error = "continue"
    }
  }
  phase "containment" {
    step "gate" {
      action = "core.approval"
      args   = { reason = "go ${lower(var.token)}" }
    }
    step "after" {
      action     = "core.log"
      args       = { message = "after ${var.token}" }
      depends_on = [step.gate]
    }
  }
  output "shout" {
    value = upper(var.token)
  }
}
`

// A canary sensitive value never appears in any output of plan, apply,
// resume, status, timeline, verify or the journal's rows: not through
// for_each keys, function results, templates, what actions say or the
// webhook URL.
func TestCanaryNeverShows(t *testing.T) {
	const canary = "CanaryQ9z-Secret-71"
	const hookPath = "/services/T01/B02/hookSecret88"
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	rb := filepath.Join(dir, "canary.hcl")
	os.WriteFile(rb, []byte(canaryRunbook), 0o644)
	plan, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "s.db")
	vars := []string{"-var", "token=" + canary, "-var", "notify_url=" + srv.URL + hookPath}

	var outputs []string
	do := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := run(t, args...)
		if code != want {
			t.Fatalf("vigil %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, out, errs)
		}
		outputs = append(outputs, fmt.Sprintf("vigil %s\n%s\n%s", args[1], out, errs))
		return out
	}
	do(0, append([]string{"runbook", "plan", rb, "-out", plan}, vars...)...)
	do(0, append([]string{"runbook", "plan", rb, "--format", "json"}, vars...)...)
	out := do(ExitWaiting, append([]string{"runbook", "apply", plan, "--state", state}, vars...)...)
	id := runID.FindStringSubmatch(out)[1]
	do(0, append([]string{"runbook", "resume", id, "--approve", "gate", "--state", state}, vars...)...)
	do(0, "runbook", "status", "--state", state)
	do(0, "runbook", "status", id, "--state", state)
	do(0, "runbook", "timeline", id, "--state", state)
	do(0, "runbook", "timeline", id, "--state", state, "--format", "json")
	do(0, "runbook", "verify", id, "--state", state)
	saved, _ := os.ReadFile(plan)
	outputs = append(outputs, "plan file\n"+string(saved))
	anchor, _ := os.ReadFile(state + ".anchor")
	outputs = append(outputs, "anchor\n"+string(anchor))
	db, err := sql.Open("sqlite", "file:"+state)
	if err != nil {
		t.Fatal(err)
	}
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
			outputs = append(outputs, fmt.Sprintf("%s row %v", table, vals))
		}
		rows.Close()
	}
	db.Close()

	all := strings.Join(outputs, "\n")
	for _, form := range []string{canary, strings.ToUpper(canary), strings.ToLower(canary), strings.ReplaceAll(canary, "Secret", "Open"), "Q9z", hookPath, "hookSecret88"} {
		if strings.Contains(all, form) {
			i := strings.Index(all, form)
			t.Errorf("%q shows: ...%s...", form, all[max(0, i-300):min(len(all), i+100)])
		}
	}
	// The run did what it was asked, with the real values.
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], hookPath) || !strings.Contains(got[0], canary+" is contained") {
		t.Errorf("the webhook got %v", got)
	}
	for _, want := range []string{`step.keys["(sensitive `, `step.mapped["(sensitive `, "(sensitive)", "assertion failed: (sensitive)"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the outputs", want)
		}
	}
}
