package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// With anchor = "s3://..." or "gs://..." in vigil.hcl, every journal head
// goes to the bucket, and a journal cut short in the database is found
// against it.
func TestObjectStoreAnchors(t *testing.T) {
	aws := awsfake.New("111111111111")
	aws.With(func(f *awsfake.Fake) {
		f.Get("111111111111").Buckets["acme-ir-anchors"] = &awsfake.Bucket{Name: "acme-ir-anchors", Region: "eu-west-1", Created: time.Now()}
	})
	awsSrv := aws.Start()
	defer awsSrv.Close()
	for _, kv := range awsfake.Env(awsSrv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	gcp := gcpfake.New()
	gcp.AddBucket("acme-ir-anchors", "acme-sec-forensics")
	gcpSrv, err := gcp.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer gcpSrv.Close()
	t.Setenv("VIGIL_GCP_ENDPOINT", gcpSrv.REST)

	for _, tt := range []struct{ anchor, name string }{
		{"s3://acme-ir-anchors/vigil", "the anchor s3://acme-ir-anchors/vigil"},
		{"gs://acme-ir-anchors/vigil", "the anchor gs://acme-ir-anchors/vigil"},
	} {
		t.Run(tt.anchor[:2], func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "vigil.hcl")
			os.WriteFile(cfg, []byte(`anchor = "`+tt.anchor+`"`+"\n"), 0o644)
			rb := filepath.Join(dir, "gate.hcl")
			os.WriteFile(rb, []byte(gateHCL), 0o644)
			state := filepath.Join(dir, "s.db")
			code, out, errs := run(t, "runbook", "apply", rb, "-c", cfg, "--approve", "gate", "--state", state)
			if code != 0 {
				t.Fatalf("apply: %d %s %s", code, out, errs)
			}
			id := runID.FindStringSubmatch(out)[1]
			if _, err := os.Stat(state + ".anchor"); err == nil {
				t.Error("the default anchor file was written although vigil.hcl names another")
			}
			code, out, _ = run(t, "runbook", "verify", id, "-c", cfg, "--state", state)
			if code != 0 || !strings.Contains(out, "Its head matches "+tt.name+" (entry ") {
				t.Fatalf("verify: %d %s", code, out)
			}
			db, _ := sql.Open("sqlite", "file:"+state)
			exec(t, db, `DELETE FROM journal WHERE run_id = ? AND seq > 3`, id)
			db.Close()
			code, out, _ = run(t, "runbook", "verify", id, "-c", cfg, "--state", state)
			if code != ExitFindings || !strings.Contains(out, "the journal was truncated: "+tt.name+" records entry ") {
				t.Errorf("verify of a truncated journal: %d %s", code, out)
			}
			// A run deleted whole is found from the bucket's listing of runs.
			db, _ = sql.Open("sqlite", "file:"+state)
			db.Exec(`DELETE FROM run_leases WHERE run_id = ?`, id)
			exec(t, db, `DELETE FROM journal WHERE run_id = ?`, id)
			exec(t, db, `DELETE FROM runs WHERE id = ?`, id)
			db.Close()
			code, out, _ = run(t, "runbook", "verify", "--all", "-c", cfg, "--state", state)
			if code != ExitFindings || !strings.Contains(out, id+"  NOT intact: the run was deleted from the database: "+tt.name+" holds ") {
				t.Errorf("verify --all of a deleted run: %d %s", code, out)
			}
		})
	}
}
