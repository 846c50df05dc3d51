package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vigil-ir/vigil/engine/limits"
)

// Format is what kind of records a file holds.
type Format int

// Formats vigil reads.
const (
	FormatUnknown       Format = iota
	FormatCAI                  // Google Cloud Asset Inventory assets
	FormatAWSConfig            // AWS Config configuration items
	FormatVigil                // vigil's own asset NDJSON
	FormatTerraformPlan        // `terraform show -json` output
	FormatInspector            // `aws inspector2 list-findings` output (Inspector v2 findings)
	FormatOccurrences          // Artifact Analysis occurrences (`gcloud artifacts vulnerabilities list --format=json`)
)

func (f Format) String() string {
	switch f {
	case FormatCAI:
		return "cai"
	case FormatAWSConfig:
		return "aws-config"
	case FormatVigil:
		return "vigil"
	case FormatTerraformPlan:
		return "terraform-plan"
	case FormatInspector:
		return "aws-inspector"
	case FormatOccurrences:
		return "gcp-occurrences"
	}
	return "unknown"
}

// layout is how records are laid out in a file.
type layout int

const (
	layoutLines     layout = iota // one JSON value per line (NDJSON)
	layoutArray                   // a JSON array of records
	layoutStream                  // one or more JSON values, possibly pretty-printed
	layoutConfigDoc               // {"configurationItems": [...]}: snapshot or history
	layoutDocument                // one document read whole (Terraform plan)
)

// detected is the result of sniffing a file.
type detected struct {
	format Format
	layout layout
	// snapshot is true for an AWS Config snapshot (one item per resource);
	// history documents may hold several items per resource.
	snapshot bool
}

// Detect sniffs a file's format from its content, never from its name.
func Detect(path string) (Format, error) {
	d, err := detect(path)
	return d.format, err
}

func detect(path string) (detected, error) {
	if d, ok := detectLong(path); ok {
		return d, nil
	}
	return detectFile(path)
}

// longLine is the first line's length from which a document is classified
// by skipping over its values (detectLong) rather than parsing the line.
const longLine = 1 << 16

// detectLong classifies a document written on one long line (a plan of
// thousands of resources, `terraform show -json` writes no newline) by its
// top-level keys, skipping their values byte by byte instead of parsing
// the line twice (json.Valid, then a map of raw values): a Terraform plan
// or an AWS Config document, whose own reader checks the JSON and its
// limits. It reports false for anything else, an NDJSON record included,
// and for what it cannot read: detectFile then decides, with its errors.
func detectLong(path string) (detected, bool) {
	f, err := os.Open(path)
	if err != nil {
		return detected{}, false
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, longLine)
	head, _ := r.Peek(longLine)
	if len(head) < longLine || bytes.IndexByte(head, '\n') >= 0 {
		return detected{}, false
	}
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		r.Discard(3)
	}
	if c, ok := nextNonSpace(r); !ok || c != '{' {
		return detected{}, false
	}
	seen := map[string]bool{}
	for {
		if c, ok := nextNonSpace(r); !ok || c != '"' {
			return detected{}, false
		}
		key, ok := plainString(r)
		if !ok {
			return detected{}, false
		}
		if c, ok := nextNonSpace(r); !ok || c != ':' {
			return detected{}, false
		}
		if d, ok := decisive(key, seen); ok {
			return d, d.layout == layoutConfigDoc || d.layout == layoutDocument
		}
		if !skipValue(r) {
			return detected{}, false
		}
		if c, ok := nextNonSpace(r); !ok || c != ',' {
			return detected{}, false
		}
	}
}

func nextNonSpace(r *bufio.Reader) (byte, bool) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, false
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, true
	}
}

// plainString reads a string's rest after its opening quote; false for one
// with an escape (no key decisive names has one) or without its end.
func plainString(r *bufio.Reader) (string, bool) {
	var buf []byte
	for {
		b, err := r.ReadByte()
		switch {
		case err != nil || b == '\\' || len(buf) > 256:
			return "", false
		case b == '"':
			return string(buf), true
		}
		buf = append(buf, b)
	}
}

// skipString reads a string's rest after its opening quote.
func skipString(r *bufio.Reader) bool {
	for {
		b, err := r.ReadByte()
		switch {
		case err != nil:
			return false
		case b == '\\':
			if _, err := r.ReadByte(); err != nil {
				return false
			}
		case b == '"':
			return true
		}
	}
}

// skipValue reads one JSON value without checking more of it than where it
// ends: strings, and the nesting of objects and arrays.
func skipValue(r *bufio.Reader) bool {
	c, ok := nextNonSpace(r)
	if !ok {
		return false
	}
	switch c {
	case '"':
		return skipString(r)
	case '{', '[':
		depth := 1
		for depth > 0 {
			b, err := r.ReadByte()
			if err != nil {
				return false
			}
			switch b {
			case '"':
				if !skipString(r) {
					return false
				}
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		return true
	}
	for { // a number, true, false or null: up to the next delimiter
		b, err := r.ReadByte()
		if err != nil {
			return false
		}
		switch b {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return r.UnreadByte() == nil
		}
	}
}

// detectFile sniffs the format from the first line, or the first keys of a
// multi-line document.
func detectFile(path string) (detected, error) {
	f, err := os.Open(path)
	if err != nil {
		return detected{}, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	if head, _ := r.Peek(len(zipMagic)); string(head) == zipMagic {
		return detected{}, binaryPlanError(path)
	}
	if err := encodingError(path, r); err != nil {
		return detected{}, err
	}

	first, err := firstNonSpace(r)
	if err == io.EOF {
		return detected{}, &ParseError{File: path, Err: errors.New("file is empty: expected a Cloud Asset Inventory export, AWS Config items, a Terraform plan or vigil NDJSON")}
	}
	if err != nil {
		return detected{}, err
	}
	switch first {
	case '[':
		return detectArray(path, r)
	case '{':
		line, err := readLine(r)
		if err != nil && err != io.EOF {
			return detected{}, err
		}
		if le := limits.JSON(line); le != nil {
			return detected{}, &ParseError{File: path, Line: le.Line, Err: errors.New(le.Msg)}
		}
		if json.Valid(line) {
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(line, &keys); err != nil {
				return detected{}, &ParseError{File: path, Line: 1, Err: jsonError(err)}
			}
			d, ok := classify(keys)
			if !ok {
				return detected{}, notRecognized(path)
			}
			if d.layout == layoutConfigDoc || d.layout == layoutDocument {
				return d, nil
			}
			d.layout = layoutLines
			return d, nil
		}
		// A multi-line document: classify by its keys, reading no further
		// than the first key that decides.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return detected{}, err
		}
		return detectObject(path, f)
	default:
		return detected{}, &ParseError{File: path, Line: 1, Err: fmt.Errorf("not JSON (starts with %q): expected a Cloud Asset Inventory export, AWS Config items, a Terraform plan or vigil NDJSON", first)}
	}
}

func notRecognized(path string) error {
	return &ParseError{File: path, Err: errors.New("JSON not recognized: expected Cloud Asset Inventory assets (name, asset_type), AWS Config items (resourceType, configuration), a Terraform plan (format_version, resource_changes), Inspector findings (aws inspector2 list-findings: findings), Artifact Analysis occurrences (gcloud artifacts vulnerabilities list --format=json: name, kind, noteName, resourceUri) or vigil assets (id, provider, kind)")}
}

// classify decides a record or document format from its top-level keys.
func classify(keys map[string]json.RawMessage) (detected, bool) {
	has := func(k string) bool { _, ok := keys[k]; return ok }
	switch {
	case has("configurationItems"):
		return detected{format: FormatAWSConfig, layout: layoutConfigDoc, snapshot: has("configSnapshotId")}, true
	case has("format_version") && (has("resource_changes") || has("planned_values") || has("terraform_version")):
		return detected{format: FormatTerraformPlan, layout: layoutDocument}, true
	case has("asset_type") || has("assetType"):
		return detected{format: FormatCAI, layout: layoutStream}, true
	case has("resourceType") && (has("configuration") || has("arn") || has("ARN") || has("resourceId")):
		return detected{format: FormatAWSConfig, layout: layoutStream}, true
	case has("id") && has("provider") && has("kind"), has("vigil_gap"):
		return detected{format: FormatVigil, layout: layoutStream}, true
	case has("findings") && has("occurrences"):
		return detected{}, false // Inspector's or Artifact Analysis's: not to be guessed
	case has("findings") || isInspectorFinding(keys):
		// An Inspector ListFindings page, or one of its findings: the
		// whole file is read and grouped by instance (inspector.go).
		return detected{format: FormatInspector, layout: layoutDocument}, true
	case has("occurrences") || isOccurrence(keys):
		// A ListOccurrences page or one occurrence: grouped by image over
		// all such files (occurrences.go).
		return detected{format: FormatOccurrences, layout: layoutDocument}, true
	}
	return detected{}, false
}

// decisive is the key-by-key version of classify for streaming detection.
func decisive(key string, seen map[string]bool) (detected, bool) {
	seen[key] = true
	switch key {
	case "configurationItems":
		return detected{format: FormatAWSConfig, layout: layoutConfigDoc, snapshot: seen["configSnapshotId"]}, true
	case "resource_changes", "planned_values", "terraform_version", "format_version":
		if seen["format_version"] && (seen["resource_changes"] || seen["planned_values"] || seen["terraform_version"]) {
			return detected{format: FormatTerraformPlan, layout: layoutDocument}, true
		}
	case "asset_type", "assetType":
		return detected{format: FormatCAI, layout: layoutStream}, true
	case "resourceType":
		return detected{format: FormatAWSConfig, layout: layoutStream}, true
	}
	if seen["id"] && seen["provider"] && seen["kind"] || key == "vigil_gap" {
		return detected{format: FormatVigil, layout: layoutStream}, true
	}
	if key == "findings" || seen["findingArn"] && seen["resources"] {
		return detected{format: FormatInspector, layout: layoutDocument}, true
	}
	if key == "occurrences" || seen["name"] && seen["kind"] && seen["noteName"] && seen["resourceUri"] {
		return detected{format: FormatOccurrences, layout: layoutDocument}, true
	}
	return detected{}, false
}

func detectObject(path string, f *os.File) (detected, error) {
	br := bufio.NewReaderSize(f, 1<<16)
	if bom, _ := br.Peek(3); string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	dec := json.NewDecoder(limits.JSONReader(br))
	if _, err := dec.Token(); err != nil { // {
		return detected{}, parseErrAt(path, err)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return detected{}, parseErrAt(path, err)
		}
		key, _ := t.(string)
		if d, ok := decisive(key, seen); ok {
			return d, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return detected{}, parseErrAt(path, err)
		}
	}
	return detected{}, notRecognized(path)
}

func detectArray(path string, r *bufio.Reader) (detected, error) {
	dec := json.NewDecoder(limits.JSONReader(r))
	if _, err := dec.Token(); err != nil { // [
		return detected{}, parseErrAt(path, err)
	}
	if !dec.More() {
		// An empty array is a valid, empty inventory.
		return detected{format: FormatCAI, layout: layoutArray}, nil
	}
	var keys map[string]json.RawMessage
	if err := dec.Decode(&keys); err != nil {
		var le *limits.Error
		if errors.As(err, &le) {
			return detected{}, parseErrAt(path, err)
		}
		return detected{}, &ParseError{File: path, Err: jsonError(err)}
	}
	d, ok := classify(keys)
	if ok && d.format == FormatInspector && isInspectorFinding(keys) {
		return d, nil // an array of Inspector findings (--query findings)
	}
	if ok && d.format == FormatOccurrences && isOccurrence(keys) {
		return d, nil // gcloud artifacts vulnerabilities list --format=json
	}
	if !ok || d.layout != layoutStream {
		return detected{}, notRecognized(path)
	}
	d.layout = layoutArray
	return d, nil
}

func parseErrAt(path string, err error) error {
	var le *limits.Error
	if errors.As(err, &le) {
		return &ParseError{File: path, Line: le.Line, Err: errors.New(le.Msg)}
	}
	pe := &ParseError{File: path, Err: jsonError(err)}
	if off, ok := syntaxOffset(err); ok {
		pe.Line = LineAt(path, off)
	}
	return pe
}

func firstNonSpace(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // UTF-8 byte order mark
			if bom, _ := r.Peek(2); bytes.Equal(bom, []byte{0xBB, 0xBF}) {
				r.Discard(2)
				continue
			}
		}
		return b, r.UnreadByte()
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSpace(line), err
	}
}
