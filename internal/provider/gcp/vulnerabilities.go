package gcp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/api/option"
	osconfig "google.golang.org/api/osconfig/v1"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// withVulnerabilities adds the OS Config vulnerability reports of the
// collected VMs: for every project and zone that has instances, the
// reports of all its instances (instances/-), written in Cloud Asset's
// record shape (asset type osconfig.googleapis.com/VulnerabilityReport,
// named projects/NUMBER/locations/ZONE/instances/VM/vulnerabilityReport,
// which links it to its VM as a CAI export's name does) and loaded with
// the rest. A project whose OS Config API is off is reported on Progress and
// skipped: VGL-VULN-003 says so from the services it has.
func (s *session) withVulnerabilities(ctx context.Context, dir string, files []string, inv *inventory.Inventory, sum *Summary) (*inventory.Inventory, error) {
	type zoneKey struct{ project, number, zone string }
	vms := map[zoneKey]map[string]string{} // numeric id or name -> asset name
	numbers := map[string]string{}
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindProject {
			numbers[a.Name] = a.Facets.ProjectNumber
		}
	}
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
		return inv, nil
	}
	svc, err := s.osconfig(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]zoneKey, 0, len(vms))
	for k := range vms {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].project+keys[i].zone < keys[j].project+keys[j].zone })
	path := filepath.Join(dir, "vulnerability-reports.ndjson")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	n := 0
	skipped := map[string]bool{}
	for _, k := range keys {
		if skipped[k.project] {
			continue
		}
		parent := fmt.Sprintf("projects/%s/locations/%s/instances/-", k.project, k.zone)
		err := svc.Projects.Locations.Instances.VulnerabilityReports.List(parent).Pages(ctx, func(page *osconfig.ListVulnerabilityReportsResponse) error {
			for _, r := range page.VulnerabilityReports {
				// projects/NUMBER/locations/ZONE/instances/ID/vulnerabilityReport
				parts := strings.Split(r.Name, "/")
				vm := ""
				if len(parts) >= 6 {
					vm = vms[k][parts[5]]
				}
				raw, _ := json.Marshal(r)
				var data map[string]any
				json.Unmarshal(raw, &data)
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
				rec := map[string]any{"name": "//osconfig.googleapis.com/" + name, "asset_type": "osconfig.googleapis.com/VulnerabilityReport",
					"ancestors": []string{"projects/" + num},
					"resource":  map[string]any{"version": "v1", "discovery_name": "VulnerabilityReport", "parent": "//cloudresourcemanager.googleapis.com/projects/" + num, "location": k.zone, "data": data}}
				line, _ := json.Marshal(rec)
				w.Write(line)
				w.WriteByte('\n')
				n++
				sum.ByType["osconfig.googleapis.com/VulnerabilityReport"]++
			}
			return nil
		})
		if err != nil {
			skipped[k.project] = true
			if s.opts.Progress != nil {
				fmt.Fprintf(s.opts.Progress, "gcp: %s: no OS Config vulnerability reports: %v\n", k.project, explain(err, "osconfig.vulnerabilityReports.list"))
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if n == 0 {
		return inv, nil
	}
	sum.Records += n
	all, err := inventory.Load(ctx, append(append([]string(nil), files...), path)...)
	if err != nil {
		return nil, fmt.Errorf("gcp: read the vulnerability reports: %w", err)
	}
	return all, nil
}

func firstNonEmptyStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// osconfig is the OS Config client, with the endpoint override of the
// other REST clients.
func (s *session) osconfig(ctx context.Context) (*osconfig.Service, error) {
	base := strings.TrimSuffix(s.opts.Endpoint, "/")
	auth, err := s.auth(ctx, strings.HasPrefix(base, "http://"))
	if err != nil {
		return nil, err
	}
	if base != "" {
		auth = append(auth, option.WithEndpoint(base+"/"))
	}
	return osconfig.NewService(ctx, auth...)
}
