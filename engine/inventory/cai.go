package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
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
	Data     json.RawMessage `json:"data"`
	Parent   string          `json:"parent"`
	Location string          `json:"location"`
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
	return &caiIndex{iam: map[string]*iamEntry{}, projects: map[string]*projectNode{}, parents: map[string]string{}}
}

var (
	markIAM       = []byte(`"iam_policy"`)
	markIAMCamel  = []byte(`"iamPolicy"`)
	markHierarchy = []byte(`cloudresourcemanager.googleapis.com/`)
)

// wantsPrepass is a cheap byte test: only records that may carry an IAM
// policy or a hierarchy node are decoded in the pre-pass.
func wantsPrepass(raw []byte) bool {
	return bytes.Contains(raw, markIAM) || bytes.Contains(raw, markIAMCamel) || bytes.Contains(raw, markHierarchy)
}

// learn records what a raw record tells the index.
func (x *caiIndex) learn(raw []byte) error {
	var r caiRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return jsonError(err)
	}
	t := r.assetType()
	x.mu.Lock()
	defer x.mu.Unlock()
	if p := r.iamPolicy(); p != nil {
		x.iam[r.Name] = &iamEntry{raw: append(json.RawMessage(nil), p...), assetType: t}
	}
	if r.Resource == nil {
		return nil
	}
	short := strings.TrimPrefix(r.Name, "//cloudresourcemanager.googleapis.com/")
	parent := strings.TrimPrefix(r.Resource.Parent, "//cloudresourcemanager.googleapis.com/")
	switch t {
	case "cloudresourcemanager.googleapis.com/Project":
		var p gcpProject
		if err := unmarshalData(r.Resource.Data, &p); err != nil {
			return err
		}
		if parent == "" && p.Parent.ID != "" {
			parent = p.Parent.Type + "s/" + p.Parent.ID
		}
		n := &projectNode{id: p.ProjectID, number: firstNonEmpty(p.ProjectNumber, lastSegment(r.Name)), parent: parent}
		if n.id != "" {
			x.projects[n.id] = n
		}
		x.projects[n.number] = n
		x.parents["projects/"+n.number] = parent
	case "cloudresourcemanager.googleapis.com/Folder", "cloudresourcemanager.googleapis.com/Organization":
		if parent == "" {
			var n gcpNode
			if err := unmarshalData(r.Resource.Data, &n); err != nil {
				return err
			}
			parent = n.Parent
		}
		x.parents[short] = parent
	}
	return nil
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
		if !ok || p == "" {
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
	var r caiRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false, jsonError(err)
	}
	t := r.assetType()
	if r.Name == "" || t == "" {
		return nil, false, errors.New("not a Cloud Asset Inventory record: it has no name or asset_type")
	}
	if r.Resource == nil {
		// IAM-only or another content type; the pre-pass has it.
		return nil, r.iamPolicy() == nil, nil
	}
	entry := x.take(r.Name)
	a := &asset.Asset{ID: r.Name, Type: t, Provider: asset.GCP, Source: source}
	var iam *GCPIAMPolicy
	data := raw
	if entry != nil {
		iam = &GCPIAMPolicy{}
		if err := json.Unmarshal(entry.raw, iam); err != nil {
			return nil, false, jsonError(err)
		}
		if r.iamPolicy() == nil {
			data = spliceField(raw, "iam_policy", entry.raw)
		}
	}
	a.Data = append(json.RawMessage(nil), data...)
	if err := normalizeGCP(a, r.Resource.Data, r.Resource.Location, iam); err != nil {
		return nil, false, err
	}
	x.place(a, r.Resource.Parent, r.Ancestors)
	return a, false, nil
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
		return
	case asset.KindFolder, asset.KindOrganization:
		short := strings.TrimPrefix(a.ID, "//cloudresourcemanager.googleapis.com/")
		a.Scope = short
		if a.Facets.Parent == "" {
			a.Facets.Parent = parent
		}
		a.Facets.Ancestors = x.hierarchy(short, ancestors)
		return
	}
	if p := projectInName(a.ID); p != "" {
		a.Scope = x.projectID(p)
		return
	}
	if strings.HasPrefix(parent, "projects/") {
		a.Scope = x.projectID(strings.TrimPrefix(parent, "projects/"))
		return
	}
	for _, anc := range ancestors {
		if strings.HasPrefix(anc, "projects/") {
			a.Scope = x.projectID(strings.TrimPrefix(anc, "projects/"))
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
