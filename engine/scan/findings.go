package scan

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// FindingSet holds a scan's findings compactly: each is encoded into large
// byte chunks that hold no pointers, so a million-asset scan with hundreds
// of thousands of findings costs a few hundred bytes apiece and nothing to
// the garbage collector, instead of a struct, a map and a dozen strings.
// Past runBytes, the findings held are sorted and written out as a run to
// a temporary file, and the runs are merged when read: memory stays
// bounded however many findings a scan makes.
//
// After Finish the set is in report order (most severe first, then policy,
// asset and message), without duplicates, and can be iterated any number
// of times; findings come out with their waivers applied.
type FindingSet struct {
	mu     sync.Mutex
	chunks [][]byte
	refs   []uint64 // chunk<<32 | offset
	held   int      // bytes in chunks
	done   bool
	n      int // findings, after Finish
	// The fields that repeat across findings (policy, severity, kind,
	// scope, region, file...) are stored once, in strs, and referred to by
	// their index.
	strs []string
	ids  map[string]uint32

	spool *spool
	runs  []run
	// lines of findings whose asset came from a JSON document, where only
	// the byte offset was known while streaming: file id<<40 | offset.
	lines map[uint64]int

	waivers *policy.Waivers
	now     time.Time

	errMu sync.Mutex
	err   error
}

// run is a sorted, deduplicated stretch of encoded findings in the spool,
// each preceded by its length.
type run struct{ off, size int64 }

const findingChunk = 1 << 20

// runBytes is how many bytes of findings are held before a run is written.
var runBytes = 16 << 20

// Fixed-size head of an encoded finding.
const (
	headSev    = 0 // severity rank
	headLine   = 1 // uint32
	headOffset = 5 // int64
	headFlags  = 13
	headLen    = 14
)

const (
	flagWaived = 1 << iota
	flagExpired
)

// NewFindingSet returns a finished set of the findings, for callers that
// have them as a slice.
func NewFindingSet(fs []policy.Finding) *FindingSet {
	s := &FindingSet{}
	s.Add(fs...)
	s.Finish(nil, time.Time{})
	return s
}

// Add appends findings; it may be called concurrently until Finish. It
// fails only when a run cannot be written out.
func (s *FindingSet) Add(fs ...policy.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		panic("scan: FindingSet.Add after Finish")
	}
	for i := range fs {
		s.add(&fs[i])
	}
	if s.held >= runBytes {
		return s.spill()
	}
	return nil
}

func (s *FindingSet) add(f *policy.Finding) {
	n := len(s.chunks)
	size := encodedSize(f)
	if n == 0 || len(s.chunks[n-1])+size > cap(s.chunks[n-1]) {
		s.chunks = append(s.chunks, make([]byte, 0, max(findingChunk, size)))
		n++
	}
	c := s.chunks[n-1]
	s.refs = append(s.refs, uint64(n-1)<<32|uint64(len(c)))
	s.chunks[n-1] = s.encodeFinding(c, f)
	s.held += len(s.chunks[n-1]) - len(c)
}

// sortHeld puts the held findings in order, without duplicates.
func (s *FindingSet) sortHeld() {
	slices.SortFunc(s.refs, func(a, b uint64) int { return s.compareEncoded(s.at(a), s.at(b)) })
	s.refs = slices.CompactFunc(s.refs, func(a, b uint64) bool { return s.sameFinding(s.at(a), s.at(b)) })
}

// spill writes the held findings out as a sorted run.
func (s *FindingSet) spill() error {
	if len(s.refs) == 0 {
		return nil
	}
	if s.spool == nil {
		s.spool = newSpool()
	}
	s.sortHeld()
	r := run{off: s.spool.size}
	var lenBuf [binary.MaxVarintLen64]byte
	for _, ref := range s.refs {
		b := s.record(ref)
		if _, err := s.spool.put(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(b)))]); err != nil {
			return err
		}
		if _, err := s.spool.put(b); err != nil {
			return err
		}
	}
	r.size = s.spool.size - r.off
	s.runs = append(s.runs, r)
	s.chunks, s.refs, s.held = nil, nil, 0
	return nil
}

// Len is the number of findings (after Finish).
func (s *FindingSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// All yields the findings in order, waivers applied.
func (s *FindingSet) All() iter.Seq[policy.Finding] {
	return func(yield func(policy.Finding) bool) {
		if s == nil {
			return
		}
		for b := range s.records() {
			f := s.decodeFinding(b)
			s.waivers.ApplyOne(&f, s.now)
			if !yield(f) {
				return
			}
		}
	}
}

// Slice returns the findings as a slice, for callers that need few.
func (s *FindingSet) Slice() []policy.Finding {
	out := make([]policy.Finding, 0, s.Len())
	for f := range s.All() {
		out = append(out, f)
	}
	return out
}

func (s *FindingSet) at(r uint64) []byte { return s.chunks[r>>32][uint32(r):] }

// record is the encoded finding at a ref, exactly.
func (s *FindingSet) record(r uint64) []byte {
	b := s.at(r)
	return b[:s.encodedLen(b)]
}

// records yields the encoded findings in order: the held ones, merged
// with the runs written out, without duplicates across runs.
func (s *FindingSet) records() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if len(s.runs) == 0 {
			for _, r := range s.refs {
				if !yield(s.record(r)) {
					return
				}
			}
			return
		}
		cursors := make([]*cursor, 0, len(s.runs)+1)
		for _, r := range s.runs {
			c := &cursor{r: bufio.NewReaderSize(s.spool.section(r.off, r.size), 64<<10)}
			if err := c.next(); err != nil {
				s.fail(err)
				return
			}
			if c.cur != nil {
				cursors = append(cursors, c)
			}
		}
		if len(s.refs) > 0 {
			c := &cursor{held: s}
			c.next()
			cursors = append(cursors, c)
		}
		var prev []byte
		for len(cursors) > 0 {
			// few runs: a linear scan for the least is as fast as a heap
			least := 0
			for i := 1; i < len(cursors); i++ {
				if s.compareEncoded(cursors[i].cur, cursors[least].cur) < 0 {
					least = i
				}
			}
			c := cursors[least]
			if prev == nil || !s.sameFinding(prev, c.cur) {
				prev = append(prev[:0], c.cur...)
				if !yield(prev) {
					return
				}
			}
			if err := c.next(); err != nil {
				s.fail(err)
				return
			}
			if c.cur == nil {
				cursors = slices.Delete(cursors, least, least+1)
			}
		}
	}
}

// fail records that the temporary file cannot be read back: iteration
// stops there, and Err says why.
func (s *FindingSet) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("scan: reading findings back from the temporary file: %w", err)
	}
}

// Err reports a failure to read findings back (see fail); check it after
// iterating a set that was written out.
func (s *FindingSet) Err() error {
	if s == nil {
		return nil
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// cursor walks one run (or the held findings).
type cursor struct {
	r    *bufio.Reader
	buf  []byte
	cur  []byte
	held *FindingSet
	i    int
}

func (c *cursor) next() error {
	if c.held != nil {
		if c.i >= len(c.held.refs) {
			c.cur = nil
			return nil
		}
		c.cur = c.held.record(c.held.refs[c.i])
		c.i++
		return nil
	}
	n, err := binary.ReadUvarint(c.r)
	if err == io.EOF {
		c.cur = nil
		return nil
	}
	if err != nil {
		return err
	}
	if cap(c.buf) < int(n) {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return err
	}
	c.cur = c.buf
	return nil
}

// Finish sorts and deduplicates the findings, resolves the lines of
// findings whose asset came from a JSON document, and fixes the waivers
// and clock that All applies.
func (s *FindingSet) Finish(ws *policy.Waivers, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		s.waivers, s.now = ws, now
		return nil
	}
	s.done = true
	s.waivers, s.now = ws, now
	s.sortHeld()
	if s.spool != nil {
		if err := s.spool.flush(); err != nil {
			return err
		}
	}
	// One pass counts the findings and finds those whose line is unknown.
	byFile := map[uint32][]int64{}
	s.n = 0
	for b := range s.records() {
		s.n++
		if binary.LittleEndian.Uint32(b[headLine:]) != 0 {
			continue
		}
		if id := s.fieldID(b, fieldFile); s.strs[id] != "" {
			byFile[id] = append(byFile[id], int64(binary.LittleEndian.Uint64(b[headOffset:])))
		}
	}
	for id, offs := range byFile {
		lines, err := inventory.LinesAt(s.strs[id], offs)
		if err != nil {
			continue // the file is gone; the line is a nicety
		}
		if s.lines == nil {
			s.lines = map[uint64]int{}
		}
		for i, off := range offs {
			s.lines[uint64(id)<<40|uint64(off)] = lines[i]
		}
	}
	return s.Err()
}

// Close releases the temporary file of the runs, if any.
func (s *FindingSet) Close() {
	if s != nil && s.spool != nil {
		s.spool.close()
	}
}

// The string fields of an encoded finding, in order; the first three are
// the sort key after the severity.
const (
	fieldPolicy = iota
	fieldAsset
	fieldMessage
	fieldSeverity
	fieldTitle
	fieldKind
	fieldProvider
	fieldScope
	fieldRegion
	fieldLevel
	fieldAssetName
	fieldAssetType
	fieldPhase
	fieldRemediation
	fieldSource
	fieldFile
	fieldChange
	fieldWaiverReason
	fieldWaiverExpires
	fieldDetails
	numFields
)

// shared marks the fields stored in the string table; the others are
// stored inline. The sort key fields (policy, asset, message) are inline,
// so that sorting compares bytes without a lookup.
var shared = [numFields]bool{
	fieldSeverity: true, fieldTitle: true, fieldKind: true, fieldProvider: true, fieldScope: true,
	fieldRegion: true, fieldLevel: true, fieldAssetType: true, fieldPhase: true, fieldRemediation: true,
	fieldSource: true, fieldFile: true, fieldChange: true, fieldWaiverReason: true, fieldWaiverExpires: true,
}

func (s *FindingSet) id(v string) uint32 {
	if id, ok := s.ids[v]; ok {
		return id
	}
	if s.ids == nil {
		s.ids = map[string]uint32{}
	}
	id := uint32(len(s.strs))
	v = strings.Clone(v)
	s.strs = append(s.strs, v)
	s.ids[v] = id
	return id
}

func fieldsOf(f *policy.Finding) [numFields]string {
	return [numFields]string{
		f.PolicyID, f.AssetID, f.Message, f.Severity, f.Title, f.Kind, f.Provider, f.Scope, f.Region,
		f.Level, f.AssetName, f.AssetType, f.Phase, f.Remediation, f.Source, f.File, f.Change,
		f.WaiverReason, f.WaiverExpires, string(f.Details),
	}
}

func encodedSize(f *policy.Finding) int {
	n := headLen
	for _, s := range fieldsOf(f) {
		n += binary.MaxVarintLen32 + len(s)
	}
	return n
}

func (s *FindingSet) encodeFinding(b []byte, f *policy.Finding) []byte {
	var flags byte
	if f.Waived {
		flags |= flagWaived
	}
	if f.WaiverExpired {
		flags |= flagExpired
	}
	b = append(b, byte(policy.SeverityRank(f.Severity)))
	b = binary.LittleEndian.AppendUint32(b, uint32(f.Line))
	b = binary.LittleEndian.AppendUint64(b, uint64(f.Offset()))
	b = append(b, flags)
	for i, v := range fieldsOf(f) {
		if shared[i] {
			b = binary.AppendUvarint(b, uint64(s.id(v)))
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// fieldID returns the string table index of shared field want.
func (s *FindingSet) fieldID(b []byte, want int) uint32 {
	p := b[headLen:]
	for i := 0; ; i++ {
		n, k := binary.Uvarint(p)
		if i == want {
			return uint32(n)
		}
		if shared[i] {
			p = p[k:]
		} else {
			p = p[k+int(n):]
		}
	}
}

// encodedLen is the length of the encoded finding at the start of b.
func (s *FindingSet) encodedLen(b []byte) int {
	p := b[headLen:]
	for i := 0; i < numFields; i++ {
		n, k := binary.Uvarint(p)
		if shared[i] {
			p = p[k:]
		} else {
			p = p[k+int(n):]
		}
	}
	return len(b) - len(p)
}

// field returns string field i of an encoded finding.
func (s *FindingSet) field(b []byte, want int) string {
	p := b[headLen:]
	for i := 0; ; i++ {
		n, k := binary.Uvarint(p)
		if shared[i] {
			if i == want {
				return s.strs[n]
			}
			p = p[k:]
			continue
		}
		if i == want {
			return string(p[k : k+int(n)])
		}
		p = p[k+int(n):]
	}
}

func (s *FindingSet) decodeFinding(b []byte) policy.Finding {
	var fs [numFields]string
	p := b[headLen:]
	for i := range fs {
		n, k := binary.Uvarint(p)
		if shared[i] {
			fs[i] = s.strs[n]
			p = p[k:]
			continue
		}
		fs[i] = string(p[k : k+int(n)])
		p = p[k+int(n):]
	}
	f := policy.Finding{
		PolicyID: fs[fieldPolicy], AssetID: fs[fieldAsset], Message: fs[fieldMessage], Severity: fs[fieldSeverity],
		Title: fs[fieldTitle], Kind: fs[fieldKind], Provider: fs[fieldProvider], Scope: fs[fieldScope],
		Region: fs[fieldRegion], Level: fs[fieldLevel], AssetName: fs[fieldAssetName], AssetType: fs[fieldAssetType],
		Phase: fs[fieldPhase], Remediation: fs[fieldRemediation], Source: fs[fieldSource], File: fs[fieldFile],
		Change: fs[fieldChange], WaiverReason: fs[fieldWaiverReason], WaiverExpires: fs[fieldWaiverExpires],
		Line:          int(binary.LittleEndian.Uint32(b[headLine:])),
		Waived:        b[headFlags]&flagWaived != 0,
		WaiverExpired: b[headFlags]&flagExpired != 0,
	}
	if d := fs[fieldDetails]; d != "" {
		f.Details = []byte(d)
	}
	if f.Line == 0 && f.File != "" && s.lines != nil {
		f.Line = s.lines[uint64(s.fieldID(b, fieldFile))<<40|binary.LittleEndian.Uint64(b[headOffset:])]
	}
	f.SetOffset(int64(binary.LittleEndian.Uint64(b[headOffset:])))
	return f
}

// compareEncoded orders as policy.Sort does: severity (most severe first),
// policy, asset, message, and for findings of Terraform plans the plan.
func (s *FindingSet) compareEncoded(a, b []byte) int {
	if c := compareKey(a, b); c != 0 {
		return c
	}
	return strings.Compare(s.planFile(a), s.planFile(b))
}

// planFile is policy.Finding.PlanFile of an encoded finding.
func (s *FindingSet) planFile(b []byte) string {
	if s.strs[s.fieldID(b, fieldSource)] != asset.SourceTerraformPlan {
		return ""
	}
	return s.strs[s.fieldID(b, fieldFile)]
}

// compareKey compares severity, policy, asset and message.
func compareKey(a, b []byte) int {
	if c := cmp.Compare(b[headSev], a[headSev]); c != 0 {
		return c
	}
	pa, pb := a[headLen:], b[headLen:]
	for i := 0; i < 3; i++ {
		na, ka := binary.Uvarint(pa)
		nb, kb := binary.Uvarint(pb)
		fa, fb := pa[ka:ka+int(na)], pb[kb:kb+int(nb)]
		if c := bytes.Compare(fa, fb); c != 0 {
			return c
		}
		pa, pb = pa[ka+int(na):], pb[kb+int(nb):]
	}
	return 0
}

// sameFinding: the same policy, asset and message (the asset was read from
// two files), unless they are of two plans.
func (s *FindingSet) sameFinding(a, b []byte) bool {
	return a[headSev] == b[headSev] && s.compareEncoded(a, b) == 0
}
