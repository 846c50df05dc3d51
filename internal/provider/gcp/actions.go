package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	compute "google.golang.org/api/compute/v1"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/naming"
)

func (p *Provider) instance(ctx context.Context, r *action.Request) (*session, ref, *compute.Instance, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, ref{}, nil, err
	}
	ir, err := parse(r.Str("instance"), "instances")
	if err != nil {
		return nil, ref{}, nil, err
	}
	var in *compute.Instance
	err = s.do(ctx, func() error {
		in, err = s.cmp.Instances.Get(ir.project, ir.zone, ir.name).Context(ctx).Do()
		return err
	})
	if isNotFound(err) {
		return s, ir, nil, &action.NotFoundError{What: "instance", ID: ir.assetID()}
	}
	return s, ir, in, err
}

// ---- snapshots ----

func diskRefs(in *compute.Instance) []ref {
	var out []ref
	for _, d := range in.Disks {
		if r, err := parse(d.Source, "disks"); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func (p *Provider) snapshotDest(r *action.Request, ir ref) string {
	if d := r.Str("destination_project"); d != "" {
		return d
	}
	return ir.project
}

// snapshotsOfStep finds the snapshots this step made, by disk name.
func (s *session) snapshotsOfStep(ctx context.Context, project string, r *action.Request) (map[string]*compute.Snapshot, error) {
	out := map[string]*compute.Snapshot{}
	err := s.do(ctx, func() error {
		return s.cmp.Snapshots.List(project).Filter(stepFilter(r)).Pages(ctx, func(l *compute.SnapshotList) error {
			for _, sn := range l.Items {
				if matchesStep(sn.Labels, r) {
					out[sn.Labels["vigil-disk"]] = sn
				}
			}
			return nil
		})
	})
	return out, err
}

var snapshotType = action.GCPSnapshot

func snapshotValue(sn *compute.Snapshot, project string) cty.Value {
	id := ref{project: project, coll: "snapshots", name: sn.Name}.assetID()
	return cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(id), "name": cty.StringVal(sn.Name), "project": cty.StringVal(project),
		"source_disk": cty.StringVal(sn.SourceDisk), "self_link": cty.StringVal(sn.SelfLink), "created": cty.StringVal(sn.CreationTimestamp)})
}

func (p *Provider) snapshotResult(ir ref, disks []ref, dest string, made map[string]*compute.Snapshot) *action.Result {
	var vals []cty.Value
	var names, diskNames []string
	targets := []string{ir.assetID()}
	res := &action.Result{}
	for _, d := range disks {
		sn := made[d.name]
		diskNames = append(diskNames, d.name)
		targets = append(targets, d.assetID())
		if sn == nil {
			continue
		}
		vals = append(vals, snapshotValue(sn, dest))
		names = append(names, sn.Name)
		targets = append(targets, ref{project: dest, coll: "snapshots", name: sn.Name}.assetID())
		res.Evidence = append(res.Evidence, action.Evidence{Item: sn.SelfLink, SHA256: digest(sn), Note: "snapshot of " + d.name + " created " + sn.CreationTimestamp,
			Kind: action.EvidenceSnapshot, Of: []string{d.assetID()}})
	}
	list := cty.ListValEmpty(snapshotType)
	if len(vals) > 0 {
		list = cty.ListVal(vals)
	}
	res.Summary = fmt.Sprintf("%d snapshots of %s in %s: %s", len(names), ir.name, dest, strings.Join(names, ", "))
	res.Targets = targets
	res.Outputs = map[string]cty.Value{"snapshots": list, "disks": action.StringList(diskNames)}
	return res
}

// digest hashes a resource's metadata as the API returned it, for the
// chain-of-custody record.
func digest(v any) string {
	raw, _ := json.Marshal(v)
	return sha256Hex(raw)
}

func (p *Provider) snapshotPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	disks := diskRefs(in)
	if len(disks) == 0 {
		return nil, fmt.Errorf("instance %s has no persistent disks", ir.name)
	}
	dest := p.snapshotDest(r, ir)
	made, err := s.snapshotsOfStep(ctx, dest, r)
	if err != nil {
		return nil, err
	}
	var names []string
	targets := []string{ir.assetID()}
	for _, d := range disks {
		names = append(names, d.name)
		targets = append(targets, d.assetID())
	}
	var details []string
	if n := localSSDs(in); n > 0 {
		details = append(details, fmt.Sprintf("%s has %d Local SSD: snapshots cannot take it; suspend and stop keep its data unless told to discard it", ir.name, n))
	}
	if len(made) >= len(disks) && allDisks(disks, made) {
		res := p.snapshotResult(ir, disks, dest, made)
		return &action.Change{Summary: "already taken for " + r.Incident + ": " + res.Summary, Details: details, Targets: res.Targets, Outputs: res.Outputs, NoOp: true}, nil
	}
	return &action.Change{Summary: fmt.Sprintf("snapshot %d disks of %s (%s) into project %s", len(disks), ir.name, strings.Join(names, ", "), dest),
		Details: details, Targets: targets, Outputs: map[string]cty.Value{"disks": action.StringList(names)}}, nil
}

func allDisks(disks []ref, made map[string]*compute.Snapshot) bool {
	for _, d := range disks {
		if made[d.name] == nil {
			return false
		}
	}
	return true
}

func (p *Provider) snapshotApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	disks := diskRefs(in)
	dest := p.snapshotDest(r, ir)
	made, err := s.snapshotsOfStep(ctx, dest, r)
	if err != nil {
		return nil, err
	}
	for _, d := range disks {
		if made[d.name] != nil {
			continue
		}
		labels := stepLabels(r)
		for k, v := range r.StringMap("labels") {
			labels[k] = labelValue(v)
		}
		labels["vigil-disk"], labels["vigil-instance"] = labelValue(d.name), labelValue(ir.name)
		name := naming.SnapshotName(naming.StepKey(r.RunID, r.Incident), r.Step, d.project, d.zone, d.name)
		sn := &compute.Snapshot{Name: name, SourceDisk: "https://www.googleapis.com/compute/v1/" + d.path(), Labels: labels,
			Description: fmt.Sprintf("vigil %s %s: disk %s of %s", r.Incident, r.Step, d.name, ir.path())}
		err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Snapshots.Insert(dest, sn).RequestId(id).Context(ctx).Do()
		})
		if err != nil && !isConflict(err) {
			return nil, fmt.Errorf("snapshot disk %s: %w", d.name, err)
		}
		made[d.name] = &compute.Snapshot{Name: name}
	}
	// The evidence is a READY snapshot: its operation is done before the
	// snapshot has finished uploading.
	for _, d := range disks {
		got, err := s.snapshotReady(ctx, dest, made[d.name].Name)
		if err != nil {
			return nil, err
		}
		made[d.name] = got
	}
	return p.snapshotResult(ir, disks, dest, made), nil
}

// snapshotReady waits until a snapshot is READY and returns it.
func (s *session) snapshotReady(ctx context.Context, project, name string) (*compute.Snapshot, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	pause := min(250*time.Millisecond, s.opts.PollInterval)
	for {
		var sn *compute.Snapshot
		if err := s.do(ctx, func() error {
			var err error
			sn, err = s.cmp.Snapshots.Get(project, name).Context(ctx).Do()
			return err
		}); err != nil {
			return nil, fmt.Errorf("look at snapshot %s: %w", name, err)
		}
		switch sn.Status {
		case "READY":
			return sn, nil
		case "FAILED", "DELETING":
			return nil, fmt.Errorf("snapshot %s is %s", name, sn.Status)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("snapshot %s still %s after %s", name, sn.Status, s.opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, s.opts.PollInterval)
	}
}

// ---- export ----

func imageName(snap ref) string { return naming.ImageName(snap.project, snap.name) }

func (p *Provider) exportPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	dest := r.Str("destination_project")
	var refs []ref
	for _, id := range r.Strings("snapshots") {
		sr, err := parse(id, "snapshots")
		if err != nil {
			return nil, err
		}
		refs = append(refs, sr)
	}
	have := map[string]bool{}
	err = s.do(ctx, func() error {
		return s.cmp.Images.List(dest).Pages(ctx, func(l *compute.ImageList) error {
			for _, img := range l.Items {
				have[img.Name] = true
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	todo := 0
	var targets []string
	for _, sr := range refs {
		targets = append(targets, sr.assetID())
		if !have[imageName(sr)] {
			todo++
		}
	}
	ch := &action.Change{Summary: fmt.Sprintf("copy %d snapshots into project %s as images", todo, dest), Targets: targets}
	if todo == 0 {
		ch.NoOp, ch.Summary = len(refs) > 0, fmt.Sprintf("the %d snapshots are already in project %s", len(refs), dest)
	}
	return ch, nil
}

func (p *Provider) exportApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	dest := r.Str("destination_project")
	res := &action.Result{}
	var vals []cty.Value
	for _, id := range r.Strings("snapshots") {
		sr, err := parse(id, "snapshots")
		if err != nil {
			return nil, err
		}
		name := imageName(sr)
		labels := stepLabels(r)
		for k, v := range r.StringMap("labels") {
			labels[k] = labelValue(v)
		}
		labels["vigil-source"] = labelValue(sr.name)
		img := &compute.Image{Name: name, SourceSnapshot: "https://www.googleapis.com/compute/v1/" + sr.path(), Labels: labels,
			Description: fmt.Sprintf("vigil %s: evidence copy of %s", r.Incident, sr.path())}
		got, err := s.image(ctx, dest, name)
		if err != nil {
			return nil, err
		}
		if got == nil {
			// An image of a snapshot still uploading is refused.
			if _, err := s.snapshotReady(ctx, sr.project, sr.name); err != nil {
				return nil, fmt.Errorf("export %s: %w", sr.name, err)
			}
			err = s.mutate(ctx, func(id string) (*compute.Operation, error) {
				return s.cmp.Images.Insert(dest, img).RequestId(id).Context(ctx).Do()
			})
			if err != nil && !isConflict(err) {
				return nil, fmt.Errorf("export %s: %w", sr.name, err)
			}
			if got, err = s.image(ctx, dest, name); err != nil {
				return nil, err
			}
			if got == nil {
				return nil, fmt.Errorf("export %s: image %s is not there after its operation finished", sr.name, name)
			}
		}
		ir := ref{project: dest, coll: "images", name: name}
		vals = append(vals, cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(ir.assetID()), "name": cty.StringVal(name),
			"project": cty.StringVal(dest), "source_snapshot": cty.StringVal(sr.assetID()), "self_link": cty.StringVal(got.SelfLink)}))
		res.Targets = append(res.Targets, sr.assetID(), ir.assetID())
		res.Evidence = append(res.Evidence, action.Evidence{Item: got.SelfLink, SHA256: digest(got), Note: "evidence image of " + sr.path(),
			Kind: action.EvidenceSnapshot, Of: []string{sr.assetID()}})
	}
	list := cty.ListValEmpty(action.GCPImage)
	if len(vals) > 0 {
		list = cty.ListVal(vals)
	}
	res.Summary = fmt.Sprintf("%d images in %s", len(vals), dest)
	res.Outputs = map[string]cty.Value{"images": list}
	return res, nil
}

// image returns an image, or nil when there is none.
func (s *session) image(ctx context.Context, project, name string) (*compute.Image, error) {
	var img *compute.Image
	err := s.do(ctx, func() error {
		var err error
		img, err = s.cmp.Images.Get(project, name).Context(ctx).Do()
		return err
	})
	if isNotFound(err) {
		return nil, nil
	}
	return img, err
}
