package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// utf8BOM is the UTF-8 byte order mark a file may start with.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// splitObjects finds the objects of a JSON array without decoding them:
// the elements of a top-level array, or (configDoc) of the top-level key
// "configurationItems". It only tracks strings and nesting, at memory
// speed, so the single reader goroutine never becomes the bottleneck; the
// workers that decode each object report any error inside it. Objects are
// handed to visit with their byte offset; the bytes are valid during the
// call only.
func splitObjects(ctx context.Context, path string, r io.Reader, configDoc bool, visit func([]byte, int, int64) error) error {
	s := &byteScanner{r: r, buf: make([]byte, 0, 1<<16)}
	// A UTF-8 byte order mark, which detection accepts, is not part of the
	// document (offsets still count it).
	for len(s.buf) < len(utf8BOM) && s.fill(0) {
	}
	if bytes.HasPrefix(s.buf, utf8BOM) {
		s.pos = len(utf8BOM)
	}
	fail := func(msg string) error {
		return &ParseError{File: path, Line: LineAt(path, s.offset()), Err: errors.New("invalid JSON: " + msg)}
	}
	elements := func() error {
		// positioned after '['
		n := 0
		for {
			c, ok := s.skipSpace()
			if !ok {
				return fail("unexpected end of input inside an array")
			}
			switch c {
			case ']':
				s.pos++
				return nil
			case ',':
				if n == 0 {
					return fail("unexpected comma")
				}
				s.pos++
				continue
			case '{':
			default:
				return fail(fmt.Sprintf("expected an object, found %q", c))
			}
			off := s.offset()
			obj, err := s.object()
			if err != nil {
				return fail(err.Error())
			}
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if err := visit(obj, 0, off); err != nil {
				return err
			}
		}
	}
	c, ok := s.skipSpace()
	if !ok {
		return fail("empty input")
	}
	if !configDoc {
		if c != '[' {
			return fail("expected an array")
		}
		s.pos++
		if err := elements(); err != nil {
			return err
		}
	} else {
		if c != '{' {
			return fail("expected an object")
		}
		s.pos++
		for {
			c, ok := s.skipSpace()
			if !ok {
				return fail("unexpected end of input")
			}
			if c == '}' {
				s.pos++
				break
			}
			if c == ',' {
				s.pos++
				continue
			}
			if c != '"' {
				return fail(fmt.Sprintf("expected a key, found %q", c))
			}
			key, err := s.stringValue()
			if err != nil {
				return fail(err.Error())
			}
			if c, ok = s.skipSpace(); !ok || c != ':' {
				return fail("expected ':' after a key")
			}
			s.pos++
			c, ok = s.skipSpace()
			if !ok {
				return fail("unexpected end of input")
			}
			if key == "configurationItems" {
				if c != '[' {
					return fail("configurationItems is not a list")
				}
				s.pos++
				if err := elements(); err != nil {
					return err
				}
				continue
			}
			if err := s.skipValue(); err != nil {
				return fail(err.Error())
			}
		}
	}
	if c, ok := s.skipSpace(); ok {
		return fail(fmt.Sprintf("unexpected %q after the document", c))
	}
	return s.err
}

// byteScanner reads a stream in chunks and keeps what an unfinished value
// needs.
type byteScanner struct {
	r     io.Reader
	buf   []byte
	pos   int
	base  int64 // stream offset of buf[0]
	err   error
	eof   bool
	start int // start of the value being captured, or -1
}

func (s *byteScanner) offset() int64 { return s.base + int64(s.pos) }

// fill reads more input, keeping buf[keep:] (the value being captured).
func (s *byteScanner) fill(keep int) bool {
	if s.eof {
		return false
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.pos -= keep
		s.base += int64(keep)
	} else if keep == 0 && s.pos > 0 && s.pos == len(s.buf) {
		s.base += int64(len(s.buf))
		s.buf = s.buf[:0]
		s.pos = 0
	}
	if len(s.buf) == cap(s.buf) {
		nb := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err == io.EOF {
		s.eof = true
	} else if err != nil {
		s.err, s.eof = err, true
	}
	return n > 0 || !s.eof
}

func (s *byteScanner) skipSpace() (byte, bool) {
	for {
		for s.pos < len(s.buf) {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\r', '\n':
				s.pos++
			default:
				return c, true
			}
		}
		if !s.fill(s.pos) {
			return 0, false
		}
	}
}

// object returns the object starting at pos, advancing past it.
func (s *byteScanner) object() ([]byte, error) {
	start := s.pos
	depth := 0
	inString, escape := false, false
	i := s.pos
	for {
		for ; i < len(s.buf); i++ {
			c := s.buf[i]
			switch {
			case inString:
				switch {
				case escape:
					escape = false
				case c == '\\':
					escape = true
				case c == '"':
					inString = false
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					s.pos = i + 1
					return s.buf[start : i+1], nil
				}
			}
		}
		// keep the partial object: shift it to the front and read more
		rel := i - start
		if !s.fill(start) {
			return nil, errors.New("unexpected end of input inside an object")
		}
		start, i = s.pos, s.pos+rel
	}
}

func (s *byteScanner) stringValue() (string, error) {
	// pos at the opening quote
	s.pos++
	var out []byte
	for {
		for s.pos < len(s.buf) {
			c := s.buf[s.pos]
			s.pos++
			switch c {
			case '"':
				return string(out), nil
			case '\\':
				if s.pos >= len(s.buf) && !s.fill(s.pos) {
					return "", errors.New("unexpected end of input in a string")
				}
				out = append(out, c, s.buf[s.pos])
				s.pos++
			default:
				out = append(out, c)
			}
		}
		if !s.fill(s.pos) {
			return "", errors.New("unexpected end of input in a string")
		}
	}
}

// skipValue skips any JSON value.
func (s *byteScanner) skipValue() error {
	c, ok := s.skipSpace()
	if !ok {
		return errors.New("unexpected end of input")
	}
	switch c {
	case '{', '[':
		_, err := s.object()
		return err
	case '"':
		_, err := s.stringValue()
		return err
	}
	for {
		for s.pos < len(s.buf) {
			switch s.buf[s.pos] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return nil
			}
			s.pos++
		}
		if !s.fill(s.pos) {
			return nil
		}
	}
}

// members calls fn with the raw key (without quotes, not unescaped) and raw
// value of each top-level member of the JSON object in raw, without
// decoding anything. It is a cheap structural look at a record, not a
// validator: malformed input simply ends the walk, and the real decoder
// reports it.
// fn returns false to stop early.
func members(raw []byte, fn func(key, value []byte) bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return
	}
	i++
	for {
		i = skipWS(raw, i)
		if i >= len(raw) || raw[i] != '"' {
			return
		}
		kEnd := endOfString(raw, i)
		if kEnd < 0 {
			return
		}
		key := raw[i+1 : kEnd-1]
		i = skipWS(raw, kEnd)
		if i >= len(raw) || raw[i] != ':' {
			return
		}
		i = skipWS(raw, i+1)
		vEnd := endOfValue(raw, i)
		if vEnd < 0 {
			return
		}
		if !fn(key, raw[i:vEnd]) {
			return
		}
		i = skipWS(raw, vEnd)
		if i >= len(raw) || raw[i] != ',' {
			return
		}
		i++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index after the closing quote of the string
// starting at b[i], or -1.
func endOfString(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		// the quote is escaped when an odd number of backslashes precede it
		n := 0
		for m := j - 1; m > i && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// memberString returns the string value of the top-level member key of the
// JSON object in raw, or "".
func memberString(raw []byte, key string) string {
	var out string
	members(raw, func(k, v []byte) bool {
		if string(k) == key {
			out = rawString(v)
			return false
		}
		return true
	})
	return out
}

// endOfValue returns the index after the value starting at b[i], or -1.
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := endOfString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}
