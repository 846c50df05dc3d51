package gcpfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	compute "google.golang.org/api/compute/v1"
)

// permissions names the IAM permission each operation needs, for
// PERMISSION_DENIED messages shaped like Google's.
var permissions = map[string]string{
	"instances.get": "compute.instances.get", "instances.stop": "compute.instances.stop", "instances.suspend": "compute.instances.suspend",
	"instances.resume": "compute.instances.resume", "instances.delete": "compute.instances.delete", "instances.setTags": "compute.instances.setTags",
	"instances.setMetadata": "compute.instances.setMetadata", "instances.deleteAccessConfig": "compute.instances.deleteAccessConfig",
	"instances.insert": "compute.instances.create", "snapshots.insert": "compute.snapshots.create", "snapshots.list": "compute.snapshots.list",
	"images.insert": "compute.images.create", "images.list": "compute.images.list", "firewalls.insert": "compute.firewalls.create",
	"firewalls.patch": "compute.firewalls.update", "firewalls.delete": "compute.firewalls.delete", "firewalls.get": "compute.firewalls.get",
	"firewalls.list": "compute.firewalls.list", "projects.get": "compute.projects.get",
	"projects.setCommonInstanceMetadata": "compute.projects.setCommonInstanceMetadata",
}

func (f *Fake) compute(w http.ResponseWriter, r *http.Request) Call {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"), "/")
	project := parts[0]
	var zone, coll, name, verb string
	switch {
	case len(parts) >= 4 && parts[1] == "zones":
		zone, coll = parts[2], parts[3]
		if len(parts) > 4 {
			name = parts[4]
		}
		if len(parts) > 5 {
			verb = parts[5]
		}
	case len(parts) >= 3 && parts[1] == "global":
		coll = parts[2]
		if len(parts) > 3 {
			name = parts[3]
		}
		if len(parts) > 4 {
			verb = parts[4]
		}
	case len(parts) == 1 || (len(parts) == 2 && parts[1] == "setCommonInstanceMetadata"):
		coll = "projects"
		if len(parts) == 2 {
			verb = parts[1]
		}
	}
	op := coll + "."
	switch {
	case verb != "":
		op += verb
	case r.Method == http.MethodGet && name == "" && coll != "projects":
		op += "list"
	case r.Method == http.MethodGet:
		op += "get"
	case r.Method == http.MethodPost:
		op += "insert"
	case r.Method == http.MethodPatch:
		op += "patch"
	case r.Method == http.MethodDelete:
		op += "delete"
	}
	target := "projects/" + project
	if zone != "" {
		target += "/zones/" + zone
	} else if coll != "projects" {
		target += "/global"
	}
	if coll != "projects" {
		target += "/" + coll
		if name != "" {
			target += "/" + name
		}
	}
	call := Call{API: "compute", Operation: op, Target: target}
	if f.faultHTTP(w, &call, "compute", permissions[op], target) {
		return call
	}
	p := f.projects[project]
	if p == nil {
		apiError(w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource 'projects/%s' was not found", project))
		return call
	}
	body, _ := io.ReadAll(r.Body)
	notFound := func() {
		apiError(w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", target))
	}
	done := func(kind string) { writeJSON(w, f.operation(project, zone, kind, target)) }
	switch coll {
	case "projects":
		if verb == "setCommonInstanceMetadata" {
			var md compute.Metadata
			json.Unmarshal(body, &md)
			p.Metadata = md.Items
			done("setCommonInstanceMetadata")
			return call
		}
		writeJSON(w, &compute.Project{Name: p.ID, Id: 0, Kind: "compute#project",
			CommonInstanceMetadata: &compute.Metadata{Items: p.Metadata, Fingerprint: fingerprint(p.Metadata)}})
	case "instances":
		in := f.instances[target]
		switch op {
		case "instances.insert":
			var x compute.Instance
			json.Unmarshal(body, &x)
			path := target + "/" + x.Name
			if f.instances[path] != nil {
				apiError(w, 409, "ALREADY_EXISTS", "alreadyExists", fmt.Sprintf("The resource '%s' already exists", path))
				return call
			}
			f.seq++
			x.Id, x.Status, x.SelfLink, x.Zone = uint64(1000+f.seq), "RUNNING", f.selfLink(path), f.selfLink("projects/"+project+"/zones/"+zone)
			for _, d := range x.Disks {
				if d.InitializeParams != nil && d.Source == "" {
					diskPath := "projects/" + project + "/zones/" + zone + "/disks/" + x.Name
					f.disks[diskPath] = &compute.Disk{Name: x.Name, SelfLink: f.selfLink(diskPath), SourceSnapshot: d.InitializeParams.SourceSnapshot, Zone: x.Zone, Labels: x.Labels}
					d.Source = f.selfLink(diskPath)
				}
			}
			f.instances[path] = &x
			target = path
			done("insert")
			return call
		}
		if in == nil {
			notFound()
			return call
		}
		switch op {
		case "instances.get":
			writeJSON(w, in)
		case "instances.stop":
			in.Status = "TERMINATED"
			done("stop")
		case "instances.suspend":
			if in.Status != "RUNNING" && in.Status != "SUSPENDED" {
				apiError(w, 400, "FAILED_PRECONDITION", "resourceNotReady", "Instance is not running")
				return call
			}
			in.Status = "SUSPENDED"
			done("suspend")
		case "instances.resume":
			in.Status = "RUNNING"
			done("resume")
		case "instances.delete":
			delete(f.instances, target)
			done("delete")
		case "instances.setTags":
			var t compute.Tags
			json.Unmarshal(body, &t)
			if in.Tags != nil && t.Fingerprint != in.Tags.Fingerprint {
				apiError(w, 412, "FAILED_PRECONDITION", "conditionNotMet", "Supplied fingerprint does not match current fingerprint.")
				return call
			}
			in.Tags = &compute.Tags{Items: t.Items, Fingerprint: fingerprint(t.Items)}
			done("setTags")
		case "instances.setMetadata":
			var md compute.Metadata
			json.Unmarshal(body, &md)
			if in.Metadata != nil && md.Fingerprint != in.Metadata.Fingerprint {
				apiError(w, 412, "FAILED_PRECONDITION", "conditionNotMet", "Supplied fingerprint does not match current fingerprint.")
				return call
			}
			in.Metadata = &compute.Metadata{Items: md.Items, Fingerprint: fingerprint(md.Items)}
			done("setMetadata")
		case "instances.deleteAccessConfig":
			ac, nic := r.URL.Query().Get("accessConfig"), r.URL.Query().Get("networkInterface")
			for _, ni := range in.NetworkInterfaces {
				if ni.Name != nic {
					continue
				}
				var kept []*compute.AccessConfig
				for _, a := range ni.AccessConfigs {
					if a.Name != ac {
						kept = append(kept, a)
					}
				}
				ni.AccessConfigs = kept
			}
			done("deleteAccessConfig")
		default:
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", "the fake does not serve "+op)
		}
	case "disks":
		d := f.disks[target]
		if d == nil {
			notFound()
			return call
		}
		writeJSON(w, d)
	case "snapshots":
		f.snapshotsAPI(w, r, op, project, target, body, done, notFound)
	case "images":
		switch op {
		case "images.list":
			var items []*compute.Image
			for _, k := range slices.Sorted(maps.Keys(f.images)) {
				if strings.HasPrefix(k, target+"/") && matchFilter(r.URL.Query().Get("filter"), f.images[k].Labels) {
					items = append(items, f.images[k])
				}
			}
			writeJSON(w, &compute.ImageList{Items: items})
		case "images.get":
			img := f.images[target]
			if img == nil {
				notFound()
				return call
			}
			writeJSON(w, img)
		case "images.insert":
			var img compute.Image
			json.Unmarshal(body, &img)
			path := target + "/" + img.Name
			if f.images[path] != nil {
				apiError(w, 409, "ALREADY_EXISTS", "alreadyExists", fmt.Sprintf("The resource '%s' already exists", path))
				return call
			}
			src := strings.TrimPrefix(img.SourceSnapshot, "https://www.googleapis.com/compute/v1/")
			src = strings.TrimPrefix(src, "https://compute.googleapis.com/compute/v1/")
			if f.snapshots[src] == nil {
				apiError(w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", src))
				return call
			}
			f.seq++
			img.Id, img.SelfLink, img.Status, img.CreationTimestamp = uint64(5000+f.seq), f.selfLink(path), "READY", f.now().Format("2006-01-02T15:04:05.000-07:00")
			f.images[path] = &img
			target = path
			done("insert")
		default:
			notFound()
		}
	case "firewalls":
		f.firewallsAPI(w, r, op, target, body, done, notFound)
	case "operations":
		o := f.ops[target]
		if o == nil {
			notFound()
			return call
		}
		writeJSON(w, o)
	default:
		apiError(w, 400, "INVALID_ARGUMENT", "invalid", "the fake does not serve "+op)
	}
	return call
}

func (f *Fake) snapshotsAPI(w http.ResponseWriter, r *http.Request, op, project, target string, body []byte, done func(string), notFound func()) {
	switch op {
	case "snapshots.list":
		var items []*compute.Snapshot
		for _, k := range slices.Sorted(maps.Keys(f.snapshots)) {
			if strings.HasPrefix(k, target+"/") && matchFilter(r.URL.Query().Get("filter"), f.snapshots[k].Labels) {
				items = append(items, f.snapshots[k])
			}
		}
		writeJSON(w, &compute.SnapshotList{Items: items})
	case "snapshots.get":
		s := f.snapshots[target]
		if s == nil {
			notFound()
			return
		}
		writeJSON(w, s)
	case "snapshots.insert":
		var s compute.Snapshot
		json.Unmarshal(body, &s)
		path := target + "/" + s.Name
		if f.snapshots[path] != nil {
			apiError(w, 409, "ALREADY_EXISTS", "alreadyExists", fmt.Sprintf("The resource '%s' already exists", path))
			return
		}
		src := strings.TrimPrefix(strings.TrimPrefix(s.SourceDisk, "https://www.googleapis.com/compute/v1/"), "https://compute.googleapis.com/compute/v1/")
		d := f.disks[src]
		if d == nil {
			apiError(w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", src))
			return
		}
		f.seq++
		s.Id, s.SelfLink, s.Status, s.CreationTimestamp = uint64(3000+f.seq), f.selfLink(path), "READY", f.now().Format("2006-01-02T15:04:05.000-07:00")
		s.SourceDisk, s.DiskSizeGb, s.StorageBytes = d.SelfLink, d.SizeGb, d.SizeGb<<30
		f.snapshots[path] = &s
		done("insert")
	default:
		notFound()
	}
}

func (f *Fake) firewallsAPI(w http.ResponseWriter, r *http.Request, op, target string, body []byte, done func(string), notFound func()) {
	switch op {
	case "firewalls.list":
		var items []*compute.Firewall
		for _, k := range slices.Sorted(maps.Keys(f.firewalls)) {
			if strings.HasPrefix(k, target+"/") {
				items = append(items, f.firewalls[k])
			}
		}
		writeJSON(w, &compute.FirewallList{Items: items})
	case "firewalls.insert":
		var fw compute.Firewall
		json.Unmarshal(body, &fw)
		path := target + "/" + fw.Name
		if f.firewalls[path] != nil {
			apiError(w, 409, "ALREADY_EXISTS", "alreadyExists", fmt.Sprintf("The resource '%s' already exists", path))
			return
		}
		f.seq++
		fw.Id, fw.SelfLink = uint64(7000+f.seq), f.selfLink(path)
		if fw.Direction == "" {
			fw.Direction = "INGRESS"
		}
		f.firewalls[path] = &fw
		done("insert")
	default:
		fw := f.firewalls[target]
		if fw == nil {
			notFound()
			return
		}
		switch op {
		case "firewalls.get":
			writeJSON(w, fw)
		case "firewalls.delete":
			delete(f.firewalls, target)
			done("delete")
		case "firewalls.patch":
			var patch compute.Firewall
			json.Unmarshal(body, &patch)
			if patch.SourceRanges != nil {
				fw.SourceRanges = patch.SourceRanges
			}
			if patch.Disabled {
				fw.Disabled = true
			}
			done("patch")
		default:
			notFound()
		}
	}
}

var labelFilter = regexp.MustCompile(`labels\.([A-Za-z0-9_-]+)\s*=\s*"?([^"\s)]*)"?`)

// matchFilter applies the label terms of a compute list filter (all must
// match); other terms are ignored.
func matchFilter(filter string, labels map[string]string) bool {
	for _, m := range labelFilter.FindAllStringSubmatch(filter, -1) {
		if labels[m[1]] != m[2] {
			return false
		}
	}
	return true
}

func fingerprint(v any) string {
	raw, _ := json.Marshal(v)
	var h uint64 = 1469598103934665603
	for _, b := range raw {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return fmt.Sprintf("%016x", h)
}
