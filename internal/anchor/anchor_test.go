package anchor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

func head(run string, seq int64) runbook.Head {
	return runbook.Head{RunID: run, Seq: seq, Hash: fmt.Sprintf("hash-%s-%d", run, seq), Key: "SHA256:k", At: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

// anchorContract is what every anchor keeps: each head recorded, per run;
// recording the same head again is fine, another hash for a recorded
// entry is refused where the store can tell (objects written only once).
func anchorContract(t *testing.T, a runbook.Anchor, refusesRewrite bool) {
	ctx := context.Background()
	if hs, err := a.Heads(ctx, "run-a"); err != nil || len(hs) != 0 {
		t.Fatalf("empty: %v %v", hs, err)
	}
	for seq := int64(1); seq <= 3; seq++ {
		if err := a.Record(ctx, head("run-a", seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Record(ctx, head("run-b", 1)); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, head("run-a", 3)); err != nil {
		t.Errorf("the same head again (a resume re-anchoring): %v", err)
	}
	forged := head("run-a", 2)
	forged.Hash = "rewritten"
	err := a.Record(ctx, forged)
	if refusesRewrite && (err == nil || !strings.Contains(err.Error(), "already records entry 2")) {
		t.Errorf("another hash for entry 2: %v", err)
	}
	hs, err := a.Heads(ctx, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, h := range hs {
		if h.RunID != "run-a" || h.Key != "SHA256:k" {
			t.Errorf("head %+v", h)
		}
		if _, dup := got[h.Seq]; !dup {
			got[h.Seq] = h.Hash
		}
	}
	if len(got) != 3 || got[1] != "hash-run-a-1" || got[2] != "hash-run-a-2" || got[3] != "hash-run-a-3" {
		t.Errorf("heads of run-a: %v", got)
	}
	if a.String() == "" {
		t.Error("an anchor says where it is")
	}
	// Every anchor lists its runs, so that a run deleted from the database
	// whole is found.
	runs, err := a.(runbook.AnchorLister).Runs(ctx)
	if slices.Sort(runs); err != nil || strings.Join(runs, ",") != "run-a,run-b" {
		t.Errorf("runs: %v %v", runs, err)
	}
}

// Lines of the anchor file that are not heads are reported; only an
// unfinished last line is called a crash's, and a line longer than any
// head is skipped without being held whole.
func TestFileAnchorDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.anchor")
	a := &File{Path: path}
	if err := a.Record(context.Background(), head("run-a", 1)); err != nil {
		t.Fatal(err)
	}
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("garbage\n" + strings.Repeat("y", 3<<20) + "\n")
	fh.Close()
	if err := a.Record(context.Background(), head("run-a", 2)); err != nil {
		t.Fatal(err)
	}
	d, err := a.Damage(context.Background())
	if err != nil || len(d) != 2 || d[0] != "line 2 is not a journal head" || d[1] != "line 3 is not a journal head (65536 bytes or more)" {
		t.Errorf("damage: %q %v", d, err)
	}
	if hs, err := a.Heads(context.Background(), "run-a"); err != nil || len(hs) != 2 {
		t.Errorf("heads past the damage: %v %v", hs, err)
	}
	fh, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"run":"run-a","seq":3,"ha`)
	fh.Close()
	d, _ = a.Damage(context.Background())
	if len(d) != 3 || !strings.HasSuffix(d[2], "(the last line, unfinished: an append cut short by a crash leaves one)") {
		t.Errorf("a torn last line: %q", d)
	}
	// The next head (the resume re-anchoring entry 3) starts its own line.
	if err := a.Record(context.Background(), head("run-a", 3)); err != nil {
		t.Fatal(err)
	}
	if hs, err := a.Heads(context.Background(), "run-a"); err != nil || len(hs) != 3 || hs[2].Seq != 3 {
		t.Errorf("the head after a torn line: %v %v", hs, err)
	}
}

func TestFileAnchor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "vigil.db.anchor")
	a := &File{Path: path}
	anchorContract(t, a, false)
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("anchor file mode: %v %v", info, err)
	}
	// A torn last line (a crash mid-write) is skipped, not an error.
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"run":"run-a","seq":4,"ha`)
	fh.Close()
	// (run-a has five records: three heads, one again, and the rewrite a
	// file cannot refuse; verify compares them all.)
	if hs, err := a.Heads(context.Background(), "run-a"); err != nil || len(hs) != 5 {
		t.Errorf("after a torn line: %d heads, %v", len(hs), err)
	}
	// Processes appending at once do not mix their lines.
	b := &File{Path: filepath.Join(t.TempDir(), "a.anchor")}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); i <= 25; i++ {
				b.Record(context.Background(), head(fmt.Sprintf("run-%d", w), i))
			}
		}()
	}
	wg.Wait()
	for w := 0; w < 8; w++ {
		if hs, _ := b.Heads(context.Background(), fmt.Sprintf("run-%d", w)); len(hs) != 25 {
			t.Errorf("run-%d: %d heads", w, len(hs))
		}
	}
}

// S3, against the wire-protocol fake: one object per head, written only
// if absent.
func TestS3Anchor(t *testing.T) {
	f := awsfake.New("111111111111")
	f.With(func(f *awsfake.Fake) {
		f.Get("111111111111").Buckets["acme-ir-anchors"] = &awsfake.Bucket{Name: "acme-ir-anchors", Region: "eu-west-1", Created: time.Now()}
	})
	srv := f.Start()
	defer srv.Close()
	for _, kv := range awsfake.Env(srv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	a, err := Open(context.Background(), "s3://acme-ir-anchors/vigil/journals", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	anchorContract(t, a, true)
	var keys []string
	f.With(func(f *awsfake.Fake) {
		for k := range f.Get("111111111111").Buckets["acme-ir-anchors"].Objects {
			keys = append(keys, k)
		}
	})
	if len(keys) != 4 || !contains(keys, "vigil/journals/run-a/0000000002.json") {
		t.Errorf("objects: %v", keys)
	}
	if _, err := Open(context.Background(), "s3://no-such-bucket", "", Options{}); err != nil {
		t.Fatal(err) // opening does not call the service
	}
	missing, _ := Open(context.Background(), "s3://no-such-bucket/x", "", Options{})
	if err := missing.Record(context.Background(), head("run-a", 1)); err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("a missing bucket: %v", err)
	}
}

// Cloud Storage, against the fake's JSON API: one object per head,
// created only if absent (ifGenerationMatch=0).
func TestGCSAnchor(t *testing.T) {
	f := gcpfake.New()
	f.AddBucket("acme-ir-anchors", "acme-sec-forensics")
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, err := Open(context.Background(), "gs://acme-ir-anchors/vigil", "", Options{GCSEndpoint: srv.REST})
	if err != nil {
		t.Fatal(err)
	}
	anchorContract(t, a, true)
	if raw, ok := f.Object("acme-ir-anchors", "vigil/run-a/0000000003.json"); !ok || !strings.Contains(string(raw), `"hash":"hash-run-a-3"`) {
		t.Errorf("object: %s %v", raw, ok)
	}
	other, _ := Open(context.Background(), "gs://no-such-bucket", "", Options{GCSEndpoint: srv.REST})
	if err := other.Record(context.Background(), head("run-a", 1)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a missing bucket: %v", err)
	}
}

func TestOpen(t *testing.T) {
	for spec, want := range map[string]string{"": "the anchor file /d/default.anchor", "/var/a.log": "the anchor file /var/a.log", "file:///var/b.log": "the anchor file /var/b.log"} {
		a, err := Open(context.Background(), spec, "/d/default.anchor", Options{})
		if err != nil || a.String() != want {
			t.Errorf("%q: %v %v", spec, a, err)
		}
	}
	if _, err := Open(context.Background(), "ftp://x/y", "", Options{}); err == nil {
		t.Error("ftp:// accepted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
