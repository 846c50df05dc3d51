package report

// appendIndented appends src, one compact JSON value vigil encoded itself,
// indented exactly as json.Indent(dst, src, prefix, indent) would. A report
// indents every finding of a scan one after the other, after the scan: at
// a million assets json.Indent's validating scanner, a function call per
// byte, was seconds of that serial tail. The input is known to be valid
// JSON (the encoder wrote it), so this only has to find the structure:
// strings are copied as they are, up to their closing quote.
func appendIndented(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	// open: a { or [ was just written; its newline waits for the next
	// byte, since an empty object or array stays on one line.
	open := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue // json.Indent drops the space between tokens
		}
		if open && c != '}' && c != ']' {
			open = false
			depth++
			dst = appendNewline(dst, prefix, indent, depth)
		}
		switch c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			dst = append(dst, src[i:j]...)
			i = j - 1
		case '{', '[':
			open = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			dst = appendNewline(dst, prefix, indent, depth)
		case ':':
			dst = append(dst, ':', ' ')
		case '}', ']':
			if open {
				open = false // empty: {} or []
			} else {
				depth--
				dst = appendNewline(dst, prefix, indent, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendNewline(dst []byte, prefix, indent string, depth int) []byte {
	dst = append(dst, '\n')
	dst = append(dst, prefix...)
	for range depth {
		dst = append(dst, indent...)
	}
	return dst
}
