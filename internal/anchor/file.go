package anchor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// File is an append-only file of heads, one JSON object a line, each
// written with O_APPEND and fsynced before Record returns.
type File struct{ Path string }

// Record implements runbook.Anchor.
func (f *File) Record(_ context.Context, h runbook.Head) error {
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// One write of one line: appends from several processes do not
	// interleave within a line. After a line a crash left unfinished, the
	// head starts a line of its own (a blank line is passed over).
	line = append(line, '\n')
	if !f.endsInNewline() {
		line = append([]byte{'\n'}, line...)
	}
	if _, err := fh.Write(line); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// maxLine bounds what is read of one line: a head is a few hundred bytes,
// so a longer line is not one, and is skipped without being held whole.
const maxLine = 64 << 10

// Heads implements runbook.Anchor. A missing file holds no heads; a line
// that is not a head (a torn last line after a crash, or something written
// into the file) is skipped, and Damage reports it.
func (f *File) Heads(_ context.Context, runID string) ([]runbook.Head, error) {
	var out []runbook.Head
	needle := `"run":` + mustQuote(runID)
	err := f.scan(func(_ int, line []byte, h *runbook.Head) {
		if h != nil && h.RunID == runID {
			out = append(out, *h)
		}
	}, needle)
	return out, err
}

// Runs implements runbook.AnchorLister: every run the file holds heads of.
func (f *File) Runs(_ context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := f.scan(func(_ int, _ []byte, h *runbook.Head) {
		if h != nil && !seen[h.RunID] {
			seen[h.RunID] = true
			out = append(out, h.RunID)
		}
	}, "")
	return out, err
}

// Damage implements runbook.AnchorDamage: the lines that are not heads. A
// torn last line is what a crash while appending leaves; any other line
// was written by something other than vigil.
func (f *File) Damage(_ context.Context) ([]string, error) {
	var bad []string
	lines := 0
	lastBad := 0
	err := f.scan(func(n int, line []byte, h *runbook.Head) {
		lines = n
		if h == nil {
			lastBad = n
			what := fmt.Sprintf("line %d is not a journal head", n)
			if len(line) > maxLine {
				what = fmt.Sprintf("line %d is not a journal head (%d bytes or more)", n, maxLine)
			}
			bad = append(bad, what)
		}
	}, "")
	if len(bad) > 0 && lastBad == lines && err == nil && !f.endsInNewline() {
		bad[len(bad)-1] += " (the last line, unfinished: an append cut short by a crash leaves one)"
	}
	return bad, err
}

// endsInNewline reports whether the file's last byte ends a line: every
// append writes a whole line, so only a crash leaves one unfinished.
func (f *File) endsInNewline() bool {
	fh, err := os.Open(f.Path)
	if err != nil {
		return false
	}
	defer fh.Close()
	b := make([]byte, 1)
	if info, err := fh.Stat(); err != nil || info.Size() == 0 {
		return true
	} else if _, err := fh.ReadAt(b, info.Size()-1); err != nil {
		return false
	}
	return b[0] == '\n'
}

// scan reads the file line by line, holding at most maxLine bytes of a
// line, and calls fn with each line's number, its start and the head it
// holds (nil when it holds none). With needle set, lines without it are
// passed over unparsed.
func (f *File) scan(fn func(n int, line []byte, h *runbook.Head), needle string) error {
	fh, err := os.Open(f.Path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer fh.Close()
	rd := bufio.NewReaderSize(fh, maxLine+1)
	for n := 1; ; n++ {
		line, long, err := readLine(rd)
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", f.Path, err)
		}
		if long {
			fn(n, make([]byte, maxLine+1), nil)
		} else if len(bytes.TrimSpace(line)) == 0 {
			// a blank line: nothing to read, nothing written over
		} else if needle == "" || bytes.Contains(line, []byte(needle)) {
			var h runbook.Head
			if json.Unmarshal(line, &h) != nil || h.RunID == "" || h.Seq < 1 || h.Hash == "" {
				fn(n, line, nil)
			} else {
				fn(n, line, &h)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line without its newline; a line longer than
// the reader's buffer is read to its end and dropped (long is set).
func readLine(rd *bufio.Reader) (line []byte, long bool, err error) {
	for {
		chunk, err := rd.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			long = true
			continue
		case long:
			return nil, true, err
		}
		return bytes.TrimSuffix(chunk, []byte("\n")), false, err
	}
}

func (f *File) String() string { return "the anchor file " + f.Path }

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
