package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/gcp/naming"
	"github.com/vigil-ir/vigil/internal/provider/gcp/quarantine"
	"github.com/vigil-ir/vigil/internal/provider/gcp/restrict"
)

// QuarantineTag is the network tag isolated instances carry.
const QuarantineTag = quarantine.Tag

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

// resourcePath is a resource's projects/... path, from its asset id, self
// link or path.
func resourcePath(ref string) string {
	if i := strings.Index(ref, "projects/"); i >= 0 {
		return ref[i:]
	}
	return ref
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
	var items []action.Evidence
	for i, s := range snaps {
		vals[i] = snapshotObject(s)
		targets = append(targets, s.ID)
		of := []string{}
		for _, d := range disks {
			if labelValue(lastSeg(d)) == s.Labels["vigil-disk"] {
				of = append(of, d)
			}
		}
		items = append(items, action.Evidence{Item: selfLink(s.ID), SHA256: action.HashValue(s), Kind: action.EvidenceSnapshot, Of: of,
			Note: "snapshot of " + s.Labels["vigil-disk"]})
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
		Summary:  fmt.Sprintf("%d snapshots of %s", len(snaps), in.Name),
		Targets:  targets,
		Evidence: items,
		Outputs:  map[string]cty.Value{"snapshots": list, "disks": cty.ListVal(diskVals)},
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
			// The real provider's name and labels.
			parts := strings.Split(strings.TrimPrefix(d, "//compute.googleapis.com/"), "/") // projects/P/zones/Z/disks/D
			name := naming.SnapshotName(naming.StepKey(r.RunID, r.Incident), r.Step, parts[1], parts[3], disk)
			id := fmt.Sprintf("//compute.googleapis.com/projects/%s/global/snapshots/%s", project, name)
			labels := naming.StepLabels(r.RunID, r.Step, r.Incident)
			for k, v := range r.StringMap("labels") {
				labels[k] = labelValue(v)
			}
			labels["vigil-disk"], labels["vigil-instance"] = labelValue(disk), labelValue(in.Name)
			data, _ := json.Marshal(map[string]any{"name": name, "sourceDisk": selfLink(d), "creationTimestamp": c.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
				"labels": labels, "status": "READY", "storageLocations": []string{in.Region}})
			s := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Snapshot", Kind: asset.KindSnapshot,
				Name: name, Scope: project, Region: "global", Labels: labels, Source: "sim", Data: data}
			c.put(s)
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
			name := naming.ImageName(s.Scope, s.Name)
			id := fmt.Sprintf("//compute.googleapis.com/projects/%s/global/images/%s", dest, name)
			if img := c.get(id); img != nil {
				images = append(images, img)
				continue
			}
			labels := naming.StepLabels(r.RunID, r.Step, r.Incident)
			for k, v := range r.StringMap("labels") {
				labels[k] = labelValue(v)
			}
			labels["vigil-source"] = labelValue(s.Name)
			data, _ := json.Marshal(map[string]any{"name": name, "sourceSnapshot": selfLink(s.ID), "labels": labels, "status": "READY"})
			img := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Image", Kind: asset.KindImage,
				Name: name, Scope: dest, Region: "global", Labels: labels, Source: "sim", Data: data}
			c.put(img)
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

// isolationRecord is what isolate_instance keeps in the instance's
// metadata (vigil-isolation), as the real provider does.
type isolationRecord struct {
	Run                  string   `json:"run"`
	PreviousTags         []string `json:"previous_tags"`
	RemovedAccessConfigs []string `json:"removed_access_configs"`
}

const isolationKey = "vigil-isolation"

// quarantineState is a quarantine rule and the simulated network's rule of
// that name.
type quarantineState struct {
	rule      quarantine.Rule
	forensics []string
	current   *asset.Asset
}

func firewallID(project, name string) string {
	return "//compute.googleapis.com/projects/" + project + "/global/firewalls/" + name
}

// quarantineRules are the rules isolate_instance ensures in the network of
// every interface: the real provider's, from the quarantine package.
func (c *Cloud) quarantineRules(in *asset.Asset, allow []string) ([]quarantineState, []string, error) {
	if len(in.Facets.Networks) == 0 {
		return nil, nil, fmt.Errorf("instance %s has no network interface in the inventory", in.Name)
	}
	var out []quarantineState
	var notes []string
	for _, net := range in.Facets.Networks {
		project := strings.Split(net, "/")[1]
		var existing []string
		// The existing rule is trusted only as far as quarantine.Forensics
		// accepts its ranges, and only when it is this network's.
		if fw := c.get(firewallID(project, quarantine.Name("allow-forensics", net))); fw != nil && len(fw.Facets.Ingress) > 0 && fw.Facets.Network == net {
			existing = fw.Facets.Ingress[0].Sources
		}
		forensics, dropped, err := quarantine.Forensics(net, allow, existing)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range dropped {
			notes = append(notes, fmt.Sprintf("drop forensics range %s of the existing rule %s: %s", d.Range, quarantine.Name("allow-forensics", net), d.Why))
		}
		rules, err := quarantine.Rules(net, forensics)
		if err != nil {
			return nil, nil, err
		}
		for _, ru := range rules {
			out = append(out, quarantineState{rule: ru, forensics: forensics, current: c.get(firewallID(ru.Project(), ru.Name))})
		}
	}
	return out, notes, nil
}

// firewallFacets is a quarantine rule as the inventory normalizes a
// firewall.
func firewallFacets(ru quarantine.Rule) asset.Facets {
	rule, _ := inventory.GCPRule("all", nil)
	rule.Sources, rule.Enabled, rule.Priority = append([]string(nil), ru.Ranges...), true, ru.Priority
	rule.Action = "deny"
	if ru.Allow {
		rule.Action = "allow"
	}
	// Firewall Rules Logging is off unless a rule's logConfig enables it,
	// and vigil's quarantine rules do not.
	f := asset.Facets{Network: ru.Network, TargetTags: []string{QuarantineTag}, Logging: asset.Bool(false)}
	if ru.Direction == "EGRESS" {
		f.Egress = []asset.Rule{rule}
	} else {
		f.Ingress = []asset.Rule{rule}
	}
	return f
}

func (st quarantineState) upToDate() bool {
	if st.current == nil {
		return false
	}
	// What the hierarchy passes down is not the rule's.
	cur := st.current.Facets
	cur.Inherited = nil
	a, _ := json.Marshal(firewallFacets(st.rule))
	b, _ := json.Marshal(cur)
	return string(a) == string(b)
}

func publicAccess(in *asset.Asset) []string {
	data, _ := caiData(in)
	var out []string
	for _, ni := range objs(data["networkInterfaces"]) {
		for _, ac := range objs(ni["accessConfigs"]) {
			out = append(out, fmt.Sprintf("%s/%s (%s)", str(ni, "name"), str(ac, "name"), str(ac, "natIP")))
		}
	}
	if len(out) == 0 {
		for _, ip := range in.Facets.PublicIPs {
			out = append(out, "external IP "+ip)
		}
	}
	return out
}

func isolatedTags(in *asset.Asset) bool {
	return len(in.Facets.NetworkTags) == 1 && in.Facets.NetworkTags[0] == QuarantineTag
}

func (c *Cloud) gcpIsolatePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	rules, notes, err := c.quarantineRules(in, r.Strings("allow_ranges"))
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ch := &action.Change{Targets: []string{in.ID}}
	todo := 0
	for _, st := range rules {
		switch {
		case st.current == nil:
			todo++
			ch.Details = append(ch.Details, fmt.Sprintf("create firewall %s in project %s: %s", st.rule.Name, st.rule.Project(), quarantine.Describe(st.rule, st.forensics)))
		case !st.upToDate():
			todo++
			ch.Details = append(ch.Details, fmt.Sprintf("update firewall %s (%s)", st.rule.Name, quarantine.Describe(st.rule, st.forensics)))
		}
	}
	ch.Details = append(ch.Details, notes...)
	removeAccess := r.Bool("remove_external_access", true)
	if todo == 0 && isolatedTags(in) && (!removeAccess || len(in.Facets.PublicIPs) == 0) {
		ch.NoOp, ch.Summary = true, in.Name+" is already isolated"
		return ch, nil
	}
	var nets []string
	for _, n := range in.Facets.Networks {
		nets = append(nets, lastSeg(n))
	}
	ch.Summary = fmt.Sprintf("tag %s %s (replacing %s) behind deny-all rules at priority 0 in %d networks (%s)", in.Name, QuarantineTag,
		strings.Join(in.Facets.NetworkTags, ", "), len(nets), strings.Join(nets, ", "))
	ch.Details = append(ch.Details, quarantine.Why)
	if removeAccess {
		for _, ac := range publicAccess(in) {
			ch.Details = append(ch.Details, "remove external access "+ac)
		}
	}
	return ch, nil
}

func (c *Cloud) gcpIsolateApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	var names []string
	var rec isolationRecord
	err = c.change(r, "gcp.compute.isolate_instance", in.ID, "isolate", func() (bool, error) {
		live := c.get(in.ID)
		if live == nil {
			return false, &action.NotFoundError{What: "instance", ID: in.ID}
		}
		rules, _, err := c.quarantineRules(live, r.Strings("allow_ranges"))
		if err != nil {
			return false, err
		}
		changed := false
		for _, st := range rules {
			names = append(names, st.rule.Name)
			if st.upToDate() {
				continue
			}
			fw := st.current
			if fw == nil {
				fw = &asset.Asset{ID: firewallID(st.rule.Project(), st.rule.Name), Provider: asset.GCP, Type: "compute.googleapis.com/Firewall",
					Kind: asset.KindFirewall, Name: st.rule.Name, Scope: st.rule.Project(), Region: "global", Source: "sim"}
			}
			fw.Facets = firewallFacets(st.rule)
			c.put(fw)
			changed = true
		}
		data, save := caiData(live)
		removeAccess := r.Bool("remove_external_access", true)
		if v, ok := metadataItem(data, isolationKey); ok {
			_ = json.Unmarshal([]byte(v), &rec)
		} else {
			rec = isolationRecord{Run: r.RunID, PreviousTags: append([]string(nil), live.Facets.NetworkTags...)}
			if removeAccess {
				rec.RemovedAccessConfigs = publicAccess(live)
			}
			raw, _ := json.Marshal(rec)
			setMetadataItem(data, isolationKey, string(raw), false)
			changed = true
		}
		if !isolatedTags(live) {
			live.Facets.NetworkTags = []string{QuarantineTag}
			changed = true
		}
		if removeAccess && len(live.Facets.PublicIPs) > 0 {
			live.Facets.PublicIPs = nil
			for _, ni := range objs(data["networkInterfaces"]) {
				delete(ni, "accessConfigs")
			}
			changed = true
		}
		save()
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("%s isolated behind %d rules", in.Name, len(names)), Targets: []string{in.ID}, Outputs: map[string]cty.Value{
		"quarantine_tag": cty.StringVal(QuarantineTag), "firewall_rules": action.StringList(names),
		"previous_tags": action.StringList(rec.PreviousTags), "removed_access_configs": action.StringList(rec.RemovedAccessConfigs),
	}}, nil
}

func (c *Cloud) gcpReleasePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	data, _ := caiData(in)
	v, ok := metadataItem(data, isolationKey)
	if !ok {
		return &action.Change{Summary: in.Name + " is not isolated by vigil", Targets: []string{in.ID}, NoOp: true}, nil
	}
	var rec isolationRecord
	_ = json.Unmarshal([]byte(v), &rec)
	return &action.Change{Summary: fmt.Sprintf("restore the tags of %s (%s); removed external IPs are not restored", in.Name, strings.Join(rec.PreviousTags, ", ")),
		Targets: []string{in.ID}}, nil
}

func (c *Cloud) gcpReleaseApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = c.change(r, "gcp.compute.release_instance", in.ID, "release", func() (bool, error) {
		live := c.get(in.ID)
		data, save := caiData(live)
		v, ok := metadataItem(data, isolationKey)
		if !ok {
			tags = live.Facets.NetworkTags
			return false, nil
		}
		var rec isolationRecord
		_ = json.Unmarshal([]byte(v), &rec)
		live.Facets.NetworkTags = rec.PreviousTags
		tags = rec.PreviousTags
		setMetadataItem(data, isolationKey, "", true)
		save()
		return true, nil
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
			ch := &action.Change{Summary: fmt.Sprintf("delete %s %s", kind, a.Name), Targets: []string{a.ID}, Deletes: []string{a.ID},
				Outputs: map[string]cty.Value{"deleted": cty.StringVal(a.ID)}}
			if kind == asset.KindInstance {
				for _, d := range instanceDisks(a) {
					ch.Requires = append(ch.Requires, action.DiskNeed(d, lastSeg(d), "disk"))
				}
			}
			return ch, nil
		},
		ApplyFn: func(_ context.Context, r *action.Request) (*action.Result, error) {
			a, err := c.find(r.Str(arg), kind)
			if err != nil {
				if nf, ok := err.(*action.NotFoundError); ok { // deleted by an earlier attempt
					return &action.Result{Summary: "already deleted", Outputs: map[string]cty.Value{"deleted": cty.StringVal(nf.ID)}}, nil
				}
				return nil, err
			}
			err = c.change(r, name, a.ID, "delete", func() (bool, error) {
				// Deleting an instance deletes its disks marked autoDelete,
				// as Compute Engine does.
				if kind == asset.KindInstance {
					data, _ := caiData(a)
					for _, d := range objs(data["disks"]) {
						if b, _ := d["autoDelete"].(bool); b {
							if src := str(d, "source"); src != "" {
								c.inv.Delete("//compute.googleapis.com/" + resourcePath(src))
							}
						}
					}
				}
				return c.inv.Delete(a.ID), nil
			})
			if err != nil {
				return nil, err
			}
			return &action.Result{Summary: "deleted " + a.Name, Targets: []string{a.ID}, Deletes: []string{a.ID},
				Outputs: map[string]cty.Value{"deleted": cty.StringVal(a.ID)}}, nil
		},
	}
}

// restriction refuses what the real provider refuses (restrict.Check).
func restriction(fw *asset.Asset, with []string) error {
	if len(fw.Facets.Egress) > 0 && len(fw.Facets.Ingress) == 0 {
		return fmt.Errorf("firewall %s is an egress rule: restrict_firewall replaces source ranges of ingress rules", fw.Name)
	}
	return restrict.Check(fw.Name, with)
}

func firewallSources(fw *asset.Asset) []string {
	if len(fw.Facets.Ingress) == 0 {
		return nil
	}
	return fw.Facets.Ingress[0].Sources
}

func (c *Cloud) gcpRestrictPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	fw, err := c.find(r.Str("firewall"), asset.KindFirewall)
	if err != nil {
		return nil, err
	}
	with := r.Strings("source_ranges")
	if err := restriction(fw, with); err != nil {
		return nil, err
	}
	prev := firewallSources(fw)
	next := restrict.Sources(prev, with)
	ch := &action.Change{Summary: fmt.Sprintf("restrict %s: sources %s -> %s", fw.Name, strings.Join(prev, ", "), strings.Join(next, ", ")), Targets: []string{fw.ID},
		Outputs: map[string]cty.Value{"previous_source_ranges": action.StringList(prev), "source_ranges": action.StringList(next)}}
	if !restrict.Open(prev) {
		ch.NoOp, ch.Summary = true, fw.Name+" is not open to the internet"
		ch.Outputs["source_ranges"] = action.StringList(prev)
	}
	return ch, nil
}

func (c *Cloud) gcpRestrictApply(_ context.Context, r *action.Request) (*action.Result, error) {
	fw, err := c.find(r.Str("firewall"), asset.KindFirewall)
	if err != nil {
		return nil, err
	}
	with := r.Strings("source_ranges")
	if err := restriction(fw, with); err != nil {
		return nil, err
	}
	var prev, next []string
	err = c.change(r, "gcp.compute.restrict_firewall", fw.ID, "restrict", func() (bool, error) {
		live := c.get(fw.ID)
		prev = firewallSources(live)
		next = prev
		if !restrict.Open(prev) {
			return false, nil
		}
		// A firewall's source ranges are one list, shared by its rules.
		next = restrict.Sources(prev, with)
		for i := range live.Facets.Ingress {
			live.Facets.Ingress[i].Sources = append([]string(nil), next...)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("%s now allows %s", fw.Name, strings.Join(next, ", ")), Targets: []string{fw.ID},
		Outputs: map[string]cty.Value{"previous_source_ranges": action.StringList(prev), "source_ranges": action.StringList(next)}}, nil
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

// withoutSSHKeys is a metadata facet with the SSH key items gone.
func withoutSSHKeys(md map[string]string) map[string]string {
	if md["ssh-keys"] == "" && md["sshKeys"] == "" {
		return md
	}
	out := map[string]string{}
	for k, v := range md {
		if k != "ssh-keys" && k != "sshKeys" {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// dropInheritedSSHKeys removes the project-wide SSH keys from what the
// assets of a project inherit, as a collection after the change shows.
// Chains are shared between assets, so each is copied once. Under mu.
func (c *Cloud) dropInheritedSSHKeys(project string) {
	done := map[*asset.Inherited][]asset.Inherited{}
	for _, a := range c.inv.Assets() {
		if a.Scope != project || len(a.Facets.Inherited) == 0 {
			continue
		}
		first := &a.Facets.Inherited[0]
		if chain, ok := done[first]; ok {
			a.Facets.Inherited = chain
			continue
		}
		chain := append([]asset.Inherited(nil), a.Facets.Inherited...)
		for i := range chain {
			if strings.HasPrefix(chain[i].Node, "projects/") {
				chain[i].Metadata = withoutSSHKeys(chain[i].Metadata)
			}
		}
		done[first] = chain
		a.Facets.Inherited = chain
	}
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
		for i, a := range targets {
			n, data := sshKeys(a.Data, true)
			total += n
			a.Data = data
			if n > 0 {
				a.Facets.Metadata = withoutSSHKeys(a.Facets.Metadata)
				if i > 0 { // the project's metadata: what every asset there inherits
					c.dropInheritedSSHKeys(in.Scope)
				}
			}
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

// recoveryNetwork decides a recovered instance's network and subnetwork
// as the real provider does: a subnetwork given is used; on a custom-mode
// network (NetworkInterface.subnetwork: "If the network is in custom
// subnet mode, specifying the subnetwork is required") its one subnetwork
// in the zone's region; several, or none, are refused.
func (c *Cloud) recoveryNetwork(project, zone, network, subnetwork string) (string, string, error) {
	region := zone
	if i := strings.LastIndex(zone, "-"); i > 0 {
		region = zone[:i]
	}
	if subnetwork != "" {
		sp := resourcePath(subnetwork)
		parts := strings.Split(sp, "/")
		if len(parts) != 6 || parts[2] != "regions" || parts[4] != "subnetworks" {
			return "", "", fmt.Errorf("%q is not a subnetwork reference: want its asset id, self link or projects/P/regions/R/subnetworks/S", subnetwork)
		}
		if parts[3] != region {
			return "", "", fmt.Errorf("subnetwork %s is in region %s, not %s, the region of zone %s", sp, parts[3], region, zone)
		}
		if sn := c.get("//compute.googleapis.com/" + sp); sn != nil && sn.Facets.Network != "" {
			network = sn.Facets.Network
		}
		return network, sp, nil
	}
	if network == "" {
		network = fmt.Sprintf("projects/%s/global/networks/default", project)
	}
	np := asset.NetworkID(network)
	n := c.get("//compute.googleapis.com/" + np)
	if n == nil {
		return "", "", &action.NotFoundError{What: "network", ID: "//compute.googleapis.com/" + np}
	}
	data, _ := caiData(n)
	if auto, _ := data["autoCreateSubnetworks"].(bool); auto {
		return np, "", nil
	}
	var in []string
	for _, a := range c.inv.Assets() {
		if a.Kind == asset.KindSubnet && a.Provider == asset.GCP && a.Facets.Network == np && a.Region == region {
			in = append(in, strings.TrimPrefix(a.ID, "//compute.googleapis.com/"))
		}
	}
	switch len(in) {
	case 0:
		return "", "", fmt.Errorf("network %s is in custom subnet mode and has no subnetwork in %s, the region of zone %s: create one, or choose another zone or network", np, region, zone)
	case 1:
		return np, in[0], nil
	}
	sort.Strings(in)
	return "", "", fmt.Errorf("network %s is in custom subnet mode with %d subnetworks in %s (%s): name one with subnetwork", np, len(in), region, strings.Join(in, ", "))
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
	if _, _, err := c.recoveryNetwork(project, r.Str("zone"), r.Str("network"), r.Str("subnetwork")); err != nil {
		return nil, err
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
	network, subnet, err := c.recoveryNetwork(project, zone, r.Str("network"), r.Str("subnetwork"))
	if err != nil {
		return nil, err
	}
	err = c.change(r, "gcp.compute.create_instance_from_snapshot", id, "create", func() (bool, error) {
		if c.get(id) != nil {
			return false, nil
		}
		labels := naming.StepLabels(r.RunID, r.Step, r.Incident)
		for k, v := range r.StringMap("labels") {
			labels[k] = labelValue(v)
		}
		diskID := fmt.Sprintf("//compute.googleapis.com/projects/%s/zones/%s/disks/%s", project, zone, r.Str("name"))
		in := &asset.Asset{ID: id, Provider: asset.GCP, Type: "compute.googleapis.com/Instance", Kind: asset.KindInstance,
			Name: r.Str("name"), Scope: project, Region: asset.Region(zone), Labels: labels, Source: "sim"}
		in.Facets.Networks = []string{asset.NetworkID(network)}
		if subnet != "" {
			in.Facets.Subnets = []string{subnet}
		}
		in.Facets.Status = "running"
		in.Facets.Zone = zone
		in.Facets.Disks = []string{strings.TrimPrefix(diskID, "//compute.googleapis.com/")}
		data, _ := json.Marshal(map[string]any{"sourceSnapshot": selfLink(snap.ID)})
		disk := &asset.Asset{ID: diskID, Provider: asset.GCP, Type: "compute.googleapis.com/Disk", Kind: asset.KindDisk,
			Name: r.Str("name"), Scope: project, Region: asset.Region(zone), Labels: labels, Source: "sim", Data: data}
		disk.Facets.Status, disk.Facets.Zone = "ready", zone
		c.put(in)
		c.put(disk)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "created " + r.Str("name"), Targets: []string{id, snap.ID}, Outputs: map[string]cty.Value{"instance": cty.StringVal(id)}}, nil
}
