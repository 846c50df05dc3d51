package runbook

import "testing"

// Short secrets are removed only where they stand alone. The expected
// strings are worked out by hand: a run of letters and digits keeps every
// "a" in it, however many follow one another.
func TestReplaceWordBoundaries(t *testing.T) {
	for _, c := range []struct{ s, old, want string }{
		{"(sensitive 0bd6a3ef8aaa)", "a", "(sensitive 0bd6a3ef8aaa)"},
		{"aaa", "a", "aaa"},
		{"a", "a", "X"},
		{"a-a", "a", "X-X"},
		{"ba a ab", "a", "ba X ab"},
		{"key a, then aa and a.", "a", "key X, then aa and X."},
		{"1212 12", "12", "1212 X"},
		{"-x-", "-", "XxX"},
		{"", "a", ""},
	} {
		if got := replaceWord(c.s, c.old, "X"); got != c.want {
			t.Errorf("replaceWord(%q, %q) = %q, want %q", c.s, c.old, got, c.want)
		}
	}
}

// A keyed hash in an instance address is left whole even when a secret's
// spelling occurs inside it; text around it is still redacted.
func TestTextKeepsSensitiveKeys(t *testing.T) {
	r := &redactor{known: map[string]bool{}, forms: []string{"dead"}, short: []string{"a"}}
	in := "keys[\"(sensitive 0bdeadef8aaa)\"] dead a (sensitive 12)"
	want := "keys[\"(sensitive 0bdeadef8aaa)\"] " + SensitiveText + " " + SensitiveText + " (sensitive 12)"
	if got := r.text(in); got != want {
		t.Errorf("text(%q) = %q, want %q", in, got, want)
	}
}
