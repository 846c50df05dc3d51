package policy

import (
	"encoding/json"
	"unicode/utf8"
)

// JSONSize is len(json.Marshal(v)) without building the text: at a million
// assets the index's JSON is tens of megabytes, and the buffer json.Marshal
// grows to hold it was a fifth of the scan's peak heap, only to be
// measured. Maps, slices and strings are walked; any other value is
// marshalled alone (numbers, booleans, small structs).
func JSONSize(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 4, nil
	case bool:
		if x {
			return 4, nil
		}
		return 5, nil
	case string:
		return jsonStringSize(x), nil
	case map[string]any:
		if x == nil {
			return 4, nil // null, as json.Marshal writes it
		}
		n := int64(2)
		first := true
		for k, e := range x {
			if !first {
				n++
			}
			first = false
			m, err := JSONSize(e)
			if err != nil {
				return 0, err
			}
			n += jsonStringSize(k) + 1 + m
		}
		return n, nil
	case []any:
		if x == nil {
			return 4, nil
		}
		return jsonSliceSize(x)
	case []map[string]any:
		if x == nil {
			return 4, nil
		}
		return jsonSliceSize(x)
	case []string:
		if x == nil {
			return 4, nil
		}
		return jsonSliceSize(x)
	}
	b, err := json.Marshal(v)
	return int64(len(b)), err
}

func jsonSliceSize[E any](x []E) (int64, error) {
	n := int64(2)
	for i, e := range x {
		if i > 0 {
			n++
		}
		m, err := JSONSize(e)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// jsonStringSize is the length of s as encoding/json writes it: quoted,
// with \" \\ \n \r \t \b \f, \u00XX for the other control characters and for
// < > & (HTML-safe), \u2028 and \u2029, and \ufffd for each invalid byte.
func jsonStringSize(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += int64(size)
		}
		i += size
	}
	return n
}
