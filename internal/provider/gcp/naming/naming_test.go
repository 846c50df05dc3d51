package naming

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	if got := LabelValue("INC-2041 / web"); got != "inc-2041-web" {
		t.Errorf("label %q", got)
	}
	a := SnapshotName("INC-1", "snapshot", "acme-prod", "europe-west1-b", "web-1")
	if a != SnapshotName("INC-1", "snapshot", "acme-prod", "europe-west1-b", "web-1") || a == SnapshotName("INC-2", "snapshot", "acme-prod", "europe-west1-b", "web-1") {
		t.Error("names are deterministic and differ by incident")
	}
	if !strings.HasPrefix(a, "vigil-web-1-") || len(a) != len("vigil-web-1-")+10 {
		t.Errorf("snapshot name %q", a)
	}
	long := ImageName("acme-sec-forensics", strings.Repeat("s", 70))
	if len(long) > 63 || !strings.HasPrefix(long, "vigil-evidence-sss") {
		t.Errorf("image name %q", long)
	}
	if l := StepLabels("run-1", "s", ""); l["incident"] != "" || l["vigil-run"] != "run-1" {
		t.Errorf("labels %v", l)
	}
	if StepKey("run-1", "INC-1") != "INC-1" || StepKey("run-1", "") != "run-1" {
		t.Error("step key")
	}
}
