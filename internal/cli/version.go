package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// BuildInfo is what `vigil version` says of the binary: the module
// version the go command stamped (the tag, or a pseudo-version of the
// commit), the commit and its date, and the toolchain.
type BuildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Date     string `json:"date,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Commit and BuildDate are set with -ldflags -X where the go command
// cannot see the repository (a container build without .git); the
// commit's own stamp wins when there is one.
var Commit, BuildDate string

// buildInfo reads the binary's build info; a -ldflags Version wins over
// the module version (release builds from a tarball have no VCS).
func buildInfo(bi *debug.BuildInfo, ok bool) BuildInfo {
	out := BuildInfo{Version: "dev", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if ok && bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			out.Version = v
		}
		if bi.GoVersion != "" {
			out.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out.Commit = s.Value
			case "vcs.time":
				out.Date = s.Value
			case "vcs.modified":
				out.Modified = s.Value == "true"
			}
		}
	}
	if Version != "dev" && Version != "" {
		out.Version = Version
	}
	if out.Commit == "" {
		out.Commit = Commit
	}
	if out.Date == "" {
		out.Date = BuildDate
	}
	return out
}

func currentBuild() BuildInfo { return buildInfo(debug.ReadBuildInfo()) }

func init() {
	// --version, the reports' tool version and the metrics say the same.
	Version = currentBuild().Version
}

func (b BuildInfo) write(w io.Writer) {
	fmt.Fprintf(w, "vigil %s\n", b.Version)
	commit := b.Commit
	if commit == "" {
		commit = "unknown (built without version control information)"
	} else if b.Modified {
		commit += " (with uncommitted changes)"
	}
	fmt.Fprintf(w, "commit %s\n", commit)
	if b.Date != "" {
		fmt.Fprintf(w, "date   %s\n", b.Date)
	}
	fmt.Fprintf(w, "go     %s %s\n", b.Go, b.Platform)
}

func (a *app) versionCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Long: `Version prints what the go command recorded when it built the binary: the
module version (a release tag such as v0.4.0, or a pseudo-version naming the
commit), the commit and its date, and the Go toolchain.

  vigil version
  vigil version --format json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b := currentBuild()
			switch format {
			case "text":
				b.write(a.stdout)
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			default:
				return usageError(c, "--format %q: use text or json", format)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return c
}
