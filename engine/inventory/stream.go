package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/vigil-ir/vigil/engine/limits"
)

// record is one raw record of an input file.
type record struct {
	data   []byte
	line   int   // 1-based line of the record's start when known cheaply
	offset int64 // byte offset of the record's start
	seq    int64 // position in the file
}

// batch carries records to the workers; records point into arena.
type batch struct {
	file  *inputFile
	recs  []record
	arena []byte
}

const (
	batchRecords = 256
	batchBytes   = 1 << 20
	maxLine      = 256 << 20 // the longest NDJSON line accepted
)

// readRecords splits a file into raw records and hands them over in batches.
// It never holds more than a batch of the file in memory.
func readRecords(ctx context.Context, in *inputFile, send func(*batch) error) error {
	var b *batch
	var seq int64
	var avg int64 // record size, a moving average over about batchRecords
	flush := func() error {
		if b == nil || len(b.recs) == 0 {
			return nil
		}
		err := send(b)
		b = nil
		return err
	}
	err := visitRecords(ctx, in, func(data []byte, line int, off int64) error {
		// A record that does not fit starts a batch of its own size, so
		// that an arena never grows (and copies) past its capacity.
		if b != nil && len(b.arena)+len(data) > cap(b.arena) {
			if err := flush(); err != nil {
				return err
			}
		}
		if b == nil {
			b = &batch{file: in, recs: make([]record, 0, batchRecords), arena: make([]byte, 0, max(in.bufSize(arenaSize(avg, seq)), len(data)))}
		}
		if seq == 0 {
			avg = int64(len(data))
		} else {
			avg += (int64(len(data)) - avg) / batchRecords
		}
		start := len(b.arena)
		b.arena = append(b.arena, data...)
		b.recs = append(b.recs, record{line: line, offset: off, seq: seq, data: b.arena[start:len(b.arena):len(b.arena)]})
		seq++
		in.read.Store(off + int64(len(data)))
		if len(b.recs) >= batchRecords || len(b.arena) >= batchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// arenaSize is the arena a batch starts with, given the size of the
// records read so far (avg, a moving average over the last batchRecords or
// so: it follows a file whose records grow as an export's asset types
// change, and one large record moves it little): batchRecords of that
// size, with a quarter to spare. An arena of batchBytes for every batch,
// most of it unused when records are a kilobyte, was a quarter of what a
// scan allocated: memory cleared for nothing, and collections it brought
// forward. A batch whose records are larger fills its arena sooner and is
// sent with fewer records.
func arenaSize(avg, records int64) int {
	if records == 0 {
		return batchBytes
	}
	return int(min(max(avg*batchRecords*5/4, 4<<10), batchBytes))
}

// visitRecords calls visit for every raw record of a file. The bytes are
// valid only during the call.
func visitRecords(ctx context.Context, in *inputFile, visit func(data []byte, line int, off int64) error) error {
	f, err := os.Open(in.path)
	if err != nil {
		return err
	}
	defer f.Close()
	switch in.det.layout {
	case layoutLines:
		return readLines(ctx, in.path, f, in.bufSize(1<<20), visit)
	case layoutArray:
		return splitObjects(ctx, in.path, f, false, visit)
	case layoutConfigDoc:
		return splitObjects(ctx, in.path, f, true, visit)
	case layoutStream:
		return readValues(ctx, in.path, limits.JSONReader(f), false, visit)
	}
	return fmt.Errorf("%s: %s files are read whole, not streamed", in.path, in.det.format)
}

func readLines(ctx context.Context, path string, f io.Reader, bufSize int, add func([]byte, int, int64) error) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, bufSize), maxLine)
	// Offsets count what the scanner consumed: a line's length misses its
	// "\r" in CRLF files.
	var start, pos int64
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := bufio.ScanLines(data, atEOF)
		if tok != nil {
			start = pos
		}
		pos += int64(adv)
		return adv, tok, err
	})
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if line == 1 {
			raw = bytes.TrimPrefix(raw, utf8BOM)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		if line%4096 == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err := add(raw, line, start); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &ParseError{File: path, Line: line + 1, Err: fmt.Errorf("line longer than %d MiB", maxLine>>20)}
		}
		return err
	}
	return nil
}

// readValues reads the elements of a JSON array, or a sequence of JSON values.
func readValues(ctx context.Context, path string, f io.Reader, array bool, add func([]byte, int, int64) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	if array {
		if _, err := dec.Token(); err != nil {
			return parseErrAt(path, err)
		}
	}
	var n int
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return parseErrAt(path, err)
		}
		end := dec.InputOffset()
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err := add(raw, 0, end-int64(len(raw))); err != nil {
			return err
		}
	}
	if array {
		if _, err := dec.Token(); err != nil {
			return parseErrAt(path, err)
		}
	}
	return nil
}

// markedChunk is how much of a file visitMarkedLines searches at a time.
const markedChunk = 4 << 20

// visitMarkedLines calls visit for the lines of an NDJSON file that contain
// one of the markers, without splitting the others: the markers are
// searched in large chunks (bytes.Index is vectorized), so a pre-pass that
// needs a few percent of the lines costs a fraction of reading them all.
func visitMarkedLines(ctx context.Context, path string, f io.Reader, bufSize int, markers [][]byte, visit func([]byte, int, int64) error) error {
	buf := make([]byte, 0, min(bufSize, markedChunk))
	var (
		base     int64 // file offset of buf[0]
		line     = 1   // line number at buf[0]
		eof      bool
		starts   []int
		prevLine = -1
	)
	for !eof || len(buf) > 0 {
		// fill the buffer
		for !eof && len(buf) < cap(buf) {
			n, err := f.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return err
			}
		}
		// the region of complete lines
		end := bytes.LastIndexByte(buf, '\n') + 1
		if eof {
			end = len(buf)
		}
		if end == 0 {
			if cap(buf) >= maxLine {
				return &ParseError{File: path, Line: line, Err: fmt.Errorf("line longer than %d MiB", maxLine>>20)}
			}
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			buf = grown
			continue
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		region := buf[:end]
		starts = starts[:0]
		for _, m := range markers {
			for i := 0; ; {
				j := bytes.Index(region[i:], m)
				if j < 0 {
					break
				}
				pos := i + j
				starts = append(starts, bytes.LastIndexByte(region[:pos], '\n')+1)
				// go on after this line: one hit per line is enough
				next := bytes.IndexByte(region[pos:], '\n')
				if next < 0 {
					break
				}
				i = pos + next + 1
			}
		}
		slices.Sort(starts)
		counted := 0
		prevLine = -1
		for _, s := range starts {
			if s == prevLine {
				continue
			}
			prevLine = s
			line += bytes.Count(region[counted:s], []byte{'\n'})
			counted = s
			e := bytes.IndexByte(region[s:], '\n')
			if e < 0 {
				e = len(region) - s
			}
			raw := bytes.TrimSuffix(region[s:s+e], []byte{'\r'})
			if base+int64(s) == 0 {
				raw = bytes.TrimPrefix(raw, utf8BOM)
			}
			if err := visit(raw, line, base+int64(s)); err != nil {
				return err
			}
		}
		line += bytes.Count(region[counted:], []byte{'\n'})
		base += int64(end)
		buf = buf[:copy(buf, buf[end:])]
	}
	return nil
}
