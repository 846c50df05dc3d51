// Package runbooks holds vigil's built-in incident-response runbooks,
// embedded in the binary. Each follows the IR phases and runs unchanged
// against the simulated cloud (rehearsals) and the real providers.
package runbooks

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.hcl
var FS embed.FS

// Names lists the built-in runbooks.
func Names() []string {
	entries, _ := fs.ReadDir(FS, ".")
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".hcl") {
			out = append(out, strings.TrimSuffix(e.Name(), ".hcl"))
		}
	}
	sort.Strings(out)
	return out
}

// Source returns a built-in runbook's text.
func Source(name string) ([]byte, error) {
	b, err := FS.ReadFile(name + ".hcl")
	if err != nil {
		return nil, fmt.Errorf("no built-in runbook %q (built-in: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}
