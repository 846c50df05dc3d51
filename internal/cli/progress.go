package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressEvery is how often a scan without a terminal says how far it is
// (CI logs): often enough to show it is alive, rarely enough to read.
const progressEvery = 10 * time.Second

// barThrottle is how often the bar is redrawn at most (a test draws every
// update).
var barThrottle = 100 * time.Millisecond

// meter shows a scan's progress on stderr: on a terminal a bar with the
// percentage, rate and ETA (progressbar), redrawn in place; otherwise a
// line every progressEvery. total is the input's size in bytes (0 when
// unknown: a live collection), done is read by the caller's callback.
type meter struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	now   func() time.Time
	total int64

	bar       *progressbar.ProgressBar
	start     time.Time
	lastLine  time.Time
	cleared   bool
	lastState string
}

func newMeter(w io.Writer, tty bool, total int64, now func() time.Time) *meter {
	m := &meter{w: w, tty: tty, total: total, now: now}
	m.start, m.lastLine = now(), now()
	if tty && total > 0 {
		m.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(barThrottle),
			progressbar.OptionClearOnFinish(),
			// drawn at once: a scan of small files is over before the
			// first progress report
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionSetDescription("reading"),
		)
	}
	return m
}

// update takes the scan's state: the phase, the bytes read, the assets and
// findings so far.
func (m *meter) update(phase string, done, assets, findings int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cleared {
		return
	}
	if phase == "done" {
		m.finish()
		return
	}
	state := fmt.Sprintf("%s: %d assets, %d findings", phase, assets, findings)
	if m.tty {
		if m.bar != nil {
			// the value first: Describe draws the bar
			m.bar.Set64(min(done, m.total))
			m.bar.Describe(state)
			return
		}
		// no known size (a live collection): the counter
		fmt.Fprintf(m.w, "\r\033[K%s", state)
		return
	}
	now := m.now()
	if now.Sub(m.lastLine) < progressEvery {
		return
	}
	m.lastLine = now
	fmt.Fprintf(m.w, "vigil: %s%s\n", state, m.ofTotal(done, now))
}

// ofTotal is ", 45% of 27.1 MiB, 2.1 MiB/s, about 7s left" for a line.
func (m *meter) ofTotal(done int64, now time.Time) string {
	if m.total <= 0 || done <= 0 {
		return ""
	}
	done = min(done, m.total)
	el := now.Sub(m.start).Seconds()
	s := fmt.Sprintf(", %d%% of %s", done*100/m.total, byteSize(m.total))
	if el > 0 {
		rate := float64(done) / el
		s += fmt.Sprintf(", %s/s", byteSize(int64(rate)))
		if rate > 0 && done < m.total {
			left := time.Duration(float64(m.total-done) / rate * float64(time.Second)).Round(time.Second)
			s += fmt.Sprintf(", about %s left", left)
		}
	}
	return s
}

func (m *meter) finish() {
	m.cleared = true
	switch {
	case m.bar != nil:
		m.bar.Finish()
	case m.tty:
		fmt.Fprint(m.w, "\r\033[K")
	}
}

// stop clears the bar when the scan ends in an error.
func (m *meter) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cleared {
		m.cleared = true
		if m.tty {
			if m.bar != nil {
				m.bar.Clear()
			} else {
				fmt.Fprint(m.w, "\r\033[K")
			}
		}
	}
}

// byteSize prints a size in binary units, as the bar does.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// regionMeter shows a live AWS collection's progress by regions, the unit
// whose total is known (every region of every account; a region's
// services are collected together): on a terminal a bar with the
// percentage, rate and ETA, otherwise a line every progressEvery.
type regionMeter struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	now      func() time.Time
	bar      *progressbar.ProgressBar
	total    int
	start    time.Time
	lastLine time.Time
}

func newRegionMeter(w io.Writer, tty bool, now func() time.Time) *regionMeter {
	m := &regionMeter{w: w, tty: tty, now: now}
	m.start, m.lastLine = now(), now()
	return m
}

// region takes a finished region: done of total, and the assets so far.
func (m *regionMeter) region(done, total, assets int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tty {
		if m.bar == nil {
			m.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(m.w),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("regions"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(barThrottle),
				progressbar.OptionClearOnFinish(),
			)
		} else if total != m.total {
			m.bar.ChangeMax(total) // another account's regions listed
		}
		m.total = total
		m.bar.Set(done)
		m.bar.Describe(fmt.Sprintf("aws: %d assets", assets))
		return
	}
	now := m.now()
	if now.Sub(m.lastLine) < progressEvery {
		return
	}
	m.lastLine = now
	line := fmt.Sprintf("vigil: aws: %d of %d regions collected", done, total)
	if total > 0 {
		line += fmt.Sprintf(" (%d%%)", done*100/total)
	}
	line += fmt.Sprintf(", %d assets", assets)
	if el := now.Sub(m.start); done > 0 && done < total {
		left := time.Duration(float64(el) / float64(done) * float64(total-done)).Round(time.Second)
		line += fmt.Sprintf(", about %s left", left)
	}
	fmt.Fprintln(m.w, line)
}

// finish clears the bar (the collection's summary line follows).
func (m *regionMeter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		m.bar.Finish()
		m.bar = nil
	}
}

// pageMeter shows a live GCP collection's progress by ListAssets pages,
// whose total the API does not give: on a terminal a counter with the
// rate, redrawn in place; otherwise a line every progressEvery.
type pageMeter struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	now      func() time.Time
	start    time.Time
	lastLine time.Time
	drawn    bool
}

func newPageMeter(w io.Writer, tty bool, now func() time.Time) *pageMeter {
	m := &pageMeter{w: w, tty: tty, now: now}
	m.start, m.lastLine = now(), now()
	return m
}

// page takes the pages and records read so far.
func (m *pageMeter) page(pages, records int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	state := fmt.Sprintf("gcp: %d pages, %d records", pages, records)
	if el := now.Sub(m.start).Seconds(); el > 0 {
		state += fmt.Sprintf(", %.0f records/s", float64(records)/el)
	}
	if m.tty {
		fmt.Fprintf(m.w, "\r\033[K%s", state)
		m.drawn = true
		return
	}
	if now.Sub(m.lastLine) < progressEvery {
		return
	}
	m.lastLine = now
	fmt.Fprintf(m.w, "vigil: %s\n", state)
}

// finish clears the counter (the collection's summary line follows).
func (m *pageMeter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drawn {
		fmt.Fprint(m.w, "\r\033[K")
		m.drawn = false
	}
}
