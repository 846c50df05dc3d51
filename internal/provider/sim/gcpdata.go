package sim

import (
	"encoding/json"

	"github.com/vigil-ir/vigil/engine/asset"
)

// caiData opens the resource data of a GCP asset's CAI record for
// changes, as the API would make them; save writes it back. Assets the
// simulated cloud made itself have no record: their data is empty.
func caiData(a *asset.Asset) (data map[string]any, save func()) {
	var rec map[string]any
	if json.Unmarshal(a.Data, &rec) != nil || rec == nil {
		rec = map[string]any{}
	}
	res, _ := rec["resource"].(map[string]any)
	if res == nil {
		res = map[string]any{}
		rec["resource"] = res
	}
	data, _ = res["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
		res["data"] = data
	}
	return data, func() { a.Data, _ = json.Marshal(rec) }
}

func objs(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// metadataItem returns an instance metadata entry.
func metadataItem(data map[string]any, key string) (string, bool) {
	md, _ := data["metadata"].(map[string]any)
	for _, it := range objs(md["items"]) {
		if str(it, "key") == key {
			return str(it, "value"), true
		}
	}
	return "", false
}

// setMetadataItem sets (or, with remove, deletes) a metadata entry.
func setMetadataItem(data map[string]any, key, value string, remove bool) {
	md, _ := data["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		data["metadata"] = md
	}
	var items []any
	for _, it := range objs(md["items"]) {
		if str(it, "key") != key {
			items = append(items, it)
		}
	}
	if !remove {
		items = append(items, map[string]any{"key": key, "value": value})
	}
	md["items"] = items
}
