package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vigil-ir/vigil/engine/policy"
)

func stdCompact(t *testing.T, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// FuzzAppendFinding: the hand-written encoder writes what encoding/json
// writes, whatever the strings hold.
func FuzzAppendFinding(f *testing.F) {
	f.Add("VGL-NET-001", "//compute/x", "msg \"quoted\" <b>&</b>\n\t\x01", "", true, 12, `{"a":[1,"b"]}`)
	f.Add("p", "\xff\xfe bad utf8 \u2028 \u2029", "é 日本", "reason", false, 0, ``)
	f.Fuzz(func(t *testing.T, pid, aid, msg, reason string, waived bool, line int, details string) {
		fd := policy.Finding{
			PolicyID: pid, AssetID: aid, Severity: "high", Title: msg, Message: msg, Kind: "k", Provider: "gcp",
			Scope: aid, Region: "", Waived: waived, WaiverReason: reason, WaiverExpires: reason, WaiverExpired: !waived && reason != "",
			Level: "deny", AssetName: aid, AssetType: pid, Phase: reason, Remediation: reason, Source: msg, File: aid, Line: line, Change: reason,
		}
		var d any
		if json.Unmarshal([]byte(details), &d) == nil {
			if m, ok := d.(map[string]any); ok && len(m) > 0 {
				fd.Details = stdCompact(t, m) // as the engine makes them
			}
		}
		want := stdCompact(t, fd)
		got := appendFinding(nil, &fd)
		if !bytes.Equal(want, got) {
			t.Fatalf("appendFinding differs from encoding/json:\nwant %s\ngot  %s", want, got)
		}
	})
}
