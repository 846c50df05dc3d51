package contract

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the trimmed discovery documents from the google.golang.org/api module in the module cache")

// kept are the methods the copies keep: every method vigil calls, and the
// schemas their requests and responses reach.
var kept = map[string]map[string][]string{
	"compute/v1/compute-api.json": {
		"instances":        {"get", "stop", "suspend", "resume", "delete", "setTags", "setMetadata", "deleteAccessConfig", "insert"},
		"disks":            {"get", "insert", "delete"},
		"snapshots":        {"list", "get", "insert"},
		"images":           {"list", "get", "insert"},
		"firewalls":        {"list", "get", "insert", "patch", "delete"},
		"networks":         {"get"},
		"projects":         {"get", "setCommonInstanceMetadata"},
		"zoneOperations":   {"get"},
		"globalOperations": {"get"},
	},
	"iam/v1/iam-api.json":                             {"projects.serviceAccounts.keys": {"get", "disable", "enable"}},
	"storage/v1/storage-api.json":                     {"objects": {"list", "get"}},
	"osconfig/v1/osconfig-api.json":                   {"projects.locations.instances.vulnerabilityReports": {"list"}},
	"logging/v2/logging-api.json":                     {"entries": {"list"}},
	"containeranalysis/v1/containeranalysis-api.json": {"projects.occurrences": {"list"}},
}

var copies = map[string]string{
	"compute/v1/compute-api.json":                     "testdata/compute-v1.json",
	"iam/v1/iam-api.json":                             "testdata/iam-v1.json",
	"storage/v1/storage-api.json":                     "testdata/storage-v1.json",
	"osconfig/v1/osconfig-api.json":                   "testdata/osconfig-v1.json",
	"logging/v2/logging-api.json":                     "testdata/logging-v2.json",
	"containeranalysis/v1/containeranalysis-api.json": "testdata/containeranalysis-v1.json",
}

// TestDiscoveryCopies checks that the trimmed copies are what trimming the
// module's documents gives (when the module is in the cache), and with
// -update writes them.
func TestDiscoveryCopies(t *testing.T) {
	dir := apiModuleDir(t)
	if dir == "" {
		t.Skip("google.golang.org/api is not in the module cache")
	}
	for src, dst := range copies {
		raw, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		got, err := trim(raw, kept[src])
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if *update {
			if err := os.WriteFile(dst, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, got) {
			t.Errorf("%s is stale: go test ./internal/provider/gcp/contract -run TestDiscoveryCopies -update", dst)
		}
	}
}

// apiModuleDir finds google.golang.org/api at the version go.mod names.
func apiModuleDir(t *testing.T) string {
	gomod, err := os.ReadFile("../../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`google\.golang\.org/api (v[^\s]+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require google.golang.org/api")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "google.golang.org", "api@"+string(m[1]))
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// trim keeps the document's top level (but endpoints, auth and icons),
// the kept methods, and the schemas they reach.
func trim(raw []byte, keep map[string][]string) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	schemas, _ := d["schemas"].(map[string]any)
	reached := map[string]any{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, seen := reached[ref]; !seen && schemas[ref] != nil {
					reached[ref] = schemas[ref]
					walk(schemas[ref])
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	resources := map[string]any{}
	for path, methods := range keep {
		src := d
		dst := resources
		for i, part := range strings.Split(path, ".") {
			if i > 0 {
				sub, _ := dst[strings.Split(path, ".")[i-1]].(map[string]any)
				next, _ := sub["resources"].(map[string]any)
				if next == nil {
					next = map[string]any{}
					sub["resources"] = next
				}
				dst = next
			}
			res, _ := src["resources"].(map[string]any)
			src, _ = res[part].(map[string]any)
			if src == nil {
				return nil, &json.UnsupportedValueError{Str: "no resource " + path}
			}
			if _, ok := dst[part]; !ok {
				dst[part] = map[string]any{}
			}
		}
		last := strings.Split(path, ".")
		node := dst[last[len(last)-1]].(map[string]any)
		all, _ := src["methods"].(map[string]any)
		ms := map[string]any{}
		for _, m := range methods {
			if all[m] == nil {
				return nil, &json.UnsupportedValueError{Str: "no method " + path + "." + m}
			}
			ms[m] = all[m]
			walk(all[m])
		}
		node["methods"] = ms
	}
	out := map[string]any{}
	for k, v := range d {
		switch k {
		case "resources", "schemas", "endpoints", "auth", "icons":
		default:
			out[k] = v
		}
	}
	out["resources"], out["schemas"] = resources, reached
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
