package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ir/vigil/internal/testutil"
)

func TestExampleConfig(t *testing.T) {
	cfg, _, diags := Load(testutil.Path(t, "examples", "vigil.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !cmp.Equal(cfg.RequiredLabels, []string{"owner"}) || !cmp.Equal(cfg.AdminPorts, []int{22, 3389}) {
		t.Errorf("config: %+v", cfg)
	}
	data := cfg.Data()
	res := data["residency"].(map[string]any)["pii"].(map[string]any)
	if res["label"] != "data-class" {
		t.Errorf("residency: %v", res)
	}
}

func TestDefaults(t *testing.T) {
	cfg, _, diags := Parse([]byte(""), "empty.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	data := cfg.Data()
	for _, k := range []string{"approved_networks", "required_labels", "ir_principals", "admin_ports", "residency", "corporate_networks"} {
		if _, ok := data[k]; !ok {
			t.Errorf("data.vigil.config.%s missing: policies rely on every key being present", k)
		}
	}
	if !cmp.Equal(data["admin_ports"], []any{22, 3389}) {
		t.Errorf("admin ports default: %v", data["admin_ports"])
	}
}

func TestNetworkIDsAreNormalized(t *testing.T) {
	cfg, _, diags := Parse([]byte(`approved_networks = ["https://www.googleapis.com/compute/v1/projects/p/global/networks/prod", "vpc-0abc*"]`), "v.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if want := []string{"projects/p/global/networks/prod", "vpc-0abc*"}; !cmp.Equal(cfg.ApprovedNetworks, want) {
		t.Errorf("got %v, want %v", cfg.ApprovedNetworks, want)
	}
}

// Each bad file yields a diagnostic on the offending line.
func TestDiagnostics(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		summary   string
	}{
		{"typo", "required_labels = [\"owner\"]\naproved_networks = []\n", 2, "Unsupported argument"},
		{"port", "admin_ports = [22, 70000]\n", 1, "Invalid admin port"},
		{"type", "required_labels = \"owner\"\n", 1, "Unsuitable value type"},
		{"principal", "ir_principals = [\"ir-team@acme.example\"]\n", 1, "Invalid principal"},
		{"residency", "residency \"pii\" {\n  label = \"data-class\"\n}\n", 1, "Missing required argument"},
		{"noregions", "\n\nresidency \"pii\" {\n  label = \"dc\"\n  regions = []\n}\n", 3, "No regions"},
		{"dup", "residency \"pii\" {\n label = \"a\"\n regions = [\"eu\"]\n}\nresidency \"pii\" {\n label = \"a\"\n regions = [\"eu\"]\n}\n", 5, "Duplicate residency class"},
		{"glob", "approved_networks = [\"vpc-[\"]\n", 1, "Invalid glob"},
		{"syntax", "required_labels = [\"owner\"\n", 1, "Unterminated tuple"},
		{"notify", "notify \"x\" {\n url = \"http://h\"\n format = \"xml\"\n}\n", 1, "Invalid notify format"},
		{"notify url", "notify \"x\" {\n url = \"hooks.slack.com/services/T/B/secret\"\n}\n", 1, "Invalid notify URL"},
		{"notify timeout", "notify \"x\" {\n url = \"https://h\"\n timeout = \"soon\"\n}\n", 3, "Invalid timeout"},
		{"schedule timeout", "schedule \"x\" {\n cron = \"0 * * * *\"\n sources = []\n\n timeout = \"-5m\"\n}\n", 5, "Invalid timeout"},
		{"schedule glob", "schedule \"x\" {\n cron = \"0 * * * *\"\n sources = []\n policies = [\"VGL-[\"]\n}\n", 1, "Invalid glob"},
		{"anchor", "admin_ports = [22]\nanchor = \"ftp://host/x\"\n", 2, "Invalid anchor"},
		{"anchorbucket", "anchor = \"s3:///x\"\n", 1, "Invalid anchor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, diags := Parse([]byte(tt.src), tt.name+".hcl")
			if !diags.HasErrors() {
				t.Fatal("want an error")
			}
			d := diags[0]
			if d.Subject == nil || d.Subject.Start.Line != tt.line || d.Subject.Filename != tt.name+".hcl" {
				t.Errorf("diagnostic at %v, want line %d", d.Subject, tt.line)
			}
			if !strings.Contains(d.Summary, tt.summary) {
				t.Errorf("summary %q, want %q (detail: %s)", d.Summary, tt.summary, d.Detail)
			}
		})
	}
}

func TestScheduleAndNotifySettings(t *testing.T) {
	cfg, _, diags := Parse([]byte(`schedule "h" {
  cron     = "0 * * * *"
  sources  = ["inv/"]
  policies = ["VGL-NET-*", "VGL-DATA-001"]
  timeout  = "20m"
}
schedule "d" {
  cron    = "0 3 * * *"
  sources = ["inv/"]
}
notify "s" {
  url     = "https://hooks.slack.com/services/T/B/x"
  timeout = "3s"
}
notify "j" {
  url = "http://127.0.0.1:9/hook"
}
`), "v.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s := cfg.Schedules; len(s) != 2 || s[0].Timeout != 20*time.Minute || s[1].Timeout != 0 || !cmp.Equal(s[0].Policies, []string{"VGL-NET-*", "VGL-DATA-001"}) {
		t.Errorf("schedules: %+v", s)
	}
	if n := cfg.Notify; len(n) != 2 || n[0].Timeout != 3*time.Second || n[1].Timeout != 0 || n[1].Format != "json" {
		t.Errorf("notify: %+v", n)
	}
}

// A webhook URL is a secret: a bad one is not repeated in the message.
func TestNotifyURLNotEchoed(t *testing.T) {
	_, _, diags := Parse([]byte("notify \"x\" {\n url = \"ftp://h/T/B/secret\"\n}\n"), "v.hcl")
	if !diags.HasErrors() || strings.Contains(diags.Error(), "secret") {
		t.Errorf("diags: %v", diags)
	}
}

func TestAnchor(t *testing.T) {
	for src, want := range map[string]string{"": "", `anchor = "s3://vigil-anchor/journals"`: "s3://vigil-anchor/journals", `anchor = "gs://b"`: "gs://b", `anchor = "/var/lib/vigil/anchor.log"`: "/var/lib/vigil/anchor.log"} {
		cfg, _, diags := Parse([]byte(src+"\n"), "a.hcl")
		if diags.HasErrors() || cfg.Anchor != want {
			t.Errorf("%s: %q %v", src, cfg.Anchor, diags)
		}
	}
}

func TestStore(t *testing.T) {
	for _, tc := range []struct{ file, src, want string }{
		{"vigil.hcl", "", ""},
		{"/etc/vigil/vigil.hcl", `store = "history.db"`, "/etc/vigil/history.db"},
		{"deploy/vigil.hcl", `store = "state/h.db"`, "deploy/state/h.db"},
		{"/etc/vigil/vigil.hcl", `store = "/var/lib/vigil/h.db"`, "/var/lib/vigil/h.db"},
		{"/etc/vigil/vigil.hcl", `store = "postgres://vigil@db/vigil"`, "postgres://vigil@db/vigil"},
	} {
		cfg, _, diags := Parse([]byte(tc.src+"\n"), tc.file)
		if diags.HasErrors() || cfg.Store != tc.want {
			t.Errorf("%s in %s: %q %v, want %q", tc.src, tc.file, cfg.Store, diags, tc.want)
		}
	}
	_, _, diags := Parse([]byte(`store = ""`+"\n"), "a.hcl")
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "store is empty") {
		t.Errorf("empty store: %v", diags)
	}
}

func TestTypoSuggestion(t *testing.T) {
	_, _, diags := Parse([]byte("aproved_networks = []\n"), "t.hcl")
	if !strings.Contains(diags.Error(), `Did you mean "approved_networks"?`) {
		t.Errorf("want a suggestion: %v", diags)
	}
}

func FuzzParse(f *testing.F) {
	src, err := os.ReadFile(testutil.Path(f, "examples", "vigil.hcl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(src)
	f.Add([]byte("schedule \"h\" {\n cron = \"0 * * * *\"\n sources = [\"x\"]\n}\nnotify \"s\" {\n url = \"http://x\"\n format = \"slack\"\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, _, diags := Parse(src, "fuzz.hcl")
		if !diags.HasErrors() && cfg == nil {
			t.Error("nil config without errors")
		}
		for _, d := range diags {
			if d.Severity == hcl.DiagError && d.Summary == "" {
				t.Errorf("diagnostic without a summary: %+v", d)
			}
		}
		if cfg != nil && !diags.HasErrors() {
			_ = cfg.Data()
		}
	})
}
