package gcpfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Doc is a resource as the API's JSON has it. Numbers decoded from
// requests are json.Number; int64 fields are strings, as on the wire.
type Doc map[string]any

// Str returns a string field ("" when absent).
func (d Doc) Str(k string) string {
	s, _ := d[k].(string)
	return s
}

// Strs returns a list of strings field.
func (d Doc) Strs(k string) []string {
	var out []string
	l, _ := d[k].([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	if ss, ok := d[k].([]string); ok {
		out = append(out, ss...)
	}
	return out
}

// Int returns an integer field, whether the JSON has it as a number or a
// string (int64 fields), and whether it is there.
func (d Doc) Int(k string) (int64, bool) {
	switch v := d[k].(type) {
	case json.Number:
		i, err := v.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(v, 10, 64)
		return i, err == nil
	case int:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		return int64(v), v == float64(int64(v))
	}
	return 0, false
}

// Bool returns a boolean field.
func (d Doc) Bool(k string) bool {
	b, _ := d[k].(bool)
	return b
}

// Obj returns an object field, or nil.
func (d Doc) Obj(k string) Doc {
	switch v := d[k].(type) {
	case map[string]any:
		return Doc(v)
	case Doc:
		return v
	}
	return nil
}

// Objs returns a list of objects field.
func (d Doc) Objs(k string) []Doc {
	var out []Doc
	switch l := d[k].(type) {
	case []any:
		for _, v := range l {
			switch o := v.(type) {
			case map[string]any:
				out = append(out, Doc(o))
			case Doc:
				out = append(out, o)
			}
		}
	case []Doc:
		out = l
	case []map[string]any:
		for _, o := range l {
			out = append(out, Doc(o))
		}
	}
	return out
}

// Has reports whether the field is present (even as null).
func (d Doc) Has(k string) bool {
	_, ok := d[k]
	return ok
}

// clone deep-copies a document through JSON, keeping numbers exact.
func clone(d Doc) Doc {
	raw, _ := json.Marshal(d)
	var out Doc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

// list makes a JSON list of documents.
func list(docs []Doc) []any {
	out := make([]any, 0, len(docs))
	for _, d := range docs {
		out = append(out, map[string]any(d))
	}
	return out
}

// anyStrings makes a JSON list of strings.
func anyStrings(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// Project is a project with its place in the hierarchy.
type Project struct {
	ID, Number string
	Ancestors  []string // folders/N, organizations/N, nearest first
	Labels     map[string]string
	Bindings   map[string][]string // role -> members
	// Metadata are the project-wide metadata items ({"key", "value"}).
	Metadata []Doc
}

// Fault is an injected error.
type Fault struct {
	API       string // "asset", "compute", "iam", "storage", "osconfig", "containeranalysis"; "" matches any
	Operation string // ListAssets, instances.suspend, operations.get, ...; "" matches any
	// Kind is "quota" (429), "unavailable" (503), "denied" (403),
	// "disabled" (403 SERVICE_DISABLED: the API is off in the project),
	// "reset" (the connection is closed without an answer) or, for a
	// Compute call that starts an operation, "operation": the call is
	// accepted, and its operation ends DONE with an error and no effect
	// (Operation.error: "If errors are generated during processing of the
	// operation, this field will be populated").
	Kind  string
	Times int // <0 for always
	// Skip lets the first Skip matching calls through (a failure on the
	// second page of a list).
	Skip int
	// After serves the request first, then answers with the fault: the
	// change is made but the caller cannot know (a lost answer).
	After bool
}

// Call is one request the fake served.
type Call struct {
	API, Operation, Target string
	Status                 int
	Fault                  string
	// Permissions are the IAM permissions the fake takes the call to need;
	// its denials name the first. What Google documents is in
	// internal/provider/gcp/testdata/permissions.tsv, which the tests of
	// vigil's permission lists read instead.
	Permissions []string
}

// Request is one REST request as it came over the wire.
type Request struct {
	HTTPMethod string
	// Path is the URL path, RawPath the same as sent (escaped: an object
	// name's slashes are %2F there).
	Path, RawPath string
	Query         url.Values
	Body          []byte
	// API and Operation name what the fake served (compute,
	// instances.stop).
	API, Operation string
	Status         int
	Fault          string
	// Requires names query parameters that the API's documentation makes
	// required for this request in the state the fake was in, beyond
	// those its discovery document marks required: discardLocalSsd when
	// the instance has a Local SSD.
	Requires []string
}

// RPC is one gRPC request the fake served (Cloud Asset and its
// long-running operations), as it came over the wire.
type RPC struct {
	// Method is the full method: google.cloud.asset.v1.AssetService/ListAssets.
	Method  string
	Message proto.Message
}

// Fake is the fake Google Cloud.
type Fake struct {
	mu       sync.Mutex
	projects map[string]*Project
	// Resources by path (projects/P/zones/Z/instances/N, ...), as the API
	// returns them.
	instances, disks, snapshots, images, firewalls, networks, subnetworks map[string]Doc
	keys                                                                  map[string]Doc // projects/P/serviceAccounts/E/keys/K
	buckets                                                               map[string]string
	objects                                                               map[string][]byte // bucket/object
	ops                                                                   map[string]*operation
	requestIDs                                                            map[string]string // requestId -> operation path
	readyIn                                                               map[string]int    // snapshot path -> looks until READY
	discarded                                                             map[string]bool   // instance path -> its Local SSD data was discarded
	lros                                                                  map[string]*longrunningpb.Operation
	faults                                                                []*Fault
	opFault                                                               *Fault // an "operation" fault for the call being served
	calls                                                                 []Call
	requests                                                              []Request
	rpcs                                                                  []RPC
	seq                                                                   int
	now                                                                   func() time.Time
	url                                                                   string
	// OpLooks is how many looks (Get) an operation takes to be DONE; the
	// insert, stop, ... itself always answers RUNNING.
	OpLooks int
	// SnapshotLooks is how many looks at a new snapshot (get or list) it
	// takes to go from UPLOADING to READY once its operation is done.
	SnapshotLooks int
	extra         []extraAsset          // extra.go
	reports       []VulnerabilityReport // extra.go
	occurrences   []Occurrence          // occurrences.go
	// UnreachableRegions are the Artifact Analysis regions a list cannot
	// reach (occurrences.go).
	UnreachableRegions []string
	// content, generations and pending are evidence.go's: the bytes of
	// disks and snapshots, objects' generations, and result objects a
	// worker is still writing (looks until they are there).
	content     map[string]*Content
	generations map[string]string
	pending     map[string]int
	// WorkerLooks is how many looks at a worker's result object it takes
	// to be there once the worker exists.
	WorkerLooks int
	// WorkerTamper, when set, changes a worker's result before it is
	// written: a worker that fails, or another writer that wins the race.
	WorkerTamper func(result map[string]any)
	logEntries   []Doc // logging.go
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{projects: map[string]*Project{}, instances: map[string]Doc{}, disks: map[string]Doc{}, snapshots: map[string]Doc{},
		images: map[string]Doc{}, firewalls: map[string]Doc{}, networks: map[string]Doc{}, subnetworks: map[string]Doc{}, keys: map[string]Doc{},
		buckets: map[string]string{}, objects: map[string][]byte{}, ops: map[string]*operation{}, requestIDs: map[string]string{},
		readyIn: map[string]int{}, discarded: map[string]bool{}, lros: map[string]*longrunningpb.Operation{},
		now:     func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) },
		content: map[string]*Content{}, generations: map[string]string{}, pending: map[string]int{},
		OpLooks: 1, SnapshotLooks: 1, WorkerLooks: 1}
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

// Requests returns the REST requests as they came over the wire.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// RPCs returns the gRPC requests served.
func (f *Fake) RPCs() []RPC {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]RPC(nil), f.rpcs...)
}

func (f *Fake) record(method string, m proto.Message) {
	f.rpcs = append(f.rpcs, RPC{Method: method, Message: proto.Clone(m)})
}

// Mutations lists the successful calls that changed state (or asked to:
// a change takes effect when its operation is done).
func (f *Fake) Mutations() []string {
	var out []string
	for _, c := range f.Calls() {
		if c.Status < 300 && c.Fault == "" && mutating(c.Operation) {
			out = append(out, c.Operation+" "+c.Target)
		}
	}
	return out
}

func mutating(op string) bool {
	if op == "ListAssets" || op == "GetOperation" || op == "objects.download" {
		return false
	}
	_, verb, _ := strings.Cut(op, ".")
	return verb != "get" && verb != "list" && verb != "wait"
}

// fault returns the injected fault that hits a call, if any.
func (f *Fake) fault(api, op string) *Fault {
	for _, ft := range f.faults {
		if ft.Times == 0 || (ft.API != "" && ft.API != api) || (ft.Operation != "" && ft.Operation != op) {
			continue
		}
		if ft.Skip > 0 {
			ft.Skip--
			continue
		}
		if ft.Times > 0 {
			ft.Times--
		}
		return ft
	}
	return nil
}

// Accessors for tests and scenarios (under With).

// Project returns a project by id.
func (f *Fake) Project(id string) *Project { return f.projects[id] }

// Instance returns an instance by path.
func (f *Fake) Instance(path string) Doc { return f.instances[path] }

// Firewall returns a firewall rule by path.
func (f *Fake) Firewall(path string) Doc { return f.firewalls[path] }

// PutFirewall stores a firewall rule as the API would return it, for
// scenarios: one made by someone else before vigil runs (under With).
func (f *Fake) PutFirewall(path string, d Doc) {
	d = clone(d)
	d["kind"], d["name"], d["selfLink"] = "compute#firewall", lastSeg(path), f.selfLink(path)
	if !d.Has("id") {
		d["id"] = f.nextID()
	}
	if n := d.Str("network"); n != "" {
		d["network"] = f.selfLink(linkPath(n))
	}
	f.firewalls[path] = d
}

// AddNetwork adds a VPC network (custom subnet mode unless auto), for
// scenarios (under With).
func (f *Fake) AddNetwork(path string, auto bool) {
	f.networks[path] = Doc{"kind": "compute#network", "id": f.nextID(), "name": lastSeg(path), "selfLink": f.selfLink(path),
		"autoCreateSubnetworks": auto, "routingConfig": map[string]any{"routingMode": "REGIONAL"}}
}

// AddSubnetwork adds a subnetwork of a network, listed in the network's
// subnetworks as the API lists them (under With).
func (f *Fake) AddSubnetwork(path, network, cidr string) {
	region := strings.Split(path, "/")[3]
	f.subnetworks[path] = Doc{"kind": "compute#subnetwork", "id": f.nextID(), "name": lastSeg(path), "selfLink": f.selfLink(path),
		"network": f.selfLink(network), "ipCidrRange": cidr, "region": f.selfLink("projects/" + strings.Split(path, "/")[1] + "/regions/" + region)}
	n := f.networks[network]
	if n != nil {
		n["subnetworks"] = append(n.Strs("subnetworks"), f.selfLink(path))
		n["subnetworks"] = anyStrings(n.Strs("subnetworks"))
	}
}

// Key returns a service account key by name.
func (f *Fake) Key(path string) Doc { return f.keys[path] }

// Disk returns a disk by path.
func (f *Fake) Disk(path string) Doc { return f.disks[path] }

// LocalSSDDiscarded reports whether a stop or suspend discarded the
// instance's Local SSD data.
func (f *Fake) LocalSSDDiscarded(path string) bool { return f.discarded[path] }

func inProject(m map[string]Doc, project string) []Doc {
	var out []Doc
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.HasPrefix(k, "projects/"+project+"/") {
			out = append(out, m[k])
		}
	}
	return out
}

// Snapshots returns the snapshots of a project.
func (f *Fake) Snapshots(project string) []Doc { return inProject(f.snapshots, project) }

// Instances and Disks return the instances and disks of a project.
func (f *Fake) Instances(project string) []Doc { return inProject(f.instances, project) }
func (f *Fake) Disks(project string) []Doc     { return inProject(f.disks, project) }

// Images returns the images of a project.
func (f *Fake) Images(project string) []Doc { return inProject(f.images, project) }

// Firewalls returns the firewall rules of a project.
func (f *Fake) Firewalls(project string) []Doc { return inProject(f.firewalls, project) }

// Settle finishes every operation still running, as time would.
func (f *Fake) Settle() {
	for _, k := range slices.Sorted(maps.Keys(f.ops)) {
		f.finish(f.ops[k])
	}
}

func (f *Fake) selfLink(path string) string {
	return "https://www.googleapis.com/compute/v1/" + path
}

// linkPath turns a self link or a partial URL into a resource path.
func linkPath(link string) string {
	for _, pre := range []string{"https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/"} {
		link = strings.TrimPrefix(link, pre)
	}
	return link
}

func (f *Fake) nextID() string {
	f.seq++
	return strconv.FormatUint(uint64(4100000000000000000)+uint64(f.seq), 10)
}

func (f *Fake) timestamp() string { return f.now().Format("2006-01-02T15:04:05.000-07:00") }

// apiError writes a Google API error document.
func apiError(w http.ResponseWriter, code int, status, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg, "status": status,
		"errors": []map[string]string{{"message": msg, "domain": "global", "reason": reason}},
	}})
}

func badRequest(w http.ResponseWriter, msg string) {
	apiError(w, 400, "INVALID_ARGUMENT", "invalid", msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// decodeObject reads a request body that must be a JSON object, as the
// API's request messages are.
func decodeObject(body []byte) (Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("Invalid JSON payload received. %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Invalid JSON payload received. Expected an object, got %s", bytes.TrimSpace(body))
	}
	return Doc(m), nil
}

var (
	reIAM     = regexp.MustCompile(`^/v1/(projects/[^/]+/serviceAccounts/[^/]+/keys/[^/:]+)(:disable|:enable)?$`)
	reStorage = regexp.MustCompile(`^/storage/v1/b/([^/]+)/o(?:/(.+))?$`)
)

// ServeHTTP routes Compute, IAM and Storage requests. The answer is made
// first and sent after, so that a fault with After can replace it.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	rec := httptest.NewRecorder()
	req := Request{HTTPMethod: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.Query(), Body: body}
	var call Call
	var ft *Fault
	switch {
	case strings.HasPrefix(r.URL.Path, "/compute/v1/"):
		call, ft = f.compute(rec, r, body, &req)
	case reIAM.MatchString(r.URL.Path):
		call, ft = f.iam(rec, r, body)
	case strings.HasPrefix(r.URL.Path, "/upload/storage/v1/"):
		call = f.upload(rec, r)
	case reStorage.MatchString(r.URL.Path) || strings.HasPrefix(r.URL.Path, "/download/storage/v1/"):
		call, ft = f.storage(rec, r)
	case r.URL.Path == "/v2/entries:list": // logging.go
		call = f.listEntries(rec, r, body)
	case strings.HasPrefix(r.URL.Path, "/v1/projects/") && strings.HasSuffix(r.URL.Path, "/vulnerabilityReports"): // extra.go
		call = f.vulnerabilityReports(rec, r)
	case reOccurrences.MatchString(r.URL.Path): // occurrences.go
		call = f.listOccurrences(rec, r)
	default:
		apiError(rec, 404, "NOT_FOUND", "notFound", "the fake does not serve "+r.URL.Path)
	}
	call.Status = rec.Code
	if ft != nil && ft.After {
		call.Fault = ft.Kind
		rec = httptest.NewRecorder()
		if ft.Kind != "reset" {
			faultAnswer(rec, ft.Kind, "", "")
		}
	}
	if call.Fault != "" {
		call.Status = rec.Code
	}
	req.API, req.Operation, req.Status, req.Fault = call.API, call.Operation, call.Status, call.Fault
	f.calls = append(f.calls, call)
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if call.Fault == "reset" {
		reset(w)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// reset closes the connection without an answer, as a connection reset
// does to the client.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

// faultAnswer writes the answer of an injected fault, the way Google
// APIs answer.
func faultAnswer(w http.ResponseWriter, kind, perm, target string) {
	switch kind {
	case "quota":
		apiError(w, 429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'.")
	case "unavailable":
		apiError(w, 503, "UNAVAILABLE", "backendError", "The service is currently unavailable.")
	case "denied":
		apiError(w, 403, "PERMISSION_DENIED", "forbidden", fmt.Sprintf("Required '%s' permission for '%s'", perm, target))
	case "disabled":
		// The API is off in the project: 403 with an ErrorInfo whose reason
		// is SERVICE_DISABLED, as Google's APIs answer
		// (https://cloud.google.com/apis/design/errors#error_info), in the
		// shape of the newer APIs (OS Config, Container Analysis): no
		// legacy "errors" list.
		service := strings.SplitN(perm, ".", 2)[0] + ".googleapis.com"
		msg := fmt.Sprintf("%s has not been used in %s before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/%s/overview then retry.", service, target, service)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"code": 403, "message": msg, "status": "PERMISSION_DENIED",
			"details": []map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
				"metadata": map[string]string{"service": service, "consumer": target}}},
		}})
	}
}

// faultHTTP answers an injected fault that comes before the request is
// served; one with After is returned for ServeHTTP to apply.
func (f *Fake) faultHTTP(w http.ResponseWriter, call *Call, api, perm, target string) (bool, *Fault) {
	ft := f.fault(api, call.Operation)
	if ft == nil {
		return false, nil
	}
	if ft.Kind == "operation" {
		call.Fault = ft.Kind
		f.opFault = ft
		return false, nil
	}
	if ft.After {
		return false, ft
	}
	call.Fault = ft.Kind
	faultAnswer(w, ft.Kind, perm, target)
	return true, nil
}
