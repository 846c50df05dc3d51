package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Bound keeps short fields as they are and cuts long ones to
// AuditFieldMax bytes, on a rune boundary, saying how long they were.
func TestAuditEntryBound(t *testing.T) {
	short := strings.Repeat("x", AuditFieldMax)      // exactly the limit: kept
	long := "/api/runs/" + strings.Repeat("é", 3000) // 10 + 6000 bytes
	e := &AuditEntry{Path: long, Target: short, Detail: "ok"}
	e.Bound()
	if e.Target != short || e.Detail != "ok" {
		t.Errorf("short fields changed: %d %q", len(e.Target), e.Detail)
	}
	// The marker names the original 6010 bytes; what is kept ends on a
	// whole "é" (2 bytes), so the cut is at most one byte short.
	marker := "…[truncated: 6010 bytes]"
	if !strings.HasSuffix(e.Path, marker) || !utf8.ValidString(e.Path) || len(e.Path) > AuditFieldMax || len(e.Path) < AuditFieldMax-1 {
		t.Errorf("cut path: %d bytes, valid %v, ends %q", len(e.Path), utf8.ValidString(e.Path), e.Path[len(e.Path)-40:])
	}
	if !strings.HasPrefix(e.Path, "/api/runs/éé") {
		t.Errorf("the start is lost: %.20q", e.Path)
	}
}
