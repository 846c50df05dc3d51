package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		in   string
		want []string // key=value pairs
	}{
		{`{}`, nil},
		{` { "a" : 1 , "b":"x\"}" ,"c":{"d":[1,{"e":"]"}]},"f":null} `, []string{`a=1`, `b="x\"}"`, `c={"d":[1,{"e":"]"}]}`, `f=null`}},
		{`{"k\\":"v\\\\"}`, []string{`k\\="v\\\\"`}},
		{`{"a":true,"b":false}`, []string{`a=true`, `b=false`}},
		{`[1,2]`, nil},
		{`{"a":"unterminated`, nil},
	}
	for _, tt := range tests {
		var got []string
		members([]byte(tt.in), func(k, v []byte) bool {
			got = append(got, string(k)+"="+string(v))
			return true
		})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("members(%s) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestWantsPrepass(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"name":"//compute.googleapis.com/projects/p/zones/z/instances/i","asset_type":"compute.googleapis.com/Instance","resource":{"parent":"//cloudresourcemanager.googleapis.com/projects/1","data":{}}}`, false},
		{`{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","iam_policy":{"bindings":[]}}`, true},
		{`{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","iam_policy":{"bindings":[]},"resource":{"data":{}}}`, false},
		{`{"name":"//cloudresourcemanager.googleapis.com/projects/1","assetType":"cloudresourcemanager.googleapis.com/Project","resource":{"data":{}}}`, true},
		{`{"name":"x","asset_type":"storage.googleapis.com/Bucket","iam_policy":null}`, false},
		// escapes spell the same record
		{`{"name":"//cloudresourcemanager.googleapis.com\/projects\/1","asset_type":"cloudresourcemanager.googleapis.com\/Project","resource":{"data":{}}}`, true},
		{`{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","iam\u005fpolicy":{"bindings":[]}}`, true},
		// a nested asset_type must not be mistaken for the record's own
		{`{"resource":{"data":{"asset_type":"cloudresourcemanager.googleapis.com/Project"}},"asset_type":"pubsub.googleapis.com/Topic","name":"t"}`, false},
	}
	for _, tt := range tests {
		if got := wantsPrepass([]byte(tt.in)); got != tt.want {
			t.Errorf("wantsPrepass(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzMembers checks the structural walk against encoding/json: on any
// valid object it must find exactly the keys, in order, with their values.
func FuzzMembers(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":"x\"","c":{"d":[1,"]"]}}`))
	f.Add([]byte(`{"\\":"\\\\","":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			members(raw, func(k, v []byte) bool { return true }) // must not panic
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.Token()
		var want []string
		for dec.More() {
			k, _ := dec.Token()
			var v json.RawMessage
			dec.Decode(&v)
			want = append(want, k.(string)+"="+string(v))
		}
		var got []string
		members(raw, func(k, v []byte) bool {
			var key string
			if err := json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &key); err != nil {
				t.Fatalf("key %q is not a JSON string body: %v", k, err)
			}
			var compact json.RawMessage
			if err := json.Unmarshal(v, &compact); err != nil {
				t.Fatalf("value %q of %q is not JSON: %v", v, key, err)
			}
			got = append(got, key+"="+string(compact))
			return true
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("members(%q) (-encoding/json +members):\n%s", raw, diff)
		}
	})
}

// TestVisitMarkedLines holds the marker search to the plain line reader:
// same lines, line numbers and offsets, across chunk boundaries, long
// lines, CRLF, blank lines and a byte-order mark.
func TestVisitMarkedLines(t *testing.T) {
	markers := [][]byte{[]byte("MARK"), []byte("OTHER")}
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBF{\"a\":\"MARK\"}\n")
	for i := 0; i < 500; i++ {
		switch {
		case i%7 == 0:
			fmt.Fprintf(&b, "{\"i\":%d,\"m\":\"MARK\",\"n\":\"OTHER\"}\r\n", i)
		case i%11 == 0:
			b.WriteString("\n   \n")
		case i%13 == 0:
			fmt.Fprintf(&b, "{\"i\":%d,\"long\":\"%s OTHER\"}\n", i, strings.Repeat("x", 300))
		default:
			fmt.Fprintf(&b, "{\"i\":%d}\n", i)
		}
	}
	b.WriteString(`{"last":"MARK"}`) // no final newline
	type hit struct {
		text string
		line int
		off  int64
	}
	var want []hit
	err := readLines(context.Background(), "f", bytes.NewReader(b.Bytes()), 1<<20, func(raw []byte, line int, off int64) error {
		if bytes.Contains(raw, markers[0]) || bytes.Contains(raw, markers[1]) {
			want = append(want, hit{string(raw), line, off})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{64, 100, 1000, 4 << 20} {
		var got []hit
		err := visitMarkedLines(context.Background(), "f", bytes.NewReader(b.Bytes()), chunk, markers, func(raw []byte, line int, off int64) error {
			got = append(got, hit{string(raw), line, off})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(hit{})); diff != "" {
			t.Errorf("chunk %d (-readLines +visitMarkedLines):\n%s", chunk, diff)
		}
	}
}

// Batches get arenas the size of their records, not batchBytes each, and
// every record arrives whole, in order, whatever batch it lands in: small
// records with a few of 40 KiB among them (each must fit, and move the size
// little), then a tail of 4 KiB records (the size must follow).
func TestBatchArenasFitTheRecords(t *testing.T) {
	var text bytes.Buffer
	var want []string
	for i := range 4000 {
		line := fmt.Sprintf(`{"name":"r%d","pad":"%s"}`, i, strings.Repeat("x", 70+i%100)) // 90-190 bytes
		switch {
		case i >= 3000:
			line = fmt.Sprintf(`{"name":"r%d","pad":"%s"}`, i, strings.Repeat("z", 4<<10))
		case i%700 == 699:
			line = fmt.Sprintf(`{"name":"r%d","pad":"%s"}`, i, strings.Repeat("y", 40<<10))
		}
		want = append(want, line)
		text.WriteString(line + "\n")
	}
	path := filepath.Join(t.TempDir(), "recs.ndjson")
	if err := os.WriteFile(path, text.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &inputFile{path: path, det: detected{layout: layoutLines}, size: int64(text.Len())}
	var got []string
	var held, tailBatches int
	err := readRecords(context.Background(), in, func(b *batch) error {
		held += cap(b.arena)
		for _, r := range b.recs {
			got = append(got, string(r.data))
		}
		if r := b.recs[0]; r.seq >= 3000 {
			tailBatches++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("records differ: got %d, want %d", len(got), len(want))
	}
	// The first arena is batchBytes (nothing read yet); with every arena
	// that size the file would take 16 MiB for its 4.5 MiB.
	if limit := batchBytes + 2*text.Len(); held > limit {
		t.Errorf("arenas of %d bytes in all for %d bytes of records, want at most %d", held, text.Len(), limit)
	}
	// 1000 records of 4 KiB fill 4 full batches; the size must catch up
	// within a few
	if tailBatches > 12 {
		t.Errorf("the 4 KiB tail took %d batches, want at most 12", tailBatches)
	}
}

// A JSON array or an AWS Config document may start with a byte order mark,
// as detection allows: the objects come out with offsets in the file.
func TestSplitObjectsAfterBOM(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		configDoc  bool
		offsets    []int64
	}{
		{"array", "\xEF\xBB\xBF[{\"a\":1}, {\"b\":2}]", false, []int64{4, 13}},
		{"config document", "\xEF\xBB\xBF{\"fileVersion\":\"1.0\",\"configurationItems\":[{\"a\":1}]}", true, []int64{46}},
		{"no mark", "[{\"a\":1}]", false, []int64{1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			err := splitObjects(context.Background(), "f.json", strings.NewReader(tt.text), tt.configDoc, func(b []byte, _ int, off int64) error {
				if tt.text[off] != '{' || string(b) != tt.text[off:off+int64(len(b))] {
					t.Errorf("object %q at %d is not what the file holds there", b, off)
				}
				got = append(got, off)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.offsets) {
				t.Errorf("offsets %v, want %v", got, tt.offsets)
			}
		})
	}
}
