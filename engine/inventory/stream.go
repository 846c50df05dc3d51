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
	f, err := os.Open(in.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var b *batch
	var seq int64
	flush := func() error {
		if b == nil || len(b.recs) == 0 {
			return nil
		}
		err := send(b)
		b = nil
		return err
	}
	add := func(data []byte, line int, off int64) error {
		if b == nil {
			b = &batch{file: in, recs: make([]record, 0, batchRecords), arena: make([]byte, 0, batchBytes)}
		}
		start := len(b.arena)
		b.arena = append(b.arena, data...)
		b.recs = append(b.recs, record{line: line, offset: off, seq: seq, data: b.arena[start:len(b.arena):len(b.arena)]})
		seq++
		if len(b.recs) >= batchRecords || len(b.arena) >= batchBytes {
			return flush()
		}
		return nil
	}
	switch in.det.layout {
	case layoutLines:
		err = readLines(ctx, in.path, f, add)
	case layoutArray, layoutStream:
		err = readValues(ctx, in.path, f, in.det.layout == layoutArray, add)
	case layoutConfigDoc:
		err = readConfigDoc(ctx, in, f, add)
	default:
		return fmt.Errorf("%s: %s files are read whole, not streamed", in.path, in.det.format)
	}
	if err != nil {
		return err
	}
	return flush()
}

func readLines(ctx context.Context, path string, f io.Reader, add func([]byte, int, int64) error) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	line := 0
	var off int64
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		start := off
		off += int64(len(raw)) + 1
		if line == 1 {
			raw = bytes.TrimPrefix(raw, []byte{0xEF, 0xBB, 0xBF})
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

// readConfigDoc streams the configurationItems of an AWS Config snapshot,
// history file or get-resource-config-history output.
func readConfigDoc(ctx context.Context, in *inputFile, f io.Reader, add func([]byte, int, int64) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	if _, err := dec.Token(); err != nil {
		return parseErrAt(in.path, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return parseErrAt(in.path, err)
		}
		if key, _ := t.(string); key != "configurationItems" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return parseErrAt(in.path, err)
			}
			continue
		}
		if t, err := dec.Token(); err != nil {
			return parseErrAt(in.path, err)
		} else if d, ok := t.(json.Delim); !ok || d != '[' {
			return &ParseError{File: in.path, Err: errors.New("configurationItems is not a list")}
		}
		var n int
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return parseErrAt(in.path, err)
			}
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if err := add(raw, 0, dec.InputOffset()-int64(len(raw))); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return parseErrAt(in.path, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return parseErrAt(in.path, err)
	}
	return nil
}
