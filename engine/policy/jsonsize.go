package policy

import (
	"encoding/json"
	"strconv"
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
		return jsonNullSize, nil
	case bool:
		if x {
			return 4, nil
		}
		return 5, nil
	case string:
		return jsonStringSize(x), nil
	case int:
		return jsonIntSize(int64(x)), nil
	case int64:
		return jsonIntSize(x), nil
	case map[string]any:
		if x == nil {
			return jsonNullSize, nil
		}
		var inner int64
		for k, e := range x {
			m, err := JSONSize(e)
			if err != nil {
				return 0, err
			}
			inner += jsonStringSize(k) + 1 + m
		}
		return jsonCollectionSize(len(x), inner), nil
	case []any:
		if x == nil {
			return jsonNullSize, nil
		}
		return jsonSliceSize(x)
	case []map[string]any:
		if x == nil {
			return jsonNullSize, nil
		}
		return jsonSliceSize(x)
	case []string:
		if x == nil {
			return jsonNullSize, nil
		}
		return jsonSliceSize(x)
	}
	b, err := json.Marshal(v)
	return int64(len(b)), err
}

func jsonSliceSize[E any](x []E) (int64, error) {
	var inner int64
	for _, e := range x {
		m, err := JSONSize(e)
		if err != nil {
			return 0, err
		}
		inner += m
	}
	return jsonCollectionSize(len(x), inner), nil
}

// jsonNullSize is the length of null, which json.Marshal writes for a nil
// map or slice.
const jsonNullSize = 4

// jsonCollectionSize is the length of a JSON array or object of n elements
// whose texts (an object's "key":value members) take inner bytes: the
// brackets, and the commas between the elements.
func jsonCollectionSize(n int, inner int64) int64 {
	return 2 + max(int64(n)-1, 0) + inner
}

// jsonIntSize is the length of an integer in decimal, as json.Marshal writes
// it (the index's counts, ports and priorities), without marshalling it.
func jsonIntSize(i int64) int64 {
	var buf [20]byte
	return int64(len(strconv.AppendInt(buf[:0], i, 10)))
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
