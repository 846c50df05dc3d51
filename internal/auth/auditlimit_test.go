package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/store"
)

// A flood of requests with a wrong token writes a bounded number of audit
// rows: auditPerSource per source and auditPerMinute in all each minute,
// and one summary row counting the rest once the minute is over.
func TestAuditFloodIsBounded(t *testing.T) {
	var mu sync.Mutex
	var rows []*store.AuditEntry
	now := time.Date(2026, 12, 2, 10, 0, 5, 0, time.UTC)
	g := &Guard{Tokens: &Tokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
		Audit: func(_ context.Context, e *store.AuditEntry) { mu.Lock(); rows = append(rows, e); mu.Unlock() }}
	h := g.Wrap(http.NewServeMux())
	hit := func(remote string) {
		req := httptest.NewRequest("GET", "http://localhost/api/runs", nil)
		req.RemoteAddr = remote
		req.Header.Set("Authorization", "Bearer not-a-token")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 401 {
			t.Fatalf("a wrong token: %d", w.Code)
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(rows) }

	// One source, 250 requests in a minute: 20 rows, 230 counted.
	for i := 0; i < 250; i++ {
		hit("203.0.113.7:40000")
	}
	if n := count(); n != auditPerSource {
		t.Fatalf("one source's flood wrote %d rows, want %d", n, auditPerSource)
	}
	// The next minute: the summary of the last one, then this request.
	now = now.Add(time.Minute)
	hit("203.0.113.7:40001")
	if n := count(); n != auditPerSource+2 {
		t.Fatalf("after the minute: %d rows, want %d", n, auditPerSource+2)
	}
	sum := rows[auditPerSource]
	if sum.Target != "unauthenticated" || !strings.Contains(sum.Detail, "230 more refused requests") || !strings.Contains(sum.Detail, "230 from 203.0.113.7") {
		t.Errorf("summary: %+v", sum)
	}

	// 300 sources in one minute: 200 rows in all (the first minute's
	// share is spent by the one request above), the other 100 counted.
	now, rows = now.Add(time.Minute), nil
	hit("198.51.100.1:1") // rolls the minute (nothing dropped: no summary)
	for i := 0; i < 299; i++ {
		hit(fmt.Sprintf("[2001:db8::%x]:1", i+1))
	}
	if n := count(); n != auditPerMinute {
		t.Fatalf("300 sources wrote %d rows, want %d", n, auditPerMinute)
	}
	g.flushAudit(&g.limit, anonymousRule)
	if n := count(); n != auditPerMinute+1 || !strings.Contains(rows[auditPerMinute].Detail, "100 more refused requests") {
		t.Errorf("the flushed summary: %d rows, last %+v", n, rows[len(rows)-1])
	}
}

// A signed-in viewer's flood of refused approvals with 400 KB ids (review
// 18, bug 4: 80 MB of audit rows in 4 s) writes auditPerIdentity rows of
// at most AuditFieldMax bytes a field, then one summary; an anonymous
// flood from the same minute does not take the viewer's share, nor the
// viewer another identity's.
func TestSignedInAuditFloodIsBounded(t *testing.T) {
	var mu sync.Mutex
	var rows []*store.AuditEntry
	now := time.Date(2026, 12, 2, 10, 0, 5, 0, time.UTC)
	viewer, lead := "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	dir := t.TempDir()
	file := dir + "/tokens"
	if err := writeFile(file, "viewer-bot viewer "+viewer+"\nlead approver "+lead+"\n"); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	g := &Guard{Tokens: tokens, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
		Audit: func(_ context.Context, e *store.AuditEntry) { mu.Lock(); rows = append(rows, e); mu.Unlock() }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/runs/{id}/approvals", g.Require(Admin, "step.approve", func(w http.ResponseWriter, r *http.Request) {}))
	h := g.Wrap(mux)
	long := strings.Repeat("A", 400<<10)
	hit := func(token, remote string, want int) {
		req := httptest.NewRequest("POST", "http://localhost/api/runs/"+long+"/approvals", nil)
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("%d, want %d", w.Code, want)
		}
	}
	for i := 0; i < 250; i++ {
		hit("not-a-token", "203.0.113.7:1", 401)
	}
	for i := 0; i < 100; i++ {
		hit(viewer, "10.0.0.9:1", 403)
	}
	hit(lead, "10.0.0.9:1", 403) // an approver is not an admin: refused, and written
	mu.Lock()
	n, size, leads := len(rows), 0, 0
	for _, e := range rows {
		for _, f := range []string{e.Subject, e.Name, e.Action, e.Target, e.Detail, e.Remote, e.Method, e.Path} {
			if len(f) > store.AuditFieldMax {
				t.Fatalf("a field of %d bytes: %.80s", len(f), f)
			}
			size += len(f)
		}
		if e.Subject == "token:lead" {
			leads++
		}
	}
	mu.Unlock()
	// 20 anonymous rows, 30 of the viewer, 1 of lead.
	if n != auditPerSource+auditPerIdentity+1 || leads != 1 {
		t.Fatalf("%d rows (%d of lead), want %d and 1", n, leads, auditPerSource+auditPerIdentity+1)
	}
	// Each row holds at most a few fields of 1 KiB: not 400 KB.
	if size > n*4*store.AuditFieldMax {
		t.Errorf("%d rows hold %d bytes", n, size)
	}
	if !strings.Contains(rows[auditPerSource].Path, "[truncated: ") {
		t.Errorf("a cut path has no marker: %.60s…", rows[auditPerSource].Path)
	}
	g.flushAudit(&g.signedLimit, signedInRule)
	last := rows[len(rows)-1]
	if last.Target != "signed-in" || !strings.Contains(last.Detail, "70 more audited requests of signed-in principals") || !strings.Contains(last.Detail, "70 from token:viewer-bot") {
		t.Errorf("summary: %+v", last)
	}
}

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o600) }
