package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubs puts a curl that answers metadata attributes from dir/md and a
// gsutil that copies into dir/gcs/BUCKET/OBJECT first in PATH.
func stubs(t *testing.T, attrs map[string]string) (dir string, env []string) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir = t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(filepath.Join(dir, "md"), 0o755)
	os.MkdirAll(bin, 0o755)
	for k, v := range attrs {
		os.WriteFile(filepath.Join(dir, "md", k), []byte(v), 0o644)
	}
	// curl -sf -H "Metadata-Flavor: Google" URL: the attribute is the
	// URL's last element; a missing one fails as curl -f does on a 404.
	os.WriteFile(filepath.Join(bin, "curl"), []byte(`#!/bin/bash
for a; do url=$a; done
[ "$*" = "${*/Metadata-Flavor: Google/}" ] && exit 22
f="$STUB/md/${url##*/}"
[ -f "$f" ] || exit 22
cat "$f"
`), 0o755)
	// gsutil -q cp SRC gs://BUCKET/OBJECT, SRC a file or - (stdin)
	os.WriteFile(filepath.Join(bin, "gsutil"), []byte(`#!/bin/bash
[ "$1" = -q ] && shift
[ "$1" = cp ] || exit 2
dst="$STUB/gcs/${3#gs://}"
mkdir -p "$(dirname "$dst")"
if [ "$2" = - ]; then cat >"$dst"; else cat "$2" >"$dst"; fi
`), 0o755)
	return dir, []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "STUB=" + dir, "VIGIL_METADATA_URL=http://metadata.invalid/attrs"}
}

func run(t *testing.T, env []string) (string, error) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "hash.sh")
	os.WriteFile(script, []byte(HashScript), 0o755)
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The startup script, run with bash against a file standing in for the
// evidence device, writes a result whose sha256 is the file's, with its
// size; with vigil-image it writes the raw image too, byte for byte.
func TestHashScript(t *testing.T) {
	if !strings.Contains(HashScript, Marker) {
		t.Fatal("the script lacks the marker the fake knows workers by")
	}
	device := filepath.Join(t.TempDir(), "google-evidence")
	content := bytes.Repeat([]byte("evidence\x00\x01"), 700_000)
	content = append(content, make([]byte, 3<<20)...) // a zero tail
	os.WriteFile(device, content, 0o600)
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	for _, image := range []string{"", "gs://acme-sec-evidence/vigil/INC-1/snap.raw"} {
		dir, env := stubs(t, map[string]string{"vigil-device": device, "vigil-result": "gs://acme-sec-evidence/vigil/INC-1/snap.json",
			"vigil-image": image, "vigil-snapshot": "projects/p/global/snapshots/snap"})
		out, err := run(t, env)
		if err != nil {
			t.Fatalf("image %q: %v\n%s", image, err, out)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "gcs/acme-sec-evidence/vigil/INC-1/snap.json"))
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			SHA256, Snapshot, Device, Image, Error string
			Bytes                                  int64
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("result is not JSON: %v\n%s", err, raw)
		}
		if res.SHA256 != want || res.Bytes != int64(len(content)) || res.Snapshot != "projects/p/global/snapshots/snap" || res.Device != device || res.Error != "" {
			t.Errorf("image %q: result %+v, want sha256 %s of %d bytes", image, res, want, len(content))
		}
		if image != "" {
			img, err := os.ReadFile(filepath.Join(dir, "gcs/acme-sec-evidence/vigil/INC-1/snap.raw"))
			if err != nil || !bytes.Equal(img, content) {
				t.Errorf("the raw image differs from the device (%d bytes, %v)", len(img), err)
			}
		}
	}
}

// A device that is not there gives a result that says so, and no hash.
func TestHashScriptReportsErrors(t *testing.T) {
	dir, env := stubs(t, map[string]string{"vigil-device": "/nonexistent/google-evidence", "vigil-result": "gs://b/r.json"})
	env = append(env, "VIGIL_DEVICE_WAIT=1")
	out, err := run(t, env)
	if err == nil {
		t.Fatalf("the script should fail:\n%s", out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "gcs/b/r.json"))
	if !strings.Contains(string(raw), `"error":"device /nonexistent/google-evidence is not there"`) || strings.Contains(string(raw), "sha256") {
		t.Errorf("result %s", raw)
	}
}
