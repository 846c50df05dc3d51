package gcpfake

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// computePermissions names the IAM permissions each Compute operation
// needs (Compute Engine IAM permissions reference): the denial messages
// name the first (a test checks it is the one
// internal/provider/gcp/testdata/permissions.tsv names), and
// Call.Permissions lists them.
var computePermissions = map[string][]string{
	"instances.get": {"compute.instances.get"}, "instances.stop": {"compute.instances.stop"},
	"instances.suspend": {"compute.instances.suspend"}, "instances.resume": {"compute.instances.resume"},
	"instances.delete": {"compute.instances.delete"}, "instances.setTags": {"compute.instances.setTags"},
	"instances.setMetadata": {"compute.instances.setMetadata"}, "instances.deleteAccessConfig": {"compute.instances.deleteAccessConfig"},
	"instances.insert": {"compute.instances.create", "compute.disks.create", "compute.snapshots.useReadOnly", "compute.networks.use", "compute.instances.setLabels"},
	"disks.get":        {"compute.disks.get"}, "disks.insert": {"compute.disks.create", "compute.snapshots.useReadOnly", "compute.disks.setLabels"},
	"disks.delete":     {"compute.disks.delete"},
	"snapshots.insert": {"compute.snapshots.create", "compute.disks.createSnapshot", "compute.snapshots.setLabels"},
	"snapshots.list":   {"compute.snapshots.list"}, "snapshots.get": {"compute.snapshots.get"},
	"images.insert": {"compute.images.create", "compute.snapshots.useReadOnly", "compute.images.setLabels"},
	"images.list":   {"compute.images.list"}, "images.get": {"compute.images.get"},
	"firewalls.insert": {"compute.firewalls.create", "compute.networks.updatePolicy"},
	"firewalls.patch":  {"compute.firewalls.update", "compute.networks.updatePolicy"},
	"firewalls.delete": {"compute.firewalls.delete", "compute.networks.updatePolicy"},
	"firewalls.get":    {"compute.firewalls.get"}, "firewalls.list": {"compute.firewalls.list"},
	"networks.get": {"compute.networks.get"},
	"projects.get": {"compute.projects.get"}, "projects.setCommonInstanceMetadata": {"compute.projects.setCommonInstanceMetadata"},
	"zoneOperations.get": {"compute.zoneOperations.get"}, "globalOperations.get": {"compute.globalOperations.get"},
}

// ComputePermission is the permission the fake's denial of a Compute
// operation (instances.stop) names.
func ComputePermission(op string) string {
	if ps := computePermissions[op]; len(ps) > 0 {
		return ps[0]
	}
	return ""
}

// computeRoute splits /compute/v1/projects/P/... into the operation
// (instances.stop), the project and zone, and the target path.
func computeRoute(r *http.Request) (op, project, zone, coll, name, target string) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"), "/")
	project = parts[0]
	verb := ""
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
	op = coll + "."
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
	if coll == "operations" {
		op = "globalOperations." + strings.TrimPrefix(op, "operations.")
		if zone != "" {
			op = "zoneOperations." + strings.TrimPrefix(op, "globalOperations.")
		}
	}
	target = "projects/" + project
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
	return op, project, zone, coll, name, target
}

var nameRe = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (f *Fake) compute(w http.ResponseWriter, r *http.Request, body []byte, req *Request) (Call, *Fault) {
	op, project, zone, coll, _, target := computeRoute(r)
	call := Call{API: "compute", Operation: op, Target: target, Permissions: computePermissions[op]}
	perm := ""
	if ps := computePermissions[op]; len(ps) > 0 {
		perm = ps[0]
	}
	done, after := f.faultHTTP(w, &call, "compute", perm, target)
	if done {
		return call, nil
	}
	p := f.projects[project]
	if p == nil {
		apiError(w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource 'projects/%s' was not found", project))
		return call, after
	}
	// A requestId seen before: the API "will know to ignore the request
	// if it has already been completed", whatever the state is now.
	if id := r.URL.Query().Get("requestId"); id != "" && r.Method != http.MethodGet {
		if path, ok := f.requestIDs[id]; ok {
			f.opFault = nil
			writeJSON(w, clone(f.ops[path].doc))
			return call, after
		}
	}
	defer func() { f.opFault = nil }()
	var in Doc
	if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut {
		if takesBody(op) {
			var err error
			if in, err = decodeObject(body); err != nil {
				badRequest(w, err.Error())
				return call, after
			}
		}
	}
	c := &computeCall{f: f, w: w, r: r, op: op, project: project, zone: zone, target: target, body: in, req: req, call: &call}
	switch coll {
	case "projects":
		c.projects(p)
	case "instances":
		c.instances()
	case "disks":
		c.disksAPI()
	case "snapshots":
		c.snapshotsAPI()
	case "images":
		c.imagesAPI()
	case "firewalls":
		c.firewallsAPI()
	case "networks":
		c.get(f.networks)
	case "operations":
		o := f.ops[target]
		if o == nil {
			c.notFound()
			return call, after
		}
		writeJSON(w, f.look(o))
	default:
		badRequest(w, "the fake does not serve "+op)
	}
	return call, after
}

func takesBody(op string) bool {
	switch op {
	case "instances.setTags", "instances.setMetadata", "instances.insert", "snapshots.insert", "disks.insert", "images.insert",
		"firewalls.insert", "firewalls.patch", "projects.setCommonInstanceMetadata":
		return true
	}
	return false
}

// computeCall is one Compute request being served.
type computeCall struct {
	f                 *Fake
	w                 http.ResponseWriter
	r                 *http.Request
	op, project, zone string
	target            string
	body              Doc
	req               *Request
	call              *Call
	// undo puts back what the call changed before its operation is done,
	// should the operation fail.
	undo func()
}

func (c *computeCall) notFound() {
	apiError(c.w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", c.target))
}

func (c *computeCall) exists(path string) {
	apiError(c.w, 409, "ALREADY_EXISTS", "alreadyExists", fmt.Sprintf("The resource '%s' already exists", path))
}

// start answers with a RUNNING operation whose effect waits for DONE.
func (c *computeCall) start(kind, target string, effect func() error) {
	c.f.startOp(c.w, c.r, c.project, c.zone, kind, target, effect, c.undo)
}

func (c *computeCall) get(m map[string]Doc) {
	d := m[c.target]
	if d == nil {
		c.notFound()
		return
	}
	writeJSON(c.w, d)
}

func (c *computeCall) projects(p *Project) {
	if c.op == "projects.setCommonInstanceMetadata" {
		if c.body.Str("fingerprint") != fingerprint(p.Metadata) {
			preconditionFailed(c.w)
			return
		}
		items := c.body.Objs("items")
		c.start("setCommonInstanceMetadata", c.target, func() error { p.Metadata = items; return nil })
		return
	}
	writeJSON(c.w, Doc{"kind": "compute#project", "name": p.ID, "id": p.Number,
		"commonInstanceMetadata": Doc{"kind": "compute#metadata", "items": list(p.Metadata), "fingerprint": fingerprint(p.Metadata)}})
}

func preconditionFailed(w http.ResponseWriter) {
	apiError(w, 412, "FAILED_PRECONDITION", "conditionNotMet", "Supplied fingerprint does not match current fingerprint.")
}

// localSSD reports whether an instance has a Local SSD (a SCRATCH disk).
func localSSD(in Doc) bool {
	for _, d := range in.Objs("disks") {
		if d.Str("type") == "SCRATCH" {
			return true
		}
	}
	return false
}

func (c *computeCall) instances() {
	f := c.f
	if c.op == "instances.insert" {
		c.insertInstance()
		return
	}
	in := f.instances[c.target]
	if in == nil {
		c.notFound()
		return
	}
	q := c.r.URL.Query()
	switch c.op {
	case "instances.get":
		writeJSON(c.w, in)
	case "instances.stop", "instances.suspend":
		// "discardLocalSsd: This property is required if the instance has
		// any attached Local SSD disks."
		if localSSD(in) {
			c.req.Requires = append(c.req.Requires, "discardLocalSsd")
			if v := q.Get("discardLocalSsd"); v != "true" && v != "false" {
				badRequest(c.w, fmt.Sprintf("VM %s has a Local SSD attached but an undefined value for `discardLocalSsd`. Set it to true to discard the Local SSD data, or false to preserve it.", in.Str("name")))
				return
			}
		}
		discard := q.Get("discardLocalSsd") == "true"
		if c.op == "instances.suspend" {
			if st := in.Str("status"); st != "RUNNING" && st != "SUSPENDED" {
				apiError(c.w, 400, "FAILED_PRECONDITION", "resourceNotReady", "Instance is not running")
				return
			}
			// The instance is SUSPENDING while the operation runs.
			if prev := in.Str("status"); prev == "RUNNING" {
				in["status"], c.undo = "SUSPENDING", func() { in["status"] = prev }
			}
			c.start("suspend", c.target, func() error {
				in["status"] = "SUSPENDED"
				f.discarded[c.target] = f.discarded[c.target] || (discard && localSSD(in))
				return nil
			})
			return
		}
		// STOPPING while the operation runs ("Instance: status ...
		// STOPPING, SUSPENDING, SUSPENDED, ... TERMINATED").
		if prev := in.Str("status"); prev != "TERMINATED" {
			in["status"], c.undo = "STOPPING", func() { in["status"] = prev }
		}
		c.start("stop", c.target, func() error {
			in["status"] = "TERMINATED"
			f.discarded[c.target] = f.discarded[c.target] || (discard && localSSD(in))
			return nil
		})
	case "instances.resume":
		if st := in.Str("status"); st != "SUSPENDED" && st != "RUNNING" {
			apiError(c.w, 400, "FAILED_PRECONDITION", "resourceNotReady", fmt.Sprintf("Instance is %s, not SUSPENDED", st))
			return
		}
		c.start("resume", c.target, func() error { in["status"] = "RUNNING"; return nil })
	case "instances.delete":
		c.start("delete", c.target, func() error {
			delete(f.instances, c.target)
			for _, d := range in.Objs("disks") {
				if d.Bool("autoDelete") && d.Str("source") != "" {
					delete(f.disks, linkPath(d.Str("source")))
					delete(f.content, linkPath(d.Str("source")))
				} else if d.Str("source") != "" {
					f.detach(linkPath(d.Str("source")), c.target)
				}
			}
			return nil
		})
	case "instances.setTags":
		tags := in.Obj("tags")
		if c.body.Str("fingerprint") != tags.Str("fingerprint") {
			preconditionFailed(c.w)
			return
		}
		items := c.body.Strs("items")
		c.start("setTags", c.target, func() error {
			in["tags"] = Doc{"items": anyStrings(items), "fingerprint": fingerprint(items)}
			return nil
		})
	case "instances.setMetadata":
		md := in.Obj("metadata")
		if c.body.Str("fingerprint") != md.Str("fingerprint") {
			preconditionFailed(c.w)
			return
		}
		items := c.body.Objs("items")
		c.start("setMetadata", c.target, func() error {
			in["metadata"] = Doc{"kind": "compute#metadata", "items": list(items), "fingerprint": fingerprint(items)}
			return nil
		})
	case "instances.deleteAccessConfig":
		ac, nic := q.Get("accessConfig"), q.Get("networkInterface")
		if ac == "" || nic == "" {
			badRequest(c.w, "Required parameters accessConfig and networkInterface are missing.")
			return
		}
		var ni Doc
		for _, n := range in.Objs("networkInterfaces") {
			if n.Str("name") == nic {
				ni = n
			}
		}
		if ni == nil {
			badRequest(c.w, fmt.Sprintf("Invalid value for field 'networkInterface': '%s'. No such network interface.", nic))
			return
		}
		// The name is that of an IPv4 access config (ONE_TO_ONE_NAT) or an
		// IPv6 one (DIRECT_IPV6) of the interface.
		c.start("deleteAccessConfig", c.target, func() error {
			for _, field := range []string{"accessConfigs", "ipv6AccessConfigs"} {
				if !ni.Has(field) {
					continue
				}
				var kept []Doc
				for _, a := range ni.Objs(field) {
					if a.Str("name") != ac {
						kept = append(kept, a)
					}
				}
				ni[field] = list(kept)
			}
			return nil
		})
	default:
		badRequest(c.w, "the fake does not serve "+c.op)
	}
}

func (c *computeCall) insertInstance() {
	f, x := c.f, c.body
	name := x.Str("name")
	if !nameRe.MatchString(name) {
		badRequest(c.w, fmt.Sprintf("Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", name))
		return
	}
	if x.Str("machineType") == "" || len(x.Objs("disks")) == 0 || len(x.Objs("networkInterfaces")) == 0 {
		badRequest(c.w, "Invalid value for field 'resource': an instance needs a machineType, a boot disk and a network interface.")
		return
	}
	path := c.target + "/" + name
	if f.instances[path] != nil {
		c.exists(path)
		return
	}
	for i, ni := range x.Objs("networkInterfaces") {
		if msg := f.interfaceProblem(c.project, c.zone, i, ni); msg != "" {
			badRequest(c.w, msg)
			return
		}
	}
	for _, d := range x.Objs("disks") {
		if src := d.Str("source"); src != "" && f.disks[partial(c.project, src)] == nil {
			apiError(c.w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", partial(c.project, src)))
			return
		}
		if src := d.Obj("initializeParams").Str("sourceSnapshot"); src != "" {
			sn := f.snapshots[linkPath(src)]
			if sn == nil {
				apiError(c.w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", linkPath(src)))
				return
			}
			if sn.Str("status") != "READY" {
				apiError(c.w, 400, "FAILED_PRECONDITION", "resourceNotReady", fmt.Sprintf("The resource '%s' is not ready", linkPath(src)))
				return
			}
		}
	}
	c.target = path
	zoneLink := f.selfLink("projects/" + c.project + "/zones/" + c.zone)
	c.start("insert", path, func() error {
		in := clone(x)
		in["kind"], in["id"], in["status"], in["selfLink"], in["zone"] = "compute#instance", f.nextID(), "RUNNING", f.selfLink(path), zoneLink
		in["creationTimestamp"] = f.timestamp()
		if !strings.Contains(in.Str("machineType"), "/projects/") {
			in["machineType"] = f.selfLink("projects/" + c.project + "/zones/" + c.zone + "/machineTypes/" + lastSeg(in.Str("machineType")))
		}
		in["tags"] = Doc{"fingerprint": fingerprint([]string(nil))}
		// The metadata items given at insert are kept (the worker's
		// startup script is one), with a fingerprint of them.
		items := in.Obj("metadata").Objs("items")
		in["metadata"] = Doc{"kind": "compute#metadata", "fingerprint": fingerprint(items)}
		if len(items) > 0 {
			in["metadata"].(Doc)["items"] = list(items)
		}
		for i, d := range in.Objs("disks") {
			ip := d.Obj("initializeParams")
			if src := d.Str("source"); src != "" {
				d["source"] = f.selfLink(partial(c.project, src))
				f.attach(partial(c.project, src), path)
				continue
			}
			if ip == nil {
				continue
			}
			diskName := name
			if i > 0 {
				diskName = fmt.Sprintf("%s-%d", name, i)
			}
			diskPath := "projects/" + c.project + "/zones/" + c.zone + "/disks/" + diskName
			size := f.snapshots[linkPath(ip.Str("sourceSnapshot"))].Str("diskSizeGb")
			f.disks[diskPath] = Doc{"kind": "compute#disk", "id": f.nextID(), "name": diskName, "selfLink": f.selfLink(diskPath), "zone": zoneLink,
				"sourceSnapshot": ip.Str("sourceSnapshot"), "sizeGb": size, "status": "READY", "labels": in["labels"], "users": anyStrings([]string{f.selfLink(path)})}
			if src := ip.Str("sourceSnapshot"); src != "" {
				f.content[diskPath] = f.contentOf(linkPath(src)).clone()
			}
			delete(d, "initializeParams")
			d["source"], d["type"], d["mode"], d["deviceName"] = f.selfLink(diskPath), "PERSISTENT", "READ_WRITE", diskName
		}
		for i, ni := range in.Objs("networkInterfaces") {
			ni["name"] = fmt.Sprintf("nic%d", i)
			net, sub := f.interfaceRefs(c.project, ni)
			if sub != "" {
				ni["subnetwork"] = f.selfLink(sub)
				net = linkPath(f.subnetworks[sub].Str("network"))
			}
			ni["network"] = f.selfLink(net)
			ni["networkIP"] = fmt.Sprintf("10.%d.%d.%d", 200+i, f.seq%250, 2+f.seq%250)
		}
		f.instances[path] = in
		f.runWorker(path, in)
		return nil
	})
}

func lastSeg(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// partial turns a full or partial URL of the API into a path: a path that
// starts at global/ or regions/ is the project's.
func partial(project, ref string) string {
	p := linkPath(ref)
	if p != "" && !strings.HasPrefix(p, "projects/") {
		p = "projects/" + project + "/" + p
	}
	return p
}

// interfaceRefs reads the network and subnetwork of an interface being
// created, as paths; without either the project's default network.
func (f *Fake) interfaceRefs(project string, ni Doc) (network, subnetwork string) {
	network, subnetwork = partial(project, ni.Str("network")), partial(project, ni.Str("subnetwork"))
	if network == "" && subnetwork == "" {
		network = "projects/" + project + "/global/networks/default"
	}
	return network, subnetwork
}

// interfaceProblem is the 400 message of an interface the API refuses:
// its network or subnetwork does not exist, a custom-mode network without
// a subnetwork (NetworkInterface.subnetwork: "If the network is in custom
// subnet mode, specifying the subnetwork is required"), a subnetwork of
// another region or network, or one of another project (the fake does not
// model Shared VPC, the only way an instance uses another project's
// network).
func (f *Fake) interfaceProblem(project, zone string, i int, ni Doc) string {
	field := fmt.Sprintf("resource.networkInterfaces[%d]", i)
	network, subnetwork := f.interfaceRefs(project, ni)
	if subnetwork != "" {
		sn := f.subnetworks[subnetwork]
		if sn == nil {
			return fmt.Sprintf("Invalid value for field '%s.subnetwork': '%s'. The referenced subnetwork resource cannot be found.", field, ni.Str("subnetwork"))
		}
		if ni.Str("network") != "" && linkPath(sn.Str("network")) != network {
			return fmt.Sprintf("Invalid value for field '%s.subnetwork': '%s'. Subnetwork does not belong to network '%s'.", field, ni.Str("subnetwork"), network)
		}
		if region := lastSeg(sn.Str("region")); !strings.HasPrefix(zone, region+"-") {
			return fmt.Sprintf("Invalid value for field '%s.subnetwork': '%s'. Subnetwork is in region %s, not the region of zone %s.", field, ni.Str("subnetwork"), region, zone)
		}
		network = linkPath(sn.Str("network"))
	}
	n := f.networks[network]
	if n == nil {
		return fmt.Sprintf("Invalid value for field '%s.network': '%s'. The referenced network resource cannot be found.", field, ni.Str("network"))
	}
	if p := strings.Split(network, "/")[1]; p != project {
		return fmt.Sprintf("Invalid value for field '%s.network': '%s'. The network is in project %s, not %s (the fake does not model Shared VPC).", field, ni.Str("network"), p, project)
	}
	if subnetwork == "" && !n.Bool("autoCreateSubnetworks") {
		return fmt.Sprintf("Invalid value for field '%s.subnetwork': ''. Network '%s' is in custom subnet mode: specifying the subnetwork is required.", field, network)
	}
	return ""
}

func (c *computeCall) snapshotsAPI() {
	f := c.f
	switch c.op {
	case "snapshots.list":
		var items []Doc
		for _, k := range slices.Sorted(maps.Keys(f.snapshots)) {
			if strings.HasPrefix(k, c.target+"/") && matchFilter(c.r.URL.Query().Get("filter"), f.snapshots[k].Obj("labels")) {
				f.lookAtSnapshot(k)
				items = append(items, f.snapshots[k])
			}
		}
		writeJSON(c.w, Doc{"kind": "compute#snapshotList", "items": list(items)})
	case "snapshots.get":
		if f.snapshots[c.target] == nil {
			c.notFound()
			return
		}
		f.lookAtSnapshot(c.target)
		writeJSON(c.w, f.snapshots[c.target])
	case "snapshots.insert":
		s := c.body
		name := s.Str("name")
		if !nameRe.MatchString(name) {
			badRequest(c.w, fmt.Sprintf("Invalid value for field 'resource.name': '%s'.", name))
			return
		}
		path := c.target + "/" + name
		if f.snapshots[path] != nil {
			c.exists(path)
			return
		}
		src := linkPath(s.Str("sourceDisk"))
		d := f.disks[src]
		if d == nil {
			apiError(c.w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", src))
			return
		}
		c.target = path
		c.start("insert", path, func() error {
			sn := clone(s)
			size := d.Str("sizeGb")
			sn["kind"], sn["id"], sn["selfLink"], sn["status"], sn["creationTimestamp"] = "compute#snapshot", f.nextID(), f.selfLink(path), "UPLOADING", f.timestamp()
			sn["sourceDisk"], sn["sourceDiskId"], sn["diskSizeGb"], sn["storageBytes"] = d.Str("selfLink"), d.Str("id"), size, size+"000000000"
			sn["storageLocations"] = anyStrings([]string{"eu"})
			f.snapshots[path] = sn
			f.content[path] = f.contentOf(src).clone()
			f.readyIn[path] = f.SnapshotLooks
			return nil
		})
	default:
		c.notFound()
	}
}

// lookAtSnapshot counts a look at a new snapshot: it is READY after
// SnapshotLooks of them.
func (f *Fake) lookAtSnapshot(path string) {
	n, ok := f.readyIn[path]
	if !ok {
		return
	}
	if n <= 0 {
		f.snapshots[path]["status"] = "READY"
		delete(f.readyIn, path)
		return
	}
	f.readyIn[path] = n - 1
}

func (c *computeCall) imagesAPI() {
	f := c.f
	switch c.op {
	case "images.list":
		var items []Doc
		for _, k := range slices.Sorted(maps.Keys(f.images)) {
			if strings.HasPrefix(k, c.target+"/") && matchFilter(c.r.URL.Query().Get("filter"), f.images[k].Obj("labels")) {
				items = append(items, f.images[k])
			}
		}
		writeJSON(c.w, Doc{"kind": "compute#imageList", "items": list(items)})
	case "images.get":
		c.get(f.images)
	case "images.insert":
		img := c.body
		path := c.target + "/" + img.Str("name")
		if !nameRe.MatchString(img.Str("name")) {
			badRequest(c.w, fmt.Sprintf("Invalid value for field 'resource.name': '%s'.", img.Str("name")))
			return
		}
		if f.images[path] != nil {
			c.exists(path)
			return
		}
		src := linkPath(img.Str("sourceSnapshot"))
		sn := f.snapshots[src]
		if sn == nil {
			apiError(c.w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", src))
			return
		}
		if sn.Str("status") != "READY" {
			apiError(c.w, 400, "FAILED_PRECONDITION", "resourceNotReady", fmt.Sprintf("The resource '%s' is not ready", src))
			return
		}
		c.target = path
		c.start("insert", path, func() error {
			x := clone(img)
			x["kind"], x["id"], x["selfLink"], x["status"], x["creationTimestamp"] = "compute#image", f.nextID(), f.selfLink(path), "READY", f.timestamp()
			x["sourceSnapshot"], x["sourceSnapshotId"], x["diskSizeGb"] = sn.Str("selfLink"), sn.Str("id"), sn.Str("diskSizeGb")
			f.images[path] = x
			return nil
		})
	default:
		c.notFound()
	}
}

func (c *computeCall) firewallsAPI() {
	f := c.f
	switch c.op {
	case "firewalls.list":
		var items []Doc
		for _, k := range slices.Sorted(maps.Keys(f.firewalls)) {
			if strings.HasPrefix(k, c.target+"/") {
				items = append(items, f.firewalls[k])
			}
		}
		writeJSON(c.w, Doc{"kind": "compute#firewallList", "items": list(items)})
	case "firewalls.insert":
		fw := clone(c.body)
		path := c.target + "/" + fw.Str("name")
		if msg := f.firewallDefaults(fw, c.project); msg != "" {
			badRequest(c.w, msg)
			return
		}
		if f.firewalls[path] != nil {
			c.exists(path)
			return
		}
		c.target = path
		c.start("insert", path, func() error {
			fw["kind"], fw["id"], fw["selfLink"], fw["creationTimestamp"] = "compute#firewall", f.nextID(), f.selfLink(path), f.timestamp()
			f.firewalls[path] = fw
			return nil
		})
	default:
		fw := f.firewalls[c.target]
		if fw == nil {
			c.notFound()
			return
		}
		switch c.op {
		case "firewalls.get":
			writeJSON(c.w, fw)
		case "firewalls.delete":
			c.start("delete", c.target, func() error { delete(f.firewalls, c.target); return nil })
		case "firewalls.patch":
			// "This method supports PATCH semantics and uses the JSON merge
			// patch format and processing rules."
			next := mergePatch(clone(fw), c.body)
			for _, k := range []string{"sourceRanges", "destinationRanges", "sourceTags", "sourceServiceAccounts"} {
				if l, ok := next[k].([]any); ok && len(l) == 0 {
					delete(next, k)
				}
			}
			if next.Str("name") != fw.Str("name") {
				badRequest(c.w, "Invalid value for field 'resource.name': a firewall's name cannot change.")
				return
			}
			if msg := f.firewallDefaults(next, c.project); msg != "" {
				badRequest(c.w, msg)
				return
			}
			path := c.target
			c.start("patch", path, func() error { f.firewalls[path] = next; return nil })
		default:
			c.notFound()
		}
	}
}

// mergePatch applies an RFC 7396 JSON merge patch: present fields replace,
// null deletes, objects merge.
func mergePatch(target, patch Doc) Doc {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			t := target.Obj(k)
			if t == nil {
				t = Doc{}
			}
			target[k] = map[string]any(mergePatch(t, Doc(pv)))
		default:
			target[k] = v
		}
	}
	return target
}

var labelFilter = regexp.MustCompile(`labels\.([A-Za-z0-9_-]+)\s*=\s*"?([^"\s)]*)"?`)

// matchFilter applies the label terms of a compute list filter (all must
// match); other terms are ignored.
func matchFilter(filter string, labels Doc) bool {
	for _, m := range labelFilter.FindAllStringSubmatch(filter, -1) {
		if labels.Str(m[1]) != m[2] {
			return false
		}
	}
	return true
}
