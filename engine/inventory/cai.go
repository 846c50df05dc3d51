package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-ir/vigil/engine/asset"
)

// caiRecord is one Cloud Asset Inventory record, as `gcloud asset export`
// writes it (snake_case) or as the API and `gcloud asset list --format=json`
// print it (camelCase).
type caiRecord struct {
	Name           string          `json:"name"`
	AssetType      string          `json:"asset_type"`
	AssetTypeCamel string          `json:"assetType"`
	Resource       *caiResource    `json:"resource"`
	IAMPolicy      json.RawMessage `json:"iam_policy"`
	IAMPolicyCamel json.RawMessage `json:"iamPolicy"`
	Ancestors      []string        `json:"ancestors"`
}

type caiResource struct {
	// Data is decoded straight into the struct of the asset's kind (set
	// before decoding; see decodeCAI).
	Data     any    `json:"data"`
	Parent   string `json:"parent"`
	Location string `json:"location"`
}

// caiShape is what a glance at a record's top-level members tells: enough
// to pick the struct its data decodes into, and whether the pre-pass needs it.
type caiShape struct {
	assetType     string
	resource, iam bool
}

func shapeOf(raw []byte) caiShape {
	var s caiShape
	members(raw, func(key, value []byte) bool {
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(rawString(append(append([]byte{'"'}, key...), '"')))
		}
		switch string(key) {
		case "asset_type", "assetType":
			if s.assetType == "" {
				s.assetType = rawString(value)
			}
		case "resource":
			s.resource = string(value) != "null"
		case "iam_policy", "iamPolicy":
			s.iam = s.iam || string(value) != "null"
		}
		return true
	})
	return s
}

// rawString returns the Go string of a raw JSON string value, or "".
func rawString(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// decodeRecord decodes a CAI record in one pass, its resource data straight
// into the struct of its kind.
func decodeRecord(raw []byte) (*caiRecord, gcpData, error) {
	shape := shapeOf(raw)
	data := newGCPData(GCPKind(shape.assetType))
	r := &caiRecord{Resource: &caiResource{Data: data}}
	if err := decodeJSON(raw, r); err != nil {
		return nil, nil, jsonError(err)
	}
	if !shape.resource {
		r.Resource = nil
	}
	return r, data, nil
}

func (r *caiRecord) assetType() string { return firstNonEmpty(r.AssetType, r.AssetTypeCamel) }

func (r *caiRecord) iamPolicy() json.RawMessage {
	if len(r.IAMPolicy) > 0 && string(r.IAMPolicy) != "null" {
		return r.IAMPolicy
	}
	if len(r.IAMPolicyCamel) > 0 && string(r.IAMPolicyCamel) != "null" {
		return r.IAMPolicyCamel
	}
	return nil
}

// caiIndex is what the pre-pass over all CAI files learns before assets are
// built: IAM policies (merged into the resources they belong to, wherever in
// the input they appear) and the resource hierarchy (project numbers, ids
// and parents). It is small next to the inventory: one entry per IAM policy
// and per project, folder and organization.
type caiIndex struct {
	mu  sync.Mutex
	iam map[string]*iamEntry
	// projects maps both the number and the id of a project to its node.
	projects map[string]*projectNode
	// parents maps hierarchy short names ("folders/1") to their parent.
	parents map[string]string
	// labels of hierarchy nodes by short name, and the compute metadata of
	// projects by the project id or number their record names: what
	// assets inherit (Facets.Inherited).
	labels map[string]map[string]string
	// tags are the Resource Manager tags bound to hierarchy nodes (CAI
	// TagBinding records), short key name to short value name: folders
	// and organizations have no labels, so a data class set on a folder is
	// a tag. A node's own label of the same key wins.
	tags     map[string]map[string]string
	metadata map[string]map[string]string
	chains   sync.Map // node short name -> []asset.Inherited, made on first use
}

type iamEntry struct {
	raw       json.RawMessage
	assetType string
	used      atomic.Bool
}

type projectNode struct {
	id, number, parent string
}

func newCAIIndex() *caiIndex {
	return &caiIndex{iam: map[string]*iamEntry{}, projects: map[string]*projectNode{}, parents: map[string]string{},
		labels: map[string]map[string]string{}, tags: map[string]map[string]string{}, metadata: map[string]map[string]string{}}
}

var (
	markIAM       = []byte(`"iam_policy"`)
	markIAMCamel  = []byte(`"iamPolicy"`)
	markHierarchy = []byte(`cloudresourcemanager.googleapis.com/`)
	// prepassMarkers find, in a whole NDJSON file, the lines wantsPrepass
	// may accept: the IAM policy keys, and the asset types of hierarchy
	// nodes (every resource names one as its parent, so the types are
	// looked for with their closing quote). They start with uncommon
	// bytes, which the vectorized search skips to: a marker starting with
	// a quote would be ten times slower. A line with an escape sequence
	// may spell a marker differently, so a backslash marks a line too.
	prepassMarkers = [][]byte{
		[]byte(`_policy"`), []byte(`Policy"`),
		[]byte(`Project"`), []byte(`Folder"`), []byte(`Organization"`), []byte(`Binding"`),
		[]byte(`\`),
	}
)

// visitPrepass calls visit with the records of a CAI file the pre-pass may
// need: in NDJSON, only the lines holding a marker are split out.
func visitPrepass(ctx context.Context, in *inputFile, visit func([]byte, int, int64) error) error {
	if in.det.layout != layoutLines {
		return visitRecords(ctx, in, visit)
	}
	f, err := os.Open(in.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return visitMarkedLines(ctx, in.path, f, in.bufSize(markedChunk), prepassMarkers, visit)
}

// wantsPrepass tells, without decoding, whether the pre-pass needs a record:
// hierarchy nodes, and IAM policies that arrive apart from their resource
// (a record carrying both is handled whole in the main pass).
func wantsPrepass(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') < 0 && // escapes may spell the marks differently
		!bytes.Contains(raw, markIAM) && !bytes.Contains(raw, markIAMCamel) && !bytes.Contains(raw, markHierarchy) {
		return false
	}
	s := shapeOf(raw)
	return strings.HasPrefix(s.assetType, hierarchyPrefix) || s.assetType == computeProjectType || (s.iam && !s.resource)
}

// computeProjectType holds a project's common instance metadata, which its
// instances inherit.
const computeProjectType = "compute.googleapis.com/Project"

const hierarchyPrefix = "cloudresourcemanager.googleapis.com/"

// tagBindingType binds a tag value to a resource: on a project, folder or
// organization, what the assets under it inherit.
const tagBindingType = "cloudresourcemanager.googleapis.com/TagBinding"

// learnTag records a TagBinding: its data names the bound resource
// (parent, a full resource name) and the value as
// tagValueNamespacedName, "{key parent id}/{key short name}/{value short
// name}" (the Resource Manager v3 TagBinding).
func (x *caiIndex) learnTag(raw []byte) error {
	var r struct {
		Resource *struct {
			Data struct {
				Parent     string `json:"parent"`
				Namespaced string `json:"tagValueNamespacedName"`
			} `json:"data"`
		} `json:"resource"`
	}
	if err := decodeJSON(raw, &r); err != nil {
		return jsonError(err)
	}
	if r.Resource == nil {
		return nil
	}
	node, ok := strings.CutPrefix(r.Resource.Data.Parent, "//cloudresourcemanager.googleapis.com/")
	parts := strings.Split(r.Resource.Data.Namespaced, "/")
	if !ok || len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return nil // a tag on another resource, or a value vigil cannot name
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	node = strings.Clone(node)
	if x.tags[node] == nil {
		x.tags[node] = map[string]string{}
	}
	x.tags[node][strings.Clone(parts[1])] = strings.Clone(parts[2])
	return nil
}

// learn records what a raw record tells the index.
func (x *caiIndex) learn(raw []byte) error {
	if shapeOf(raw).assetType == tagBindingType {
		return x.learnTag(raw)
	}
	r, data, err := decodeRecord(raw)
	if err != nil {
		return err
	}
	// Everything kept is copied: decoded strings share the decoder's
	// buffers, which the index, living for the whole scan, must not pin.
	t := strings.Clone(r.assetType())
	name := strings.Clone(r.Name)
	x.mu.Lock()
	defer x.mu.Unlock()
	if p := r.iamPolicy(); p != nil {
		x.iam[name] = &iamEntry{raw: append(json.RawMessage(nil), p...), assetType: t}
	}
	if r.Resource == nil {
		return nil
	}
	short := strings.TrimPrefix(name, "//cloudresourcemanager.googleapis.com/")
	parent := strings.Clone(strings.TrimPrefix(r.Resource.Parent, "//cloudresourcemanager.googleapis.com/"))
	switch d := data.(type) {
	case *gcpProject:
		if parent == "" && d.Parent.ID != "" {
			parent = d.Parent.Type + "s/" + d.Parent.ID
		}
		n := &projectNode{id: strings.Clone(d.ProjectID), number: strings.Clone(firstNonEmpty(d.ProjectNumber, lastSegment(r.Name))), parent: parent}
		if n.id != "" {
			x.projects[n.id] = n
		}
		x.projects[n.number] = n
		x.parents["projects/"+n.number] = parent
		x.labels["projects/"+n.number] = cloneLabels(d.Labels)
	case *gcpNode:
		if parent == "" {
			parent = strings.Clone(d.Parent)
		}
		x.parents[short] = parent
		x.labels[short] = cloneLabels(d.Labels)
	case *gcpProjectMetadata:
		if md := d.CommonInstanceMetadata.facet(); md != nil {
			x.metadata[strings.Clone(projectInName(r.Name))] = cloneLabels(md)
		}
	}
	return nil
}

func cloneLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.Clone(k)] = strings.Clone(v)
	}
	return out
}

// inherited is what the nodes from short upwards say of the assets under
// them: labels and, for a project, its compute metadata. The slices are
// shared by every asset of a node; nobody changes them in place.
func (x *caiIndex) inherited(short string) []asset.Inherited {
	if c, ok := x.chains.Load(short); ok { // read by every decoding goroutine: no lock
		return c.([]asset.Inherited)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []asset.Inherited
	for _, node := range x.ancestors(short) {
		in := asset.Inherited{Node: node, Labels: withTags(x.labels[node], x.tags[node])}
		if num, ok := strings.CutPrefix(node, "projects/"); ok {
			in.Metadata = x.metadata[num]
			if p := x.projects[num]; p != nil && in.Metadata == nil {
				in.Metadata = x.metadata[p.id]
			}
		}
		if in.Labels != nil || in.Metadata != nil {
			out = append(out, in)
		}
	}
	x.chains.Store(short, out)
	return out
}

// withTags is a node's labels with its tags for the keys no label sets.
func withTags(labels, tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return labels
	}
	out := make(map[string]string, len(labels)+len(tags))
	for k, v := range tags {
		out[k] = v
	}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// projectNode returns the short name of a project ("projects/NUMBER"),
// given its number or id.
func (x *caiIndex) projectShort(numberOrID string) string {
	if n, ok := x.projects[numberOrID]; ok {
		return "projects/" + n.number
	}
	return "projects/" + numberOrID
}

// projectID resolves a project number or id to the project id when known.
func (x *caiIndex) projectID(numberOrID string) string {
	if n, ok := x.projects[numberOrID]; ok && n.id != "" {
		return n.id
	}
	return numberOrID
}

// ancestors returns the CAI-style ancestry of a hierarchy node, itself
// first: ["projects/123", "folders/4", "organizations/5"].
func (x *caiIndex) ancestors(short string) []string {
	out := []string{short}
	for i := 0; i < 32; i++ { // the hierarchy is at most ~10 deep; stop cycles
		p, ok := x.parents[short]
		if !ok || p == "" || slices.Contains(out, p) {
			break
		}
		out = append(out, p)
		short = p
	}
	return out
}

// take returns the IAM policy recorded for name and marks it merged.
func (x *caiIndex) take(name string) *iamEntry {
	e, ok := x.iam[name]
	if !ok {
		return nil
	}
	e.used.Store(true)
	return e
}

// decodeCAI builds an asset from one CAI record. It returns nil for records
// that carry no resource (IAM-only records are merged into their resource, or
// emitted at the end when the resource never appears).
func (x *caiIndex) decodeCAI(raw []byte, source string) (*asset.Asset, bool, error) {
	r, data, err := decodeRecord(raw)
	if err != nil {
		return nil, false, err
	}
	t := r.assetType()
	if r.Name == "" || t == "" {
		return nil, false, errors.New("not a Cloud Asset Inventory record: it has no name or asset_type")
	}
	if r.Resource == nil {
		// IAM-only or another content type; the pre-pass has it.
		return nil, r.iamPolicy() == nil, nil
	}
	a := &asset.Asset{ID: r.Name, Type: t, Provider: asset.GCP, Source: source}
	a.Data = raw
	// A policy in the record itself wins over one exported apart from it;
	// either way the separate one is spent and not emitted on its own.
	policy := r.iamPolicy()
	if entry := x.take(r.Name); entry != nil && policy == nil {
		policy = entry.raw
		a.Data = spliceField(raw, "iam_policy", entry.raw)
	}
	var iam *GCPIAMPolicy
	if policy != nil {
		iam = &GCPIAMPolicy{}
		if err := json.Unmarshal(policy, iam); err != nil {
			return nil, false, jsonError(err)
		}
	}
	if err := normalizeGCP(a, data, r.Resource.Location, iam); err != nil {
		return nil, false, err
	}
	x.place(a, r.Resource.Parent, r.Ancestors)
	if a.Kind == asset.KindVulnerabilityReport && a.Facets.Resource == "" {
		x.reportVM(a, r.Name)
	}
	return a, false, nil
}

// reportVM links an OS Config vulnerability report of a real export to its
// VM through the report's own name, which the OS Config API documents as
// projects/{project_number}/locations/{zone}/instances/{instance}/vulnerabilityReport
// ({instance} is the instance id or name): the VM's asset name is
// //compute.googleapis.com/projects/{project id}/zones/{zone}/instances/{name}.
func (x *caiIndex) reportVM(a *asset.Asset, name string) {
	parts := strings.Split(strings.TrimPrefix(name, "//osconfig.googleapis.com/"), "/")
	if len(parts) != 7 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "instances" || parts[6] != "vulnerabilityReport" {
		return
	}
	// The pre-pass has read every project: no lock, as in place.
	a.Facets.Resource = "//compute.googleapis.com/projects/" + x.projectID(parts[1]) + "/zones/" + parts[3] + "/instances/" + parts[5]
	a.Name = parts[5]
}

// leftovers are IAM policies whose resource never appeared: they become
// assets of their own, so that an IAM-only export is still judged.
func (x *caiIndex) leftovers(source string) ([]*asset.Asset, error) {
	var out []*asset.Asset
	for name, e := range x.iam {
		if e.used.Load() {
			continue
		}
		a := &asset.Asset{ID: name, Type: e.assetType, Provider: asset.GCP, Source: source}
		iam := &GCPIAMPolicy{}
		if err := json.Unmarshal(e.raw, iam); err != nil {
			return nil, jsonError(err)
		}
		rec, _ := json.Marshal(map[string]any{"name": name, "asset_type": e.assetType, "iam_policy": e.raw})
		a.Data = rec
		if err := normalizeGCP(a, nil, "", iam); err != nil {
			return nil, err
		}
		x.place(a, "", nil)
		out = append(out, a)
	}
	return out, nil
}

// place sets the asset's scope (the project id, or the folder or
// organization it sits in) and, for hierarchy nodes, its ancestry.
func (x *caiIndex) place(a *asset.Asset, parent string, ancestors []string) {
	parent = strings.TrimPrefix(parent, "//cloudresourcemanager.googleapis.com/")
	switch a.Kind {
	case asset.KindProject:
		num := a.Facets.ProjectNumber
		a.Name = x.projectID(firstNonEmpty(a.Name, num))
		a.Scope = a.Name
		if a.Facets.Parent == "" {
			a.Facets.Parent = parent
		}
		a.Facets.Ancestors = x.hierarchy("projects/"+num, ancestors)
		if a.Facets.Parent != "" {
			a.Facets.Inherited = x.inherited(a.Facets.Parent)
		}
		return
	case asset.KindFolder, asset.KindOrganization:
		short := strings.TrimPrefix(a.ID, "//cloudresourcemanager.googleapis.com/")
		a.Scope = short
		if a.Facets.Parent == "" {
			a.Facets.Parent = parent
		}
		a.Facets.Ancestors = x.hierarchy(short, ancestors)
		if a.Facets.Parent != "" {
			a.Facets.Inherited = x.inherited(a.Facets.Parent)
		}
		return
	}
	inProject := func(p string) {
		a.Scope = x.projectID(p)
		a.Facets.Inherited = x.inherited(x.projectShort(p))
	}
	if p := projectInName(a.ID); p != "" {
		inProject(p)
		return
	}
	if strings.HasPrefix(parent, "projects/") {
		inProject(strings.TrimPrefix(parent, "projects/"))
		return
	}
	for _, anc := range ancestors {
		if strings.HasPrefix(anc, "projects/") {
			inProject(strings.TrimPrefix(anc, "projects/"))
			return
		}
	}
	for _, seg := range []string{"organizations/", "folders/", "billingAccounts/"} {
		if i := strings.Index(a.ID, seg); i >= 0 {
			rest := a.ID[i+len(seg):]
			a.Scope = seg + strings.SplitN(rest, "/", 2)[0]
			return
		}
	}
	if parent != "" {
		a.Scope = parent
	}
}

func (x *caiIndex) hierarchy(short string, given []string) []string {
	if len(given) > 0 {
		return given
	}
	return x.ancestors(short)
}

// projectInName extracts the project segment of a CAI name:
// "//compute.googleapis.com/projects/p1/zones/..." -> "p1".
func projectInName(name string) string {
	i := strings.Index(name, "/projects/")
	if i < 0 {
		return ""
	}
	rest := name[i+len("/projects/"):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// spliceField adds `"key": value` to a JSON object without re-encoding it.
func spliceField(obj []byte, key string, value []byte) []byte {
	obj = bytes.TrimSpace(obj)
	end := bytes.LastIndexByte(obj, '}')
	if end < 0 {
		return obj
	}
	out := make([]byte, 0, len(obj)+len(key)+len(value)+4)
	out = append(out, obj[:end]...)
	if len(bytes.TrimSpace(obj[1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, key...)
	out = append(out, '"', ':')
	out = append(out, value...)
	out = append(out, '}')
	return out
}
