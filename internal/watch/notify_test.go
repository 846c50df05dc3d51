package watch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/triage"
)

// A card posted to a Slack-compatible webhook is one text message: the
// alert, the card in markdown with its commands, and what was planned.
func TestPostCardSlack(t *testing.T) {
	h := newHook(t)
	p := &cardPayload{EventID: "e1",
		Alerts: []*alert.Alert{{Source: "guardduty", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller", Severity: "medium"}},
		Cards: []*triage.Card{{Asset: triage.Ref{ID: "arn:aws:iam::111111111111:user/ci-deployer/accesskey/AKIA1", Kind: "access_key", Name: "AKIA1", Provider: "aws", Scope: "111111111111"},
			Found: true, Runbooks: []triage.Suggestion{{Runbook: "leaked-aws-access-key", Title: "Revoke", Rehearse: "vigil runbook plan leaked-aws-access-key --provider sim", Command: "vigil runbook plan leaked-aws-access-key"}}}},
		Planned: []Planned{{Rule: "keys", Runbook: "leaked-aws-access-key", Plan: "/p.json", Apply: "vigil runbook apply /p.json"}},
	}
	if err := postCard(context.Background(), http.DefaultClient, config.Notify{Name: "s", URL: h.srv.URL, Format: "slack"}, p); err != nil {
		t.Fatal(err)
	}
	text, _ := h.posts()[0]["text"].(string)
	for _, want := range []string{"*MEDIUM* guardduty alert UnauthorizedAccess:IAMUser/MaliciousIPCaller", "## Triage: access_key AKIA1",
		"vigil runbook plan leaked-aws-access-key --provider sim", "nothing runs until someone applies it", "vigil runbook apply /p.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, text)
		}
	}
	h.status = 500
	if err := postCard(context.Background(), http.DefaultClient, config.Notify{Name: "s", URL: h.srv.URL}, p); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("a failing webhook: %v", err)
	}
}
