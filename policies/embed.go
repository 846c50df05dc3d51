package policies

import "embed"

// FS holds every .rego file of the built-in library.
//
//go:embed */*.rego
var FS embed.FS
