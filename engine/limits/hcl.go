package limits

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
)

// HCL checks HCL native syntax against MaxDepth and MaxHCLValue. It reads
// the bytes as hclsyntax's scanner does (strings, heredocs, templates and
// their directives, comments) and counts, per position, the brackets,
// template sequences and chained operators around it: what makes the
// parser and the evaluators recurse. It returns nil when src is within
// the limits, whether or not src is valid HCL.
func HCL(src []byte, filename string) *Error {
	if err := scanHCL(src, MaxDepth, MaxHCLValue, MaxItems); err != nil {
		err.File = filename
		return err.at(src, 0, 1)
	}
	return nil
}

// Diagnostic is the error as an HCL diagnostic, for the loaders that
// report problems that way.
func (e *Error) Diagnostic() *hcl.Diagnostic {
	summary := e.summary
	if summary == "" {
		summary = "Input past vigil's limits"
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: e.Msg + "."}
	if e.Column > 0 {
		// The source line is not shown (it may be megabytes long).
		d.Detail = fmt.Sprintf("At column %d: %s", e.Column, d.Detail)
	}
	if e.Line > 0 {
		start := hcl.Pos{Line: e.Line, Column: e.Column, Byte: int(e.Offset)}
		end := hcl.Pos{Line: e.Line, Column: e.Column + 1, Byte: int(e.Offset) + 1}
		d.Subject = &hcl.Range{Filename: e.File, Start: start, End: end}
	} else if e.File != "" {
		d.Subject = &hcl.Range{Filename: e.File, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return d
}

// ParseHCL checks src against the limits and parses it as an HCL native
// syntax file. Past a limit the file is nil: its lines are not worth
// printing (one of them may be megabytes long).
func ParseHCL(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	if err := HCL(src, filename); err != nil {
		return nil, hcl.Diagnostics{err.Diagnostic()}
	}
	return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
}

// ParseHCLJSON checks src against the JSON limits and parses it as an HCL
// JSON file (variables.json and the like).
func ParseHCLJSON(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	s := newJSONScanner(MaxDepth, MaxHCLValue)
	s.maxItems = MaxItems
	if err := s.feed(src); err != nil {
		err.File = filename
		return nil, hcl.Diagnostics{err.at(src, 0, 1).Diagnostic()}
	}
	return hcljson.Parse(src, filename)
}

// ParseExpression checks src against the limits and parses it as one HCL
// expression (a -var value, say).
func ParseExpression(src []byte, filename string) (hclsyntax.Expression, hcl.Diagnostics) {
	if err := HCL(src, filename); err != nil {
		return nil, hcl.Diagnostics{err.Diagnostic()}
	}
	return hclsyntax.ParseExpression(src, filename, hcl.InitialPos)
}

// ReadHCLFile reads an HCL file of at most MaxHCLFile bytes. For a larger
// one, the diagnostic points at the value that makes it large when the
// first MaxHCLFile bytes show one.
func ReadHCLFile(path, what string) ([]byte, hcl.Diagnostics) {
	src, err := ReadFile(path, MaxHCLFile)
	if errors.Is(err, ErrTooLarge) {
		if e := HCL(src[:MaxHCLFile], path); e != nil {
			return nil, hcl.Diagnostics{e.Diagnostic()}
		}
		e := &Error{File: path, summary: "File too large", Msg: fmt.Sprintf("%s is larger than %s; vigil reads HCL files up to that size", what, size(MaxHCLFile))}
		return nil, hcl.Diagnostics{e.Diagnostic()}
	}
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read " + what, Detail: err.Error()}}
	}
	return src, nil
}

type frameKind uint8

const (
	fBody      frameKind = iota // the file, a block body, an object: a newline ends an expression
	fForObj                     // {for ...}: newlines do not end it
	fParen                      // (...) and function arguments
	fBrack                      // [...]
	fInterp                     // ${...}
	fDirective                  // %{...}
	fQuoted                     // "..."
	fHeredoc                    // <<EOT ... EOT
	fBlock                      // the template between %{if}/%{for} and its %{end...}
)

type hclFrame struct {
	kind  frameKind
	level int // nesting of the frame's content
	ops   int // operators chained in the current expression
	start int // offset of the opening
	// fHeredoc: the closing marker, and whether the scan is at the start
	// of one of its lines (where the marker may stand).
	marker []byte
	sol    bool
	// fBody: nothing read in it yet (an object may be a for expression).
	fresh bool
	// collections (lists, objects, arguments): their items so far, and
	// whether one is being read.
	collection, pending bool
	items               int
	// fDirective: it opens an if or for block, or closes one.
	opens, closes bool
}

func (f *hclFrame) literal() bool { return f.kind >= fQuoted }

func (f *hclFrame) brace() bool {
	return f.kind == fBody || f.kind == fForObj || f.kind == fInterp || f.kind == fDirective
}

type hclScanner struct {
	src      []byte
	stack    []hclFrame
	maxDepth int
	maxValue int
	maxItems int
	total    int  // items of every collection so far
	lastTerm bool // the previous token ends an operand, so '[' indexes it
}

// item counts the item a collection frame was reading.
func (s *hclScanner) item(f *hclFrame, at int) *Error {
	if !f.collection || !f.pending {
		return nil
	}
	f.pending = false
	f.items++
	s.total++
	if f.items > s.maxItems {
		return &Error{Offset: int64(at), summary: "Too many items", Msg: fmt.Sprintf("a list, object or argument list with more than %d items; vigil refuses larger ones", s.maxItems)}
	}
	if s.total > s.maxItems*(MaxFileItems/MaxItems) {
		return &Error{Offset: int64(at), summary: "Too many items", Msg: fmt.Sprintf("more than %d list, object and argument items in one file; vigil refuses more", s.maxItems*(MaxFileItems/MaxItems))}
	}
	return nil
}

// pop ends the innermost frame.
func (s *hclScanner) pop(at int) *Error {
	err := s.item(s.top(), at)
	s.stack = s.stack[:len(s.stack)-1]
	return err
}

func (s *hclScanner) top() *hclFrame { return &s.stack[len(s.stack)-1] }

func (s *hclScanner) depth() int {
	t := s.top()
	return t.level + t.ops
}

func (s *hclScanner) push(kind frameKind, at int) *Error {
	level := s.depth() + 1
	if level > s.maxDepth {
		return s.tooDeep(at)
	}
	// A brace after a name or label opens a block body; elsewhere, an
	// object.
	object := kind == fBody && !s.lastTerm
	s.stack = append(s.stack, hclFrame{kind: kind, level: level, start: at, fresh: kind == fBody,
		collection: object || kind == fParen || kind == fBrack})
	return nil
}

func (s *hclScanner) op(at int) *Error {
	t := s.top()
	t.ops++
	if t.level+t.ops > s.maxDepth {
		return s.tooDeep(at)
	}
	return nil
}

func (s *hclScanner) tooDeep(at int) *Error {
	return tooDeep(int64(at), "blocks, brackets, templates and chained operators", s.maxDepth)
}

func (s *hclScanner) tooLarge(at int, what string) *Error {
	return tooLarge(int64(at), what, s.maxValue)
}

var bom = []byte{0xEF, 0xBB, 0xBF}

func scanHCL(src []byte, maxDepth, maxValue, maxItems int) *Error {
	s := &hclScanner{src: src, maxDepth: maxDepth, maxValue: maxValue, maxItems: maxItems, stack: make([]hclFrame, 1, 16)}
	i := 0
	if bytes.HasPrefix(src, bom) {
		i = len(bom)
	}
	for i < len(src) {
		var err *Error
		if s.top().literal() {
			i, err = s.literalStep(i)
		} else {
			i, err = s.exprStep(i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentByte(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '-'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// exprStep reads one token of expression mode (a file or block body, the
// inside of brackets or of a template sequence).
func (s *hclScanner) exprStep(i int) (int, *Error) {
	src := s.src
	c := src[i]
	next := byte(0)
	if i+1 < len(src) {
		next = src[i+1]
	}
	t := s.top()
	switch {
	case c == ' ' || c == '\t' || c == '\r':
		return i + 1, nil
	case c == '\n':
		s.lastTerm = false
		if t.kind == fBody {
			t.ops = 0
			return i + 1, s.item(t, i)
		}
		return i + 1, nil
	case c == '#' || c == '/' && next == '/':
		// The newline ending the comment ends the expression as well.
		if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
			return i + j, nil
		}
		return len(src), nil
	case c == '/' && next == '*':
		if j := bytes.Index(src[i+2:], []byte("*/")); j >= 0 {
			return i + 2 + j + 2, nil
		}
		return len(src), nil
	}
	wasFresh := t.fresh
	t.fresh = false
	if c != ',' && !(c == '}' || c == ')' || c == ']' || c == '~' && next == '}') {
		t.pending = true
	}
	switch {
	case c == '"':
		s.lastTerm = false
		return i + 1, s.push(fQuoted, i)
	case c == '<' && next == '<':
		marker, body, err := heredocIntro(src, i)
		if err != nil {
			return i, err
		}
		if marker == nil {
			s.lastTerm = false
			return i + 2, s.op(i)
		}
		if err := s.push(fHeredoc, i); err != nil {
			return i, err
		}
		h := s.top()
		h.marker, h.sol = marker, true
		return body, nil
	case c == '{':
		err := s.push(fBody, i) // a block body or an object, by lastTerm
		s.lastTerm = false
		return i + 1, err
	case c == '}' || c == '~' && next == '}':
		n := 1
		if c == '~' {
			n = 2
		}
		return i + n, s.closeBrace(i)
	case c == '(':
		s.lastTerm = false
		return i + 1, s.push(fParen, i)
	case c == '[':
		if s.lastTerm {
			// an index: a[b][c] nests as deeply as [[...]]
			if err := s.op(i); err != nil {
				return i, err
			}
		}
		s.lastTerm = false
		return i + 1, s.push(fBrack, i)
	case c == ')' || c == ']':
		// A closer of the wrong kind is a syntax error the parser reports;
		// leaving the frame open only overcounts.
		s.lastTerm = true
		if len(s.stack) > 1 && (c == ')' && t.kind == fParen || c == ']' && t.kind == fBrack) {
			return i + 1, s.pop(i)
		}
		return i + 1, nil
	case c == ',':
		t.ops = 0
		s.lastTerm = false
		return i + 1, s.item(t, i)
	case c == '=' && next != '=' && next != '>':
		s.lastTerm = false
		return i + 1, nil
	case c == '.':
		s.lastTerm = false
		if next == '.' && i+2 < len(src) && src[i+2] == '.' {
			return i + 3, nil
		}
		return i + 1, nil
	case bytes.IndexByte([]byte("!=+-*/%<>&|?:"), c) >= 0:
		n := 1
		if bytes.IndexByte([]byte("=&|:>"), next) >= 0 && next != 0 {
			n = 2 // ==, !=, <=, >=, &&, ||, ::, =>
		}
		s.lastTerm = false
		return i + n, s.op(i)
	case isDigit(c):
		j := i + 1
		for j < len(src) && (isDigit(src[j]) || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
			(src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
			j++
		}
		s.lastTerm = true
		if j-i > s.maxValue {
			return j, s.tooLarge(i, "a number")
		}
		return j, nil
	case isIdentStart(c):
		j := i + 1
		for j < len(src) && isIdentByte(src[j]) {
			j++
		}
		if j-i > s.maxValue {
			return j, s.tooLarge(i, "a name")
		}
		if wasFresh && t.kind == fBody && string(src[i:j]) == "for" {
			t.kind = fForObj
		}
		s.lastTerm = true
		return j, nil
	}
	s.lastTerm = false
	return i + 1, nil
}

// closeBrace ends the innermost brace frame, as hclsyntax's scanner
// counts braces: parentheses and brackets left open inside are dropped.
func (s *hclScanner) closeBrace(at int) *Error {
	for k := len(s.stack) - 1; k > 0; k-- {
		f := s.stack[k]
		if f.literal() {
			return nil // nothing to close: a stray brace
		}
		if !f.brace() {
			continue
		}
		for len(s.stack) > k {
			if err := s.pop(at); err != nil {
				return err
			}
		}
		s.lastTerm = true
		if f.kind == fDirective {
			if f.opens {
				s.stack = append(s.stack, hclFrame{kind: fBlock, level: f.level, start: f.start})
			} else if f.closes && s.top().kind == fBlock {
				s.stack = s.stack[:len(s.stack)-1]
			}
		}
		return nil
	}
	return nil
}

// heredocIntro reads <<EOT or <<-EOT and the newline after it. marker is
// nil when this is no heredoc. A marker with non-ASCII letters is refused:
// whether hclsyntax takes it for one depends on its Unicode tables.
func heredocIntro(src []byte, i int) (marker []byte, body int, err *Error) {
	j := i + 2
	if j < len(src) && src[j] == '-' {
		j++
	}
	if j >= len(src) {
		return nil, 0, nil
	}
	if src[j] >= 0x80 {
		return nil, 0, unicodeMarker(i)
	}
	if !(src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] == '_') {
		return nil, 0, nil
	}
	k := j + 1
	for k < len(src) && isIdentByte(src[k]) {
		if src[k] >= 0x80 {
			return nil, 0, unicodeMarker(i)
		}
		k++
	}
	switch {
	case k < len(src) && src[k] == '\n':
		return src[j:k], k + 1, nil
	case k+1 < len(src) && src[k] == '\r' && src[k+1] == '\n':
		return src[j:k], k + 2, nil
	}
	return nil, 0, nil
}

func unicodeMarker(at int) *Error {
	return &Error{Offset: int64(at), summary: "Unsupported heredoc marker", Msg: "heredoc markers must be ASCII letters, digits, _ and - (like <<EOT)"}
}

// literalStep reads a run of a string or heredoc template.
func (s *hclScanner) literalStep(i int) (int, *Error) {
	src := s.src
	l := len(s.stack) - 1
	for s.stack[l].kind == fBlock {
		l--
	}
	lit := &s.stack[l]
	if i-lit.start > s.maxValue {
		return i, s.tooLarge(lit.start, "a string")
	}
	if lit.kind == fHeredoc && lit.sol {
		lit.sol = false
		if j := bytes.IndexByte(src[i:], '\n'); j >= 0 && bytes.Equal(bytes.TrimSpace(src[i:i+j+1]), lit.marker) {
			// The newline after the marker ends the attribute, as in
			// hclsyntax's scanner.
			s.stack = s.stack[:l]
			s.lastTerm = true
			return i + j, nil
		}
	}
	quoted := lit.kind == fQuoted
	// skip the plain text
	j := i
	for j < len(src) {
		c := src[j]
		if c == '\n' || c == '$' || c == '%' || quoted && (c == '"' || c == '\\') {
			break
		}
		j++
	}
	if j-lit.start > s.maxValue {
		return j, s.tooLarge(lit.start, "a string")
	}
	if j > i {
		return j, nil
	}
	c := src[i]
	next := byte(0)
	if i+1 < len(src) {
		next = src[i+1]
	}
	switch {
	case c == '\n':
		if !quoted {
			lit.sol = true
		}
		return i + 1, nil
	case c == '\\':
		if next != 0 && next != '\n' && next != '\r' {
			return i + 2, nil
		}
		return i + 1, nil
	case c == '"':
		s.stack = s.stack[:l]
		s.lastTerm = true
		return i + 1, nil
	case next == '{':
		kind := fInterp
		if c == '%' {
			kind = fDirective
		}
		if err := s.push(kind, i); err != nil {
			return i, err
		}
		s.lastTerm = false
		j := i + 2
		if j < len(src) && src[j] == '~' {
			j++
		}
		if kind == fDirective {
			kw := directiveKeyword(src[j:])
			d := s.top()
			d.opens = kw == "if" || kw == "for"
			d.closes = kw == "endif" || kw == "endfor"
		}
		return j, nil
	case next == c && i+2 < len(src) && src[i+2] == '{':
		return i + 3, nil // $${ and %%{ are literal
	}
	return i + 1, nil
}

func directiveKeyword(b []byte) string {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	j := i
	for j < len(b) && b[j] >= 'a' && b[j] <= 'z' {
		j++
	}
	if j < len(b) && isIdentByte(b[j]) {
		return "" // a longer name
	}
	return string(b[i:j])
}
