package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Artifact Analysis exports: what `gcloud artifacts vulnerabilities list
// IMAGE --format=json` prints (a JSON array of Occurrence objects), the
// API's ListOccurrences pages ({"occurrences": [...], "nextPageToken":
// ...}), or occurrences one per line. Their vulnerability occurrences are
// grouped by project and image into the record vigil's live collector
// makes (containeranalysis.googleapis.com/ImageVulnerabilities, one per
// image), so an exported image meets the same vulnerability_report, with
// the same id, as a collected one.

// isOccurrence says whether an object's keys are a Container Analysis
// Occurrence's (name, kind, noteName, resourceUri).
func isOccurrence(keys map[string]json.RawMessage) bool {
	for _, k := range []string{"name", "kind", "noteName", "resourceUri"} {
		if _, ok := keys[k]; !ok {
			return false
		}
	}
	return true
}

// occurrenceImport gathers the vulnerability occurrences of every such
// file of a scan, by project and image (occurrences named by their name).
type occurrenceImport struct {
	grouped[occurrenceGroup]
}

type occurrenceGroup struct {
	project, uri string
	file         string
	off          int64
}

func newOccurrenceImport() *occurrenceImport {
	return &occurrenceImport{newGrouped[occurrenceGroup]()}
}

func (im *occurrenceImport) read(ctx context.Context, s *FileSet, in *inputFile) error {
	return readExport(ctx, in, func(v json.RawMessage, off int64) error { return im.value(s, in, v, off) })
}

const occurrenceShapes = "expected Artifact Analysis occurrences: an array of them (gcloud artifacts vulnerabilities list --format=json), a ListOccurrences page {\"occurrences\": [...]}, or an occurrence"

// value takes one top-level value: a page, an occurrence, or an array.
func (im *occurrenceImport) value(s *FileSet, in *inputFile, v json.RawMessage, off int64) error {
	bad := func(at int64, msg string) error {
		return &ParseError{File: in.path, Line: LineAt(in.path, at), Err: errors.New(msg)}
	}
	switch firstByte(v) {
	case '[':
		return im.list(s, in, v, off)
	case '{':
	default:
		return bad(off, occurrenceShapes)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(v, &keys); err != nil {
		return bad(off, jsonError(err).Error())
	}
	page, isPage := keys["occurrences"]
	_, findings := keys["findings"]
	switch {
	case isPage && (isOccurrence(keys) || findings):
		// which of them it is, vigil cannot tell: nothing is dropped
		return bad(off, "an object with occurrences and also an occurrence's name, kind, noteName and resourceUri (or Inspector's findings): "+occurrenceShapes)
	case isPage:
		if err := im.unreachable(s, in, keys["unreachable"], off); err != nil {
			return err
		}
		if string(page) == "null" {
			return nil
		}
		// the elements' lines: the array's place in the page
		at := off + int64(bytes.Index(v, page))
		if firstByte(page) != '[' {
			return bad(off, "occurrences: expected an array of occurrences")
		}
		return im.list(s, in, page, at)
	case isOccurrence(keys):
		return im.occurrence(s, in, v, off)
	}
	return bad(off, occurrenceShapes+"; this object has neither occurrences nor name, kind, noteName and resourceUri")
}

// list takes an array of occurrences at offset off of the file, each
// with its own offset (errors name its line).
func (im *occurrenceImport) list(s *FileSet, in *inputFile, v json.RawMessage, off int64) error {
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil { // [
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: jsonError(err)}
	}
	for dec.More() {
		var e json.RawMessage
		if err := dec.Decode(&e); err != nil {
			return &ParseError{File: in.path, Line: LineAt(in.path, off+dec.InputOffset()), Err: jsonError(err)}
		}
		at := off + dec.InputOffset() - int64(len(e))
		if firstByte(e) != '{' {
			return &ParseError{File: in.path, Line: LineAt(in.path, at), Err: errors.New(occurrenceShapes + "; an array holds occurrences, objects")}
		}
		if err := im.occurrence(s, in, e, at); err != nil {
			return err
		}
	}
	return nil
}

// unreachable notes the regions a ListOccurrences page says Artifact
// Analysis could not reach (a partial success): their occurrences are not
// in the export, which is a gap of it.
func (im *occurrenceImport) unreachable(s *FileSet, in *inputFile, raw json.RawMessage, off int64) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var regions []string
	if err := json.Unmarshal(raw, &regions); err != nil {
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: fmt.Errorf("unreachable: %w", jsonError(err))}
	}
	if len(regions) == 0 {
		return nil
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	name := s.name(in.path)
	list := strings.Join(regions, ", ")
	s.addGap(Gap{Part: "gcp export " + name + ": Artifact Analysis unreachable " + list,
		Message: fmt.Sprintf("%s: the occurrences of %s are missing: the export's page says Artifact Analysis could not reach them", name, list)})
	return nil
}

func (im *occurrenceImport) occurrence(s *FileSet, in *inputFile, raw json.RawMessage, off int64) error {
	// The fields the loader reads are decoded here, so that a value of
	// the wrong type is named at its occurrence's line.
	var o struct {
		Name          string                   `json:"name"`
		Kind          string                   `json:"kind"`
		ResourceURI   string                   `json:"resourceUri"`
		NoteName      string                   `json:"noteName"`
		Vulnerability *occurrenceVulnerability `json:"vulnerability"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: fmt.Errorf("Artifact Analysis occurrence: %w", jsonError(err))}
	}
	// projects/PROJECT/occurrences/ID
	parts := strings.Split(o.Name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "occurrences" || parts[3] == "" {
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: fmt.Errorf("Artifact Analysis occurrence named %q: expected projects/PROJECT/occurrences/ID", o.Name)}
	}
	if o.Kind != "VULNERABILITY" {
		s.skip("Artifact Analysis occurrences other than vulnerabilities (discovery, build, attestation...)")
		return nil
	}
	if o.ResourceURI == "" {
		s.skip("Artifact Analysis occurrences without a resourceUri")
		return nil
	}
	key := parts[1] + "\x00" + o.ResourceURI
	im.group(key, func() *occurrenceGroup {
		return &occurrenceGroup{project: parts[1], uri: o.ResourceURI, file: s.name(in.path), off: off}
	})
	if im.add(o.Name, key, raw) {
		// The same occurrence in two pages or exports: the later copy.
		s.skip("Artifact Analysis occurrences listed twice (the later copy kept)")
	}
	return nil
}

// ImageVulnerabilitiesRecord is the Cloud Asset record vigil keeps for the
// vulnerability occurrences of one image of a project (Cloud Asset has no
// such type): the live collector and the import of exports both make it.
// number is the project's number, or its id when only that is known.
func ImageVulnerabilitiesRecord(project, number, uri string, occurrences any) ([]byte, error) {
	return CAIRecord("//containeranalysis.googleapis.com/projects/"+project+"/imageVulnerabilities/"+url.PathEscape(uri),
		"containeranalysis.googleapis.com/ImageVulnerabilities", number, "global", map[string]any{"resourceUri": uri, "occurrences": occurrences})
}

// CAIRecord is a record in the shape of a Cloud Asset export line: data
// (an API's resource) under its full name (//SERVICE/NAME) and asset type,
// in the project of the number given, for the resources vigil reads
// beside Cloud Asset (scanner findings).
func CAIRecord(name, assetType, number, location string, data any) ([]byte, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"name": name, "asset_type": assetType,
		"ancestors": []string{"projects/" + number},
		"resource": map[string]any{"version": "v1", "discovery_name": assetType[strings.LastIndexByte(assetType, '/')+1:],
			"parent": "//cloudresourcemanager.googleapis.com/projects/" + number, "location": location, "data": json.RawMessage(raw)}})
}

// assets builds one vulnerability_report per image, in the order the
// images were first met.
func (im *occurrenceImport) assets(x *caiIndex) ([]*asset.Asset, error) {
	var out []*asset.Asset
	err := im.each(func(g *occurrenceGroup, list []json.RawMessage) error {
		rec, err := ImageVulnerabilitiesRecord(g.project, g.project, g.uri, list)
		if err != nil {
			return err
		}
		a, _, err := x.decodeCAI(rec, asset.SourceCAIExport)
		if err != nil {
			return &ParseError{File: g.file, Err: fmt.Errorf("the occurrences of %s: %w", g.uri, err)}
		}
		a.Origin = asset.Origin{File: g.file, Offset: g.off}
		out = append(out, a)
		return nil
	})
	return out, err
}
