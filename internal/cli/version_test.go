package cli

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildInfo(t *testing.T) {
	saved := Version
	defer func() { Version, Commit, BuildDate = saved, "", "" }()
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vigil-ir/vigil", Version: "v0.0.0-20261202010203-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-02T01:02:03Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name   string
		ldflag string
		bi     *debug.BuildInfo
		want   BuildInfo
		text   string
	}{
		{"a clone's build", "dev", stamped,
			BuildInfo{Version: "v0.0.0-20261202010203-0123456789ab+dirty", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-02T01:02:03Z", Modified: true, Go: "go1.26.8", Platform: "p"},
			"vigil v0.0.0-20261202010203-0123456789ab+dirty\ncommit 0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)\ndate   2026-12-02T01:02:03Z\ngo     go1.26.8 p\n"},
		{"a release's -ldflags version wins", "v1.4.0", stamped,
			BuildInfo{Version: "v1.4.0", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-02T01:02:03Z", Modified: true, Go: "go1.26.8", Platform: "p"}, ""},
		{"no version control", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			BuildInfo{Version: "dev", Go: "go1.26.8", Platform: "p"},
			"vigil dev\ncommit unknown (built without version control information)\ngo     go1.26.8 p\n"},
		{"a container build's -ldflags commit and date", "v1.4.0", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			BuildInfo{Version: "v1.4.0", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-12-01T00:00:00Z", Go: "go1.26.8", Platform: "p"},
			"vigil v1.4.0\ncommit fedcba9876543210fedcba9876543210fedcba98\ndate   2026-12-01T00:00:00Z\ngo     go1.26.8 p\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Version, Commit, BuildDate = tc.ldflag, "", ""
			if strings.Contains(tc.name, "container") {
				Commit, BuildDate = "fedcba9876543210fedcba9876543210fedcba98", "2026-12-01T00:00:00Z"
			}
			got := buildInfo(tc.bi, true)
			got.Platform = "p"
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Error(d)
			}
			if tc.text != "" {
				var b bytes.Buffer
				got.write(&b)
				if b.String() != tc.text {
					t.Errorf("text:\n%s\nwant:\n%s", b.String(), tc.text)
				}
			}
		})
	}
}
