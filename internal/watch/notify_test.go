package watch

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/triage"
	"github.com/vigil-ir/vigil/internal/store"
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
	if err := postCard(context.Background(), http.DefaultClient, config.Notify{Name: "s", URL: h.srv.URL, Format: "slack"}, p, "k1", nil); err != nil {
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
	if err := postCard(context.Background(), http.DefaultClient, config.Notify{Name: "s", URL: h.srv.URL}, p, "k1", nil); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("a failing webhook: %v", err)
	}
}

// Slack's control characters in a card (an alert type is the provider's,
// and may be anyone's) are escaped: no @channel, no disguised link.
func TestPostCardSlackEscapes(t *testing.T) {
	h := newHook(t)
	p := &cardPayload{EventID: "e1", Alerts: []*alert.Alert{{Source: "guardduty", Type: "<!channel> <https://evil.example/x|vigil runbook apply /p.json>", Severity: "high"}},
		Cards: []*triage.Card{{Asset: triage.Ref{ID: "arn:aws:iam::111111111111:user/a&b/accesskey/<AKIA1>", Kind: "access_key", Name: "<AKIA1>", Provider: "aws"}}}}
	if err := postCard(context.Background(), http.DefaultClient, config.Notify{Name: "s", URL: h.srv.URL, Format: "slack"}, p, "k1", nil); err != nil {
		t.Fatal(err)
	}
	text, _ := h.posts()[0]["text"].(string)
	if strings.ContainsAny(text, "<>") || !strings.Contains(text, "alert &lt;!channel&gt; &lt;https://evil.example/x|vigil runbook apply /p.json&gt;") ||
		!strings.Contains(text, "user/a&amp;b/accesskey/&lt;AKIA1&gt;") {
		t.Errorf("slack text:\n%s", text)
	}
}

// A card reaches a notify block when its most severe alert is at or above
// the block's min_severity.
func TestCardMinSeverity(t *testing.T) {
	card := func(sevs ...string) *cardPayload {
		p := &cardPayload{}
		for _, s := range sevs {
			p.Alerts = append(p.Alerts, &alert.Alert{Severity: s})
		}
		return p
	}
	for _, tc := range []struct {
		min  string
		sevs []string
		want bool
	}{
		{"", []string{"low"}, true},
		{"critical", []string{"medium"}, false},
		{"critical", []string{"critical"}, true},
		{"high", []string{"medium", "high"}, true},
		{"medium", []string{"low", "info"}, false},
		{"low", []string{"info"}, false},
		{"high", []string{"unheard-of"}, true}, // not known to be minor
		{"high", nil, true},
	} {
		if got := card(tc.sevs...).reaches(config.Notify{MinSeverity: tc.min}); got != tc.want {
			t.Errorf("min %q, alerts %v: reaches %v, want %v", tc.min, tc.sevs, got, tc.want)
		}
	}
}

// applyMarks keeps the notifier's copy of a block's marks as the store
// has them after MarkNotified: forgotten ones gone, new ones added once.
func TestApplyMarks(t *testing.T) {
	a, b, c := store.FindingID{PolicyID: "P", AssetID: "a"}, store.FindingID{PolicyID: "P", AssetID: "b"}, store.FindingID{PolicyID: "P", AssetID: "c"}
	sent := []store.FindingID{a, b}
	got := applyMarks(sent, []store.FindingID{c, a}, []store.FindingID{b})
	// b forgotten; a already there (not twice); c added.
	if want := []store.FindingID{a, c}; !slices.Equal(got, want) {
		t.Errorf("applyMarks = %v, want %v", got, want)
	}
	if !slices.Equal(sent, []store.FindingID{a, b}) {
		t.Errorf("the input changed: %v", sent)
	}
}
