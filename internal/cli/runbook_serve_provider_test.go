package cli

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/serve"
	"github.com/vigil-ir/vigil/internal/store"
)

// oneRunStore holds one run and no lease; any other call panics (the
// embedded nil interface), so the test shows Resume stops before it loads
// a runbook, opens a session or takes a lease.
type oneRunStore struct {
	store.RunStore
	run *runbook.Run
}

func (s *oneRunStore) GetRun(ctx context.Context, id string) (*runbook.Run, error) {
	if id != s.run.ID {
		return nil, errors.New("no such run")
	}
	return s.run, nil
}

func (s *oneRunStore) Lease(ctx context.Context, id string) (*runbook.Lease, error) { return nil, nil }

// A server configured for one provider never continues a run of another
// on its own credentials (review 18, bug 2): a sim server and a CLI's
// cloud run, and the reverse.
func TestServeResumesOnlyItsProvider(t *testing.T) {
	for _, tc := range []struct{ configured, runs string }{
		{"sim", "cloud"},
		{"", "sim"}, // unset means cloud
		{"cloud", "sim"},
	} {
		run := &runbook.Run{ID: "run-1", Provider: tc.runs, Status: runbook.RunAwaitingApproval, File: "/nowhere/contain-web.hcl",
			Plan: []byte(`{"provider":"` + tc.runs + `"}`)}
		cfg := &config.Config{Server: &config.Server{Runbooks: config.ServerRunbooks{Provider: tc.configured}}}
		rs := &runService{cfg: cfg, st: &oneRunStore{run: run}}
		err := rs.Resume(context.Background(), nil, "run-1")
		var re *serve.RequestError
		var op *serve.OtherProviderError
		if !errors.As(err, &re) || re.Code != http.StatusConflict || !errors.As(err, &op) {
			t.Fatalf("configured %q, run %q: Resume = %v, want a 409 OtherProviderError", tc.configured, tc.runs, err)
		}
		want := "run run-1 uses provider \"" + tc.runs + "\""
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "vigil runbook resume run-1") {
			t.Errorf("message %q: want %q and the resume command", err, want)
		}
	}
}
