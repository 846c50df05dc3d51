package policy

import (
	"encoding/json"
	"math"
	"testing"
)

// JSONSize must agree with json.Marshal byte for byte, escapes included.
func TestJSONSizeIsMarshalsLength(t *testing.T) {
	for _, v := range []any{
		nil, true, false, "", "plain", "q\"b\\n\n\r\t\x01\x1f<>&\u2028\u2029é漢\xff\xfe🙂",
		map[string]any{}, map[string]any{"a<": 1, "b": []any{nil, "x", 2.5, map[string]any{"c": false}}, "d": []string{"e", "f"}},
		[]any{}, []any(nil), []string(nil), []map[string]any{{"id": "x"}, {}}, []map[string]any(nil),
		map[string]any(nil), []map[string]any{nil, {"a": map[string]any(nil)}}, []any{map[string]any(nil)},
		map[string]any{"n": int64(-12), "u": uint8(7), "f": 1e21, "s": struct{ A int }{3}},
		[]any{0, 7, -3, int64(math.MaxInt64), int64(math.MinInt64), math.MinInt},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := JSONSize(v); err != nil || got != int64(len(want)) {
			t.Errorf("JSONSize(%#v) = %d, %v; json.Marshal gives %d bytes: %s", v, got, err, len(want), want)
		}
	}
}

func FuzzJSONStringSize(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "<&>", "\u2028", "\xff", "é", "\"\\", "\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsonStringSize(s); got != int64(len(want)) {
			t.Fatalf("jsonStringSize(%q) = %d, json.Marshal gives %d: %s", s, got, len(want), want)
		}
	})
}
