package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool keeps records written once and read back later (the assets that
// wait for the cross-asset pass) in a temporary file rather than on the
// heap, so that what a scan holds in memory does not grow with the
// inventory. Without a writable temporary directory it keeps them in
// memory.
type spool struct {
	f    *os.File
	w    *bufio.Writer
	mem  []byte
	size int64
}

func newSpool() *spool {
	s := &spool{}
	if f, err := os.CreateTemp("", "vigil-scan-*.spool"); err == nil {
		// Unlinked at once where the OS allows: nothing is left behind
		// even if the process is killed.
		os.Remove(f.Name())
		s.f, s.w = f, bufio.NewWriterSize(f, 1<<16)
	}
	return s
}

// put stores a record and returns where it is.
func (s *spool) put(rec []byte) (off int64, err error) {
	off = s.size
	if s.f == nil {
		s.mem = append(s.mem, rec...)
	} else if _, err := s.w.Write(rec); err != nil {
		return 0, fmt.Errorf("scan: spool: %w", err)
	}
	s.size += int64(len(rec))
	return off, nil
}

// get reads a record back; call it only after the last put.
func (s *spool) get(off int64, n int) ([]byte, error) {
	if s.f == nil {
		return s.mem[off : off+int64(n)], nil
	}
	if s.w.Buffered() > 0 {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("scan: spool: %w", err)
		}
	}
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("scan: spool: %w", err)
	}
	return b, nil
}

// flush writes out what is buffered, before reading back.
func (s *spool) flush() error {
	if s.f == nil || s.w.Buffered() == 0 {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("scan: spool: %w", err)
	}
	return nil
}

// section reads back size bytes from off; call flush first.
func (s *spool) section(off, size int64) io.Reader {
	if s.f == nil {
		return bytes.NewReader(s.mem[off : off+size])
	}
	return io.NewSectionReader(s.f, off, size)
}

func (s *spool) close() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
	}
	s.mem = nil
}
