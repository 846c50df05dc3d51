package gcpfake

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
)

var reUpload = regexp.MustCompile(`^/upload/storage/v1/b/([^/]+)/o$`)

// AddBucket adds an empty Cloud Storage bucket to a project.
func (f *Fake) AddBucket(bucket, project string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buckets[bucket] = project
}

// Object returns an object's content, and whether it exists.
func (f *Fake) Object(bucket, name string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[bucket+"/"+name]
	return b, ok
}

// upload serves objects.insert: POST /upload/storage/v1/b/BUCKET/o with
// uploadType=media (the name in the query) or multipart (a JSON metadata
// part, then the media), honouring ifGenerationMatch=0 ("only if absent").
func (f *Fake) upload(w http.ResponseWriter, r *http.Request) Call {
	call := Call{API: "storage", Operation: "objects.insert"}
	m := reUpload.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		apiError(w, 404, "NOT_FOUND", "notFound", "no such upload path")
		return call
	}
	bucket := m[1]
	q := r.URL.Query()
	name, data := q.Get("name"), []byte(nil)
	switch q.Get("uploadType") {
	case "media":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", err.Error())
			return call
		}
		data = b
	case "multipart":
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || !strings.HasPrefix(mt, "multipart/") {
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", "a multipart upload needs a multipart/related body")
			return call
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		meta, err := mr.NextPart()
		if err != nil {
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", "no metadata part")
			return call
		}
		var obj struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(meta).Decode(&obj); err != nil {
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", "the metadata part is not JSON: "+err.Error())
			return call
		}
		if obj.Name != "" {
			name = obj.Name
		}
		media, err := mr.NextPart()
		if err != nil {
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", "no media part")
			return call
		}
		if data, err = io.ReadAll(media); err != nil {
			apiError(w, 400, "INVALID_ARGUMENT", "invalid", err.Error())
			return call
		}
	default:
		apiError(w, 400, "INVALID_ARGUMENT", "invalid", "uploadType must be media or multipart (the fake serves no resumable uploads)")
		return call
	}
	call.Target = bucket + "/" + name
	if hit, _ := f.faultHTTP(w, &call, "storage", "storage.objects.create", "b/"+bucket); hit {
		return call
	}
	if _, ok := f.buckets[bucket]; !ok {
		apiError(w, 404, "NOT_FOUND", "notFound", "The specified bucket does not exist.")
		return call
	}
	if name == "" {
		apiError(w, 400, "INVALID_ARGUMENT", "required", "Required: the object name")
		return call
	}
	key := bucket + "/" + name
	if _, exists := f.objects[key]; exists && q.Get("ifGenerationMatch") == "0" {
		apiError(w, 412, "FAILED_PRECONDITION", "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")
		return call
	}
	f.putObject(bucket, name, data)
	writeJSON(w, f.objectDoc(bucket, name, data))
	return call
}
