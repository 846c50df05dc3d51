package runbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Data is what the inventory functions read: the inventory and the findings
// of the posture scan over it. Either may be missing; then assets() and
// findings() say so.
type Data struct {
	Inventory *inventory.Inventory
	// Findings returns the scan's findings (computed once, then cached).
	Findings func(ctx context.Context) ([]policy.Finding, error)
	Now      func() time.Time
}

// functions returns the functions runbook expressions can call. When
// typeOnly is set (validation), the inventory functions return unknown
// values instead of reading anything.
func functions(ctx context.Context, data *Data, typeOnly bool) map[string]function.Function {
	now := time.Now
	if data != nil && data.Now != nil {
		now = data.Now
	}
	fs := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"upper": stdlib.UpperFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"replace": stdlib.ReplaceFunc, "regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc, "strlen": stdlib.StrlenFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"index": stdlib.IndexFunc, "keys": stdlib.KeysFunc, "length": lengthFunc,
		"lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc, "range": stdlib.RangeFunc,
		"reverse": stdlib.ReverseListFunc, "setproduct": stdlib.SetProductFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"setunion": stdlib.SetUnionFunc, "setintersection": stdlib.SetIntersectionFunc, "setsubtract": stdlib.SetSubtractFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "csvdecode": stdlib.CSVDecodeFunc,
		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,
		"tostring": makeToFunc(cty.String), "tonumber": makeToFunc(cty.Number), "tobool": makeToFunc(cty.Bool),
		"tolist": makeToFunc(cty.List(cty.DynamicPseudoType)), "toset": makeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap": makeToFunc(cty.Map(cty.DynamicPseudoType)),
		"try":   tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"startswith": stringPredicate(strings.HasPrefix), "endswith": stringPredicate(strings.HasSuffix),
		"sha256": sha256Func,
		"timestamp": function.New(&function.Spec{
			Type: function.StaticReturnType(cty.String),
			Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
				return cty.StringVal(now().UTC().Format(time.RFC3339)), nil
			},
		}),
	}
	fs["assets"] = assetsFunc(ctx, data, typeOnly)
	fs["findings"] = findingsFunc(ctx, data, typeOnly)
	return fs
}

func makeToFunc(t cty.Type) function.Function {
	return stdlib.MakeToFunc(t)
}

func stringPredicate(f func(s, p string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "prefix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// lengthFunc is Terraform's length: of a collection, or of a string (in
// characters).
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true, AllowMarked: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, marks := args[0].Unmark()
		if v.Type() == cty.String {
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Number).WithMarks(marks), nil
			}
			n, err := stdlib.Strlen(v)
			return n.WithMarks(marks), err
		}
		n, err := stdlib.Length(v)
		return n.WithMarks(marks), err
	},
})

var sha256Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		h := sha256.Sum256([]byte(args[0].AsString()))
		return cty.StringVal(hex.EncodeToString(h[:])), nil
	},
})

// filterParam accepts a string (an id glob or policy id) or an object of
// filters.
var filterParam = function.Parameter{Name: "filter", Type: cty.DynamicPseudoType, AllowNull: true}

func filterMap(v cty.Value) (map[string]cty.Value, error) {
	if v.IsNull() {
		return nil, nil
	}
	if v.Type() == cty.String {
		return map[string]cty.Value{"": v}, nil
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return nil, fmt.Errorf("the filter must be a string or an object such as {kind = \"instance\"}")
	}
	return v.AsValueMap(), nil
}

func globMatch(pattern, s string) bool {
	g, err := asset.CompileGlob(pattern)
	return err == nil && g.Match(s)
}

// assets({kind = "instance", scope = "acme-prod", labels = {env = "prod"}})
// lists the inventory's assets that match every filter (kind, provider,
// type, scope, region, name and id are globs; labels must all match).
func assetsFunc(ctx context.Context, data *Data, typeOnly bool) function.Function {
	return function.New(&function.Spec{
		Description: "Assets of the inventory that match a filter.",
		VarParam:    &filterParam,
		Type:        function.StaticReturnType(cty.DynamicPseudoType),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if typeOnly {
				return cty.DynamicVal, nil
			}
			if data == nil || data.Inventory == nil {
				return cty.NilVal, fmt.Errorf("assets() needs an inventory: pass --inventory FILE (or use --provider sim --inventory FILE)")
			}
			var filters map[string]cty.Value
			if len(args) > 0 {
				var err error
				if filters, err = filterMap(args[0]); err != nil {
					return cty.NilVal, err
				}
			}
			out := []any{} // never null: "for" over no matches is an empty list
			for _, a := range data.Inventory.Assets() {
				ok, err := assetMatches(a, filters)
				if err != nil {
					return cty.NilVal, err
				}
				if ok {
					out = append(out, AssetObject(a))
				}
			}
			return toCty(out)
		},
	})
}

func assetMatches(a *asset.Asset, filters map[string]cty.Value) (bool, error) {
	for k, v := range filters {
		if k == "labels" {
			if v.IsNull() {
				continue
			}
			for lk, lv := range v.AsValueMap() {
				if lv.Type() != cty.String {
					return false, fmt.Errorf("labels filter values must be strings")
				}
				got, ok := a.Labels[lk]
				if !ok || !globMatch(lv.AsString(), got) {
					return false, nil
				}
			}
			continue
		}
		if v.IsNull() {
			continue
		}
		if v.Type() != cty.String {
			return false, fmt.Errorf("filter %q must be a string", k)
		}
		var field string
		switch k {
		case "", "id":
			field = a.ID
		case "kind":
			field = a.Kind
		case "provider":
			field = a.Provider
		case "type":
			field = a.Type
		case "scope":
			field = a.Scope
		case "region":
			field = a.Region
		case "name":
			field = a.Name
		default:
			return false, fmt.Errorf("unknown filter %q (use id, kind, provider, type, scope, region, name or labels)", k)
		}
		if !globMatch(v.AsString(), field) {
			return false, nil
		}
	}
	return true, nil
}

// AssetObject is how runbooks see an asset.
func AssetObject(a *asset.Asset) map[string]any {
	var facets map[string]any
	raw, _ := json.Marshal(a.Facets)
	_ = json.Unmarshal(raw, &facets)
	labels := map[string]any{}
	for k, v := range a.Labels {
		labels[k] = v
	}
	return map[string]any{
		"id": a.ID, "kind": a.Kind, "type": a.Type, "name": a.Name, "provider": a.Provider,
		"scope": a.Scope, "region": a.Region, "labels": labels, "facets": facets,
	}
}

// findings("VGL-NET-001") or findings({policy = "VGL-NET-*", severity =
// "high", scope = "acme-*"}) lists the unwaived findings of the posture scan
// over the inventory.
func findingsFunc(ctx context.Context, data *Data, typeOnly bool) function.Function {
	return function.New(&function.Spec{
		Description: "Unwaived findings of the posture policies over the inventory.",
		VarParam:    &filterParam,
		Type:        function.StaticReturnType(cty.DynamicPseudoType),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if typeOnly {
				return cty.DynamicVal, nil
			}
			if data == nil || data.Findings == nil {
				return cty.NilVal, fmt.Errorf("findings() needs an inventory to scan: pass --inventory FILE (or use --provider sim --inventory FILE)")
			}
			fs, err := data.Findings(ctx)
			if err != nil {
				return cty.NilVal, fmt.Errorf("scan the inventory: %w", err)
			}
			var filters map[string]cty.Value
			if len(args) > 0 {
				if filters, err = filterMap(args[0]); err != nil {
					return cty.NilVal, err
				}
			}
			out := []any{} // never null: "for" over no matches is an empty list
			for _, f := range fs {
				if f.Waived {
					continue
				}
				ok, err := findingMatches(f, filters)
				if err != nil {
					return cty.NilVal, err
				}
				if ok {
					out = append(out, FindingObject(f))
				}
			}
			sort.SliceStable(out, func(i, j int) bool {
				return out[i].(map[string]any)["asset_id"].(string) < out[j].(map[string]any)["asset_id"].(string)
			})
			return toCty(out)
		},
	})
}

func findingMatches(f policy.Finding, filters map[string]cty.Value) (bool, error) {
	for k, v := range filters {
		if v.IsNull() {
			continue
		}
		if v.Type() != cty.String {
			return false, fmt.Errorf("filter %q must be a string", k)
		}
		var field string
		switch k {
		case "", "policy", "policy_id":
			field = f.PolicyID
		case "asset", "asset_id":
			field = f.AssetID
		case "severity":
			field = f.Severity
		case "kind":
			field = f.Kind
		case "provider":
			field = f.Provider
		case "scope":
			field = f.Scope
		case "region":
			field = f.Region
		default:
			return false, fmt.Errorf("unknown filter %q (use policy, asset, severity, kind, provider, scope or region)", k)
		}
		if !globMatch(v.AsString(), field) {
			return false, nil
		}
	}
	return true, nil
}

// FindingObject is how runbooks see a finding.
func FindingObject(f policy.Finding) map[string]any {
	details := f.DetailsMap()
	return map[string]any{
		"policy_id": f.PolicyID, "asset_id": f.AssetID, "severity": f.Severity, "title": f.Title,
		"message": f.Message, "kind": f.Kind, "provider": f.Provider, "scope": f.Scope,
		"region": f.Region, "asset_name": f.AssetName, "details": details,
	}
}

// toCty converts plain JSON-like Go data to a cty value (lists become
// tuples, objects objects), through JSON so any shape works.
func toCty(v any) (cty.Value, error) {
	if v == nil {
		return cty.EmptyTupleVal, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return cty.NilVal, err
	}
	t, err := ctyjson.ImpliedType(raw)
	if err != nil {
		return cty.NilVal, err
	}
	return ctyjson.Unmarshal(raw, t)
}
