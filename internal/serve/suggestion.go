package serve

import (
	"errors"
	"fmt"
	"strings"
)

// Suggestion is a triage card's command read back: what to start.
type Suggestion struct {
	Runbook   string
	Vars      map[string]string
	Provider  string
	FromAlert string
}

// ParseSuggestion reads a card's "vigil runbook plan NAME ..." command
// (as triage writes it, words in POSIX single quotes where needed). Only
// what a start needs is taken: the runbook, -var, --from-alert and
// --provider; inventories and configs are the server's own.
func ParseSuggestion(cmd string) (*Suggestion, error) {
	words, err := splitWords(cmd)
	if err != nil {
		return nil, err
	}
	if len(words) < 4 || words[0] != "vigil" || words[1] != "runbook" || words[2] != "plan" {
		return nil, fmt.Errorf("%q is not a card's command: it starts with vigil runbook plan RUNBOOK", cmd)
	}
	s := &Suggestion{Runbook: words[3], Vars: map[string]string{}}
	for i := 4; i < len(words); i++ {
		w := words[i]
		val := func() (string, error) {
			if k, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(k, "-") {
				return v, nil
			}
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs a value", w)
			}
			i++
			return words[i], nil
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		switch name {
		case "var":
			v, err := val()
			if err != nil {
				return nil, err
			}
			k, x, ok := strings.Cut(v, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("-var %q: write name=value", v)
			}
			s.Vars[k] = x
		case "from-alert":
			v, err := val()
			if err != nil {
				return nil, err
			}
			s.FromAlert = v
		case "provider":
			v, err := val()
			if err != nil {
				return nil, err
			}
			s.Provider = v
		case "i", "inventory", "c", "config", "gcp-scope", "aws-regions", "out":
			if _, err := val(); err != nil {
				return nil, err
			}
		case "aws-live", "gcp-live":
		default:
			return nil, fmt.Errorf("the card's command has %s, which a start from the dashboard does not take", w)
		}
	}
	return s, nil
}

// splitWords splits a command line as a POSIX shell would, for the
// quoting triage uses: single quotes, and '\” inside them.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			if c == '\'' {
				quoted = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\'':
			quoted, in = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quoted {
		return nil, errors.New("an unterminated quote in the command")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
