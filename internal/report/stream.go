package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
)

// streamMark stands in for the one array of a document that is streamed.
const streamMark = "\x00vigil-stream"

// streamJSON writes doc as indented JSON (two spaces, no HTML escaping),
// exactly as json.Encoder would, except that the value of the field set to
// streamMark is the array of items (each compact JSON, indented here as
// the encoder would), written one at a time as they come: a report of a
// million-asset scan is never whole in memory. Items come from vigil's own
// encoders and are not validated again (FuzzAppendFinding holds the
// finding encoder to encoding/json).
func streamJSON(w io.Writer, doc any, items iter.Seq[[]byte]) error {
	var head bytes.Buffer
	if err := encodeIndented(&head, doc, ""); err != nil {
		return err
	}
	mark, _ := json.Marshal(streamMark)
	i := bytes.Index(head.Bytes(), mark)
	if i < 0 {
		return fmt.Errorf("report: no streamed field in %T", doc)
	}
	before, after := head.Bytes()[:i], head.Bytes()[i+len(mark):]
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	keyIndent := before[lineStart : lineStart+len(before[lineStart:])-len(bytes.TrimLeft(before[lineStart:], " "))]
	elemIndent := string(keyIndent) + "  "

	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(before)
	bw.WriteByte('[')
	n := 0
	var item []byte
	for compact := range items {
		item = appendIndented(item[:0], compact, elemIndent, "  ")
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		bw.WriteString(elemIndent)
		bw.Write(item)
		n++
	}
	if n > 0 {
		bw.WriteByte('\n')
		bw.Write(keyIndent)
	}
	bw.WriteByte(']')
	bw.Write(after)
	return bw.Flush()
}

func encodeIndented(w io.Writer, v any, prefix string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// compactJSON encodes v as encoding/json does, without HTML escaping.
func compactJSON(buf *bytes.Buffer, v any) ([]byte, error) {
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
