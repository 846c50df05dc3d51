package history

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/internal/store"
)

func f(policy, asset string, waived bool) store.StoredFinding {
	return store.StoredFinding{PolicyID: policy, AssetID: asset, Severity: "high", Waived: waived}
}

func keys(fs []store.StoredFinding) string {
	var out []string
	for _, x := range fs {
		out = append(out, x.PolicyID+":"+x.AssetID)
	}
	return strings.Join(out, ",")
}

func TestCompare(t *testing.T) {
	from := []store.StoredFinding{f("P1", "a", false), f("P1", "b", false), f("P2", "a", false), f("P3", "w", true)}
	to := []store.StoredFinding{f("P1", "a", false), f("P2", "a", true), f("P1", "c", false), f("P3", "w", false)}
	d := Compare(from, to)
	for name, got := range map[string][2]string{
		"new":          {keys(d.New), "P1:c,P3:w"}, // a waiver that ended makes its finding new again
		"resolved":     {keys(d.Resolved), "P1:b"},
		"still open":   {keys(d.StillOpen), "P1:a"},
		"newly waived": {keys(d.NewlyWaived), "P2:a"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %s, want %s", name, got[0], got[1])
		}
	}
}

type failing struct{ calls int }

func (p *failing) Do(*http.Request) (*http.Response, error) {
	p.calls++
	return nil, errors.New("connection refused")
}

// A webhook that fails is tried again next time: nothing is marked sent.
func TestNotifyRetriesAfterFailure(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	blocks := []config.Notify{{Name: "n", URL: "http://127.0.0.1:1/hook", MinSeverity: "high"}}
	fs := []store.StoredFinding{f("P1", "a", false), {PolicyID: "P2", AssetID: "b", Severity: "low"}}
	p := &failing{}
	if err := Notify(context.Background(), h, blocks, fs, p); err == nil || !strings.Contains(err.Error(), "notify n") {
		t.Errorf("err = %v", err)
	}
	left, _ := h.Unnotified(context.Background(), "n", []string{fs[0].Key()})
	if len(left) != 1 || p.calls != 1 {
		t.Errorf("a failed post must leave the finding unsent: %v (%d calls)", left, p.calls)
	}
}

// A webhook that does not answer is given up on after the notify block's
// timeout, and no error repeats the URL's path or query: they are its key.
func TestNotifyTimesOutWithoutLeakingTheURL(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	fs := []store.StoredFinding{f("P1", "a", false)}
	for _, tt := range []struct {
		name string
		nb   config.Notify
		want string
	}{
		{"no answer", config.Notify{Name: "n", URL: slow.URL + "/services/T000/B000/s3cret?token=t0ken", Timeout: 200 * time.Millisecond},
			"notify n: post to " + slow.URL + "/…: no answer within 200ms"},
		{"refused", config.Notify{Name: "n", URL: "http://127.0.0.1:1/services/T000/B000/s3cret?token=t0ken"},
			"notify n: post to http://127.0.0.1:1/…: dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Notify(context.Background(), h, []config.Notify{tt.nb}, fs, http.DefaultClient)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
				t.Errorf("the error shows the URL's key: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/x": "https://hooks.slack.com/…",
		"https://user:pw@h.example/x?y=1":        "https://h.example/…",
		"https://h.example":                      "https://h.example",
		"https://h.example/?k=v":                 "https://h.example/…",
		"::not a url":                            "the webhook",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
