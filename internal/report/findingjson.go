package report

import (
	"strconv"
	"unicode/utf8"

	"github.com/vigil-ir/vigil/engine/policy"
)

// appendFinding appends the finding as compact JSON, exactly as
// encoding/json (without HTML escaping) encodes the struct, field by field
// by hand: reports of large scans print hundreds of thousands of findings,
// and reflection made printing slower than judging them.
// FuzzAppendFinding holds it to encoding/json.
func appendFinding(b []byte, f *policy.Finding) []byte {
	str := func(key, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = appendString(b, v)
	}
	b = append(b, `{"policy_id":`...)
	b = appendString(b, f.PolicyID)
	str("asset_id", f.AssetID, false)
	str("severity", f.Severity, false)
	str("title", f.Title, false)
	str("message", f.Message, false)
	str("kind", f.Kind, false)
	str("provider", f.Provider, false)
	str("scope", f.Scope, false)
	str("region", f.Region, false)
	b = append(b, `,"waived":`...)
	b = strconv.AppendBool(b, f.Waived)
	str("waiver_reason", f.WaiverReason, true)
	str("waiver_expires", f.WaiverExpires, true)
	if f.WaiverExpired {
		b = append(b, `,"waiver_expired":true`...)
	}
	str("level", f.Level, false)
	str("asset_name", f.AssetName, true)
	str("asset_type", f.AssetType, true)
	str("phase", f.Phase, true)
	str("remediation", f.Remediation, true)
	str("source", f.Source, true)
	str("file", f.File, true)
	if f.Line != 0 {
		b = append(b, `,"line":`...)
		b = strconv.AppendInt(b, int64(f.Line), 10)
	}
	str("change", f.Change, true)
	if len(f.Details) > 0 {
		b = append(b, `,"details":`...)
		b = append(b, f.Details...) // compact JSON, made by encoding/json
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping off: short escapes for \b \f \n \r \t, \u00XX for other
// control bytes, U+FFFD for invalid UTF-8, and \u2028 \u2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
