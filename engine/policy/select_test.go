package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/policies"
)

// --policy and a schedule's policies take ids and globs; each must name a
// policy, so that a typo does not become a scan that checks nothing.
func TestSelectPolicies(t *testing.T) {
	tests := []struct {
		only []string
		want []string // ids, or the error
		err  string
	}{
		{only: []string{"VGL-NET-*"}, want: []string{"VGL-NET-001", "VGL-NET-002", "VGL-NET-003", "VGL-NET-004", "VGL-NET-005", "VGL-NET-006", "VGL-NET-007", "VGL-NET-008", "VGL-NET-009"}},
		{only: []string{"VGL-DATA-00?", "VGL-IAM-001"}, want: []string{"VGL-DATA-001", "VGL-DATA-002", "VGL-IAM-001"}},
		{only: []string{"VGL-*"}, want: []string{"VGL-DATA-001", "VGL-DATA-002", "VGL-DET-001", "VGL-DET-002", "VGL-IAM-001", "VGL-IAM-002", "VGL-IAM-003", "VGL-KEY-001", "VGL-KEY-002", "VGL-KEY-003", "VGL-KEY-004", "VGL-KEY-005", "VGL-KEY-006", "VGL-LOG-001", "VGL-LOG-002", "VGL-LOG-003", "VGL-LOG-004", "VGL-LOG-005", "VGL-LOG-006", "VGL-NET-001", "VGL-NET-002", "VGL-NET-003", "VGL-NET-004", "VGL-NET-005", "VGL-NET-006", "VGL-NET-007", "VGL-NET-008", "VGL-NET-009", "VGL-OWN-001", "VGL-OWN-002", "VGL-SSH-001", "VGL-SSH-002", "VGL-VULN-001", "VGL-VULN-002", "VGL-VULN-003"}},
		{only: []string{"VGL-NET-001", "VGL-NET-00[12]"}, want: []string{"VGL-NET-001", "VGL-NET-002"}},
		{only: []string{"VGL-NOPE-001"}, err: "unknown policy id VGL-NOPE-001 (see `vigil policy list`)"},
		{only: []string{"VGL-NET-001", "VGL-ZZZ-*", "vgl-net-001"}, err: `no policy id matches "VGL-ZZZ-*"; unknown policy id vgl-net-001 (did you mean VGL-NET-001?) (see ` + "`vigil policy list`)"},
		{only: []string{"VGL-NET-01"}, err: "unknown policy id VGL-NET-01 (did you mean VGL-NET-001?)"},
		{only: []string{"VGL-DAT-002"}, err: "unknown policy id VGL-DAT-002 (did you mean VGL-DATA-002?)"},
		{only: []string{"VGL-["}, err: `select policies: compile glob "VGL-["`},
	}
	all := builtins(t, nil).Policies()
	for _, tt := range tests {
		t.Run(strings.Join(tt.only, ","), func(t *testing.T) {
			ps, err := selectPolicies(all, tt.only)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range ps {
				ids = append(ids, p.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
		})
	}
	// Load applies it
	e, err := Load(context.Background(), Options{Builtins: policies.FS, Config: config.Default().Data(), Only: []string{"VGL-OWN-*"}})
	if err != nil || len(e.Policies()) != 2 || e.Policies()[0].ID != "VGL-OWN-001" {
		t.Errorf("Load with Only: %v", err)
	}
	if _, err := Load(context.Background(), Options{Builtins: policies.FS, Only: []string{"VGL-OWN-9*"}}); err == nil || !strings.Contains(err.Error(), `no policy id matches "VGL-OWN-9*"`) {
		t.Errorf("Load with a glob matching nothing: %v", err)
	}
}
