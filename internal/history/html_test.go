package history

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
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

// comparableScans passes over the scans of other schedules or policy
// sets, however many sit between two comparable ones (here 30 ad-hoc
// scans, more than the first read of 5*2+10 scans holds).
func TestComparableScansReadsFurther(t *testing.T) {
	ctx := context.Background()
	h, err := store.OpenHistory(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rec := func(schedule, set string) {
		t.Helper()
		if _, err := h.RecordScan(ctx, &store.ScanRecord{Schedule: schedule, PolicySet: set, StartedAt: time.Now(), FinishedAt: time.Now(), BySeverity: map[string]int{}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	rec("", "35 policies, aaaaaaaaaaaa") // scan 1
	for range 30 {
		rec("", "1 policies, bbbbbbbbbbbb") // scans 2 to 31
	}
	rec("nightly", "35 policies, aaaaaaaaaaaa") // 32: another schedule
	rec("", "35 policies, aaaaaaaaaaaa")        // 33
	got, skipped, err := comparableScans(ctx, h, "", 2)
	if err != nil || len(got) != 2 || got[0].ID != 33 || got[1].ID != 1 || len(skipped) != 31 {
		t.Fatalf("comparable %v, %d skipped, %v; want scans 33 and 1, 31 skipped", ids(got), len(skipped), err)
	}
	d, err := Between(ctx, h, "", 0, 0)
	if err != nil || d.FromID != 1 || d.ToID != 33 || !strings.Contains(d.Why, "31 later scans of other schedules, policy sets or inputs were passed over") {
		t.Errorf("Between: %+v %v", d, err)
	}
	if _, err := Between(ctx, h, "nightly", 0, 0); err == nil || !strings.Contains(err.Error(), "the history has one (scan 32") {
		t.Errorf("one nightly scan: %v", err)
	}
}

func ids(scans []*store.ScanRecord) []int64 {
	var out []int64
	for _, s := range scans {
		out = append(out, s.ID)
	}
	return out
}
