package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/policies"
)

// slowPolicy never finishes on its own: 10^10 pairs, each tried in turn.
// It reads nothing of the asset, so it runs while the query is prepared;
// slowInputPolicy runs per asset.
const slowPolicy = `# METADATA
# title: Takes forever
# custom:
#   id: SLOW-001
#   severity: low
#   kinds: [bucket]
package vigil.policies.acme.slow

import rego.v1

deny contains "never" if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}
`

const slowInputPolicy = `# METADATA
# title: Takes forever on every firewall
# custom:
#   id: SLOW-002
#   severity: low
#   kinds: [firewall]
package vigil.policies.acme.slow_input

import rego.v1

deny contains "never" if {
	some i in numbers.range(1, count(input.asset.name) * 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}
`

// A policy stops where it is when the context ends, and the error names it
// and the line it had reached, whichever of the kind's policies it is.
func TestEvaluationStopsWithItsContext(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"SLOW-001": writePolicy(t, dir, "slow.rego", slowPolicy),
		"SLOW-002": writePolicy(t, dir, "slow_input.rego", slowInputPolicy),
	}
	e, err := Load(context.Background(), Options{Builtins: policies.FS, Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	bucket := &asset.Asset{ID: "//storage.googleapis.com/b", Name: "b", Provider: asset.GCP, Kind: asset.KindBucket, Type: "storage.googleapis.com/Bucket", Scope: "p", Region: "eu"}
	firewall := &asset.Asset{ID: "//compute.googleapis.com/projects/p/global/firewalls/f", Name: "f", Provider: asset.GCP, Kind: asset.KindFirewall, Scope: "p", Region: "global"}
	for _, target := range []struct {
		policy string
		asset  *asset.Asset
	}{{"SLOW-001", bucket}, {"SLOW-002", firewall}} {
		for _, stop := range []struct {
			name  string
			ctx   func() (context.Context, context.CancelFunc)
			cause error
		}{
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			}, context.DeadlineExceeded},
			{"cancelled", func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancelCause(context.Background())
				time.AfterFunc(200*time.Millisecond, func() { cancel(errors.New("terminated signal received")) })
				return ctx, func() { cancel(nil) }
			}, context.Canceled},
		} {
			t.Run(target.policy+"/"+stop.name, func(t *testing.T) {
				ctx, cancel := stop.ctx()
				defer cancel()
				done := make(chan error, 1)
				go func() {
					_, err := e.Evaluate(ctx, target.asset)
					done <- err
				}()
				var err error
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("the evaluation did not stop with its context")
				}
				var se *StoppedError
				if !errors.As(err, &se) || se.Policy == nil || se.Policy.ID != target.policy || se.Asset != target.asset.ID {
					t.Fatalf("error %v (%#v), want a StoppedError naming %s", err, se, target.policy)
				}
				if !errors.Is(err, stop.cause) {
					t.Errorf("%v does not unwrap to %v", err, stop.cause)
				}
				// the loop, lines 12 to 14
				if file := files[target.policy]; se.Location != file+":12" && se.Location != file+":13" && se.Location != file+":14" {
					t.Errorf("location %q, want a line of the loop in %s", se.Location, file)
				}
				if !strings.Contains(err.Error(), "policy "+target.policy+" ("+se.Location+") was still running on "+target.asset.ID) {
					t.Errorf("message %q", err)
				}
			})
		}
	}
	if e.Stopped() == nil || e.Stopped().Policy.ID != "SLOW-001" {
		t.Errorf("Stopped() = %v, want the first stop", e.Stopped())
	}
	// The engine is fine afterwards: other kinds still evaluate.
	net := &asset.Asset{ID: "//compute.googleapis.com/projects/p/global/networks/n", Name: "n", Provider: asset.GCP, Kind: asset.KindNetwork, Scope: "p", Region: "global"}
	if _, err := e.Evaluate(context.Background(), net); err != nil {
		t.Errorf("after a stop: %v", err)
	}
}
