package gcpfake

import (
	"fmt"
	"testing"
)

// projects.occurrences.list as the Container Analysis reference documents
// it, over raw HTTP: the kind filter, pages of 20 by default and at most
// 1000 (a larger size is served as 1000), tokens that continue where the last page ended, and requests the
// API refuses.
func TestListOccurrences(t *testing.T) {
	f := Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	f.With(func(f *Fake) {
		for i := range 25 {
			f.AddOccurrence(Occurrence{Project: ProdProject, ResourceURI: "https://gcr.io/acme-prod/app@sha256:aa", CVE: fmt.Sprintf("CVE-2026-%04d", i), Severity: "HIGH", Package: "p", Fixed: "2"})
		}
		f.AddOccurrence(Occurrence{Project: ProdProject, ResourceURI: "https://gcr.io/acme-prod/app@sha256:aa", Kind: "DISCOVERY"})
	})
	base := srv.REST + "/v1/projects/acme-prod/occurrences"
	count := func(d Doc) int { l, _ := d["occurrences"].([]any); return len(l) }

	// No filter: every kind, 20 to a page.
	code, d := call(t, base, "GET", "", "")
	if code != 200 || count(d) != 20 || d["nextPageToken"] == nil {
		t.Fatalf("first page: %d, %d occurrences, token %v", code, count(d), d["nextPageToken"])
	}
	code, d = call(t, base, "GET", "?pageToken="+d["nextPageToken"].(string), "")
	if code != 200 || count(d) != 6 || d["nextPageToken"] != nil {
		t.Fatalf("last page: %d, %d occurrences, token %v", code, count(d), d["nextPageToken"])
	}
	// kind="VULNERABILITY" (URL-encoded as a client sends it): the 25.
	code, d = call(t, base, "GET", "?filter=kind%3D%22VULNERABILITY%22&pageSize=1000", "")
	if code != 200 || count(d) != 25 {
		t.Fatalf("filtered: %d, %d occurrences", code, count(d))
	}
	o := d["occurrences"].([]any)[0].(map[string]any)
	v := o["vulnerability"].(map[string]any)
	if o["kind"] != "VULNERABILITY" || o["noteName"] != "projects/goog-vulnz/notes/CVE-2026-0000" || v["fixAvailable"] != true || v["effectiveSeverity"] != "HIGH" {
		t.Errorf("occurrence on the wire: %v", o)
	}
	// more than the maximum is served as the maximum
	if code, d := call(t, base, "GET", "?pageSize=5000", ""); code != 200 || count(d) != 26 {
		t.Errorf("pageSize=5000: %d, %d occurrences", code, count(d))
	}
	for _, q := range []string{"?pageSize=-1", "?pageSize=x", "?pageToken=zz", "?filter=severity%3D%22HIGH%22"} {
		if code, d := call(t, base, "GET", q, ""); code != 400 {
			t.Errorf("%s: %d %v, want 400", q, code, d)
		}
	}
	if code, _ := call(t, srv.REST, "GET", "/v1/projects/no-such-project/occurrences", ""); code != 403 {
		t.Errorf("unknown project: %d, want 403", code)
	}
}
