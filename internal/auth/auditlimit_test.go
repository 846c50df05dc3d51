package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	g.flushAudit()
	if n := count(); n != auditPerMinute+1 || !strings.Contains(rows[auditPerMinute].Detail, "100 more refused requests") {
		t.Errorf("the flushed summary: %d rows, last %+v", n, rows[len(rows)-1])
	}
}
