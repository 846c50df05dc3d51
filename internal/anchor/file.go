package anchor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	// interleave within a line.
	if _, err := fh.Write(append(line, '\n')); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// Heads implements runbook.Anchor. A missing file holds no heads; a line
// that is not a head (a torn last line after a crash) is skipped.
func (f *File) Heads(_ context.Context, runID string) ([]runbook.Head, error) {
	fh, err := os.Open(f.Path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []runbook.Head
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	needle := `"run":` + mustQuote(runID)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), needle) {
			continue
		}
		var h runbook.Head
		if json.Unmarshal(line, &h) != nil || h.RunID != runID {
			continue
		}
		out = append(out, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	}
	return out, nil
}

func (f *File) String() string { return "the anchor file " + f.Path }

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
