package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A document on one long line is classified by its top-level keys with
// their values skipped (detectLong), as the line-parsing detection
// classifies it; what detectLong cannot decide goes to detectFile.
func TestDetectLongLine(t *testing.T) {
	pad := `"` + strings.Repeat(`x\"{[`, longLine/5) + `"` // escapes and brackets inside a string
	big := `{"a":[1,{"b":` + pad + `},true,null,-2.5e3],"c":{"d":[[]]}}`
	cases := []struct {
		name, content string
		long          bool // decided by detectLong
		want          detected
	}{
		{"plan, configuration first", `{"applyable":true,"configuration":` + big + `,"format_version":"1.2","resource_changes":[]}`, true,
			detected{format: FormatTerraformPlan, layout: layoutDocument}},
		{"plan with a BOM and spaces", "\xef\xbb\xbf { \"format_version\" : \"1.2\" , \"x\": " + big + ", \"terraform_version\":\"1.9.0\"}", true,
			detected{format: FormatTerraformPlan, layout: layoutDocument}},
		{"config snapshot", `{"fileVersion":"1.0","configSnapshotId":"s","pad":` + big + `,"configurationItems":[]}`, true,
			detected{format: FormatAWSConfig, layout: layoutConfigDoc, snapshot: true}},
		// a long NDJSON record: a stream, read by lines, as before
		{"CAI record", `{"name":"//x","pad":` + big + `,"asset_type":"compute.googleapis.com/Instance"}` + "\n", false,
			detected{format: FormatCAI, layout: layoutLines}},
		{"short plan", `{"format_version":"1.2","resource_changes":[]}`, false,
			detected{format: FormatTerraformPlan, layout: layoutDocument}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.json")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			d, ok := detectLong(p)
			if ok != c.long || (ok && d != c.want) {
				t.Errorf("detectLong = %+v, %v; want %+v, %v", d, ok, c.want, c.long)
			}
			if d, err := detectFile(p); err != nil || d != c.want {
				t.Errorf("detectFile = %+v, %v; want %+v", d, err, c.want)
			}
			if d, err := detect(p); err != nil || d != c.want {
				t.Errorf("detect = %+v, %v; want %+v", d, err, c.want)
			}
		})
	}
	// cut short, or not JSON past the first key: not decided, and
	// detectFile's error stands
	for _, content := range []string{`{"applyable":` + big[:len(big)-3], `{"x":` + big + ` "format_version":"1"}`, `{"x" ` + big} {
		p := filepath.Join(t.TempDir(), "f.json")
		os.WriteFile(p, []byte(content), 0o644)
		if d, ok := detectLong(p); ok {
			t.Errorf("%.40s...: detectLong decided %+v", content, d)
		}
	}
}
