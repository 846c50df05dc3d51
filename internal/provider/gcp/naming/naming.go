package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

var labelUnsafe = regexp.MustCompile(`[^a-z0-9_-]+`)

// LabelValue makes a valid label value (lower case, 63 characters).
func LabelValue(s string) string {
	s = labelUnsafe.ReplaceAllString(strings.ToLower(s), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// StepLabels are the labels of what a step makes: the run and step, and
// the incident when there is one.
func StepLabels(run, step, incident string) map[string]string {
	l := map[string]string{"vigil-run": LabelValue(run), "vigil-step": LabelValue(step)}
	if incident != "" {
		l["incident"] = LabelValue(incident)
	}
	return l
}

// StepKey is what identifies a step's work across runs: the incident when
// there is one (applying the runbook again for the same incident finds
// the evidence already taken), else the run.
func StepKey(run, incident string) string {
	if incident != "" {
		return incident
	}
	return run
}

// ResourceName makes a valid, deterministic resource name from parts: a
// retry after a crash computes the same name and finds the resource.
func ResourceName(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	base := labelUnsafe.ReplaceAllString(strings.ToLower(parts[len(parts)-1]), "-")
	name := prefix + base
	if len(name) > 52 {
		name = name[:52]
	}
	return strings.TrimRight(name, "-_") + "-" + hex.EncodeToString(h[:])[:10]
}

// SnapshotName names the snapshot a step takes of a disk.
func SnapshotName(key, step, project, zone, disk string) string {
	return ResourceName("vigil-", key, step, project, zone, disk)
}

// ImageName names the evidence image of a snapshot.
func ImageName(project, snapshot string) string {
	return ResourceName("vigil-evidence-", project, snapshot)
}
