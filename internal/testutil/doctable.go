package testutil

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// PermissionRows reads a provider's testdata/permissions.tsv: four
// tab-separated columns (operation, permission, condition, source page),
// the permissions each call needs as the provider documents them,
// independent of the fake. Every source must start with sourcePrefix, so
// each row cites the provider's own documentation.
func PermissionRows(t testing.TB, path, sourcePrefix string) [][4]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][4]string
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 4 || c[0] == "" || c[1] == "" || !strings.HasPrefix(c[3], sourcePrefix) {
			t.Fatalf("%s:%d: want operation, permission, condition and a %s source: %q", path, i+1, sourcePrefix, line)
		}
		rows = append(rows, [4]string{c[0], c[1], c[2], c[3]})
	}
	return rows
}

// DocSection returns the text of a repository file between two markers,
// for tests that compare a documented table with what the code does.
func DocSection(t testing.TB, path, begin, end string) string {
	t.Helper()
	raw, err := os.ReadFile(Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no table between %s and %s", path, begin, end)
	}
	return s[i:j]
}

// SetDiff describes how two name sets differ ("" when they are equal):
// want is what the code made, got what the documentation lists.
func SetDiff(want, got map[string]bool) string {
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("made but not listed: %v; listed but not made: %v", missing, extra)
}
