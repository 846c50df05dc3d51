package runbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
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
	mu      sync.Mutex
	secrets []string
	known   map[string]bool
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
		// very short values would redact ordinary words
		if len(s) >= 4 && !r.known[s] {
			r.known[s] = true
			r.secrets = append(r.secrets, s)
			added = true
		}
	}
	if added {
		// longest first, so a secret containing another is replaced whole
		sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	}
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

func (r *redactor) text(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, SensitiveText)
	}
	return s
}

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

// diags redacts diagnostics in place.
func (r *redactor) diags(d hcl.Diagnostics) hcl.Diagnostics {
	for _, x := range d {
		x.Summary, x.Detail = r.text(x.Summary), r.text(x.Detail)
	}
	return d
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

// SensitiveKey is how a for_each key made from a sensitive value appears in
// addresses: a short hash, stable across plan, apply and resume, so that
// the instance can be named without showing the value.
func SensitiveKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return "(sensitive " + hex.EncodeToString(h[:])[:12] + ")"
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
