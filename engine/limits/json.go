package limits

import (
	"bytes"
	"fmt"
	"io"
)

// JSON checks one JSON document, or a stream of them, against MaxDepth and
// MaxJSONValue. Line and column in the error are relative to src. It
// returns nil when src is within the limits, whether or not it is valid
// JSON: the decoder that follows reports syntax errors.
func JSON(src []byte) *Error { return checkJSON(src, MaxDepth, MaxJSONValue) }

func checkJSON(src []byte, maxDepth, maxValue int) *Error {
	// Most records (an inventory's) hold fewer brackets than the bound,
	// in strings or not, and are smaller than the largest value: counting
	// bytes is several times faster than following the strings.
	if len(src) <= maxValue && bytes.Count(src, []byte{'['})+bytes.Count(src, []byte{'{'}) <= maxDepth {
		return nil
	}
	s := newJSONScanner(maxDepth, maxValue)
	if err := s.feed(src); err != nil {
		return err.at(src, 0, 1)
	}
	return nil
}

// JSONReader checks what is read through it, as JSON does, for decoders
// that stream a large document. Past a limit, Read fails with the *Error,
// its line and column counted from the start of the stream.
func JSONReader(r io.Reader) io.Reader { return newJSONReader(r, MaxDepth, MaxJSONValue) }

func newJSONReader(r io.Reader, maxDepth, maxValue int) io.Reader {
	return &jsonReader{r: r, s: newJSONScanner(maxDepth, maxValue), line: 1}
}

type jsonReader struct {
	r    io.Reader
	s    *jsonScanner
	line int // line of the next byte
	err  *Error
}

func (r *jsonReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	if n > 0 {
		base := r.s.off
		if e := r.s.feed(p[:n]); e != nil {
			r.err = e.at(p[:n], base, r.line)
			return 0, r.err
		}
		r.line += bytes.Count(p[:n], []byte{'\n'})
	}
	return n, err
}

// jsonScanner follows strings and nesting across the chunks fed to it.
type jsonScanner struct {
	maxDepth, maxValue int
	// maxItems, when set, bounds the items of one array or object (as
	// MaxItems does HCL's), for JSON that becomes cty values.
	maxItems int
	commas   []int // per open array or object
	total    int

	off      int64 // stream offset of the next byte fed
	depth    int
	inString bool
	escaped  bool  // inside a string, after a backslash
	inLit    bool  // inside a number or literal
	run      int   // length of the current string or literal so far
	start    int64 // where it began
}

func newJSONScanner(maxDepth, maxValue int) *jsonScanner {
	return &jsonScanner{maxDepth: maxDepth, maxValue: maxValue}
}

func (s *jsonScanner) feed(b []byte) *Error {
	base := s.off
	s.off += int64(len(b))
	quote := -1 // index of the next '"' at or after i, when known
	i := 0
	for i < len(b) {
		if s.inString {
			if s.escaped {
				s.escaped = false
				s.run++
				i++
				continue
			}
			// Strings are most of a document's bytes: jump from quote to
			// backslash to quote with IndexByte instead of byte by byte.
			if quote < i {
				if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
					quote = i + q
				} else {
					quote = len(b)
				}
			}
			stop := quote
			if k := bytes.IndexByte(b[i:quote], '\\'); k >= 0 {
				stop = i + k
			}
			s.run += stop - i
			if s.run > s.maxValue {
				return s.tooLarge("a string")
			}
			i = stop
			if i == len(b) {
				break
			}
			if b[i] == '\\' {
				s.escaped = true
			} else {
				s.inString = false
			}
			s.run++
			i++
			continue
		}
		c := b[i]
		switch c {
		case '"', '{', '[', '}', ']', ' ', '\t', '\r', '\n', ',', ':':
			s.inLit = false
		default:
			if !s.inLit {
				s.inLit, s.run, s.start = true, 0, base+int64(i)
			}
			s.run++
			if s.run > s.maxValue {
				return s.tooLarge("a number or literal")
			}
			i++
			continue
		}
		switch c {
		case '"':
			s.inString, s.run, s.start = true, 0, base+int64(i)
		case '{', '[':
			s.depth++
			if s.depth > s.maxDepth {
				return tooDeep(base+int64(i), "objects and arrays", s.maxDepth)
			}
			if s.maxItems > 0 {
				s.commas = append(s.commas, 0)
				s.total++
			}
		case '}', ']':
			if s.depth > 0 {
				s.depth--
				if s.maxItems > 0 {
					s.commas = s.commas[:len(s.commas)-1]
				}
			}
		case ',':
			if s.maxItems > 0 && len(s.commas) > 0 {
				s.commas[len(s.commas)-1]++
				s.total++
				if s.commas[len(s.commas)-1] >= s.maxItems {
					return &Error{Offset: base + int64(i), summary: "Too many items", Msg: fmt.Sprintf("an array or object with more than %d items; vigil refuses larger ones", s.maxItems)}
				}
				if s.total > s.maxItems*(MaxFileItems/MaxItems) {
					return &Error{Offset: base + int64(i), summary: "Too many items", Msg: fmt.Sprintf("more than %d array and object items in one file; vigil refuses more", s.maxItems*(MaxFileItems/MaxItems))}
				}
			}
		}
		i++
	}
	return nil
}

func (s *jsonScanner) tooLarge(what string) *Error {
	return tooLarge(s.start, what, s.maxValue)
}
