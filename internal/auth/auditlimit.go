package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/internal/store"
)

// Anyone who reaches the port can send requests without a valid sign-in,
// and each refusal is worth an audit row, but not an unlimited number: a
// flood would fill the store. Per minute, a source gets auditPerSource rows
// and all sources together auditPerMinute; the refusals beyond are counted
// and recorded as one summary row when the minute is over.
//
// A signed-in principal's refusals, reads and sign-ins get the same
// treatment by identity (auditPerIdentity each, auditPerMinuteSigned in
// all), in a limiter of their own so that an anonymous flood does not
// crowd them out. What a principal did (a run started, a step decided)
// is never dropped: serve writes those rows itself.
const (
	auditPerSource = 20
	auditPerMinute = 200
	// auditSources bounds the sources counted one by one in a minute; the
	// others are counted together.
	auditSources = 1000

	auditPerIdentity     = 30
	auditPerMinuteSigned = 300
)

// auditRule is what a limiter counts by and allows.
type auditRule struct {
	perKey, perMinute int
	// target and what name the summary row.
	target, what string
}

var (
	anonymousRule = auditRule{auditPerSource, auditPerMinute, "unauthenticated", "refused requests without a valid sign-in"}
	signedInRule  = auditRule{auditPerIdentity, auditPerMinuteSigned, "signed-in", "audited requests of signed-in principals"}
)

type auditLimiter struct {
	mu      sync.Mutex
	window  time.Time // the minute being counted
	written int
	rows    map[string]int // rows written this minute, by source
	dropped map[string]int // refusals not written this minute, by source
	total   int            // refusals not written this minute
	timer   *time.Timer
}

// source is the client's address without its port.
func source(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// auditAnonymous writes e (an unauthenticated refusal) unless its source
// or the minute has had its share; then it is counted for the summary.
func (g *Guard) auditAnonymous(r *http.Request, e *store.AuditEntry) {
	g.limited(&g.limit, anonymousRule, source(r), r, e)
}

// AuditSignedIn writes e, a signed-in principal's row that is not an
// action it took (a refusal, a read, a sign-in), unless that identity or
// the minute has had its share; then it is counted for the summary.
func (g *Guard) AuditSignedIn(r *http.Request, e *store.AuditEntry) {
	e.Bound()
	key := e.Subject
	if key == "" {
		key = source(r)
	}
	g.limited(&g.signedLimit, signedInRule, key, r, e)
}

func (g *Guard) limited(l *auditLimiter, rule auditRule, key string, r *http.Request, e *store.AuditEntry) {
	now := g.now()
	l.mu.Lock()
	summary := l.rollLocked(now, rule)
	write := l.written < rule.perMinute && l.rows[key] < rule.perKey
	if write {
		l.written++
		l.rows[key]++
	} else {
		if _, ok := l.dropped[key]; !ok && len(l.dropped) >= auditSources {
			key = "others"
		}
		l.dropped[key]++
		l.total++
		if l.timer == nil {
			// Summarise when the minute is over even if nothing else comes.
			l.timer = time.AfterFunc(max(time.Second, l.window.Add(time.Minute).Sub(now)), func() { g.flushAudit(l, rule) })
		}
	}
	l.mu.Unlock()
	if summary != nil {
		g.Audit(context.WithoutCancel(r.Context()), summary)
	}
	if write {
		g.Audit(r.Context(), e)
	}
}

// flushAudit records the summary of the rows counted so far.
func (g *Guard) flushAudit(l *auditLimiter, rule auditRule) {
	l.mu.Lock()
	summary := l.summaryLocked(g.now(), rule)
	l.timer = nil
	l.mu.Unlock()
	if summary != nil {
		g.Audit(context.Background(), summary)
	}
}

// rollLocked starts a new minute when now is past the current one and
// returns the summary of the one that ended (nil when nothing was dropped).
func (l *auditLimiter) rollLocked(now time.Time, rule auditRule) *store.AuditEntry {
	minute := now.Truncate(time.Minute)
	if l.rows != nil && minute.Equal(l.window) {
		return nil
	}
	summary := l.summaryLocked(now, rule)
	l.window, l.written, l.rows = minute, 0, map[string]int{}
	if l.dropped == nil {
		l.dropped = map[string]int{}
	}
	return summary
}

func (l *auditLimiter) summaryLocked(now time.Time, rule auditRule) *store.AuditEntry {
	if l.total == 0 {
		return nil
	}
	type count struct {
		src string
		n   int
	}
	var cs []count
	for s, n := range l.dropped {
		cs = append(cs, count{s, n})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n > cs[j].n || cs[i].n == cs[j].n && cs[i].src < cs[j].src })
	var parts []string
	for i, c := range cs {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("%d more sources", len(cs)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%d from %s", c.n, c.src))
	}
	e := &store.AuditEntry{At: now, Action: "request", Target: rule.target, Outcome: "refused",
		Detail: fmt.Sprintf("%d more %s since %s, not recorded one by one: %s",
			l.total, rule.what, l.window.UTC().Format(time.RFC3339), strings.Join(parts, ", "))}
	e.Bound()
	l.dropped, l.total = map[string]int{}, 0
	return e
}
