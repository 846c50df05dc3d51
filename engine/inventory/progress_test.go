package inventory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
)

// BytesRead follows the main pass through the files: nothing before the
// scan, part of an NDJSON file while its records are read, all of it after.
func TestBytesRead(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range 2000 {
		lines = append(lines, `{"id":"arn:aws:iam::111111111111:user/u`+strings.Repeat("x", i%7)+itoa(i)+`","provider":"aws","type":"AWS::IAM::User","kind":"user","name":"u","scope":"111111111111","region":"global","facets":{},"source":"aws"}`)
	}
	path := filepath.Join(dir, "big.ndjson")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fs.Workers = 1
	if fs.BytesRead() != 0 {
		t.Fatalf("read %d before the scan", fs.BytesRead())
	}
	var seen []int64
	err = fs.Scan(context.Background(), func(*asset.Asset) error {
		seen = append(seen, fs.BytesRead())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fs.BytesRead(), fs.Bytes(); got != want || want == 0 {
		t.Errorf("read %d of %d after the scan", got, want)
	}
	// the reader runs a batch or so ahead of the decoders; 2,000 users and
	// the account's scope asset
	if len(seen) != 2001 || seen[0] <= 0 || seen[0] >= fs.Bytes() {
		t.Errorf("%d assets; at the first, read %v of %d: want part of the file", len(seen), seen[:1], fs.Bytes())
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("read went back from %d to %d", seen[i-1], seen[i])
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
