// Package gcpfake is a stateful fake of the Google Cloud APIs vigil's GCP
// provider calls: the Cloud Asset API (an in-process gRPC server
// implementing the generated AssetServiceServer, with long-running
// operations for ExportAssets) and the Compute Engine, IAM and Cloud
// Storage REST APIs (an httptest server speaking their JSON). The asset
// service derives its assets from the same state the REST API changes, so
// collect -> act -> collect shows the change.
package gcpfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	compute "google.golang.org/api/compute/v1"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/grpc"
)

// Project is a project with its place in the hierarchy.
type Project struct {
	ID, Number string
	Ancestors  []string // folders/N, organizations/N, nearest first
	Labels     map[string]string
	Bindings   map[string][]string // role -> members
	Metadata   []*compute.MetadataItems
}

// Fault is an injected error.
type Fault struct {
	API       string // "asset", "compute", "iam", "storage"; "" matches any
	Operation string // ListAssets, instances.suspend, ...; "" matches any
	Kind      string // "quota" or "denied"
	Times     int    // <0 for always
}

// Call is one request the fake served.
type Call struct {
	API, Operation, Target string
	Status                 int
	Fault                  string
}

// Fake is the fake Google Cloud.
type Fake struct {
	mu        sync.Mutex
	projects  map[string]*Project
	instances map[string]*compute.Instance // projects/P/zones/Z/instances/N
	disks     map[string]*compute.Disk
	snapshots map[string]*compute.Snapshot // projects/P/global/snapshots/N
	images    map[string]*compute.Image
	firewalls map[string]*compute.Firewall
	networks  map[string]*compute.Network
	keys      map[string]*iam.ServiceAccountKey // projects/P/serviceAccounts/E/keys/K
	buckets   map[string]string                 // bucket -> project id
	objects   map[string][]byte                 // bucket/object
	ops       map[string]*compute.Operation
	lros      map[string]*longrunningpb.Operation
	faults    []*Fault
	calls     []Call
	seq       int
	now       func() time.Time
	url       string // the REST server's URL, for self links
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{projects: map[string]*Project{}, instances: map[string]*compute.Instance{}, disks: map[string]*compute.Disk{},
		snapshots: map[string]*compute.Snapshot{}, images: map[string]*compute.Image{}, firewalls: map[string]*compute.Firewall{},
		networks: map[string]*compute.Network{}, keys: map[string]*iam.ServiceAccountKey{}, buckets: map[string]string{},
		objects: map[string][]byte{}, ops: map[string]*compute.Operation{}, lros: map[string]*longrunningpb.Operation{},
		now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }}
}

// Servers are the fake's endpoints.
type Servers struct {
	// REST is the Compute/IAM/Storage base URL (http://127.0.0.1:PORT).
	REST string
	// Asset is the gRPC address (127.0.0.1:PORT), plaintext.
	Asset string
	close func()
}

// Close stops both servers.
func (s *Servers) Close() { s.close() }

// Start serves the fake.
func (f *Fake) Start() (*Servers, error) {
	rest := httptest.NewServer(f)
	f.mu.Lock()
	f.url = rest.URL
	f.mu.Unlock()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rest.Close()
		return nil, err
	}
	g := grpc.NewServer()
	assetpb.RegisterAssetServiceServer(g, &assetServer{f: f})
	longrunningpb.RegisterOperationsServer(g, &opsServer{f: f})
	go g.Serve(lis)
	return &Servers{REST: rest.URL, Asset: lis.Addr().String(), close: func() { g.Stop(); rest.Close() }}, nil
}

// With runs fn under the fake's lock.
func (f *Fake) With(fn func(f *Fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// Inject adds a fault.
func (f *Fake) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x := ft
	f.faults = append(f.faults, &x)
}

// Calls returns the requests served.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Mutations lists the successful calls that changed state.
func (f *Fake) Mutations() []string {
	var out []string
	for _, c := range f.Calls() {
		if c.Status < 300 && c.Fault == "" && !strings.HasPrefix(c.Operation, "get") && !strings.HasPrefix(c.Operation, "list") &&
			!strings.HasSuffix(c.Operation, ".get") && !strings.HasSuffix(c.Operation, ".list") && !strings.HasSuffix(c.Operation, ".wait") &&
			c.Operation != "ListAssets" && c.Operation != "GetOperation" && c.Operation != "objects.download" {
			out = append(out, c.Operation+" "+c.Target)
		}
	}
	return out
}

func (f *Fake) fault(api, op string) string {
	for _, ft := range f.faults {
		if ft.Times == 0 || (ft.API != "" && ft.API != api) || (ft.Operation != "" && ft.Operation != op) {
			continue
		}
		if ft.Times > 0 {
			ft.Times--
		}
		return ft.Kind
	}
	return ""
}

// Project, Instance, ... accessors for tests and scenarios (under With).

func (f *Fake) Project(id string) *Project             { return f.projects[id] }
func (f *Fake) Instance(path string) *compute.Instance { return f.instances[path] }
func (f *Fake) Firewall(path string) *compute.Firewall { return f.firewalls[path] }
func (f *Fake) Key(path string) *iam.ServiceAccountKey { return f.keys[path] }

// Snapshots returns the snapshots of a project.
func (f *Fake) Snapshots(project string) []*compute.Snapshot {
	var out []*compute.Snapshot
	for _, k := range slices.Sorted(maps.Keys(f.snapshots)) {
		if strings.HasPrefix(k, "projects/"+project+"/") {
			out = append(out, f.snapshots[k])
		}
	}
	return out
}

// Images returns the images of a project.
func (f *Fake) Images(project string) []*compute.Image {
	var out []*compute.Image
	for _, k := range slices.Sorted(maps.Keys(f.images)) {
		if strings.HasPrefix(k, "projects/"+project+"/") {
			out = append(out, f.images[k])
		}
	}
	return out
}

// Firewalls returns the firewall rules of a project.
func (f *Fake) Firewalls(project string) []*compute.Firewall {
	var out []*compute.Firewall
	for _, k := range slices.Sorted(maps.Keys(f.firewalls)) {
		if strings.HasPrefix(k, "projects/"+project+"/") {
			out = append(out, f.firewalls[k])
		}
	}
	return out
}

func (f *Fake) selfLink(path string) string {
	return "https://www.googleapis.com/compute/v1/" + path
}

// apiError writes a Google API error document.
func apiError(w http.ResponseWriter, code int, status, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg, "status": status,
		"errors": []map[string]string{{"message": msg, "domain": "global", "reason": reason}},
	}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

var (
	reIAM     = regexp.MustCompile(`^/v1/(projects/[^/]+/serviceAccounts/[^/]+/keys/[^/:]+)(:disable|:enable)?$`)
	reStorage = regexp.MustCompile(`^/storage/v1/b/([^/]+)/o(?:/(.+))?$`)
)

// ServeHTTP routes Compute, IAM and Storage requests.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := &recorder{ResponseWriter: w, status: 200}
	var call Call
	switch {
	case strings.HasPrefix(r.URL.Path, "/compute/v1/"):
		call = f.compute(rec, r)
	case reIAM.MatchString(r.URL.Path):
		call = f.iam(rec, r)
	case strings.HasPrefix(r.URL.Path, "/upload/storage/v1/"):
		call = f.upload(rec, r)
	case reStorage.MatchString(r.URL.Path) || strings.HasPrefix(r.URL.Path, "/download/storage/v1/"):
		call = f.storage(rec, r)
	default:
		apiError(rec, 404, "NOT_FOUND", "notFound", "the fake does not serve "+r.URL.Path)
	}
	call.Status = rec.status
	f.calls = append(f.calls, call)
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

// faultHTTP answers an injected fault, the way Google APIs do.
func (f *Fake) faultHTTP(w http.ResponseWriter, call *Call, api, perm, target string) bool {
	switch f.fault(api, call.Operation) {
	case "quota":
		call.Fault = "quota"
		apiError(w, 429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'.")
		return true
	case "denied":
		call.Fault = "denied"
		apiError(w, 403, "PERMISSION_DENIED", "forbidden", fmt.Sprintf("Required '%s' permission for '%s'", perm, target))
		return true
	}
	return false
}

// operation records a finished compute operation; it reads RUNNING the
// first time it is returned and DONE when polled, as a real one would.
func (f *Fake) operation(project, zone, kind, target string) *compute.Operation {
	f.seq++
	name := fmt.Sprintf("operation-%d-%d", f.now().Unix(), f.seq)
	op := &compute.Operation{Kind: "compute#operation", Name: name, OperationType: kind, Status: "RUNNING", Progress: 0,
		TargetLink: f.selfLink(target), InsertTime: f.now().Format(time.RFC3339)}
	if zone != "" {
		op.Zone = f.selfLink("projects/" + project + "/zones/" + zone)
	}
	path := "projects/" + project + "/global/operations/" + name
	if zone != "" {
		path = "projects/" + project + "/zones/" + zone + "/operations/" + name
	}
	op.SelfLink = f.selfLink(path)
	f.ops[path] = op
	first := *op
	op.Status, op.Progress = "DONE", 100
	return &first
}
