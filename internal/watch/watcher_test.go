package watch

import (
	"strings"
	"testing"
)

// Event ids that read alike, or are cut alike, still name different
// files; no name leaves the directory.
func TestFileNamesOfEventIDsNeverCollide(t *testing.T) {
	long := strings.Repeat("x", 200)
	ids := []string{"1111111111/2222", "1111111111_2222", "1111111111 2222", "_1111111111_2222_",
		"a" + long, "b" + long, "../../etc/passwd", "..", ".", ""}
	seen := map[string]string{}
	for _, id := range ids {
		n := fileName(id)
		if prev, ok := seen[n]; ok {
			t.Errorf("ids %q and %q share the file name %q", prev, id, n)
		}
		seen[n] = id
		if strings.ContainsAny(n, `/\`) || n == "." || n == ".." || len(n) > 120 {
			t.Errorf("fileName(%q) = %q", id, n)
		}
		if fileName(id) != n {
			t.Errorf("fileName(%q) is not stable", id)
		}
	}
}
