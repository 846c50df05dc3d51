package policy

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Finding is one policy result for one asset: plain data that every report
// format renders, every store records and runbooks iterate over.
type Finding struct {
	PolicyID string `json:"policy_id"`
	AssetID  string `json:"asset_id"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	Message  string `json:"message"`
	Kind     string `json:"kind"`
	Provider string `json:"provider"`
	Scope    string `json:"scope"`
	Region   string `json:"region"`

	Waived        bool   `json:"waived"`
	WaiverReason  string `json:"waiver_reason,omitempty"`
	WaiverExpires string `json:"waiver_expires,omitempty"`
	// WaiverExpired marks a finding whose waiver has expired: it counts
	// again, and the report says why.
	WaiverExpired bool `json:"waiver_expired,omitempty"`

	// Level is deny or warn.
	Level       string `json:"level"`
	AssetName   string `json:"asset_name,omitempty"`
	AssetType   string `json:"asset_type,omitempty"`
	Phase       string `json:"phase,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	Source      string `json:"source,omitempty"`
	File        string `json:"file,omitempty"`
	Line        int    `json:"line,omitempty"`
	Change      string `json:"change,omitempty"`
	// Details are the policy's structured result, as JSON: compact, and
	// sharing no memory with the decoded inventory (see NewFinding).
	Details json.RawMessage `json:"details,omitempty"`

	offset int64
}

// NewFinding builds a finding from a policy result and the asset it judged.
// A warn result is reported with severity info.
//
// Findings outlive their assets: the asset's strings are copied (the few
// distinct scopes, regions and types are shared), so that a finding does
// not keep the decoder's buffers of the whole record alive.
func NewFinding(p *Policy, level, msg string, details json.RawMessage, a *asset.Asset) Finding {
	sev := p.Severity
	if level == "warn" {
		sev = "info"
	}
	f := Finding{
		PolicyID: p.ID, AssetID: strings.Clone(a.ID), Severity: sev, Title: p.Title, Message: msg,
		Kind: intern(a.Kind), Provider: intern(a.Provider), Scope: intern(a.Scope), Region: intern(a.Region),
		Level: level, AssetName: strings.Clone(a.Name), AssetType: intern(a.Type), Phase: p.Phase, Remediation: p.RemediationFor(a.Provider),
		Source: intern(a.Source), File: intern(a.Origin.File), Line: a.Origin.Line, Details: details, offset: a.Origin.Offset,
	}
	if a.Change != nil {
		f.Change = a.Change.Action
	}
	return f
}

// DetailsMap returns the details decoded, or an empty map.
func (f *Finding) DetailsMap() map[string]any {
	m := map[string]any{}
	if len(f.Details) > 0 {
		_ = json.Unmarshal(f.Details, &m)
	}
	return m
}

// interned holds the few distinct values of the low-cardinality fields of
// findings (kinds, scopes, regions, types, files), each stored once.
var interned sync.Map

// maxInterned bounds the table for a long-running process; past it,
// strings are copied instead.
const maxInterned = 1 << 16

var internedCount atomic.Int64

func intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := interned.Load(s); ok {
		return v.(string)
	}
	c := strings.Clone(s)
	if internedCount.Load() >= maxInterned {
		return c
	}
	if v, loaded := interned.LoadOrStore(c, c); loaded {
		return v.(string)
	}
	internedCount.Add(1)
	return c
}

// SetOffset sets the byte offset of the asset's record (see Offset).
func (f *Finding) SetOffset(off int64) { f.offset = off }

// Offset is the byte offset of the asset's record when its line is not
// known yet (JSON documents); see inventory.LinesAt.
func (f *Finding) Offset() int64 { return f.offset }

// Key identifies a finding across scans: the same policy on the same asset
// is the same finding, whatever the message says this time.
func (f *Finding) Key() string { return f.PolicyID + "\x00" + f.AssetID }

// Fingerprint is a stable hash of the finding's identity, for SARIF, ASFF
// and OCSF ids (Security Hub and code scanning keep one finding, its
// workflow state and dismissals, per id): its policy, its asset and its
// message, so that two things one policy finds wrong with one asset (SSH
// and RDP open on one group) are two findings. A policy whose message
// moves with the clock ("created 120 days ago") gives a
// details.finding_key instead, and that replaces the message: the same
// key a day later is the same finding.
func (f *Finding) Fingerprint() string {
	h := sha256.Sum256([]byte(f.identity()))
	return hex.EncodeToString(h[:16])
}

// FingerprintIn is Fingerprint for a finding of one of several inputs
// that may hold the same asset id (two Terraform plans): the input's name
// is part of it.
func (f *Finding) FingerprintIn(input string) string {
	h := sha256.Sum256([]byte(f.identity() + "\x00" + input))
	return hex.EncodeToString(h[:16])
}

// FindingKey is the policy's details.finding_key, and whether it gave one
// (a string; another type is no key).
func (f *Finding) FindingKey() (string, bool) {
	if len(f.Details) == 0 || !bytes.Contains(f.Details, []byte(`"finding_key"`)) {
		return "", false
	}
	var d struct {
		Key *string `json:"finding_key"`
	}
	if json.Unmarshal(f.Details, &d) != nil || d.Key == nil {
		return "", false
	}
	return *d.Key, true
}

func (f *Finding) identity() string {
	if k, ok := f.FindingKey(); ok {
		return f.Key() + "\x00key\x00" + k
	}
	return f.Key() + "\x00" + f.Message
}

// Counts reports whether a finding counts toward the exit code: it is not
// waived and is at or above the threshold severity.
func (f *Finding) Counts(failOn string) bool {
	if f.Waived || failOn == "none" {
		return false
	}
	return SeverityRank(f.Severity) >= SeverityRank(failOn)
}

// Sort orders findings by severity (most severe first), policy, asset and
// message, so that output is deterministic; findings of Terraform plans
// then by plan file.
func Sort(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(SeverityRank(b.Severity), SeverityRank(a.Severity)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.PolicyID, b.PolicyID); c != 0 {
			return c
		}
		if c := cmp.Compare(a.AssetID, b.AssetID); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Message, b.Message); c != 0 {
			return c
		}
		return cmp.Compare(a.PlanFile(), b.PlanFile())
	})
}

// Dedupe drops repeated findings (the same asset read from two files) from
// a sorted slice. Two plans are two change sets, not two views of one
// inventory: the same address in each is two resources, and both findings
// are kept.
func Dedupe(fs []Finding) []Finding {
	return slices.CompactFunc(fs, func(a, b Finding) bool {
		return a.PolicyID == b.PolicyID && a.AssetID == b.AssetID && a.Message == b.Message && a.PlanFile() == b.PlanFile()
	})
}

// PlanFile is the plan a finding on a Terraform plan came from, "" for
// other sources.
func (f *Finding) PlanFile() string {
	if f.Source == asset.SourceTerraformPlan {
		return f.File
	}
	return ""
}
