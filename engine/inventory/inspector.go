package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/limits"
)

// Inspector (v2) exports: what `aws inspector2 list-findings` prints, a
// document {"findings": [...], "nextToken": "..."} per page. A file may hold
// one page or several concatenated (one after another, or one per line), a
// bare array of findings (`--query findings`), or findings one per line;
// pages may be split over several files. The findings of all of them are
// grouped by instance into the records vigil's live collector makes
// (AWS::Inspector2::Findings, one per instance), so an imported instance
// meets the same vulnerability_report as a collected one.

// inspectorFinding is what grouping needs of a finding; the finding itself
// is kept whole.
type inspectorFinding struct {
	FindingArn   string `json:"findingArn"`
	AwsAccountID string `json:"awsAccountId"`
	Type         string `json:"type"`
	Status       string `json:"status"`
	Resources    []struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Region string `json:"region"`
	} `json:"resources"`
}

// isInspectorFinding says whether top-level keys are an Inspector finding's.
func isInspectorFinding(keys map[string]json.RawMessage) bool {
	_, arn := keys["findingArn"]
	_, res := keys["resources"]
	return arn && res
}

// inspectorImport gathers the findings of every Inspector file of a scan,
// by instance (findings named by their findingArn).
type inspectorImport struct {
	grouped[inspectorGroup]
}

type inspectorGroup struct {
	acct, region, id string
	file             string
	off              int64
}

func newInspectorImport() *inspectorImport {
	return &inspectorImport{newGrouped[inspectorGroup]()}
}

// read adds the findings of one file.
func (im *inspectorImport) read(ctx context.Context, s *FileSet, in *inputFile) error {
	return readExport(ctx, in, func(v json.RawMessage, off int64) error { return im.value(s, in, v, off) })
}

// readExport calls fn with each top-level JSON value of an export file
// (one, several one after another, or one per line) and its offset: the
// exports whose records are grouped over all their files (Inspector
// findings, Artifact Analysis occurrences) are read whole this way.
func readExport(ctx context.Context, in *inputFile, fn func(v json.RawMessage, off int64) error) error {
	f, err := os.Open(in.path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(limits.JSONReader(f))
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return nil
		} else if err != nil {
			return parseErrAt(in.path, err)
		}
		// The value's own bytes end where the decoder stopped.
		if err := fn(v, dec.InputOffset()-int64(len(v))); err != nil {
			return err
		}
	}
}

// value takes one top-level value: a page, a finding, or an array of them.
func (im *inspectorImport) value(s *FileSet, in *inputFile, v json.RawMessage, off int64) error {
	bad := func(msg string) error {
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: errors.New(msg)}
	}
	switch firstByte(v) {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return bad(jsonError(err).Error())
		}
		for _, e := range list {
			if err := im.value(s, in, e, off); err != nil {
				return err
			}
		}
		return nil
	case '{':
	default:
		return bad("expected Inspector findings: a ListFindings page {\"findings\": [...]}, a finding, or an array of findings")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(v, &keys); err != nil {
		return bad(jsonError(err).Error())
	}
	if _, occ := keys["occurrences"]; occ {
		return bad("an object with findings and also Artifact Analysis occurrences: vigil cannot tell which it is")
	}
	if page, ok := keys["findings"]; ok {
		if string(page) == "null" {
			return nil
		}
		var list []json.RawMessage
		if err := json.Unmarshal(page, &list); err != nil {
			return bad("findings: " + jsonError(err).Error())
		}
		for _, e := range list {
			if err := im.finding(s, in, e, off); err != nil {
				return err
			}
		}
		return nil
	}
	if isInspectorFinding(keys) {
		return im.finding(s, in, v, off)
	}
	return bad("expected Inspector findings: an object with neither findings (a ListFindings page) nor findingArn and resources (a finding)")
}

func firstByte(v []byte) byte {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func (im *inspectorImport) finding(s *FileSet, in *inputFile, raw json.RawMessage, off int64) error {
	var f inspectorFinding
	if err := json.Unmarshal(raw, &f); err != nil {
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: fmt.Errorf("Inspector finding: %w", jsonError(err))}
	}
	if f.FindingArn == "" {
		return &ParseError{File: in.path, Line: LineAt(in.path, off), Err: errors.New("Inspector finding without findingArn: not a ListFindings finding")}
	}
	// The live collector asks for active package vulnerabilities of EC2
	// instances; an export may hold the rest too.
	if f.Status != "" && !strings.EqualFold(f.Status, "ACTIVE") {
		s.skip("Inspector findings that are not active (suppressed, closed)")
		return nil
	}
	if f.Type != "" && f.Type != "PACKAGE_VULNERABILITY" {
		s.skip("Inspector findings other than package vulnerabilities (network reachability, code)")
		return nil
	}
	// arn:aws:inspector2:REGION:ACCOUNT:finding/ID
	parts := strings.SplitN(f.FindingArn, ":", 6)
	arnRegion, arnAcct := "", ""
	if len(parts) == 6 {
		arnRegion, arnAcct = parts[3], parts[4]
	}
	acct := firstNonEmpty(f.AwsAccountID, arnAcct)
	key := ""
	var g *inspectorGroup
	for _, r := range f.Resources {
		if r.Type != "AWS_EC2_INSTANCE" || r.ID == "" {
			continue
		}
		region := firstNonEmpty(r.Region, arnRegion)
		key = acct + "\x00" + region + "\x00" + r.ID
		g = im.group(key, func() *inspectorGroup {
			return &inspectorGroup{acct: acct, region: region, id: r.ID, file: s.name(in.path), off: off}
		})
		break
	}
	if g == nil {
		s.skip("Inspector findings on resources other than EC2 instances (container images, Lambda functions)")
		return nil
	}
	if im.add(f.FindingArn, key, raw) {
		// The same finding on two pages or in two exports: the later
		// copy (the later file, or further down) is kept.
		s.skip("Inspector findings listed twice (the later copy kept)")
	}
	return nil
}

// InspectorItem is the configuration item vigil keeps for one EC2
// instance's Inspector v2 findings (AWS Config records none): the live
// collector and the import of list-findings output both make it, so that
// the two give the same asset. instance is the finding's resource id (an
// instance id or its ARN).
func InspectorItem(acct, region, instance string, findings []json.RawMessage) *ConfigItem {
	iid := instance
	if i := strings.LastIndexByte(iid, '/'); i >= 0 {
		iid = iid[i+1:]
	}
	cfg, _ := json.Marshal(map[string]any{"resourceId": instance, "resourceType": "AWS_EC2_INSTANCE", "findings": findings})
	return &ConfigItem{ARN: fmt.Sprintf("arn:aws:inspector2:%s:%s:findings/%s", region, acct, iid), AccountID: acct,
		ResourceType: "AWS::Inspector2::Findings", ResourceID: iid, ResourceName: iid, AWSRegion: region, Configuration: cfg}
}

// assets builds one vulnerability_report per instance, in the order the
// instances were first met.
func (im *inspectorImport) assets() ([]*asset.Asset, error) {
	var out []*asset.Asset
	err := im.each(func(g *inspectorGroup, list []json.RawMessage) error {
		item, err := json.Marshal(InspectorItem(g.acct, g.region, g.id, list))
		if err != nil {
			return err
		}
		a, _, err := decodeConfigItem(item, asset.SourceInspector)
		if err != nil {
			return &ParseError{File: g.file, Err: err}
		}
		a.Origin = asset.Origin{File: g.file, Offset: g.off}
		out = append(out, a)
		return nil
	})
	return out, err
}
