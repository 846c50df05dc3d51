package gcpfake

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Occurrence is one Artifact Analysis occurrence of a project: by
// default a vulnerability (kind VULNERABILITY) of a container image.
type Occurrence struct {
	Project     string // the project's id
	ResourceURI string // https://REGION-docker.pkg.dev/P/REPO/IMAGE@sha256:...
	// Kind is the note kind; "" is VULNERABILITY.
	Kind     string
	CVE      string // the note's id: projects/goog-vulnz/notes/CVE
	Severity string // CRITICAL, HIGH, ...
	Package  string
	// Fixed is the version that fixes it; "" for none (the API then says
	// fixedVersion kind MAXIMUM and fixAvailable false).
	Fixed string
	// VEX is the state of the publisher's VEX assessment (NOT_AFFECTED,
	// FIXED, ...); "" for none.
	VEX string
}

// AddOccurrence makes Artifact Analysis hold an occurrence. Call it under
// With.
func (f *Fake) AddOccurrence(o Occurrence) { f.occurrences = append(f.occurrences, o) }

var (
	reOccurrences = regexp.MustCompile(`^/v1/projects/([^/]+)/occurrences$`)
	// The list filter vigil's collector and Google's examples use: one
	// kind comparison (kind="VULNERABILITY"). Anything else the fake
	// refuses rather than read wrongly.
	reKindFilter = regexp.MustCompile(`^\s*kind\s*=\s*"([A-Z_]+)"\s*$`)
)

// listOccurrences serves GET /v1/projects/P/occurrences (Container Analysis
// v1 projects.occurrences.list): the filter on kind, pages of pageSize
// (default 20; "Must be positive. Max allowed page size is 1000", and a
// larger one is served as 1000, as AIP-158 says of a maximum) with an
// opaque nextPageToken, empty on the last page.
func (f *Fake) listOccurrences(w http.ResponseWriter, r *http.Request) Call {
	m := reOccurrences.FindStringSubmatch(r.URL.Path)
	call := Call{API: "containeranalysis", Operation: "occurrences.list", Target: r.URL.Path, Permissions: []string{"containeranalysis.occurrences.list"}}
	if m == nil || r.Method != http.MethodGet {
		apiError(w, 400, "INVALID_ARGUMENT", "badRequest", "parent must be projects/PROJECT_ID")
		return call
	}
	if hit, _ := f.faultHTTP(w, &call, "containeranalysis", "containeranalysis.occurrences.list", "projects/"+m[1]); hit {
		return call
	}
	p := f.projects[m[1]]
	for _, q := range f.projects {
		if p == nil && q.Number == m[1] {
			p = q
		}
	}
	if p == nil {
		apiError(w, 403, "PERMISSION_DENIED", "forbidden", fmt.Sprintf("Permission 'containeranalysis.occurrences.list' denied on resource 'projects/%s' (or it may not exist).", m[1]))
		return call
	}
	q := r.URL.Query()
	kind := ""
	if fl := q.Get("filter"); fl != "" {
		km := reKindFilter.FindStringSubmatch(fl)
		if km == nil {
			badRequest(w, fmt.Sprintf("invalid filter %q: the fake reads kind=\"KIND\" only", fl))
			return call
		}
		kind = km[1]
	}
	size := 20
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			badRequest(w, fmt.Sprintf("page_size must be positive, got %q", s))
			return call
		}
		if n > 0 {
			size = min(n, 1000)
		}
	}
	start := 0
	if t := q.Get("pageToken"); t != "" {
		n, ok := strings.CutPrefix(t, "occ-")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 {
			badRequest(w, "invalid page token")
			return call
		}
		start = i
	}
	var match []Occurrence
	var ids []int
	for i, o := range f.occurrences {
		k := o.Kind
		if k == "" {
			k = "VULNERABILITY"
		}
		if o.Project == p.ID && (kind == "" || kind == k) {
			match = append(match, o)
			ids = append(ids, i)
		}
	}
	out := []any{}
	end := min(start+size, len(match))
	for j := start; j < end; j++ {
		out = append(out, occurrenceDoc(p, ids[j], match[j]))
	}
	resp := map[string]any{"occurrences": out}
	// returnPartialSuccess: "If set, the request will return all reachable
	// Occurrences and report all unreachable regions in the unreachable
	// field"; without it an unreachable region fails the list.
	if len(f.UnreachableRegions) > 0 {
		if q.Get("returnPartialSuccess") != "true" {
			apiError(w, 503, "UNAVAILABLE", "backendError", "region "+f.UnreachableRegions[0]+" is unreachable")
			return call
		}
		var regions []string
		for _, r := range f.UnreachableRegions {
			regions = append(regions, "projects/"+p.ID+"/locations/"+r)
		}
		resp["unreachable"] = regions
	}
	if end < len(match) {
		resp["nextPageToken"] = fmt.Sprintf("occ-%d", end)
	}
	writeJSON(w, resp)
	return call
}

// occurrenceDoc is the wire form of an occurrence, as the Container
// Analysis reference documents the Occurrence resource: named by project
// id, the note in the provider project goog-vulnz.
func occurrenceDoc(p *Project, i int, o Occurrence) map[string]any {
	kind := o.Kind
	if kind == "" {
		kind = "VULNERABILITY"
	}
	d := map[string]any{
		"name":        fmt.Sprintf("projects/%s/occurrences/%08x-0000-4000-8000-%012x", p.ID, i, i),
		"resourceUri": o.ResourceURI, "kind": kind,
		"noteName":   "projects/goog-vulnz/notes/" + o.CVE,
		"createTime": "2026-11-20T04:00:00.123456Z", "updateTime": "2026-11-26T04:00:00.123456Z",
	}
	if kind != "VULNERABILITY" {
		d["noteName"] = "projects/goog-analysis/notes/PACKAGE_VULNERABILITY"
		d["discovery"] = map[string]any{"analysisStatus": "FINISHED_SUCCESS", "continuousAnalysis": "ACTIVE"}
		return d
	}
	fixed := map[string]any{"kind": "MAXIMUM"}
	if o.Fixed != "" {
		fixed = map[string]any{"kind": "NORMAL", "name": o.Fixed, "fullName": o.Fixed}
	}
	v := map[string]any{
		"shortDescription": o.CVE, "severity": o.Severity, "effectiveSeverity": o.Severity,
		"cvssScore": 9.8, "cvssVersion": "CVSS_VERSION_3", "fixAvailable": o.Fixed != "", "type": "OS",
		"packageIssue": []any{map[string]any{
			"affectedCpeUri": "cpe:/o:debian:debian_linux:12", "affectedPackage": o.Package,
			"affectedVersion": map[string]any{"kind": "NORMAL", "name": "1.0", "fullName": "1.0"},
			"fixedCpeUri":     "cpe:/o:debian:debian_linux:12", "fixedPackage": o.Package, "fixedVersion": fixed,
			"fixAvailable": o.Fixed != "", "packageType": "OS", "effectiveSeverity": o.Severity,
		}},
	}
	if o.VEX != "" {
		v["vexAssessment"] = map[string]any{
			"cve": o.CVE, "vulnerabilityId": o.CVE, "state": o.VEX,
			"noteName": "projects/" + p.ID + "/notes/vex-" + o.CVE,
		}
	}
	d["vulnerability"] = v
	return d
}
