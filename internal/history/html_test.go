package history

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/store"
)

// bigPage is the page of the measurement: 19,112 findings in the
// latest of 30 scans.
func bigPage(n int) *Page {
	start := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	p := &Page{Title: "vigil posture", Generated: start}
	for i := range 30 {
		s := &store.ScanRecord{ID: int64(i + 1), Schedule: "nightly", StartedAt: start.Add(time.Duration(i) * 24 * time.Hour), PolicySet: "35 policies, 0a1b2c3d4e5f",
			Findings: n, BySeverity: map[string]int{"critical": n / 10, "high": n / 5, "medium": n / 2, "low": n - n/10 - n/5 - n/2}}
		p.Scans = append(p.Scans, s)
	}
	p.Latest = p.Scans[len(p.Scans)-1]
	sev := []string{"critical", "high", "medium", "medium", "low"}
	for i := range n {
		p.Findings = append(p.Findings, store.StoredFinding{PolicyID: fmt.Sprintf("VGL-NET-%03d", i%9+1), Severity: sev[i%5], Kind: "firewall", Provider: "gcp", Scope: "acme-prod",
			AssetID: fmt.Sprintf("//compute.googleapis.com/projects/acme-prod/global/firewalls/rule-%05d", i), Title: "Admin ports open to the internet",
			Message: fmt.Sprintf("firewall rule-%05d allows tcp:22 from 0.0.0.0/0", i), Runbook: "open-firewall-remediation"})
	}
	return p
}

func TestBigPageSize(t *testing.T) {
	var b bytes.Buffer
	if err := bigPage(19112).HTML(&b); err != nil {
		t.Fatal(err)
	}
	// Before the table held a page of rows, this page was 6,045,015 bytes.
	t.Logf("19,112 findings: %d bytes", b.Len())
	if b.Len() > 1<<20 {
		t.Errorf("the page is %d bytes, more than 1 MiB", b.Len())
	}
	out := b.String()
	if n := strings.Count(out, `<tr id="f-`); n != MaxRows {
		t.Errorf("%d finding rows, want %d", n, MaxRows)
	}
	for _, want := range []string{">showing 2,000 of 19,112<", `id="truncated"`, "<h2>Findings (19,112)</h2>"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The dashboard's third page: rows 4,001 to 6,000, links both ways.
	p := bigPage(19112)
	p.Paged, p.Offset, p.PageQuery = true, 2*MaxRows, "schedule=nightly&"
	b.Reset()
	if err := p.HTML(&b); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{">showing 4,001–6,000 of 19,112<", `href="?schedule=nightly&amp;page=2"`, `href="?schedule=nightly&amp;page=4"`, "page 3 of 10"} {
		if !strings.Contains(out, want) {
			t.Errorf("third page lacks %q", want)
		}
	}
}

// The y axis's step: about four steps reach the maximum, each 1, 2 or 5
// times a power of ten (worked by hand: 4*step >= max, smallest such).
func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ max, step int }{{1, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 5}, {20, 5}, {21, 10}, {62, 20}, {19112, 5000}, {19999, 5000}, {20001, 10000}} {
		if got := niceStep(c.max); got != c.step {
			t.Errorf("niceStep(%d) = %d, want %d", c.max, got, c.step)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 19112: "19,112", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
