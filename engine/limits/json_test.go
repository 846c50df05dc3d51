package limits

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vigil-ir/vigil/internal/testutil"
)

func TestJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	// Values are bounded at 1000 bytes here, rather than at MaxJSONValue:
	// the same code, without scanning 64 MiB per case.
	const maxValue = 1000
	tests := []struct {
		name, src string
		want      string // line:column and the start of the message, "" when within the limits
	}{
		{"document", `{"a": [1, 2.5e-3, true, null, "x\"y\\"], "b": {"c": {}}}`, ""},
		{"256 deep", deep(256), ""},
		// the 257th bracket, at column 257
		{"100000 deep", deep(100000), "1:257: objects and arrays nested more than 256"},
		{"objects", strings.Repeat(`{"a":`, 300), "1:1281: objects"},
		{"on a later line", "{\"a\": 1,\n \"b\": " + deep(300) + "}", "2:262: objects"},
		{"brackets in strings", `["` + strings.Repeat("[", 900) + `"]`, ""},
		{"escaped quote", `["\"` + strings.Repeat("[", 900) + `"]`, ""},
		{"escaped backslash then quote", `["\\"` + deep(300) + `]`, "1:261: objects"},
		{"stream of documents", strings.Repeat(deep(200)+"\n", 100), ""},
		{"long string", "{\n\"a\": \"" + strings.Repeat("x", maxValue+1) + "\"}", "2:6: a string longer than 1000 bytes"},
		{"string at the limit", "[\"" + strings.Repeat("x", maxValue-2) + "\"]", ""},
		{"long string of escapes", `["` + strings.Repeat(`\n`, maxValue/2+1) + `"]`, "1:2: a string longer"},
		{"long number", "[" + strings.Repeat("1", maxValue+1) + "]", "1:2: a number or literal longer"},
		{"unbalanced closers", "]]]]}}" + deep(256), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkJSON([]byte(tt.src), MaxDepth, maxValue)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %s", tt.want)
			}
			if got := err.Error(); !strings.HasPrefix(got, "line "+tt.want) {
				t.Errorf("error %q, want line %s...", got, tt.want)
			}
			// read in small chunks, the stream names the same place
			_, rerr := io.Copy(io.Discard, newJSONReader(iotest.OneByteReader(strings.NewReader(tt.src)), MaxDepth, maxValue))
			var le *Error
			if !errors.As(rerr, &le) || le.Line != err.Line || le.Offset != err.Offset {
				t.Errorf("streamed: %v, want line %d offset %d", rerr, err.Line, err.Offset)
			}
		})
	}
}

// The real bound, once: a string just over 64 MiB.
func TestJSONValueBound(t *testing.T) {
	src := []byte("[\n\"" + strings.Repeat("x", MaxJSONValue+1) + "\"]")
	if err := JSON(src); err == nil || err.Error() != "line 2:1: a string longer than 64 MiB; vigil refuses larger values" {
		t.Errorf("JSON: %v", err)
	}
	if err := JSON(src[:len(src)-3]); err != nil {
		t.Errorf("unterminated, within the bound: %v", err)
	}
}

func TestJSONReaderStops(t *testing.T) {
	r := JSONReader(strings.NewReader("[1,\n" + strings.Repeat("[", 300)))
	dec := json.NewDecoder(r)
	var v any
	err := dec.Decode(&v)
	var le *Error
	if !errors.As(err, &le) || le.Line != 2 || le.Column != 256 {
		t.Fatalf("decode through the reader: %v", err)
	}
	if _, err := r.Read(make([]byte, 10)); err != le {
		t.Errorf("a failed reader keeps failing: %v", err)
	}
}

// jsonDepth is how deeply a decoded JSON value nests.
func jsonDepth(v any) int {
	switch x := v.(type) {
	case []any:
		d := 0
		for _, e := range x {
			d = max(d, jsonDepth(e))
		}
		return d + 1
	case map[string]any:
		d := 0
		for _, e := range x {
			d = max(d, jsonDepth(e))
		}
		return d + 1
	}
	return 0
}

// What the scan lets through decodes no deeper and no larger than its
// bounds, and reading it in chunks finds what reading it whole finds.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`[[1]]`, `{"a":{"b":"[["}}`, `["\"[["]`, `["\\"]`, `[1e5, -2, true]`, `{"a": "\u0041"}`} {
		f.Add([]byte(s))
	}
	const depth, size = 5, 16
	f.Fuzz(func(t *testing.T, src []byte) {
		whole := newJSONScanner(depth, size).feed(src)
		s := newJSONScanner(depth, size)
		var chunked *Error
		for i := 0; i < len(src) && chunked == nil; i += 3 {
			chunked = s.feed(src[i:min(i+3, len(src))])
		}
		if (whole == nil) != (chunked == nil) || whole != nil && whole.Offset != chunked.Offset {
			t.Fatalf("whole: %v, in chunks: %v", whole, chunked)
		}
		if whole != nil {
			return
		}
		var v any
		if json.Unmarshal(src, &v) != nil {
			return
		}
		if d := jsonDepth(v); d > depth {
			t.Fatalf("passed the scan but nests %d deep: %q", d, src)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				// invalid UTF-8 decodes to U+FFFD, three bytes for one
				if len(x) > 3*size {
					t.Fatalf("passed the scan with a %d-byte string: %q", len(x), src)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}

// BenchmarkJSON measures the scan on inventory records, to compare with
// decoding them (go test -bench Decode ./engine/inventory).
func BenchmarkJSON(b *testing.B) {
	src, err := os.ReadFile(testutil.Path(b, "examples/inventory/gcp-resources.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("records", func(b *testing.B) {
		lines := bytes.Split(src, []byte{'\n'})
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			for _, l := range lines {
				if err := JSON(l); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if err := newJSONScanner(MaxDepth, MaxJSONValue).feed(src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
