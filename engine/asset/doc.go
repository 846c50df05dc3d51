// Package asset defines the asset model every source produces and every
// policy reads: identity, kind, scope, region, labels, the normalized facets
// and the untouched native payload.
//
// It is plain data plus small normalizers (regions, network ids, ports,
// protocols); it must not read files, call clouds or know about Rego.
package asset
