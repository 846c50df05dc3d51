package deploycheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Kind is one Kubernetes kind the examples use.
type Kind struct {
	Group, Version, Kind string
	// Definition is its name in the OpenAPI definitions, such as
	// io.k8s.api.apps.v1.Deployment.
	Definition string
}

// File is the schema's file name as kubeconform's
// {{ .ResourceKind }}{{ .KindSuffix }}.json names it: deployment-apps-v1.json,
// service-v1.json (the core group has no name), networkpolicy-networking-v1.json
// (the group's first label).
func (k Kind) File() string {
	suffix := "-" + k.Version
	if k.Group != "" {
		suffix = "-" + strings.Split(k.Group, ".")[0] + suffix
	}
	return strings.ToLower(k.Kind) + suffix + ".json"
}

// Kinds are the kinds examples/deploy/kubernetes may use.
var Kinds = []Kind{
	{"apps", "v1", "Deployment", "io.k8s.api.apps.v1.Deployment"},
	{"batch", "v1", "Job", "io.k8s.api.batch.v1.Job"},
	{"batch", "v1", "CronJob", "io.k8s.api.batch.v1.CronJob"},
	{"policy", "v1", "PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"},
	{"networking.k8s.io", "v1", "NetworkPolicy", "io.k8s.api.networking.v1.NetworkPolicy"},
	{"", "v1", "Service", "io.k8s.api.core.v1.Service"},
	{"", "v1", "ServiceAccount", "io.k8s.api.core.v1.ServiceAccount"},
	{"", "v1", "Secret", "io.k8s.api.core.v1.Secret"},
	{"", "v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"},
}

// DefinitionsFile holds the definitions the kinds' schemas refer to.
const DefinitionsFile = "_definitions.json"

// Generate makes the strict schemas of kinds from Kubernetes' OpenAPI
// definitions as JSON schema (a {"definitions": {...}} document, as
// yannh/kubernetes-json-schema publishes): DefinitionsFile with the
// definitions they reach, and one small file per kind that refers to its
// definition. Strict as `kubeconform -strict` expects: an object with
// properties allows no others, so a misspelt field is an error. The
// descriptions are left out (the API reference has them).
func Generate(openapi []byte, kinds []Kind) (map[string][]byte, error) {
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return nil, fmt.Errorf("read definitions: %w", err)
	}
	keep := map[string]any{}
	var reach func(name string) error
	reach = func(name string) error {
		if _, ok := keep[name]; ok {
			return nil
		}
		def, ok := doc.Definitions[name]
		if !ok {
			return fmt.Errorf("read definitions: no definition %s", name)
		}
		keep[name] = nil // before recursing: definitions may refer to themselves
		var refs []string
		keep[name] = strict(def, &refs)
		for _, r := range refs {
			if err := reach(r); err != nil {
				return err
			}
		}
		return nil
	}
	out := map[string][]byte{}
	for _, k := range kinds {
		if err := reach(k.Definition); err != nil {
			return nil, err
		}
		b, err := encode(map[string]any{"$ref": DefinitionsFile + "#/definitions/" + k.Definition})
		if err != nil {
			return nil, err
		}
		out[k.File()] = b
	}
	b, err := encode(map[string]any{"definitions": keep})
	if err != nil {
		return nil, err
	}
	out[DefinitionsFile] = b
	return out, nil
}

// strict copies a schema without descriptions, closing every object that
// lists its properties, and collects the definitions it refers to.
func strict(v any, refs *[]string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			switch {
			case k == "description":
				continue
			case k == "$ref":
				if s, ok := x.(string); ok {
					*refs = append(*refs, strings.TrimPrefix(s, "#/definitions/"))
				}
				out[k] = x
			case k == "properties":
				// a map of names to schemas: the names are not keywords
				m, ok := x.(map[string]any)
				if !ok {
					out[k] = x
					continue
				}
				props := map[string]any{}
				for name, p := range m {
					props[name] = strict(p, refs)
				}
				out[k] = props
			default:
				out[k] = strict(x, refs)
			}
		}
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = strict(x, refs)
		}
		return out
	}
	return v
}

// encode writes indented JSON with sorted keys, so a regeneration shows
// as a readable diff.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("write schema: %w", err)
	}
	return b.Bytes(), nil
}

// Names lists a generated set's files in order.
func Names(files map[string][]byte) []string {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
