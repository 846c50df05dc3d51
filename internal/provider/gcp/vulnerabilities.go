package gcp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/googleapis/gax-go/v2/apierror"
	containeranalysis "google.golang.org/api/containeranalysis/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	osconfig "google.golang.org/api/osconfig/v1"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// withScannerFindings adds what the providers' vulnerability scanners
// report of the collected assets, written in Cloud Asset's record shape to
// one file of the collection and loaded with the rest: OS Config's reports
// of the VMs and Artifact Analysis's vulnerability occurrences of the
// images. A project whose API is off, or that refuses the call, is
// skipped and named in the summary's gaps (VGL-VULN-003 also judges the
// projects without OS Config).
func (s *session) withScannerFindings(ctx context.Context, dir string, files []string, inv *inventory.Inventory, sum *Summary) (*inventory.Inventory, error) {
	path := filepath.Join(dir, "vulnerabilities.ndjson")
	out, err := newRecordFile(path, sum)
	if err != nil {
		return nil, err
	}
	err = s.vulnerabilityReports(ctx, inv, out)
	if err == nil {
		err = s.imageOccurrences(ctx, inv, out)
	}
	n, cerr := out.close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return inv, nil
	}
	all, err := inventory.Load(ctx, append(append([]string(nil), files...), path)...)
	if err != nil {
		return nil, fmt.Errorf("gcp: read the vulnerability findings: %w", err)
	}
	return all, nil
}

// recordFile writes records in the shape of a Cloud Asset export line.
type recordFile struct {
	f   *os.File
	w   *bufio.Writer
	n   int
	sum *Summary
}

func newRecordFile(path string, sum *Summary) (*recordFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &recordFile{f: f, w: bufio.NewWriter(f), sum: sum}, nil
}

// add writes one record: the API's resource (data) under its full name
// (//SERVICE/NAME) and asset type, in the project of the number given.
func (r *recordFile) add(service, name, assetType, number, location string, data any) error {
	line, err := inventory.CAIRecord("//"+service+"/"+name, assetType, number, location, data)
	if err != nil {
		return err
	}
	return r.addRecord(assetType, line)
}

// addRecord writes one record made already, of the asset type given.
func (r *recordFile) addRecord(assetType string, line []byte) error {
	r.w.Write(line)
	r.w.WriteByte('\n')
	r.n++
	r.sum.Records++
	r.sum.ByType[assetType]++
	return nil
}

func (r *recordFile) close() (int, error) {
	if err := r.w.Flush(); err != nil {
		r.f.Close()
		return r.n, err
	}
	return r.n, r.f.Close()
}

// projectNumbers maps the collected projects' ids to their numbers.
func projectNumbers(inv *inventory.Inventory) map[string]string {
	numbers := map[string]string{}
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindProject && a.Provider == asset.GCP {
			numbers[a.Name] = a.Facets.ProjectNumber
		}
	}
	return numbers
}

// vulnerabilityReports writes the OS Config vulnerability reports of the
// collected VMs: for every project and zone that has instances, the
// reports of all its instances (instances/-), as asset type
// osconfig.googleapis.com/VulnerabilityReport named
// projects/NUMBER/locations/ZONE/instances/VM/vulnerabilityReport, which
// links it to its VM as a CAI export's name does.
func (s *session) vulnerabilityReports(ctx context.Context, inv *inventory.Inventory, out *recordFile) error {
	type zoneKey struct{ project, number, zone string }
	vms := map[zoneKey]map[string]string{} // numeric id or name -> asset name
	numbers := projectNumbers(inv)
	for _, a := range inv.Assets() {
		if a.Kind != asset.KindInstance || a.Provider != asset.GCP || a.Facets.Zone == "" {
			continue
		}
		k := zoneKey{project: a.Scope, number: numbers[a.Scope], zone: a.Facets.Zone}
		if vms[k] == nil {
			vms[k] = map[string]string{}
		}
		vms[k][a.Name] = a.ID
		var d struct {
			Resource struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			} `json:"resource"`
		}
		if json.Unmarshal(a.Data, &d) == nil && d.Resource.Data.ID != "" {
			vms[k][d.Resource.Data.ID] = a.ID
		}
	}
	if len(vms) == 0 {
		return nil
	}
	svc, err := s.osconfig(ctx)
	if err != nil {
		return err
	}
	keys := make([]zoneKey, 0, len(vms))
	for k := range vms {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].project+keys[i].zone < keys[j].project+keys[j].zone })
	skipped := map[string]bool{}
	read := map[string]int{} // reports per project
	for _, k := range keys {
		if skipped[k.project] {
			continue
		}
		parent := fmt.Sprintf("projects/%s/locations/%s/instances/-", k.project, k.zone)
		call := svc.Projects.Locations.Instances.VulnerabilityReports.List(parent).Context(ctx)
		tokens := pageTokens{}
		for token := ""; ; {
			var page *osconfig.ListVulnerabilityReportsResponse
			err := s.do(ctx, func() (err error) { page, err = call.PageToken(token).Do(); return err })
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				skipped[k.project] = true
				s.skip(k.project, "OS Config vulnerability reports", read[k.project], err, "osconfig.vulnerabilityReports.list")
				break
			}
			for _, r := range page.VulnerabilityReports {
				// projects/NUMBER/locations/ZONE/instances/ID/vulnerabilityReport
				parts := strings.Split(r.Name, "/")
				vm := ""
				if len(parts) >= 6 {
					vm = vms[k][parts[5]]
				}
				num := firstNonEmptyStr(k.number, k.project)
				// The record's name links it to its VM, as in a CAI
				// export (the loader reads projects/NUMBER/locations/ZONE/
				// instances/INSTANCE/vulnerabilityReport); the API names the
				// VM by its id, which OS Config takes as well as its name:
				// the collector writes the name it knows, so the report
				// points at the VM's own asset whatever its IP.
				name := r.Name
				if vm != "" {
					name = fmt.Sprintf("projects/%s/locations/%s/instances/%s/vulnerabilityReport", num, k.zone, vm[strings.LastIndexByte(vm, '/')+1:])
				}
				if err := out.add("osconfig.googleapis.com", name, "osconfig.googleapis.com/VulnerabilityReport", num, k.zone, r); err != nil {
					return err
				}
				read[k.project]++
			}
			if token = page.NextPageToken; token == "" {
				break
			}
			if err := tokens.repeated(token); err != nil {
				skipped[k.project] = true
				s.skip(k.project, "OS Config vulnerability reports", read[k.project], err, "")
				break
			}
		}
	}
	return nil
}

// pageTokens are the page tokens a list has returned: one given twice
// would page for ever (a server's bug, or a proxy's), so the list stops
// there, as cut short.
type pageTokens map[string]bool

func (p pageTokens) repeated(token string) error {
	if p[token] {
		return fmt.Errorf("the API returned the page token %q a second time: the list was stopped there", token)
	}
	p[token] = true
	return nil
}

// occurrencePageSize is the most Container Analysis returns in one page.
const occurrencePageSize = 1000

// imageOccurrences writes the Artifact Analysis vulnerability occurrences
// of every collected project (projects.occurrences.list with
// kind="VULNERABILITY", all pages), grouped by image: one record of asset
// type containeranalysis.googleapis.com/ImageVulnerabilities per
// resourceUri, with the fields of its occurrences the loader reads, so
// that an image with forty CVEs is one report (and one finding), as a VM's
// OS Config report is.
func (s *session) imageOccurrences(ctx context.Context, inv *inventory.Inventory, out *recordFile) error {
	numbers := projectNumbers(inv)
	if len(numbers) == 0 {
		if id, ok := strings.CutPrefix(s.opts.Scope, "projects/"); ok {
			numbers[id] = ""
		}
	}
	if len(numbers) == 0 {
		return nil
	}
	svc, err := s.containerAnalysis(ctx)
	if err != nil {
		return err
	}
	// A project whose enabled services the inventory lists, without
	// Container Analysis among them, holds no occurrences: no call (an
	// organization has thousands of such projects).
	services := map[string]map[string]bool{}
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindService && a.Provider == asset.GCP && a.Facets.Enabled != nil && *a.Facets.Enabled {
			if services[a.Scope] == nil {
				services[a.Scope] = map[string]bool{}
			}
			services[a.Scope][a.Name] = true
		}
	}
	ids := make([]string, 0, len(numbers))
	var off []string // the projects without the API, in one gap
	for id := range numbers {
		if services[id] == nil || services[id]["containeranalysis.googleapis.com"] {
			ids = append(ids, id)
		} else {
			off = append(off, id)
		}
	}
	sort.Strings(ids)
	const what = "Artifact Analysis vulnerability occurrences"
	defer func() { s.apiOff(what, "containeranalysis.googleapis.com", off) }()
	for _, id := range ids {
		images := map[string][]imageOccurrence{}
		// returnPartialSuccess: a region Artifact Analysis cannot reach is
		// named in unreachable instead of failing the whole list.
		call := svc.Projects.Occurrences.List("projects/" + id).Filter(`kind="VULNERABILITY"`).PageSize(occurrencePageSize).ReturnPartialSuccess(true).Context(ctx)
		var unreachable []string
		n := 0
		tokens := pageTokens{}
		for token := ""; ; {
			var page *containeranalysis.ListOccurrencesResponse
			err := s.do(ctx, func() (err error) { page, err = call.PageToken(token).Do(); return err })
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if _, _, disabled := serviceDisabled(err); disabled && n == 0 {
					off = append(off, id)
				} else {
					s.skip(id, what, n, err, "containeranalysis.occurrences.list")
				}
				break
			}
			for _, o := range page.Occurrences {
				images[o.ResourceUri] = append(images[o.ResourceUri], trimOccurrence(o))
				n++
			}
			unreachable = append(unreachable, page.Unreachable...)
			if token = page.NextPageToken; token == "" {
				break
			}
			if err := tokens.repeated(token); err != nil {
				s.skip(id, what, n, err, "")
				break
			}
			if s.opts.Progress != nil {
				fmt.Fprintf(s.opts.Progress, "gcp: %s: %d image vulnerability occurrences so far\n", id, n)
			}
		}
		if len(unreachable) > 0 && s.sum != nil {
			slices.Sort(unreachable)
			regions := strings.Join(slices.Compact(unreachable), ", ")
			s.sum.Gaps = append(s.sum.Gaps, inventory.Gap{Part: "gcp " + id + " " + what + ": unreachable " + regions,
				Message: fmt.Sprintf("%s: %s incomplete: %d read, Artifact Analysis could not reach %s", id, what, n, regions)})
		}
		if n == 0 {
			continue
		}
		uris := make([]string, 0, len(images))
		for uri := range images {
			uris = append(uris, uri)
		}
		sort.Strings(uris)
		for _, uri := range uris {
			// the record an export of the same occurrences gives
			rec, err := inventory.ImageVulnerabilitiesRecord(id, firstNonEmptyStr(numbers[id], id), uri, images[uri])
			if err == nil {
				err = out.addRecord("containeranalysis.googleapis.com/ImageVulnerabilities", rec)
			}
			if err != nil {
				return err
			}
		}
		if s.opts.Progress != nil {
			fmt.Fprintf(s.opts.Progress, "gcp: %s: %d image vulnerability occurrences on %d images\n", id, n, len(uris))
		}
	}
	return nil
}

// imageOccurrence is what an ImageVulnerabilities record keeps of one
// occurrence, in the API's field names: what the loader reads (the
// descriptions, URLs, CVSS vectors and CPEs are left to the API).
type imageOccurrence struct {
	Name          string          `json:"name"`
	Kind          string          `json:"kind"`
	NoteName      string          `json:"noteName"`
	Vulnerability *occurrenceVuln `json:"vulnerability,omitempty"`
}

type occurrenceVuln struct {
	ShortDescription  string         `json:"shortDescription,omitempty"`
	Severity          string         `json:"severity,omitempty"`
	EffectiveSeverity string         `json:"effectiveSeverity,omitempty"`
	FixAvailable      bool           `json:"fixAvailable"`
	VexAssessment     *vexState      `json:"vexAssessment,omitempty"`
	PackageIssue      []packageIssue `json:"packageIssue,omitempty"`
}

// vexState is the state of an occurrence's VEX assessment: the loader
// leaves out what the image's publisher says is NOT_AFFECTED or FIXED.
type vexState struct {
	State string `json:"state,omitempty"`
}

type packageIssue struct {
	AffectedPackage   string   `json:"affectedPackage,omitempty"`
	EffectiveSeverity string   `json:"effectiveSeverity,omitempty"`
	FixAvailable      bool     `json:"fixAvailable"`
	FixedVersion      *version `json:"fixedVersion,omitempty"`
}

type version struct {
	Kind     string `json:"kind,omitempty"`
	FullName string `json:"fullName,omitempty"`
}

// trimOccurrence keeps what imageOccurrence holds of an occurrence.
func trimOccurrence(o *containeranalysis.Occurrence) imageOccurrence {
	out := imageOccurrence{Name: o.Name, Kind: o.Kind, NoteName: o.NoteName}
	if v := o.Vulnerability; v != nil {
		ov := &occurrenceVuln{ShortDescription: v.ShortDescription, Severity: v.Severity, EffectiveSeverity: v.EffectiveSeverity, FixAvailable: v.FixAvailable}
		if x := v.VexAssessment; x != nil && x.State != "" {
			ov.VexAssessment = &vexState{State: x.State}
		}
		for _, pi := range v.PackageIssue {
			p := packageIssue{AffectedPackage: pi.AffectedPackage, EffectiveSeverity: pi.EffectiveSeverity, FixAvailable: pi.FixAvailable}
			if fv := pi.FixedVersion; fv != nil {
				p.FixedVersion = &version{Kind: fv.Kind, FullName: fv.FullName}
			}
			ov.PackageIssue = append(ov.PackageIssue, p)
		}
		out.Vulnerability = ov
	}
	return out
}

// apiOff records, as one gap, the projects where a scanner's API is not
// enabled (by the inventory's list of their services, or by the API's
// answer): an organization may have thousands, named up to ten.
func (s *session) apiOff(what, service string, projects []string) {
	if len(projects) == 0 || s.sum == nil {
		return
	}
	slices.Sort(projects)
	names := strings.Join(projects[:min(len(projects), 10)], ", ")
	if len(projects) > 10 {
		names += fmt.Sprintf(" and %d more", len(projects)-10)
	}
	which := "project " + names
	if len(projects) > 1 {
		which = fmt.Sprintf("%d projects: %s", len(projects), names)
	}
	// the projects, not their count: another project turning it off is
	// another gap
	s.sum.Gaps = append(s.sum.Gaps, inventory.Gap{Part: "gcp " + service + " off in " + strings.Join(projects, ","),
		Message: fmt.Sprintf("no %s: %s is not enabled in %s", what, service, which)})
}

// skip records why a project's scanner findings are left out, or
// incomplete when some were read before the call failed (they are kept):
// the API is off there (SERVICE_DISABLED, in the consumer project the
// error names), or the call failed (a missing permission named with its
// role). Each is a gap of the summary, which the CLI prints as a warning.
func (s *session) skip(project, what string, read int, err error, perm string) {
	why := explain(err, perm).Error()
	if service, consumer, off := serviceDisabled(err); off {
		why = service + " is not enabled in " + firstNonEmptyStr(consumer, "the project")
	}
	gap := fmt.Sprintf("%s: no %s: %s", project, what, why)
	if read > 0 {
		gap = fmt.Sprintf("%s: %s incomplete: %d read, then: %s", project, what, read, why)
	}
	// The part says how the list was missed. Nothing read because the API
	// is off or the call refused is the same from one collection to the
	// next; a list read in part, or failing on an error that may pass, is
	// this collection's alone: history compares no other scan with it.
	part := "gcp " + project + " " + what
	var pe *PermissionError
	_, _, off := serviceDisabled(err)
	switch {
	case read == 0 && off:
		part += ": API off"
	case read == 0 && errors.As(explain(err, perm), &pe):
		part += ": permission denied"
	default:
		part += ": cut short in the collection of " + s.started.Format(time.RFC3339Nano)
	}
	if s.sum != nil {
		s.sum.Gaps = append(s.sum.Gaps, inventory.Gap{Part: part, Message: gap})
	}
}

// serviceDisabled reports a call refused because its API is off, with
// the service and the consumer project the error names: Google's
// ErrorInfo with reason SERVICE_DISABLED, which the client parses unless
// the body also has the legacy "errors" list (then it is read from the
// raw details), or that list's reason accessNotConfigured alone.
func serviceDisabled(err error) (service, consumer string, off bool) {
	var ae *apierror.APIError
	if errors.As(err, &ae) && ae.Reason() == "SERVICE_DISABLED" {
		return firstNonEmptyStr(ae.Metadata()["service"], "the API"), ae.Metadata()["consumer"], true
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return "", "", false
	}
	for _, d := range ge.Details {
		m, _ := d.(map[string]any)
		if t, _ := m["@type"].(string); strings.HasSuffix(t, "google.rpc.ErrorInfo") && m["reason"] == "SERVICE_DISABLED" {
			md, _ := m["metadata"].(map[string]any)
			service, _ := md["service"].(string)
			consumer, _ := md["consumer"].(string)
			return firstNonEmptyStr(service, "the API"), consumer, true
		}
	}
	for _, e := range ge.Errors {
		if e.Reason == "accessNotConfigured" {
			return "the API", "", true
		}
	}
	return "", "", false
}

func firstNonEmptyStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// scannerOptions are the client options of the scanners' APIs: the
// endpoint override of the other REST clients, at its root (both APIs'
// paths start at v1/).
func (s *session) scannerOptions(ctx context.Context) ([]option.ClientOption, error) {
	base := strings.TrimSuffix(s.opts.Endpoint, "/")
	auth, err := s.auth(ctx, strings.HasPrefix(base, "http://"))
	if err != nil {
		return nil, err
	}
	if base != "" {
		auth = append(auth, option.WithEndpoint(base+"/"))
	}
	return auth, nil
}

// osconfig is the OS Config client.
func (s *session) osconfig(ctx context.Context) (*osconfig.Service, error) {
	opts, err := s.scannerOptions(ctx)
	if err != nil {
		return nil, err
	}
	return osconfig.NewService(ctx, opts...)
}

// containerAnalysis is the Container Analysis (Artifact Analysis) client.
func (s *session) containerAnalysis(ctx context.Context) (*containeranalysis.Service, error) {
	opts, err := s.scannerOptions(ctx)
	if err != nil {
		return nil, err
	}
	return containeranalysis.NewService(ctx, opts...)
}
