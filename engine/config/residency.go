package config

import (
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// DataKinds are the kinds that hold data of their own. An asset of another
// kind (a subnet, a firewall rule) holds data only when it says so with a
// label of its own; a project's or folder's class speaks only for these.
var DataKinds = map[string]bool{
	asset.KindInstance: true, asset.KindDisk: true, asset.KindSnapshot: true, asset.KindImage: true,
	asset.KindBucket: true, asset.KindDatabase: true, asset.KindDataset: true, asset.KindCluster: true,
}

// Class is the data class an asset holds and where it was read.
type Class struct {
	// Value is the label's value ("pii"); Label its key ("data-class").
	Value, Label string
	// From is "" when the asset carries the label itself, else the node it
	// inherits it from ("projects/123", "folders/4", an account id).
	From string
}

// ClassOf reads an asset's data class the one way both `vigil scan`
// (VGL-DATA-001) and the triage card read it: the residency labels of the
// asset itself, else of its project or account, else of the folders and the
// organization above it, nearest first (Facets.Inherited). Within one node
// the residency labels are tried in name order. Inheritance applies only to
// DataKinds. ok is false when nothing declares a class.
func (c *Config) ClassOf(a *asset.Asset) (Class, bool) {
	keys := c.residencyLabels()
	if len(keys) == 0 {
		return Class{}, false
	}
	try := func(labels map[string]string, from string) (Class, bool) {
		for _, k := range keys {
			if v := labels[k]; v != "" {
				return Class{Value: v, Label: k, From: from}, true
			}
		}
		return Class{}, false
	}
	if cl, ok := try(a.Labels, ""); ok {
		return cl, true
	}
	if !DataKinds[a.Kind] {
		return Class{}, false
	}
	for _, in := range a.Facets.Inherited {
		if cl, ok := try(in.Labels, in.Node); ok {
			return cl, true
		}
	}
	return Class{}, false
}

// Verdict is what the residency rules say of an asset.
type Verdict struct {
	Class   Class
	Rule    *Residency // nil when no rule covers the class
	Allowed bool
	// Judged is false for location-less ("global") assets, which hold no
	// data of their own, and for assets without a class.
	Judged bool
}

// Residency judges an asset's region against the rule of its data class.
// It is the verdict VGL-DATA-001 reaches; a test keeps the two in step.
func (c *Config) ResidencyOf(a *asset.Asset) Verdict {
	cl, ok := c.ClassOf(a)
	if !ok {
		return Verdict{}
	}
	v := Verdict{Class: cl}
	if a.Region == "" || a.Region == "global" {
		return v
	}
	for i := range c.Residency {
		r := &c.Residency[i]
		if r.Label != cl.Label || !strings.EqualFold(r.Class, cl.Value) {
			continue
		}
		v.Rule, v.Judged = r, true
		for _, g := range r.Regions {
			if m, err := asset.CompileGlob(g); err == nil && m.Match(a.Region) {
				v.Allowed = true
			}
		}
		return v
	}
	return v
}

// residencyLabels are the label keys the residency rules read, in order.
func (c *Config) residencyLabels() []string {
	var keys []string
	for _, r := range c.Residency {
		if !slices.Contains(keys, r.Label) {
			keys = append(keys, r.Label)
		}
	}
	slices.Sort(keys)
	return keys
}
