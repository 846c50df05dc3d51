package gcpfake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// iam serves service account keys: get, disable and enable. Disable and
// enable take a request message, so their body must be a JSON object.
func (f *Fake) iam(w http.ResponseWriter, r *http.Request, body []byte) (Call, *Fault) {
	m := reIAM.FindStringSubmatch(r.URL.Path)
	name, verb := m[1], strings.TrimPrefix(m[2], ":")
	call := Call{API: "iam", Operation: "keys.get", Target: name, Permissions: []string{"iam.serviceAccountKeys.get"}}
	if verb != "" {
		call.Operation, call.Permissions = "keys."+verb, []string{"iam.serviceAccountKeys." + verb}
	}
	done, after := f.faultHTTP(w, &call, "iam", call.Permissions[0], name)
	if done {
		return call, nil
	}
	if verb != "" && r.Method != http.MethodPost {
		apiError(w, 405, "METHOD_NOT_ALLOWED", "badRequest", r.Method+" is not allowed for :"+verb)
		return call, after
	}
	if verb != "" {
		if _, err := decodeObject(body); err != nil {
			badRequest(w, err.Error())
			return call, after
		}
	}
	k := f.keys[name]
	if k == nil {
		apiError(w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("Service account key %s does not exist.", name))
		return call, after
	}
	switch verb {
	case "disable":
		k["disabled"] = true
		writeJSON(w, map[string]any{})
	case "enable":
		delete(k, "disabled")
		writeJSON(w, map[string]any{})
	default:
		writeJSON(w, k)
	}
	return call, after
}

// storage serves the object list and download of the export.
func (f *Fake) storage(w http.ResponseWriter, r *http.Request) (Call, *Fault) {
	path := strings.TrimPrefix(r.URL.Path, "/download")
	m := reStorage.FindStringSubmatch(path)
	call := Call{API: "storage", Operation: "objects.list", Permissions: []string{"storage.objects.list"}}
	if m == nil {
		apiError(w, 404, "NOT_FOUND", "notFound", "no such object path")
		return call, nil
	}
	bucket, object := m[1], m[2]
	if object != "" {
		call.Operation, call.Permissions = "objects.get", []string{"storage.objects.get"}
		if r.URL.Query().Get("alt") == "media" {
			call.Operation = "objects.download"
		}
	}
	call.Target = bucket + "/" + object
	done, after := f.faultHTTP(w, &call, "storage", call.Permissions[0], "b/"+bucket)
	if done {
		return call, nil
	}
	if object == "" {
		prefix, delim := r.URL.Query().Get("prefix"), r.URL.Query().Get("delimiter")
		var items []map[string]any
		var prefixes []string
		for _, k := range slices.Sorted(maps.Keys(f.objects)) {
			name, ok := strings.CutPrefix(k, bucket+"/")
			if !ok || !strings.HasPrefix(name, prefix) {
				continue
			}
			// With a delimiter, names that hold it after the prefix are listed
			// once in prefixes, up to and including the delimiter.
			if i := strings.Index(name[len(prefix):], delim); delim != "" && i >= 0 {
				p := name[:len(prefix)+i+len(delim)]
				if len(prefixes) == 0 || prefixes[len(prefixes)-1] != p {
					prefixes = append(prefixes, p)
				}
				continue
			}
			items = append(items, map[string]any{"kind": "storage#object", "bucket": bucket, "name": name, "size": strconv.Itoa(len(f.objects[k]))})
		}
		resp := map[string]any{"kind": "storage#objects", "items": items}
		if len(prefixes) > 0 {
			resp["prefixes"] = prefixes
		}
		writeJSON(w, resp)
		return call, after
	}
	data, ok := f.objects[bucket+"/"+object]
	// "generation: If present, selects a specific revision of this object
	// (as opposed to the latest version, the default)": with no versioning,
	// only the live generation is there.
	gen := r.URL.Query().Get("generation")
	if !ok || f.pendingObject(bucket+"/"+object) || gen != "" && gen != f.generations[bucket+"/"+object] {
		apiError(w, 404, "NOT_FOUND", "notFound", "No such object: "+bucket+"/"+object)
		return call, after
	}
	if call.Operation == "objects.download" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write(data)
		return call, after
	}
	writeJSON(w, f.objectDoc(bucket, object, data))
	return call, after
}
