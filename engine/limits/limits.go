package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

const (
	// MaxDepth bounds nesting: blocks, objects, tuples, parentheses,
	// templates and chained operators in HCL; objects and arrays in JSON.
	// Real inputs stay far below it (a Terraform plan's deepest blocks
	// nest a few dozen levels).
	MaxDepth = 256
	// MaxHCLValue bounds one HCL string, heredoc, identifier or number.
	MaxHCLValue = 1 << 20
	// MaxHCLFile is the largest HCL file read (vigil.hcl, waivers,
	// runbooks, variable files).
	MaxHCLFile = 16 << 20
	// MaxItems bounds the items of one list, object or argument list in
	// HCL (and in JSON variable files), and MaxFileItems those of a whole
	// file: cty's conversion of a tuple to a list takes time quadratic in
	// its length (20,000 strings take half a minute).
	MaxItems     = 4096
	MaxFileItems = 65536
	// MaxJSONValue bounds one JSON string, number or literal.
	MaxJSONValue = 64 << 20
	// MaxJSONFile is the largest JSON file read whole (alerts, saved plans,
	// variable files). Inventories and Terraform plans are streamed and
	// bounded per value instead.
	MaxJSONFile = 256 << 20
)

// Error is input past a limit. Line and Column are 1-based; Column counts
// characters.
type Error struct {
	File   string
	Line   int
	Column int
	Offset int64
	// Msg says what is too deep or too large and what to do about it.
	Msg string

	summary string // the diagnostic's
}

func (e *Error) Error() string {
	var pos string
	switch {
	case e.Line > 0 && e.Column > 0:
		pos = fmt.Sprintf("%d:%d", e.Line, e.Column)
	case e.Line > 0:
		pos = fmt.Sprint(e.Line)
	}
	switch {
	case e.File != "" && pos != "":
		return fmt.Sprintf("%s:%s: %s", e.File, pos, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case pos != "":
		return fmt.Sprintf("line %s: %s", pos, e.Msg)
	}
	return e.Msg
}

// at sets the error's line and column from its offset, src being the
// input from offset base on, which starts on line baseLine. An offset
// before src (a string that began in an earlier chunk of a stream) gets
// baseLine: strings and literals do not span lines in valid JSON.
func (e *Error) at(src []byte, base int64, baseLine int) *Error {
	off := int(e.Offset - base)
	if off < 0 {
		e.Line = baseLine
		return e
	}
	if off > len(src) {
		return e
	}
	before := src[:off]
	e.Line = baseLine + bytes.Count(before, []byte{'\n'})
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	e.Column = utf8.RuneCount(before[lineStart:]) + 1
	return e
}

func tooDeep(off int64, what string, max int) *Error {
	return &Error{Offset: off, summary: "Input nested too deeply",
		Msg: fmt.Sprintf("%s nested more than %d levels deep; vigil refuses deeper input rather than risk running out of stack", what, max)}
}

func tooLarge(off int64, what string, max int) *Error {
	return &Error{Offset: off, summary: "Value too large", Msg: fmt.Sprintf("%s longer than %s; vigil refuses larger values", what, size(max))}
}

func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ErrTooLarge is wrapped by ReadFile's error for a file over its bound.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads a file of at most max bytes. A larger file is refused
// without reading more than max+1 bytes of it; the returned prefix lets a
// caller still point at what made it large (see ReadHCLFile).
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() <= max {
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(buf.Len()) > max {
		return buf.Bytes(), fmt.Errorf("%s is larger than %s: %w", path, size(int(max)), ErrTooLarge)
	}
	return buf.Bytes(), nil
}
