package runbook

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Sensitivity travels with the value as a cty mark: upper(var.token), a
// template over it, a for_each key made from it all carry the mark, and
// Encode shows them as (sensitive). What the mark cannot follow is text an
// action makes from a value it was given (a summary, an error, an echoed
// output): for that the redactor learns every string a marked value holds
// as it is evaluated, and removes those strings from whatever the action
// says. Actions see real values; plans, journals, timelines and the
// console never do.
type redactor struct {
	mu sync.Mutex
	// forms are the secrets and every escaped spelling of them, longest
	// first; short are secrets too short to remove wherever they appear.
	forms []string
	short []string
	known map[string]bool
}

func newRedactor(vars map[string]*VarValue) *redactor {
	r := &redactor{known: map[string]bool{}}
	for _, v := range vars {
		if v.Sensitive {
			r.learn(v.Value.Mark(sensitive))
		}
	}
	return r
}

// minSecret is the shortest secret removed wherever it appears; shorter
// ones would take letters out of words, so they are removed where they
// stand alone (between characters that are not letters or digits).
const minSecret = 4

// learn records the strings of every marked part of v.
func (r *redactor) learn(v cty.Value) {
	var found []string
	collectMarked(v, false, &found)
	if len(found) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, s := range found {
		if s == "" || r.known[s] {
			continue
		}
		r.known[s] = true
		for _, f := range spellings(s) {
			if len(f) < minSecret {
				r.short = append(r.short, f)
			} else {
				r.forms = append(r.forms, f)
			}
		}
		added = true
	}
	if added {
		// longest first, so a secret containing another is replaced whole
		sort.SliceStable(r.forms, func(i, j int) bool { return len(r.forms[i]) > len(r.forms[j]) })
		sort.SliceStable(r.short, func(i, j int) bool { return len(r.short[i]) > len(r.short[j]) })
	}
}

// spellings are the ways a secret can appear in text: as it is, and as Go's
// %q and %+q, JSON (with and without HTML escapes) and HCL write it inside quotes (escaping quotes,
// backslashes, control characters and invalid UTF-8), once or twice over
// (an error quoting another that quoted the value).
func spellings(s string) []string {
	inner := func(q string) string { return q[1 : len(q)-1] }
	jsonQuote := func(s string) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		return inner(strings.TrimSuffix(b.String(), "\n"))
	}
	// json.Marshal (what most clients and servers use) also writes <, >
	// and & as \u003c, \u003e and \u0026: a webhook echoing the payload
	// it refused spells the secret that way.
	htmlQuote := func(s string) string {
		raw, _ := json.Marshal(s)
		return inner(string(raw))
	}
	hclQuote := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{").Replace
	one := []string{s, validUTF8(s), inner(strconv.Quote(s)), inner(strconv.QuoteToASCII(s)), jsonQuote(s), htmlQuote(s), hclQuote(s)}
	out := slices.Clone(one)
	for _, f := range one[2:] {
		out = append(out, inner(strconv.Quote(f)), jsonQuote(f))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (r *redactor) learnAll(m map[string]cty.Value) {
	for _, v := range m {
		r.learn(v)
	}
}

func collectMarked(v cty.Value, inMarked bool, out *[]string) {
	if v.IsMarked() {
		inMarked = inMarked || v.HasMark(sensitive)
		v, _ = v.Unmark()
	}
	if !v.IsKnown() || v.IsNull() {
		return
	}
	switch {
	case v.Type() == cty.String:
		if inMarked {
			*out = append(*out, v.AsString())
		}
	case v.CanIterateElements():
		keyed := v.Type().IsMapType() || v.Type().IsObjectType()
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if keyed && inMarked {
				*out = append(*out, k.AsString())
			}
			collectMarked(e, inMarked, out)
		}
	}
}

// sensitiveKeyToken matches what SensitiveKey writes. Those tokens are
// already safe to show, and they name instances: a hash that happened to
// contain a known secret ("(sensitive 0bd6…dead…)" with the secret "dead")
// must come out as it went in, or a resume would look for an instance that
// no longer exists.
var sensitiveKeyToken = regexp.MustCompile(`\(sensitive [0-9a-f]{12}\)`)

func (r *redactor) text(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.Contains(s, "(sensitive ") {
		return r.plain(s)
	}
	var b strings.Builder
	done := 0
	for _, m := range sensitiveKeyToken.FindAllStringIndex(s, -1) {
		b.WriteString(r.plain(s[done:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		done = m[1]
	}
	b.WriteString(r.plain(s[done:]))
	return b.String()
}

// plain removes every learnt secret from s; r.mu is held.
func (r *redactor) plain(s string) string {
	for _, f := range r.forms {
		s = strings.ReplaceAll(s, f, SensitiveText)
	}
	for _, f := range r.short {
		s = replaceWord(s, f, SensitiveText)
	}
	return s
}

// replaceWord replaces old in s where it is not part of a longer run of
// letters and digits. The boundary is judged on the whole string, so an
// occurrence right after a kept one ("8aa" with old "a") is not taken for
// the start of the text.
func replaceWord(s, old, repl string) string {
	if old == "" {
		return s
	}
	// a boundary is needed only on a side where the secret itself begins
	// or ends with a letter or digit
	first, _ := utf8.DecodeRuneInString(old)
	last, _ := utf8.DecodeLastRuneInString(old)
	var b strings.Builder
	done := 0 // s[:done] is written
	for from := 0; ; {
		i := strings.Index(s[from:], old)
		if i < 0 {
			b.WriteString(s[done:])
			return b.String()
		}
		i += from
		end := i + len(old)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		alone := (i == 0 || !isWordRune(before) || !isWordRune(first)) &&
			(end == len(s) || !isWordRune(after) || !isWordRune(last))
		if alone {
			b.WriteString(s[done:i])
			b.WriteString(repl)
			done = end
		}
		from = end
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func (r *redactor) texts(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.text(s)
	}
	return out
}

// diags redacts diagnostics in place. A diagnostic about an expression
// that reads a sensitive value (a function's error over lower(var.secret),
// a failed conversion) may quote that value in any transformed spelling
// the redactor cannot know, so its detail is replaced as a whole, the way
// marks are meant to work: what a sensitive value flows into is not shown.
func (r *redactor) diags(d hcl.Diagnostics) hcl.Diagnostics {
	for _, x := range d {
		if readsSensitive(x) {
			x.Detail = sensitiveDetail(x)
		}
		x.Summary, x.Detail = r.text(x.Summary), r.text(x.Detail)
	}
	return d
}

// readsSensitive reports whether a diagnostic's expression reads a value
// marked sensitive.
func readsSensitive(x *hcl.Diagnostic) bool {
	if x.Expression == nil || x.EvalContext == nil {
		return false
	}
	for _, t := range x.Expression.Variables() {
		v, d := t.TraverseAbs(x.EvalContext)
		if !d.HasErrors() && markedSensitive(v) {
			return true
		}
	}
	return false
}

func markedSensitive(v cty.Value) bool {
	_, pvm := v.UnmarkDeepWithPaths()
	for _, pm := range pvm {
		if pm.Marks.Has(sensitive) {
			return true
		}
	}
	return false
}

// sensitiveDetail is what replaces such a diagnostic's detail: which
// function failed (the subject gives the file and line), not how.
func sensitiveDetail(x *hcl.Diagnostic) string {
	if fc, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](x); ok && fc.CalledFunctionName() != "" {
		return fmt.Sprintf("The call to function %q failed on an argument made from a sensitive value, so its message (which could quote the value) is not shown. Check what the function is given at this line.", fc.CalledFunctionName())
	}
	return "The expression reads a sensitive value, so the message (which could quote the value) is not shown. Check the value given at this line."
}

// value redacts the strings (and map keys) of an encoded value.
func (r *redactor) value(v any) any {
	switch x := v.(type) {
	case string:
		return r.text(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.text(k)] = r.value(e)
		}
		return out
	}
	return v
}

// Sensitive values are never hashed bare: a low-entropy secret (a PIN, a
// short token) would come back from its SHA-256 by brute force. Plans,
// runs and journals hold an HMAC under a value key instead, and the key
// lives only where the journal key does (it is derived from it), never in
// the plan, the database or the journal. The same value gives the same
// hash wherever the same journal key is used: in the plan, at apply and at
// every resume of the run.

// valueKeyContext separates the value key from any other use of the seed.
const valueKeyContext = "vigil sensitive value hashes v1"

// ValueKey derives the key of sensitive-value hashes from the journal key.
func ValueKey(journalKey ed25519.PrivateKey) []byte {
	mac := hmac.New(sha256.New, journalKey.Seed())
	mac.Write([]byte(valueKeyContext))
	return mac.Sum(nil)
}

// ValueKeyID names a value key without revealing it, so that a plan can
// say which key its hashes need.
func ValueKeyID(valueKey []byte) string {
	return "HMAC:" + valueHash(valueKey, []byte("key id"))[:16]
}

// valueHash is the hex HMAC-SHA256 of data under the value key.
func valueHash(valueKey, data []byte) string {
	mac := hmac.New(sha256.New, valueKey)
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// SensitiveKey is how a for_each key made from a sensitive value appears in
// addresses: a short keyed hash, stable across plan, apply and resume with
// the same journal key, so that the instance can be named without showing
// the value or offering its hash to brute force.
func SensitiveKey(valueKey []byte, key string) string {
	return "(sensitive " + valueHash(valueKey, []byte(key))[:12] + ")"
}

// logger wraps an action's logger so that what it logs is redacted too
// (core.log logs its message).
func (r *redactor) logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(&redactHandler{h: l.Handler(), r: r})
}

type redactHandler struct {
	h slog.Handler
	r *redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindGroup:
		var as []any
		for _, g := range a.Value.Group() {
			as = append(as, h.attr(g))
		}
		return slog.Group(a.Key, as...)
	case slog.KindString:
		return slog.String(a.Key, h.r.text(a.Value.String()))
	case slog.KindAny:
		return slog.String(a.Key, h.r.text(a.Value.String()))
	}
	return a
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactHandler{h: h.h.WithAttrs(red), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: h.h.WithGroup(name), r: h.r}
}

// SensitiveReason is what shows of an approval reason made from a
// sensitive value.
const SensitiveReason = "(sensitive value)"

// keyedHash is the value-key HMAC actions record instead of a bare hash of
// an argument that holds a sensitive value.
func (ex *execution) keyedHash(data []byte) string { return valueHash(ex.sc.valueKey, data) }
