package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// fakeTime is a clock the test moves.
type fakeTime struct{ t time.Time }

func (c *fakeTime) now() time.Time { return c.t }

// Without a terminal, a line every 10 s of the clock, with the share of
// the input read, the rate and what is left.
func TestProgressLinesWithoutTerminal(t *testing.T) {
	clock := &fakeTime{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	m := newMeter(&buf, false, 1000, clock.now)
	step := func(d time.Duration, done int64) {
		clock.t = clock.t.Add(d)
		m.update("reading", done, done/25, done/100)
	}
	step(5*time.Second, 100) // 5 s: too soon
	step(5*time.Second, 250) // 10 s
	step(5*time.Second, 400) // 15 s: too soon
	step(5*time.Second, 500) // 20 s
	m.update("done", 1000, 40, 10)
	// 250 B in 10 s is 25 B/s, and 750 B left at 25 B/s are 30 s; at 20 s,
	// 500 B read is again 25 B/s, 500 B left 20 s
	want := "vigil: reading: 10 assets, 2 findings, 25% of 1000 B, 25 B/s, about 30s left\n" +
		"vigil: reading: 20 assets, 5 findings, 50% of 1000 B, 25 B/s, about 20s left\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// a live collection: no size, the counts only
	buf.Reset()
	m = newMeter(&buf, false, 0, clock.now)
	clock.t = clock.t.Add(11 * time.Second)
	m.update("reading", 0, 7, 1)
	if buf.String() != "vigil: reading: 7 assets, 1 findings\n" {
		t.Errorf("without a size: %q", buf.String())
	}
}

// On a terminal, a bar with the percentage, the rate in bytes and the
// predicted time, cleared at the end.
func TestProgressBarOnTerminal(t *testing.T) {
	defer func(d time.Duration) { barThrottle = d }(barThrottle)
	barThrottle = 0
	var buf bytes.Buffer
	m := newMeter(&buf, true, 2048, time.Now)
	m.update("reading", 1024, 10, 2)
	out := buf.String()
	// progressbar draws "reading  50% |███   | (1.0/2.0 kB, 39 MB/s) [0s:0s]":
	// the share, bytes read of the total, the rate, elapsed:left
	for _, want := range []string{"50%", "(1.0/2.0 kB, ", "B/s)", "[0s:", "\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar lacks %q: %q", want, out)
		}
	}
	buf.Reset()
	m.update("done", 2048, 20, 4)
	if strings.Contains(buf.String(), "assets") && !strings.HasSuffix(buf.String(), "\r") {
		t.Errorf("the bar was not cleared at the end: %q", buf.String())
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// -q silences the progress, on a terminal too.
func TestQuietSilencesProgress(t *testing.T) {
	t.Chdir(testutil.Root(t))
	for _, quiet := range []bool{false, true} {
		var stderr bytes.Buffer
		a := &app{stdout: io.Discard, stderr: &stderr, stdin: strings.NewReader(""), env: os.Getenv,
			stderrTTY: func() bool { return true }}
		args := []string{"scan", "-c", "examples/vigil.hcl", "-i", "examples/inventory"}
		if quiet {
			args = append(args, "-q")
		}
		if code := a.run(context.Background(), args); code != ExitFindings {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		drawn := strings.Contains(stderr.String(), "\r")
		if drawn == quiet {
			t.Errorf("quiet %v: stderr %q", quiet, stderr.String())
		}
	}
}

// A live AWS collection without a terminal: one line every 10 s of the
// clock, by regions, with the share done and what is left.
func TestRegionProgressLinesWithoutTerminal(t *testing.T) {
	clock := &fakeTime{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	m := newRegionMeter(&buf, false, clock.now)
	step := func(d time.Duration, done, total, assets int) {
		clock.t = clock.t.Add(d)
		m.region(done, total, assets)
	}
	step(2*time.Second, 1, 17, 40)  // 2 s: too soon
	step(3*time.Second, 2, 17, 80)  // 5 s: too soon
	step(5*time.Second, 4, 17, 160) // 10 s
	step(9*time.Second, 6, 17, 240) // 19 s: too soon after 10 s
	step(1*time.Second, 8, 34, 320) // 20 s, a second account's regions listed
	m.finish()
	// at 10 s, 4 of 17 regions in 10 s is 2.5 s each: 13 left, 32.5 s,
	// rounded to 33 s; at 20 s, 8 of 34 in 20 s: 26 left, 65 s
	want := "vigil: aws: 4 of 17 regions collected (23%), 160 assets, about 33s left\n" +
		"vigil: aws: 8 of 34 regions collected (23%), 320 assets, about 1m5s left\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// On a terminal, a bar by regions with the percentage, count, rate and
// predicted time; its total grows when another account's regions are
// listed.
func TestRegionProgressBarOnTerminal(t *testing.T) {
	defer func(d time.Duration) { barThrottle = d }(barThrottle)
	barThrottle = 0
	var buf bytes.Buffer
	m := newRegionMeter(&buf, true, time.Now)
	m.region(1, 4, 10)
	m.region(2, 4, 25)
	out := buf.String()
	for _, want := range []string{"aws: 25 assets", " 50% ", "(2/4, ", "regions/s)", "[0s:", "\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar lacks %q: %q", want, out)
		}
	}
	buf.Reset()
	m.region(3, 8, 30) // 3 of 8
	if out := buf.String(); !strings.Contains(out, " 37% ") || !strings.Contains(out, "(3/8, ") {
		t.Errorf("after the total grew: %q", out)
	}
	m.finish()
}

// A live GCP collection: pages have no total, so a counter with the rate
// on a terminal and, without one, a line at most every 10 s.
func TestPageProgress(t *testing.T) {
	clock := &fakeTime{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	m := newPageMeter(&buf, false, clock.now)
	for i := 1; i <= 5; i++ {
		clock.t = clock.t.Add(4 * time.Second)
		m.page(i, i*500) // at 4, 8, 12, 16 and 20 s
	}
	m.finish()
	// one line, at 12 s (1,500 records in 12 s: 125/s); the next would be
	// due at 22 s, after the last page at 20 s
	if want := "vigil: gcp: 3 pages, 1500 records, 125 records/s\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	buf.Reset()
	m = newPageMeter(&buf, true, clock.now)
	clock.t = clock.t.Add(2 * time.Second)
	m.page(1, 1000)
	m.finish()
	if want := "\r\033[Kgcp: 1 pages, 1000 records, 500 records/s\r\033[K"; buf.String() != want {
		t.Errorf("on a terminal: %q, want %q", buf.String(), want)
	}
}
