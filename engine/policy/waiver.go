package policy

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/limits"
)

// Waiver accepts a finding for a while, with a reason.
type Waiver struct {
	Policy  string
	Asset   string
	Reason  string
	Expires time.Time // the first instant the waiver no longer applies
	// ExpiresOn is the expiry as written.
	ExpiresOn string
	Range     hcl.Range

	policy, asset asset.Glob
}

// Waivers is a waiver file.
type Waivers struct {
	List []*Waiver
}

type waiverBody struct {
	Policy  string `hcl:"policy"`
	Asset   string `hcl:"asset"`
	Reason  string `hcl:"reason"`
	Expires string `hcl:"expires"`
}

var waiverSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "waiver"}}}

// LoadWaivers reads a waiver file.
func LoadWaivers(path string) (*Waivers, *hcl.File, hcl.Diagnostics) {
	src, diags := limits.ReadHCLFile(path, "waiver file")
	if diags.HasErrors() {
		return nil, nil, diags
	}
	return ParseWaivers(src, path)
}

// ParseWaivers parses waiver blocks:
//
//	waiver {
//	  policy  = "VGL-NET-001"
//	  asset   = "//compute.googleapis.com/projects/p/global/firewalls/*"
//	  reason  = "bastion, tracked in SEC-123"
//	  expires = "2027-01-31"
//	}
//
// policy and asset may be globs. reason and expires are required; a date
// waives through the end of that day (UTC).
func ParseWaivers(src []byte, filename string) (*Waivers, *hcl.File, hcl.Diagnostics) {
	file, diags := limits.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, file, diags
	}
	content, d := file.Body.Content(waiverSchema)
	diags = append(diags, d...)
	ws := &Waivers{}
	for _, blk := range content.Blocks {
		var b waiverBody
		d := gohcl.DecodeBody(blk.Body, nil, &b)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		bad := func(summary, detail string) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: blk.DefRange.Ptr()})
		}
		w := &Waiver{Policy: b.Policy, Asset: b.Asset, Reason: strings.TrimSpace(b.Reason), ExpiresOn: b.Expires, Range: blk.DefRange}
		if w.Reason == "" {
			bad("Waiver without a reason", "Every waiver needs a reason (who accepted the risk, and why), so the next responder knows.")
		}
		if b.Policy == "" || b.Asset == "" {
			bad("Incomplete waiver", "policy and asset must name a policy id and an asset id (globs allowed).")
		}
		exp, err := parseExpiry(b.Expires)
		if err != nil {
			bad("Invalid expiry", err.Error())
		}
		w.Expires = exp
		var gerr error
		if w.policy, gerr = asset.CompileGlob(b.Policy); gerr != nil {
			bad("Invalid policy pattern", gerr.Error())
		}
		if w.asset, gerr = asset.CompileGlob(b.Asset); gerr != nil {
			bad("Invalid asset pattern", gerr.Error())
		}
		ws.List = append(ws.List, w)
	}
	return ws, file, diags
}

func parseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("expires is empty; a waiver must end (e.g. expires = \"2027-01-31\")")
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("expires = %q is not a date (YYYY-MM-DD) or an RFC 3339 time", s)
}

// Apply marks findings that a waiver covers. A finding covered only by
// expired waivers still counts, and says that its waiver expired.
func (ws *Waivers) Apply(fs []Finding, now time.Time) {
	for i := range fs {
		ws.ApplyOne(&fs[i], now)
	}
}

// ApplyOne marks one finding (see Apply). A nil Waivers waives nothing.
func (ws *Waivers) ApplyOne(f *Finding, now time.Time) {
	if ws == nil {
		return
	}
	f.Waived, f.WaiverExpired, f.WaiverReason, f.WaiverExpires = false, false, "", ""
	var expired *Waiver
	for _, w := range ws.List {
		if !w.policy.Match(f.PolicyID) || !w.asset.Match(f.AssetID) {
			continue
		}
		if now.Before(w.Expires) {
			f.Waived, f.WaiverReason, f.WaiverExpires, f.WaiverExpired = true, w.Reason, w.ExpiresOn, false
			expired = nil
			break
		}
		expired = w
	}
	if expired != nil {
		f.WaiverExpired, f.WaiverReason, f.WaiverExpires = true, expired.Reason, expired.ExpiresOn
	}
}

// Unused returns the waivers that matched no finding; they are usually left
// over from a fix and can be deleted.
func (ws *Waivers) Unused(fs []Finding) []*Waiver {
	return ws.UnusedIn(slices.Values(fs))
}

// UnusedIn is Unused over a sequence of findings, read once.
func (ws *Waivers) UnusedIn(fs iter.Seq[Finding]) []*Waiver {
	if ws == nil {
		return nil
	}
	used := make([]bool, len(ws.List))
	left := len(ws.List)
	for f := range fs {
		for i, w := range ws.List {
			if !used[i] && w.policy.Match(f.PolicyID) && w.asset.Match(f.AssetID) {
				used[i] = true
				left--
			}
		}
		if left == 0 {
			break
		}
	}
	var out []*Waiver
	for i, w := range ws.List {
		if !used[i] {
			out = append(out, w)
		}
	}
	return out
}
