package cli

import (
	"bytes"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// maskURLs returns files whose source, as diagnostics quote it, has the
// path and query of every URL attribute (url, notify_url, webhook…) masked:
// a webhook's path is its secret, and a diagnostic on or near the line
// would otherwise print it. Byte offsets stay the same, so that the
// diagnostics still point where they should.
func maskURLs(files map[string]*hcl.File) map[string]*hcl.File {
	out := make(map[string]*hcl.File, len(files))
	for name, f := range files {
		out[name] = f
		if f == nil {
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok || f.Bytes == nil {
			continue
		}
		var ranges []hcl.Range
		collectURLAttrs(body, &ranges)
		if len(ranges) == 0 {
			continue
		}
		src := slices.Clone(f.Bytes)
		for _, r := range ranges {
			if r.Start.Byte < 0 || r.End.Byte > len(src) || r.Start.Byte >= r.End.Byte {
				continue
			}
			seg := src[r.Start.Byte:r.End.Byte]
			from := 0
			if i := bytes.Index(seg, []byte("://")); i >= 0 {
				// keep the scheme and host; mask from the path (or query) on
				rest := seg[i+3:]
				j := bytes.IndexAny(rest, "/?#\"")
				if j < 0 {
					continue
				}
				from = i + 3 + j
			}
			for k := from; k < len(seg); k++ {
				if seg[k] != '\n' && seg[k] != '"' {
					seg[k] = '*'
				}
			}
		}
		out[name] = &hcl.File{Body: f.Body, Bytes: src, Nav: f.Nav}
	}
	return out
}

func collectURLAttrs(b *hclsyntax.Body, out *[]hcl.Range) {
	for name, a := range b.Attributes {
		n := strings.ToLower(name)
		if n == "url" || strings.HasSuffix(n, "_url") || strings.Contains(n, "webhook") {
			*out = append(*out, a.Expr.Range())
		}
	}
	for _, blk := range b.Blocks {
		collectURLAttrs(blk.Body, out)
	}
}
