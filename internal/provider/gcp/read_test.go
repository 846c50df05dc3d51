package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// An asset read again is the asset a collection makes of it, IAM policy
// merged in; a missing one is gone, or not visible yet when just made; an
// asset older than the event that changed it is not trusted.
func TestRead(t *testing.T) {
	f, opts := start(t)
	inv, _ := collect(t, opts)
	r, err := NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	project := "//cloudresourcemanager.googleapis.com/projects/402398720121"
	refs := []Ref{
		{Name: "//compute.googleapis.com/" + gcpfake.OpenSSH, Project: "acme-prod"},
		{Name: web1, Project: "acme-prod"},
		{Name: project, Project: "acme-prod"},
		{Name: "//compute.googleapis.com/projects/acme-prod/global/firewalls/deleted-one", Project: "acme-prod"},
	}
	got, err := r.Read(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assets) != 3 || len(got.Gone) != 1 || got.Gone[0] != refs[3].Name {
		t.Fatalf("assets %d gone %v", len(got.Assets), got.Gone)
	}
	for _, a := range got.Assets {
		wj, _ := json.Marshal(inv.Get(a.ID))
		gj, _ := json.Marshal(a)
		if string(wj) != string(gj) {
			t.Errorf("%s differs from its collected asset:\n got %s\nwant %s", a.ID, gj, wj)
		}
		if a.ID == project && len(a.Facets.Bindings) == 0 {
			t.Errorf("project without its IAM policy")
		}
	}
	// The fake's assets were last updated at 09:00; an event at 10:00
	// means CAI has not caught up.
	_, err = r.Read(context.Background(), []Ref{{Name: web1, Project: "acme-prod", After: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}})
	var nv *NotVisibleError
	if !errors.As(err, &nv) || len(nv.Names) != 1 {
		t.Fatalf("stale: %v", err)
	}
	f.SetClock(func() time.Time { return time.Date(2026, 11, 27, 10, 0, 5, 0, time.UTC) })
	if got, err := r.Read(context.Background(), []Ref{{Name: web1, Project: "acme-prod", After: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}}); err != nil || len(got.Assets) != 1 {
		t.Fatalf("after CAI caught up: %v", err)
	}
	_, err = r.Read(context.Background(), []Ref{{Name: "//compute.googleapis.com/projects/acme-prod/global/firewalls/new", Project: "acme-prod", MustExist: true}})
	if !errors.As(err, &nv) {
		t.Fatalf("not visible: %v", err)
	}
	f.Inject(gcpfake.Fault{API: "asset", Operation: "BatchGetAssetsHistory", Kind: "denied", Times: 1})
	_, err = r.Read(context.Background(), refs[:1])
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Role != "roles/cloudasset.viewer" {
		t.Fatalf("denied: %v", err)
	}
}

// A project named by its id (as audit logs name a new one) is found under
// itself and read by its Cloud Asset name (by number); one Cloud Asset
// does not show yet is not visible when it was just made, gone otherwise.
func TestReadProjectByID(t *testing.T) {
	f, opts := start(t)
	r, err := NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	byID := "//cloudresourcemanager.googleapis.com/projects/shadow-project-7"
	_, err = r.Read(context.Background(), []Ref{{Name: byID, Project: "shadow-project-7", MustExist: true}})
	var nv *NotVisibleError
	if !errors.As(err, &nv) || len(nv.Names) != 1 || nv.Names[0] != byID {
		t.Fatalf("a project Cloud Asset does not show yet: %v", err)
	}
	if got, err := r.Read(context.Background(), []Ref{{Name: byID, Project: "shadow-project-7"}}); err != nil || len(got.Gone) != 1 {
		t.Fatalf("not made by the event: %+v %v", got, err)
	}
	f.With(func(f *gcpfake.Fake) {
		f.AddProject(&gcpfake.Project{ID: "shadow-project-7", Number: "771234567890", Ancestors: []string{"folders/511904211743", "organizations/684315297612"}})
	})
	got, err := r.Read(context.Background(), []Ref{{Name: byID, Project: "shadow-project-7", MustExist: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assets) != 1 || got.Assets[0].ID != "//cloudresourcemanager.googleapis.com/projects/771234567890" || got.Assets[0].Name != "shadow-project-7" {
		t.Fatalf("read %+v", got.Assets)
	}
}
