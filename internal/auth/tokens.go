package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// Tokens are static bearer tokens for automation, read from a file with
// one token a line:
//
//	# name      role       token (or sha256:HEX of it)
//	ci-bot      responder  sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	prometheus  viewer     3kT9qL0v...
//
// Only the SHA-256 of each token is kept in memory.
type Tokens struct {
	entries []tokenEntry
	// Warnings are problems that do not stop the server (a file others can
	// read that holds tokens in the clear).
	Warnings []string
}

type tokenEntry struct {
	name, role string
	sum        [32]byte
}

// MinTokenLength is the shortest token accepted in the clear.
const MinTokenLength = 24

// LoadTokens reads a tokens file; errors name the file and line.
func LoadTokens(path string) (*Tokens, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens file: %w", err)
	}
	defer fh.Close()
	t := &Tokens{}
	sc := bufio.NewScanner(fh)
	clear := false
	names := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: write NAME ROLE TOKEN (or NAME ROLE sha256:HEX), three fields", path, n)
		}
		name, role, tok := f[0], f[1], f[2]
		if ranks[role] == 0 {
			return nil, fmt.Errorf("%s:%d: unknown role %q: use viewer, responder, approver or admin", path, n, role)
		}
		if prev, dup := names[name]; dup {
			return nil, fmt.Errorf("%s:%d: token name %q is already used on line %d: each name is one identity", path, n, name, prev)
		}
		names[name] = n
		e := tokenEntry{name: name, role: role}
		if h, ok := strings.CutPrefix(tok, "sha256:"); ok {
			raw, err := hex.DecodeString(h)
			if err != nil || len(raw) != 32 {
				return nil, fmt.Errorf("%s:%d: sha256:%s is not 64 hex digits (make it with: printf %%s TOKEN | sha256sum)", path, n, h)
			}
			copy(e.sum[:], raw)
		} else {
			if len(tok) < MinTokenLength {
				return nil, fmt.Errorf("%s:%d: the token of %s is %d characters; use at least %d random ones (openssl rand -hex 32)", path, n, name, len(tok), MinTokenLength)
			}
			e.sum = sha256.Sum256([]byte(tok))
			clear = true
		}
		t.entries = append(t.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens file %s: %w", path, err)
	}
	if info, err := os.Stat(path); err == nil && clear && info.Mode().Perm()&0o044 != 0 {
		t.Warnings = append(t.Warnings, fmt.Sprintf("%s holds tokens in the clear and others can read it (mode %04o): chmod 600 it, or keep sha256:HEX of each token", path, info.Mode().Perm()))
	}
	return t, nil
}

// Lookup returns the principal a token belongs to, nil when none.
func (t *Tokens) Lookup(token string) *Principal {
	if t == nil || token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	var found *tokenEntry
	for i := range t.entries {
		// Every entry is compared, in constant time: no timing tells which
		// prefix matched.
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].sum[:]) == 1 {
			found = &t.entries[i]
		}
	}
	if found == nil {
		return nil
	}
	return &Principal{Subject: "token:" + found.name, Name: found.name, Role: found.role, Via: "token"}
}

// Add registers a token (the server's own local token).
func (t *Tokens) Add(name, role, token string) {
	t.entries = append(t.entries, tokenEntry{name: name, role: role, sum: sha256.Sum256([]byte(token))})
}
