package inventory

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// ParseError is malformed or unrecognized input. It names the file and, where
// known, the line, so the user can go straight to the problem.
type ParseError struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// IsParseError reports whether err is (or wraps) a ParseError.
func IsParseError(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe)
}

// jsonError rewrites an encoding/json error into a short message without
// Go type names.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %v", se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "value"
		}
		return fmt.Errorf("invalid JSON: %s should not be a JSON %s", field, te.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of input")
	}
	return err
}

// syntaxOffset returns the byte offset a JSON syntax error points at.
func syntaxOffset(err error) (int64, bool) {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset, true
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Offset, true
	}
	return 0, false
}

// LineAt returns the 1-based line of byte offset off in the file. It reads the
// file again, which is fine: it is only used to report errors and findings.
func LineAt(path string, off int64) int {
	lines, err := LinesAt(path, []int64{off})
	if err != nil {
		return 0
	}
	return lines[0]
}

// LinesAt maps ascending or unordered byte offsets to 1-based line numbers in
// one pass over the file.
func LinesAt(path string, offsets []int64) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type req struct {
		off int64
		i   int
	}
	reqs := make([]req, len(offsets))
	for i, o := range offsets {
		reqs[i] = req{o, i}
	}
	slices.SortFunc(reqs, func(a, b req) int { return cmp.Compare(a.off, b.off) })
	out := make([]int, len(offsets))
	r := bufio.NewReaderSize(f, 1<<16)
	var pos int64
	line := 1
	buf := make([]byte, 1<<16)
	k := 0
	for k < len(reqs) {
		n, err := r.Read(buf)
		chunk := buf[:n]
		for k < len(reqs) && reqs[k].off < pos+int64(n) {
			upto := reqs[k].off - pos
			if upto < 0 {
				upto = 0
			}
			out[reqs[k].i] = line + bytes.Count(chunk[:upto], []byte{'\n'})
			k++
		}
		line += bytes.Count(chunk, []byte{'\n'})
		pos += int64(n)
		if err != nil {
			break
		}
	}
	for ; k < len(reqs); k++ {
		out[reqs[k].i] = line
	}
	return out, nil
}
