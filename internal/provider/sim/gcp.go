package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
)

// QuarantineTag is the network tag isolate_instance adds.
const QuarantineTag = "vigil-quarantine"

func (c *Cloud) gcpActions() []action.Action {
	return []action.Action{
		&action.Func{S: action.MustSpec("gcp.compute.snapshot_instance_disks"), PlanFn: c.gcpSnapshotPlan, ApplyFn: c.gcpSnapshotApply, RecoverFn: c.gcpSnapshotRecover},
		&action.Func{S: action.MustSpec("gcp.compute.export_snapshots"), PlanFn: c.gcpExportPlan, ApplyFn: c.gcpExportApply},
		&action.Func{S: action.MustSpec("gcp.compute.isolate_instance"), PlanFn: c.gcpIsolatePlan, ApplyFn: c.gcpIsolateApply},
		&action.Func{S: action.MustSpec("gcp.compute.release_instance"), PlanFn: c.gcpReleasePlan, ApplyFn: c.gcpReleaseApply},
		c.gcpStatus("gcp.compute.stop_instance", "terminated", "stop"),
		c.gcpStatus("gcp.compute.suspend_instance", "suspended", "suspend"),
		c.gcpStatus("gcp.compute.resume_instance", "running", "resume"),
		c.gcpDelete("gcp.compute.delete_instance", "instance", asset.KindInstance),
		c.gcpDelete("gcp.compute.delete_firewall", "firewall", asset.KindFirewall),
		&action.Func{S: action.MustSpec("gcp.compute.restrict_firewall"), PlanFn: c.gcpRestrictPlan, ApplyFn: c.gcpRestrictApply},
		&action.Func{S: action.MustSpec("gcp.compute.remove_instance_ssh_keys"), PlanFn: c.gcpSSHPlan, ApplyFn: c.gcpSSHApply},
		&action.Func{S: action.MustSpec("gcp.iam.disable_service_account_key"), PlanFn: c.gcpKeyPlan, ApplyFn: c.gcpKeyApply},
		&action.Func{S: action.MustSpec("gcp.compute.create_instance_from_snapshot"), PlanFn: c.gcpRecreatePlan, ApplyFn: c.gcpRecreateApply},
	}
}

// instanceDisks returns the asset ids of an instance's disks.
func instanceDisks(in *asset.Asset) []string {
	var out []string
	for _, d := range in.Facets.Disks {
		out = append(out, "//compute.googleapis.com/"+strings.TrimPrefix(d, "//compute.googleapis.com/"))
	}
	return out
}

func lastSeg(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func selfLink(id string) string {
	return "https://www.googleapis.com/compute/v1/" + strings.TrimPrefix(id, "//compute.googleapis.com/")
}

func (c *Cloud) gcpSnapshotPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	disks := instanceDisks(in)
	if len(disks) == 0 {
		return nil, fmt.Errorf("instance %s has no disks in the inventory", in.ID)
	}
	project := r.Str("destination_project")
	if project == "" {
		project = in.Scope
	}
	names := make([]string, len(disks))
	for i, d := range disks {
		names[i] = lastSeg(d)
	}
	diskVals := make([]cty.Value, len(disks))
	for i, d := range disks {
		diskVals[i] = cty.StringVal(d)
	}
	return &action.Change{
		Summary: fmt.Sprintf("snapshot %d disks of %s (%s) into project %s", len(disks), in.Name, strings.Join(names, ", "), project),
		Targets: append([]string{in.ID}, disks...),
		Outputs: map[string]cty.Value{"disks": cty.ListVal(diskVals)},
	}, nil
}

func snapshotObject(a *asset.Asset) cty.Value {
	var d struct {
		SourceDisk        string `json:"sourceDisk"`
		CreationTimestamp string `json:"creationTimestamp"`
	}
	_ = json.Unmarshal(a.Data, &d)
	return cty.ObjectVal(map[string]cty.Value{
		"id": cty.StringVal(a.ID), "name": cty.StringVal(a.Name), "project": cty.StringVal(a.Scope),
		"source_disk": cty.StringVal(d.SourceDisk), "self_link": cty.StringVal(selfLink(a.ID)), "created": cty.StringVal(d.CreationTimestamp),
	})
}

func (c *Cloud) snapshotResult(in *asset.Asset, disks []string, snaps []*asset.Asset) *action.Result {
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].ID < snaps[j].ID })
	vals := make([]cty.Value, len(snaps))
	targets := append([]string{in.ID}, disks...)
	for i, s := range snaps {
		vals[i] = snapshotObject(s)
		targets = append(targets, s.ID)
	}
	diskVals := make([]cty.Value, len(disks))
	for i, d := range disks {
		diskVals[i] = cty.StringVal(d)
	}
	list := cty.ListValEmpty(action.GCPSnapshot)
	if len(vals) > 0 {
		list = cty.ListVal(vals)
	}
	return &action.Result{
		Summary: fmt.Sprintf("%d snapshots of %s", len(snaps), in.Name),
		Targets: targets,
		Outputs: map[string]cty.Value{"snapshots": list, "disks": cty.ListVal(diskVals)},
	}
}

func (c *Cloud) gcpSnapshotApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	disks := instanceDisks(in)
	project := r.Str("destination_project")
	if project == "" {
		project = in.Scope
	}
	var snaps []*asset.Asset
	err = c.change(r, "gcp.compute.snapshot_instance_disks", in.ID, fmt.Sprintf("snapshot %d disks", len(disks)), func() (bool, error) {
		changed := false
		for _, d := range disks {
			disk := lastSeg(d)
			if existing := c.madeLocked(r, asset.KindSnapshot, map[string]string{"vigil-disk": labelValue(disk)}); len(existing) > 0 {
				snaps = append(snaps, existing[0])
				continue
			}
			name := labelValue(fmt.Sprintf("%s-%s", disk, short(stepKey(r)+r.Step+d)))
			id := fmt.Sprintf("//compute.googleapis.com/projects/%s/global/snapshots/%s", project, name)
			labels := runLabels(r, map[string]string{"vigil-disk": labelValue(disk)})
			for k, v := range r.StringMap("labels") {
				labels[k] = labelValue(v)
			}
			data, _ := json.Marshal(map[string]any{"name": name, "sourceDisk": selfLink(d), "creationTimestamp": c.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
				"labels": labels, "status": "READY", "storageLocations": []string{in.Region}})
			s := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Snapshot", Kind: asset.KindSnapshot,
				Name: name, Scope: project, Region: "global", Labels: labels, Source: "sim", Data: data}
			c.inv.Put(s)
			snaps = append(snaps, s)
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return c.snapshotResult(in, disks, snaps), nil
}

func (c *Cloud) gcpSnapshotRecover(_ context.Context, r *action.Request) (*action.Result, bool, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, false, err
	}
	disks := instanceDisks(in)
	c.mu.Lock()
	snaps := c.madeLocked(r, asset.KindSnapshot, nil)
	c.mu.Unlock()
	if len(snaps) < len(disks) {
		return nil, false, nil
	}
	return c.snapshotResult(in, disks, snaps), true, nil
}

func (c *Cloud) gcpExportPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	snaps, err := c.snapshots(r.Strings("snapshots"))
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, s := range snaps {
		targets = append(targets, s.ID)
	}
	return &action.Change{Summary: fmt.Sprintf("copy %d snapshots into project %s as images", len(snaps), r.Str("destination_project")), Targets: targets}, nil
}

func (c *Cloud) gcpExportApply(_ context.Context, r *action.Request) (*action.Result, error) {
	snaps, err := c.snapshots(r.Strings("snapshots"))
	if err != nil {
		return nil, err
	}
	dest := r.Str("destination_project")
	var images []*asset.Asset
	err = c.change(r, "gcp.compute.export_snapshots", dest, fmt.Sprintf("export %d snapshots", len(snaps)), func() (bool, error) {
		changed := false
		for _, s := range snaps {
			name := labelValue("evidence-" + s.Name)
			id := fmt.Sprintf("//compute.googleapis.com/projects/%s/global/images/%s", dest, name)
			if img := c.get(id); img != nil {
				images = append(images, img)
				continue
			}
			labels := runLabels(r, map[string]string{"vigil-source": labelValue(s.Name)})
			for k, v := range r.StringMap("labels") {
				labels[k] = labelValue(v)
			}
			data, _ := json.Marshal(map[string]any{"name": name, "sourceSnapshot": selfLink(s.ID), "labels": labels, "status": "READY"})
			img := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Image", Kind: asset.KindImage,
				Name: name, Scope: dest, Region: "global", Labels: labels, Source: "sim", Data: data}
			c.inv.Put(img)
			images = append(images, img)
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	vals := make([]cty.Value, len(images))
	var targets []string
	for i, img := range images {
		var d struct {
			SourceSnapshot string `json:"sourceSnapshot"`
		}
		_ = json.Unmarshal(img.Data, &d)
		vals[i] = cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(img.ID), "name": cty.StringVal(img.Name), "project": cty.StringVal(img.Scope),
			"source_snapshot": cty.StringVal(d.SourceSnapshot), "self_link": cty.StringVal(selfLink(img.ID))})
		targets = append(targets, img.ID, snaps[i].ID)
	}
	list := cty.ListValEmpty(action.GCPImage)
	if len(vals) > 0 {
		list = cty.ListVal(vals)
	}
	return &action.Result{Summary: fmt.Sprintf("%d images in %s", len(images), dest), Targets: targets, Outputs: map[string]cty.Value{"images": list}}, nil
}

// quarantineRules are the firewall rules isolate_instance ensures in the
// instance's network.
func quarantineRules(in *asset.Asset) (string, []string) {
	network := ""
	if len(in.Facets.Networks) > 0 {
		network = in.Facets.Networks[0]
	}
	project := in.Scope
	if parts := strings.Split(network, "/"); len(parts) >= 2 && parts[0] == "projects" {
		project = parts[1]
	}
	base := fmt.Sprintf("//compute.googleapis.com/projects/%s/global/firewalls/", project)
	return network, []string{base + QuarantineTag + "-deny-ingress", base + QuarantineTag + "-deny-egress", base + QuarantineTag + "-allow-forensics"}
}

func (c *Cloud) gcpIsolatePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	network, rules := quarantineRules(in)
	ch := &action.Change{Targets: []string{in.ID}}
	ch.Summary = fmt.Sprintf("tag %s %q behind deny-all rules in %s", in.Name, QuarantineTag, network)
	if slices.Contains(in.Facets.NetworkTags, QuarantineTag) {
		ch.NoOp, ch.Summary = true, fmt.Sprintf("%s is already isolated", in.Name)
	}
	ch.Details = append(ch.Details, "ensure "+lastSeg(rules[0])+" (INGRESS deny all, priority 1)", "ensure "+lastSeg(rules[1])+" (EGRESS deny all, priority 1)")
	if ranges := r.Strings("allow_ranges"); len(ranges) > 0 {
		ch.Details = append(ch.Details, fmt.Sprintf("ensure %s (INGRESS allow from %s, priority 0)", lastSeg(rules[2]), strings.Join(ranges, ", ")))
	}
	if r.Bool("remove_external_access", true) && len(in.Facets.PublicIPs) > 0 {
		ch.Details = append(ch.Details, "remove external IPs "+strings.Join(in.Facets.PublicIPs, ", "))
	}
	return ch, nil
}

func (c *Cloud) gcpIsolateApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	network, rules := quarantineRules(in)
	var previous, removed, made []string
	err = c.change(r, "gcp.compute.isolate_instance", in.ID, "isolate", func() (bool, error) {
		live := c.get(in.ID)
		if live == nil {
			return false, &action.NotFoundError{What: "instance", ID: in.ID}
		}
		changed := false
		ensure := func(id string, rule asset.Rule, egress bool) {
			made = append(made, id)
			if c.get(id) != nil {
				return
			}
			fw := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Firewall", Kind: asset.KindFirewall,
				Name: lastSeg(id), Scope: live.Scope, Region: "global", Source: "sim", Labels: runLabels(r, nil)}
			fw.Facets.Network = network
			fw.Facets.TargetTags = []string{QuarantineTag}
			if egress {
				fw.Facets.Egress = []asset.Rule{rule}
			} else {
				fw.Facets.Ingress = []asset.Rule{rule}
			}
			c.inv.Put(fw)
			changed = true
		}
		all := []asset.PortRange{{From: 0, To: 65535}}
		ensure(rules[0], asset.Rule{Sources: []string{"0.0.0.0/0", "::/0"}, Protocol: "all", Ports: all, Action: "deny", Enabled: true, Priority: 1}, false)
		ensure(rules[1], asset.Rule{Sources: []string{"0.0.0.0/0", "::/0"}, Protocol: "all", Ports: all, Action: "deny", Enabled: true, Priority: 1}, true)
		if ranges := r.Strings("allow_ranges"); len(ranges) > 0 {
			ensure(rules[2], asset.Rule{Sources: ranges, Protocol: "all", Ports: all, Action: "allow", Enabled: true, Priority: 0}, false)
		}
		previous = append([]string(nil), live.Facets.NetworkTags...)
		if !slices.Contains(live.Facets.NetworkTags, QuarantineTag) {
			live.Facets.NetworkTags = append(live.Facets.NetworkTags, QuarantineTag)
			changed = true
		} else {
			previous = removeString(previous, QuarantineTag)
		}
		if r.Bool("remove_external_access", true) && len(live.Facets.PublicIPs) > 0 {
			removed = live.Facets.PublicIPs
			live.Facets.PublicIPs = nil
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("%s isolated", in.Name), Targets: []string{in.ID}, Outputs: map[string]cty.Value{
		"quarantine_tag": cty.StringVal(QuarantineTag), "firewall_rules": action.StringList(made),
		"previous_tags": action.StringList(previous), "removed_access_configs": action.StringList(removed),
	}}, nil
}

func (c *Cloud) gcpReleasePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("remove the quarantine tag from %s", in.Name), Targets: []string{in.ID},
		NoOp: !slices.Contains(in.Facets.NetworkTags, QuarantineTag)}, nil
}

func (c *Cloud) gcpReleaseApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = c.change(r, "gcp.compute.release_instance", in.ID, "release", func() (bool, error) {
		live := c.get(in.ID)
		had := slices.Contains(live.Facets.NetworkTags, QuarantineTag)
		live.Facets.NetworkTags = removeString(live.Facets.NetworkTags, QuarantineTag)
		tags = live.Facets.NetworkTags
		return had, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: in.Name + " released", Targets: []string{in.ID}, Outputs: map[string]cty.Value{"restored_tags": action.StringList(tags)}}, nil
}

func (c *Cloud) gcpStatus(name, status, verb string) action.Action {
	return &action.Func{S: action.MustSpec(name),
		PlanFn: func(_ context.Context, r *action.Request) (*action.Change, error) {
			in, err := c.find(r.Str("instance"), asset.KindInstance)
			if err != nil {
				return nil, err
			}
			ch := &action.Change{Summary: fmt.Sprintf("%s %s (now %s)", verb, in.Name, in.Facets.Status), Targets: []string{in.ID},
				Outputs: map[string]cty.Value{"status": cty.StringVal(status)}}
			if in.Facets.Status == status {
				ch.NoOp, ch.Summary = true, fmt.Sprintf("%s is already %s", in.Name, status)
			}
			return ch, nil
		},
		ApplyFn: func(_ context.Context, r *action.Request) (*action.Result, error) {
			in, err := c.find(r.Str("instance"), asset.KindInstance)
			if err != nil {
				return nil, err
			}
			err = c.change(r, name, in.ID, verb, func() (bool, error) {
				live := c.get(in.ID)
				if live.Facets.Status == status {
					return false, nil
				}
				if verb == "resume" && live.Facets.Status != "suspended" {
					return false, fmt.Errorf("%s is %s, not suspended", live.Name, live.Facets.Status)
				}
				live.Facets.Status = status
				return true, nil
			})
			if err != nil {
				return nil, err
			}
			return &action.Result{Summary: fmt.Sprintf("%s %s", in.Name, status), Targets: []string{in.ID},
				Outputs: map[string]cty.Value{"status": cty.StringVal(status)}}, nil
		},
	}
}

func (c *Cloud) gcpDelete(name, arg, kind string) action.Action {
	return &action.Func{S: action.MustSpec(name),
		PlanFn: func(_ context.Context, r *action.Request) (*action.Change, error) {
			a, err := c.find(r.Str(arg), kind)
			if err != nil {
				if action.IsNotFound(err) {
					return &action.Change{Summary: r.Str(arg) + " is already gone", NoOp: true}, nil
				}
				return nil, err
			}
			return &action.Change{Summary: fmt.Sprintf("delete %s %s", kind, a.Name), Targets: []string{a.ID}, Deletes: []string{a.ID},
				Outputs: map[string]cty.Value{"deleted": cty.StringVal(a.ID)}}, nil
		},
		ApplyFn: func(_ context.Context, r *action.Request) (*action.Result, error) {
			a, err := c.find(r.Str(arg), kind)
			if err != nil {
				if nf, ok := err.(*action.NotFoundError); ok { // deleted by an earlier attempt
					return &action.Result{Summary: "already deleted", Outputs: map[string]cty.Value{"deleted": cty.StringVal(nf.ID)}}, nil
				}
				return nil, err
			}
			err = c.change(r, name, a.ID, "delete", func() (bool, error) { return c.inv.Delete(a.ID), nil })
			if err != nil {
				return nil, err
			}
			return &action.Result{Summary: "deleted " + a.Name, Targets: []string{a.ID}, Deletes: []string{a.ID},
				Outputs: map[string]cty.Value{"deleted": cty.StringVal(a.ID)}}, nil
		},
	}
}

func worldSources(rule asset.Rule) bool {
	for _, s := range rule.Sources {
		if s == "0.0.0.0/0" || s == "::/0" {
			return true
		}
	}
	return false
}

func (c *Cloud) gcpRestrictPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	fw, err := c.find(r.Str("firewall"), asset.KindFirewall)
	if err != nil {
		return nil, err
	}
	open := 0
	for _, rule := range fw.Facets.Ingress {
		if worldSources(rule) {
			open++
		}
	}
	ch := &action.Change{Summary: fmt.Sprintf("replace 0.0.0.0/0 in %s with %s", fw.Name, strings.Join(r.Strings("source_ranges"), ", ")), Targets: []string{fw.ID}}
	if open == 0 {
		ch.NoOp, ch.Summary = true, fw.Name+" is not open to the world"
	}
	return ch, nil
}

func (c *Cloud) gcpRestrictApply(_ context.Context, r *action.Request) (*action.Result, error) {
	fw, err := c.find(r.Str("firewall"), asset.KindFirewall)
	if err != nil {
		return nil, err
	}
	ranges := r.Strings("source_ranges")
	var previous []string
	err = c.change(r, "gcp.compute.restrict_firewall", fw.ID, "restrict", func() (bool, error) {
		live := c.get(fw.ID)
		changed := false
		for i, rule := range live.Facets.Ingress {
			if !worldSources(rule) {
				continue
			}
			previous = append(previous, rule.Sources...)
			live.Facets.Ingress[i].Sources = append([]string(nil), ranges...)
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("%s now admits only %s", fw.Name, strings.Join(ranges, ", ")), Targets: []string{fw.ID},
		Outputs: map[string]cty.Value{"previous_source_ranges": action.StringList(previous), "source_ranges": action.StringList(ranges)}}, nil
}

// sshKeys counts and removes ssh-keys metadata in a CAI record's data.
func sshKeys(raw []byte, remove bool) (int, []byte) {
	var rec map[string]any
	if json.Unmarshal(raw, &rec) != nil {
		return 0, raw
	}
	res, _ := rec["resource"].(map[string]any)
	data, _ := res["data"].(map[string]any)
	md, _ := data["metadata"].(map[string]any)
	if md == nil {
		md, _ = data["commonInstanceMetadata"].(map[string]any)
	}
	items, _ := md["items"].([]any)
	n := 0
	var kept []any
	for _, it := range items {
		m, _ := it.(map[string]any)
		if k, _ := m["key"].(string); k == "ssh-keys" || k == "sshKeys" {
			v, _ := m["value"].(string)
			n += len(strings.FieldsFunc(v, func(r rune) bool { return r == '\n' }))
			continue
		}
		kept = append(kept, it)
	}
	if !remove || n == 0 {
		return n, raw
	}
	md["items"] = kept
	out, _ := json.Marshal(rec)
	return n, out
}

func (c *Cloud) gcpSSHPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	n, _ := sshKeys(in.Data, false)
	return &action.Change{Summary: fmt.Sprintf("remove %d SSH keys from %s's metadata", n, in.Name), Targets: []string{in.ID}, NoOp: n == 0}, nil
}

func (c *Cloud) gcpSSHApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	total := 0
	err = c.change(r, "gcp.compute.remove_instance_ssh_keys", in.ID, "remove ssh keys", func() (bool, error) {
		targets := []*asset.Asset{c.get(in.ID)}
		if r.Bool("project_metadata", false) {
			if pm := c.get("//compute.googleapis.com/projects/" + in.Scope); pm != nil {
				targets = append(targets, pm)
			}
		}
		for _, a := range targets {
			n, data := sshKeys(a.Data, true)
			total += n
			a.Data = data
		}
		return total > 0, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("removed %d SSH keys", total), Targets: []string{in.ID},
		Outputs: map[string]cty.Value{"removed_keys": cty.NumberIntVal(int64(total))}}, nil
}

func (c *Cloud) gcpKeyPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	k, err := c.find(r.Str("key"), asset.KindServiceAccountKey)
	if err != nil {
		return nil, err
	}
	ch := &action.Change{Summary: "disable service account key " + k.Name, Targets: []string{k.ID}}
	if k.Facets.Enabled != nil && !*k.Facets.Enabled {
		ch.NoOp, ch.Summary = true, "key "+k.Name+" is already disabled"
	}
	return ch, nil
}

func (c *Cloud) gcpKeyApply(_ context.Context, r *action.Request) (*action.Result, error) {
	k, err := c.find(r.Str("key"), asset.KindServiceAccountKey)
	if err != nil {
		return nil, err
	}
	err = c.change(r, "gcp.iam.disable_service_account_key", k.ID, "disable key", func() (bool, error) {
		live := c.get(k.ID)
		if live.Facets.Enabled != nil && !*live.Facets.Enabled {
			return false, nil
		}
		live.Facets.Enabled = asset.Bool(false)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "disabled key " + k.Name, Targets: []string{k.ID},
		Outputs: map[string]cty.Value{"key": cty.StringVal(k.ID), "disabled": cty.True}}, nil
}

func (c *Cloud) gcpRecreatePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	snap, err := c.find(r.Str("snapshot"), asset.KindSnapshot)
	if err != nil {
		return nil, err
	}
	project := r.Str("project")
	if project == "" {
		project = snap.Scope
	}
	id := fmt.Sprintf("//compute.googleapis.com/projects/%s/zones/%s/instances/%s", project, r.Str("zone"), r.Str("name"))
	return &action.Change{Summary: fmt.Sprintf("create instance %s in %s from snapshot %s", r.Str("name"), r.Str("zone"), snap.Name),
		Targets: []string{snap.ID}, Outputs: map[string]cty.Value{"instance": cty.StringVal(id)}, NoOp: c.inv.Get(id) != nil}, nil
}

func (c *Cloud) gcpRecreateApply(_ context.Context, r *action.Request) (*action.Result, error) {
	snap, err := c.find(r.Str("snapshot"), asset.KindSnapshot)
	if err != nil {
		return nil, err
	}
	project := r.Str("project")
	if project == "" {
		project = snap.Scope
	}
	zone := r.Str("zone")
	id := fmt.Sprintf("//compute.googleapis.com/projects/%s/zones/%s/instances/%s", project, zone, r.Str("name"))
	network := r.Str("network")
	if network == "" {
		network = fmt.Sprintf("projects/%s/global/networks/default", project)
	}
	err = c.change(r, "gcp.compute.create_instance_from_snapshot", id, "create", func() (bool, error) {
		if c.get(id) != nil {
			return false, nil
		}
		labels := runLabels(r, nil)
		for k, v := range r.StringMap("labels") {
			labels[k] = labelValue(v)
		}
		diskID := fmt.Sprintf("//compute.googleapis.com/projects/%s/zones/%s/disks/%s", project, zone, r.Str("name"))
		in := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Instance", Kind: asset.KindInstance,
			Name: r.Str("name"), Scope: project, Region: asset.Region(zone), Labels: labels, Source: "sim"}
		in.Facets.Networks = []string{asset.NetworkID(network)}
		in.Facets.Status = "running"
		in.Facets.Zone = zone
		in.Facets.Disks = []string{strings.TrimPrefix(diskID, "//compute.googleapis.com/")}
		data, _ := json.Marshal(map[string]any{"sourceSnapshot": selfLink(snap.ID)})
		disk := &asset.Asset{ID: diskID, Provider: asset.GCP, Type: "compute.googleapis.com/Disk", Kind: asset.KindDisk,
			Name: r.Str("name"), Scope: project, Region: asset.Region(zone), Labels: labels, Source: "sim", Data: data}
		c.inv.Put(in)
		c.inv.Put(disk)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "created " + r.Str("name"), Targets: []string{id, snap.ID}, Outputs: map[string]cty.Value{"instance": cty.StringVal(id)}}, nil
}
