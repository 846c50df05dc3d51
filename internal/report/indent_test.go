package report

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendIndented(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`1`, `1`},
		{`"a"`, `"a"`},
		{`{}`, `{}`},
		{`[]`, `[]`},
		{`{"a":1}`, "{\n>  \"a\": 1\n>}"},
		{`[1,2]`, "[\n>  1,\n>  2\n>]"},
		{`{"a":{},"b":[],"c":[{}]}`, "{\n>  \"a\": {},\n>  \"b\": [],\n>  \"c\": [\n>    {}\n>  ]\n>}"},
		// structure inside strings, and escaped quotes, are left alone
		{`{"k":"{[,:]}\"x\\"}`, "{\n>  \"k\": \"{[,:]}\\\"x\\\\\"\n>}"},
		{`{"a":[{"b":null}]}`, "{\n>  \"a\": [\n>    {\n>      \"b\": null\n>    }\n>  ]\n>}"},
	} {
		if got := string(appendIndented(nil, []byte(tc.in), ">", "  ")); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// FuzzAppendIndented: on any valid compact JSON, the indentation is
// byte for byte json.Indent's.
func FuzzAppendIndented(f *testing.F) {
	for _, s := range []string{`{"id":"VGL-NET-001","details":{"ports":[22,3389],"x":{}},"m":"a \"b\" \\ \u2028"}`, `[[],[[]],{}]`, `"\\"`, `-1.5e3`} {
		f.Add(s, "  ")
	}
	f.Fuzz(func(t *testing.T, in, prefix string) {
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(in)) != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact.Bytes(), prefix, "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndented(nil, compact.Bytes(), prefix, "  "); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%q:\ngot  %q\nwant %q", compact.Bytes(), got, want.Bytes())
		}
	})
}
