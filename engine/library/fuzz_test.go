package library

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// FuzzLoad: any YAML in a library either loads or gives an error naming
// the file; it never panics.
func FuzzLoad(f *testing.F) {
	src := testutil.Fixture(f, "GoogleCloudPlatform__policy-library")
	seeds, _ := filepath.Glob(filepath.Join(src, "policies", "templates", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(src, "validator", "test", "fixtures", "*", "constraints", "*", "data.yaml"))
	for _, p := range append(seeds, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kind: ConstraintTemplate\nspec:\n  targets: 3\n"))
	f.Add([]byte("apiVersion: constraints.gatekeeper.sh/v1\nkind: X\nspec:\n  match: [1]\n---\n- a\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "lib.yaml"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		lib, err := Load(dir)
		if err == nil && lib == nil {
			t.Fatal("no library and no error")
		}
	})
}
