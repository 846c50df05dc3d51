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
