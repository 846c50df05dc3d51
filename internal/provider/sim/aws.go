package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/provider/aws/isolation"
)

func (c *Cloud) awsActions() []action.Action {
	return []action.Action{
		&action.Func{S: action.MustSpec("aws.ec2.snapshot_instance_volumes"), PlanFn: c.awsSnapshotPlan, ApplyFn: c.awsSnapshotApply, RecoverFn: c.awsSnapshotRecover},
		&action.Func{S: action.MustSpec("aws.ec2.share_snapshot"), PlanFn: c.awsSharePlan, ApplyFn: c.awsShareApply},
		&action.Func{S: action.MustSpec("aws.ec2.copy_snapshot"), PlanFn: c.awsCopyPlan, ApplyFn: c.awsCopyApply},
		&action.Func{S: action.MustSpec("aws.ec2.isolate_instance"), PlanFn: c.awsIsolatePlan, ApplyFn: c.awsIsolateApply},
		&action.Func{S: action.MustSpec("aws.ec2.release_instance"), PlanFn: c.awsReleasePlan, ApplyFn: c.awsReleaseApply},
		c.awsState("aws.ec2.stop_instance", "stopped"),
		&action.Func{S: action.MustSpec("aws.ec2.terminate_instance"), PlanFn: c.awsTerminatePlan, ApplyFn: c.awsTerminateApply},
		&action.Func{S: action.MustSpec("aws.ec2.revoke_open_ingress"), PlanFn: c.awsRevokePlan, ApplyFn: c.awsRevokeApply},
		&action.Func{S: action.MustSpec("aws.ec2.tag"), PlanFn: c.awsTagPlan, ApplyFn: c.awsTagApply},
		&action.Func{S: action.MustSpec("aws.iam.list_access_keys"), PlanFn: c.awsListKeysPlan, ApplyFn: c.awsListKeysApply},
		&action.Func{S: action.MustSpec("aws.iam.deactivate_access_key"), PlanFn: c.awsDeactivatePlan, ApplyFn: c.awsDeactivateApply},
		&action.Func{S: action.MustSpec("aws.iam.delete_access_key"), PlanFn: c.awsDeleteKeyPlan, ApplyFn: c.awsDeleteKeyApply},
		&action.Func{S: action.MustSpec("aws.iam.attach_deny_all_policy"), PlanFn: c.awsDenyAllPlan, ApplyFn: c.awsDenyAllApply},
	}
}

// arnParts splits arn:aws:svc:region:account:resource.
func arnParts(id string) (region, account string) {
	p := strings.SplitN(id, ":", 6)
	if len(p) == 6 {
		return p[3], p[4]
	}
	return "", ""
}

func volumeARN(in *asset.Asset, vol string) string {
	region, account := arnParts(in.ID)
	return fmt.Sprintf("arn:aws:ec2:%s:%s:volume/%s", region, account, vol)
}

func (c *Cloud) awsSnapshotPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	if len(in.Facets.Disks) == 0 {
		return nil, fmt.Errorf("instance %s has no volumes in the inventory", in.ID)
	}
	targets := []string{in.ID}
	for _, v := range in.Facets.Disks {
		targets = append(targets, volumeARN(in, v))
	}
	return &action.Change{Summary: fmt.Sprintf("snapshot %d volumes of %s (%s)", len(in.Facets.Disks), in.Name, strings.Join(in.Facets.Disks, ", ")),
		Targets: targets, Outputs: map[string]cty.Value{"volume_ids": action.StringList(in.Facets.Disks)}}, nil
}

func (c *Cloud) awsSnapshotResult(in *asset.Asset, snaps []*asset.Asset) *action.Result {
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].ID < snaps[j].ID })
	var ids []string
	targets := []string{in.ID}
	for _, v := range in.Facets.Disks {
		targets = append(targets, volumeARN(in, v))
	}
	var items []action.Evidence
	for _, s := range snaps {
		ids = append(ids, s.Name)
		targets = append(targets, s.ID)
		items = append(items, action.Evidence{Item: s.ID, SHA256: action.HashValue(s), Kind: action.EvidenceSnapshot,
			Of: []string{volumeARN(in, s.Labels["vigil-volume"])}, Note: "snapshot of " + s.Labels["vigil-volume"]})
	}
	return &action.Result{Summary: fmt.Sprintf("%d snapshots of %s", len(snaps), in.Name), Targets: targets, Evidence: items,
		Outputs: map[string]cty.Value{"snapshot_ids": action.StringList(ids), "volume_ids": action.StringList(in.Facets.Disks)}}
}

func (c *Cloud) awsSnapshotApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	region, account := arnParts(in.ID)
	var snaps []*asset.Asset
	err = c.change(r, "aws.ec2.snapshot_instance_volumes", in.ID, fmt.Sprintf("snapshot %d volumes", len(in.Facets.Disks)), func() (bool, error) {
		changed := false
		for _, vol := range in.Facets.Disks {
			if existing := c.madeLocked(r, asset.KindSnapshot, map[string]string{"vigil-volume": vol}); len(existing) > 0 {
				snaps = append(snaps, existing[0])
				continue
			}
			id := "snap-0" + short(stepKey(r)+r.Step+vol) + short(vol)[:8]
			tags := awsTags(r.RunID, r.Step, r.Incident, r.StringMap("tags"), map[string]string{"vigil-volume": vol, "vigil-instance": lastSeg(in.ID)})
			data, _ := json.Marshal(map[string]any{"snapshotId": id, "volumeId": vol, "state": "completed", "startTime": c.now().UTC().Format("2006-01-02T15:04:05.000Z"), "ownerId": account})
			s := &asset.Asset{ID: fmt.Sprintf("arn:aws:ec2:%s:%s:snapshot/%s", region, account, id), Provider: asset.AWS, Type: "AWS::EC2::Snapshot",
				Kind: asset.KindSnapshot, Name: id, Scope: account, Region: region, Labels: tags, Source: "sim", Data: data}
			c.put(s)
			snaps = append(snaps, s)
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return c.awsSnapshotResult(in, snaps), nil
}

func (c *Cloud) awsSnapshotRecover(_ context.Context, r *action.Request) (*action.Result, bool, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	snaps := c.madeLocked(r, asset.KindSnapshot, nil)
	c.mu.Unlock()
	if len(snaps) < len(in.Facets.Disks) {
		return nil, false, nil
	}
	return c.awsSnapshotResult(in, snaps), true, nil
}

func (c *Cloud) awsSharePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	snaps, err := c.snapshots(r.Strings("snapshot_ids"))
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, s := range snaps {
		targets = append(targets, s.ID)
	}
	return &action.Change{Summary: fmt.Sprintf("share %d snapshots with account %s", len(snaps), r.Str("account")), Targets: targets}, nil
}

func sharedWith(a *asset.Asset) []string {
	var d struct {
		CreateVolumePermissions []string `json:"createVolumePermissions"`
	}
	_ = json.Unmarshal(a.Data, &d)
	return d.CreateVolumePermissions
}

func setData(a *asset.Asset, key string, v any) {
	m := map[string]any{}
	_ = json.Unmarshal(a.Data, &m)
	m[key] = v
	a.Data, _ = json.Marshal(m)
}

func (c *Cloud) awsShareApply(_ context.Context, r *action.Request) (*action.Result, error) {
	snaps, err := c.snapshots(r.Strings("snapshot_ids"))
	if err != nil {
		return nil, err
	}
	acct := r.Str("account")
	var shared []string
	err = c.change(r, "aws.ec2.share_snapshot", acct, "share snapshots", func() (bool, error) {
		changed := false
		for _, s := range snaps {
			live := c.get(s.ID)
			perms := sharedWith(live)
			if !slices.Contains(perms, acct) {
				setData(live, "createVolumePermissions", append(perms, acct))
				changed = true
			}
			shared = append(shared, live.Name)
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("%d snapshots shared with %s", len(shared), acct), Outputs: map[string]cty.Value{"shared": action.StringList(shared)}}, nil
}

func (c *Cloud) awsCopyPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	snaps, err := c.snapshots(r.Strings("snapshot_ids"))
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, s := range snaps {
		targets = append(targets, s.ID)
	}
	dest := r.Str("destination_region")
	if dest == "" && len(snaps) > 0 {
		dest = snaps[0].Region
	}
	return &action.Change{Summary: fmt.Sprintf("copy %d snapshots to %s", len(snaps), dest), Targets: targets}, nil
}

func (c *Cloud) awsCopyApply(_ context.Context, r *action.Request) (*action.Result, error) {
	snaps, err := c.snapshots(r.Strings("snapshot_ids"))
	if err != nil {
		return nil, err
	}
	var ids, targets []string
	var items []action.Evidence
	err = c.change(r, "aws.ec2.copy_snapshot", strings.Join(r.Strings("snapshot_ids"), ","), "copy snapshots", func() (bool, error) {
		changed := false
		for _, s := range snaps {
			region := r.Str("destination_region")
			if region == "" {
				region = s.Region
			}
			// The copy is made by the account the snapshot was shared with
			// (the security account), else by its owner.
			account := s.Scope
			if perms := sharedWith(c.get(s.ID)); len(perms) > 0 {
				account = perms[0]
			}
			id := "snap-0" + short(stepKey(r)+r.Step+s.ID) + short(s.ID)[:8]
			arn := fmt.Sprintf("arn:aws:ec2:%s:%s:snapshot/%s", region, account, id)
			ids = append(ids, id)
			targets = append(targets, arn, s.ID)
			items = append(items, action.Evidence{Item: arn, SHA256: action.HashValue(map[string]string{"snapshot": arn, "source": s.ID}), Kind: action.EvidenceSnapshot,
				Of: []string{s.ID}, Note: "copy of " + s.Name})
			if c.get(arn) != nil {
				continue
			}
			tags := awsTags(r.RunID, r.Step, r.Incident, r.StringMap("tags"), map[string]string{"vigil-source": s.Name})
			data, _ := json.Marshal(map[string]any{"snapshotId": id, "sourceSnapshotId": s.Name, "encrypted": r.Str("kms_key_id") != "", "kmsKeyId": r.Str("kms_key_id"), "state": "completed"})
			c.put(&asset.Asset{ID: arn, Provider: asset.AWS, Type: "AWS::EC2::Snapshot", Kind: asset.KindSnapshot, Name: id,
				Scope: account, Region: region, Labels: tags, Source: "sim", Data: data})
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("%d snapshots copied", len(ids)), Targets: targets, Evidence: items, Outputs: map[string]cty.Value{"snapshot_ids": action.StringList(ids)}}, nil
}

// isolationGroup is the VPC's isolation group, as the real provider
// names it.
func isolationGroup(in *asset.Asset) (vpc, gid, arn string) {
	region, account := arnParts(in.ID)
	if len(in.Facets.Networks) > 0 {
		vpc = in.Facets.Networks[0]
	}
	gid = "sg-0vigil" + short(vpc)
	return vpc, gid, fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", region, account, gid)
}

// findIsolationGroup finds the group a real run or this cloud made, by
// name.
func (c *Cloud) findIsolationGroup(in *asset.Asset) (string, *asset.Asset) {
	vpc, gid, arn := isolationGroup(in)
	for _, a := range c.inv.Assets() {
		if a.Kind == asset.KindFirewall && a.Provider == asset.AWS && a.Name == isolation.GroupName(vpc) && a.Scope == in.Scope && a.Region == in.Region {
			return a.ID[strings.LastIndex(a.ID, "/")+1:], a
		}
	}
	return gid, c.get(arn)
}

func (c *Cloud) subnetNeighbours(in *asset.Asset) (subnets, near []string) {
	subnets = append([]string(nil), in.Facets.Subnets...)
	for _, a := range c.inv.Assets() {
		if a.Kind != asset.KindInstance || a.ID == in.ID || a.Provider != asset.AWS || a.Facets.Status == "terminated" {
			continue
		}
		for _, s := range a.Facets.Subnets {
			if slices.Contains(subnets, s) {
				near = append(near, a.Name)
				break
			}
		}
	}
	sort.Strings(near)
	return subnets, near
}

// UnknownACL is what a rehearsal records as a subnet's network ACL before
// isolation when the inventory holds no network ACLs (a collection before
// vigil read them, an export without them).
const UnknownACL = "acl-not-in-the-inventory"

// subnetACL is the network ACL a subnet of the instance's account and
// region is associated with, or nil. Under mu.
func (c *Cloud) subnetACL(in *asset.Asset, subnet string) *asset.Asset {
	for _, a := range c.inv.Assets() {
		if a.Kind == asset.KindNetworkACL && a.Provider == asset.AWS && a.Scope == in.Scope && a.Region == in.Region && slices.Contains(a.Facets.Subnets, subnet) {
			return a
		}
	}
	return nil
}

// isolationACL finds or makes the VPC's isolation network ACL as EC2 makes
// a new one: no entries of its own, only the default deny of everything in
// and out (rule 32767). Under mu.
func (c *Cloud) isolationACL(in *asset.Asset, vpc string, r *action.Request) *asset.Asset {
	name := isolation.ACLName(vpc)
	for _, a := range c.inv.Assets() {
		if a.Kind == asset.KindNetworkACL && a.Provider == asset.AWS && a.Name == name && a.Scope == in.Scope && a.Region == in.Region {
			return a
		}
	}
	region, account := arnParts(in.ID)
	id := "acl-0vigil" + short(vpc)
	denyAll := func() []asset.Rule {
		return []asset.Rule{{Sources: []string{"0.0.0.0/0"}, Protocol: "all", Ports: asset.AllPorts, Action: "deny", Enabled: true, Priority: 32767}}
	}
	acl := &asset.Asset{ID: fmt.Sprintf("arn:aws:ec2:%s:%s:network-acl/%s", region, account, id), Provider: asset.AWS, Type: "AWS::EC2::NetworkAcl",
		Kind: asset.KindNetworkACL, Name: name, Scope: in.Scope, Region: in.Region, Source: "sim",
		Labels: awsTags(r.RunID, r.Step, r.Incident, map[string]string{"Name": name})}
	acl.Facets.Network, acl.Facets.Default = vpc, asset.Bool(false)
	acl.Facets.Ingress, acl.Facets.Egress = denyAll(), denyAll()
	c.put(acl)
	return acl
}

// restoreACLs moves the subnets back to the network ACLs recorded before
// isolation. Under mu.
func (c *Cloud) restoreACLs(in *asset.Asset, prev map[string]string) {
	for _, a := range c.inv.Assets() {
		if a.Kind != asset.KindNetworkACL || a.Provider != asset.AWS || a.Scope != in.Scope || a.Region != in.Region {
			continue
		}
		for sn, acl := range prev {
			switch {
			case lastSeg(a.ID) == acl && !slices.Contains(a.Facets.Subnets, sn):
				a.Facets.Subnets = append(slices.Clone(a.Facets.Subnets), sn)
			case lastSeg(a.ID) != acl && slices.Contains(a.Facets.Subnets, sn):
				a.Facets.Subnets = slices.DeleteFunc(slices.Clone(a.Facets.Subnets), func(s string) bool { return s == sn })
			}
		}
	}
}

func (c *Cloud) awsIsolatePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	way, err := isolation.Way(r.Str("end_tracked_connections"))
	if err != nil {
		return nil, err
	}
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	gid, _ := c.findIsolationGroup(in)
	subnets, near := c.subnetNeighbours(in)
	c.mu.Unlock()
	vpc, _, _ := isolationGroup(in)
	enis, groups := interfaceGroups(in)
	ch := &action.Change{Summary: fmt.Sprintf("replace the security groups of %d network interfaces of %s with isolation group %s (no rules)", len(enis), in.Name, gid),
		Targets: []string{in.ID}}
	if len(in.Facets.SecurityGroups) == 1 && in.Facets.SecurityGroups[0] == gid {
		ch.NoOp, ch.Summary = true, in.Name+" is already isolated in "+gid
		return ch, nil
	}
	for _, e := range enis {
		ch.Details = append(ch.Details, fmt.Sprintf("%s: %s -> isolation", e, strings.Join(groups[e], ", ")))
	}
	if way != isolation.NACL {
		near = nil
	}
	ch.Details = append(ch.Details, isolation.Risk(way, vpc, subnets, near))
	return ch, nil
}

func (c *Cloud) awsIsolateApply(_ context.Context, r *action.Request) (*action.Result, error) {
	way, err := isolation.Way(r.Str("end_tracked_connections"))
	if err != nil {
		return nil, err
	}
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	var gid string
	var previous map[string][]string
	err = c.change(r, "aws.ec2.isolate_instance", in.ID, "isolate", func() (bool, error) {
		live := c.get(in.ID)
		changed := false
		vpc, _, _ := isolationGroup(live)
		var sg *asset.Asset
		gid, sg = c.findIsolationGroup(live)
		if sg == nil {
			_, _, arn := isolationGroup(live)
			name := isolation.GroupName(vpc)
			sg = &asset.Asset{ID: arn, Provider: asset.AWS, Type: "AWS::EC2::SecurityGroup", Kind: asset.KindFirewall,
				Name: name, Scope: live.Scope, Region: live.Region, Source: "sim", Labels: awsTags(r.RunID, r.Step, r.Incident, map[string]string{"Name": name})}
			sg.Facets.Network = vpc
			c.put(sg)
			changed = true
		}
		// The untrack group and the isolation network ACL leave nothing in
		// the inventory: the first is deleted, the second is not collected.
		_, groups := interfaceGroups(live)
		if prev, ok := live.Labels[isolation.PreviousGroupsTag]; ok {
			previous = isolation.DecodeGroups(prev)
		} else {
			previous = groups
			if live.Labels == nil {
				live.Labels = map[string]string{}
			}
			live.Labels[isolation.PreviousGroupsTag] = isolation.EncodeGroups(groups)
			live.Labels[isolation.QuarantineTag] = r.RunID
			changed = true
		}
		// The nacl way records each subnet's network ACL, as the real
		// provider does, and moves the subnets to the VPC's isolation ACL
		// (which denies everything). An inventory without network ACLs
		// records none by name.
		if _, ok := live.Labels[isolation.PreviousACLsTag]; way == isolation.NACL && !ok {
			subnets, _ := c.subnetNeighbours(live)
			acls := map[string]string{}
			for _, sn := range subnets {
				acls[sn] = UnknownACL
				if prev := c.subnetACL(live, sn); prev != nil {
					acls[sn] = lastSeg(prev.ID)
					prev.Facets.Subnets = slices.DeleteFunc(slices.Clone(prev.Facets.Subnets), func(s string) bool { return s == sn })
				}
			}
			if len(acls) > 0 {
				live.Labels[isolation.PreviousACLsTag] = isolation.EncodeACLs(acls)
				iso := c.isolationACL(live, vpc, r)
				for _, sn := range subnets {
					if !slices.Contains(iso.Facets.Subnets, sn) {
						iso.Facets.Subnets = append(iso.Facets.Subnets, sn)
					}
				}
				changed = true
			}
		}
		if !(len(live.Facets.SecurityGroups) == 1 && live.Facets.SecurityGroups[0] == gid) {
			live.Facets.SecurityGroups = []string{gid}
			cfg := awsConfig(live)
			for _, ni := range objs(cfg["networkInterfaces"]) {
				ni["groups"] = []any{map[string]any{"groupId": gid, "groupName": isolation.GroupName(vpc)}}
			}
			setConfig(live, cfg)
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	prev := map[string]cty.Value{}
	for e, gs := range previous {
		prev[e] = action.StringList(gs)
	}
	prevMap := cty.MapValEmpty(cty.List(cty.String))
	if len(prev) > 0 {
		prevMap = cty.MapVal(prev)
	}
	return &action.Result{Summary: fmt.Sprintf("%s isolated in %s", in.Name, gid), Targets: []string{in.ID}, Outputs: map[string]cty.Value{
		"isolation_group": cty.StringVal(gid), "previous_groups": prevMap,
	}}, nil
}

// setConfig writes an AWS asset's configuration back into its data.
func setConfig(a *asset.Asset, cfg map[string]any) {
	if cfg == nil {
		return
	}
	var ci map[string]any
	if json.Unmarshal(a.Data, &ci) != nil || ci == nil {
		return
	}
	ci["configuration"] = cfg
	a.Data, _ = json.Marshal(ci)
}

func (c *Cloud) awsReleasePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	prev, ok := in.Labels[isolation.PreviousGroupsTag]
	if !ok {
		return &action.Change{Summary: in.Name + " is not isolated by vigil", Targets: []string{in.ID}, NoOp: true}, nil
	}
	return &action.Change{Summary: fmt.Sprintf("restore the security groups of %s (%s)", in.Name, prev), Targets: []string{in.ID}}, nil
}

func (c *Cloud) awsReleaseApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		return nil, err
	}
	restored := map[string][]string{}
	err = c.change(r, "aws.ec2.release_instance", in.ID, "release", func() (bool, error) {
		live := c.get(in.ID)
		prev, ok := live.Labels[isolation.PreviousGroupsTag]
		if !ok {
			return false, nil
		}
		restored = isolation.DecodeGroups(prev)
		var all []string
		for _, e := range slices.Sorted(maps.Keys(restored)) {
			for _, g := range restored[e] {
				if !slices.Contains(all, g) {
					all = append(all, g)
				}
			}
		}
		live.Facets.SecurityGroups = all
		cfg := awsConfig(live)
		for _, ni := range objs(cfg["networkInterfaces"]) {
			var gs []any
			for _, g := range restored[str(ni, "networkInterfaceId")] {
				gs = append(gs, map[string]any{"groupId": g})
			}
			ni["groups"] = gs
		}
		setConfig(live, cfg)
		if v, ok := live.Labels[isolation.PreviousACLsTag]; ok {
			c.restoreACLs(live, isolation.DecodeACLs(v))
		}
		delete(live.Labels, isolation.PreviousGroupsTag)
		delete(live.Labels, isolation.QuarantineTag)
		delete(live.Labels, isolation.PreviousACLsTag)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]cty.Value{}
	for e, gs := range restored {
		out[e] = action.StringList(gs)
	}
	m := cty.MapValEmpty(cty.List(cty.String))
	if len(out) > 0 {
		m = cty.MapVal(out)
	}
	return &action.Result{Summary: in.Name + " released", Targets: []string{in.ID}, Outputs: map[string]cty.Value{"restored_groups": m}}, nil
}

func (c *Cloud) awsState(name, state string) action.Action {
	return &action.Func{S: action.MustSpec(name),
		PlanFn: func(_ context.Context, r *action.Request) (*action.Change, error) {
			in, err := c.find(r.Str("instance"), asset.KindInstance)
			if err != nil {
				return nil, err
			}
			return &action.Change{Summary: fmt.Sprintf("stop %s (now %s)", in.Name, in.Facets.Status), Targets: []string{in.ID},
				NoOp: in.Facets.Status == state, Outputs: map[string]cty.Value{"state": cty.StringVal(state)}}, nil
		},
		ApplyFn: func(_ context.Context, r *action.Request) (*action.Result, error) {
			in, err := c.find(r.Str("instance"), asset.KindInstance)
			if err != nil {
				return nil, err
			}
			err = c.change(r, name, in.ID, state, func() (bool, error) {
				live := c.get(in.ID)
				if live.Facets.Status == state {
					return false, nil
				}
				live.Facets.Status = state
				// "When you stop an instance, we release its public IPv4
				// address" (unless it is an Elastic IP).
				live.Facets.PublicIPs = nil
				return true, nil
			})
			if err != nil {
				return nil, err
			}
			return &action.Result{Summary: in.Name + " " + state, Targets: []string{in.ID}, Outputs: map[string]cty.Value{"state": cty.StringVal(state)}}, nil
		},
	}
}

func (c *Cloud) awsTerminatePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		if action.IsNotFound(err) {
			return &action.Change{Summary: r.Str("instance") + " is already gone", NoOp: true}, nil
		}
		return nil, err
	}
	if in.Facets.Status == "terminated" {
		return &action.Change{Summary: in.Name + " is already terminated", Targets: []string{in.ID}, NoOp: true}, nil
	}
	return &action.Change{Summary: "terminate " + in.Name, Targets: []string{in.ID}, Deletes: []string{in.ID}, Requires: diskNeeds(in)}, nil
}

// diskNeeds is what terminating an instance needs: a snapshot or a
// content hash of each of its volumes, as the real provider asks.
func diskNeeds(in *asset.Asset) []action.Need {
	var out []action.Need
	for _, v := range in.Facets.Disks {
		out = append(out, action.VolumeNeed(volumeARN(in, v), v))
	}
	return out
}

func (c *Cloud) awsTerminateApply(_ context.Context, r *action.Request) (*action.Result, error) {
	in, err := c.find(r.Str("instance"), asset.KindInstance)
	if err != nil {
		if action.IsNotFound(err) {
			return &action.Result{Summary: "already terminated", Outputs: map[string]cty.Value{"state": cty.StringVal("terminated")}}, nil
		}
		return nil, err
	}
	// EC2 keeps a terminated instance listed (state terminated) for a
	// while, and its volumes, detached, become available; the fake does
	// the same. (Neither models DeleteOnTermination.)
	err = c.change(r, "aws.ec2.terminate_instance", in.ID, "terminate", func() (bool, error) {
		live := c.get(in.ID)
		if live == nil || live.Facets.Status == "terminated" {
			return false, nil
		}
		// A terminated instance has no public IP any more.
		live.Facets.Status, live.Facets.PublicIPs = "terminated", nil
		for _, a := range c.inv.Assets() {
			if a.Kind != asset.KindDisk || a.Provider != asset.AWS || a.Scope != live.Scope {
				continue
			}
			for _, d := range live.Facets.Disks {
				if a.ID == d || strings.HasSuffix(a.ID, "/"+d) {
					a.Facets.Status = "available"
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "terminated " + in.Name, Targets: []string{in.ID}, Deletes: []string{in.ID},
		Outputs: map[string]cty.Value{"state": cty.StringVal("terminated")}}, nil
}

// openRules returns the indexes of the world-open ingress rules that reach
// one of the ports (or all ports).
func openRules(sg *asset.Asset, ports []int) []int {
	var out []int
	for i, rule := range sg.Facets.Ingress {
		if !asset.OpenToInternet(rule.Sources) || rule.Action != "allow" {
			continue
		}
		for _, pr := range rule.Ports {
			hit := pr.From <= 1 && pr.To >= 65535
			for _, p := range ports {
				if pr.From <= p && p <= pr.To {
					hit = true
				}
			}
			if hit {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

func describeRule(r asset.Rule) string {
	ports := "all ports"
	if len(r.Ports) > 0 && !(r.Ports[0].From <= 1 && r.Ports[0].To >= 65535) {
		if r.Ports[0].From == r.Ports[0].To {
			ports = fmt.Sprintf("%d", r.Ports[0].From)
		} else {
			ports = fmt.Sprintf("%d-%d", r.Ports[0].From, r.Ports[0].To)
		}
	}
	return fmt.Sprintf("%s %s from %s", r.Protocol, ports, strings.Join(r.Sources, ", "))
}

func (c *Cloud) revokePorts(r *action.Request) []int {
	v, ok := r.Args["ports"]
	if !ok || v.IsNull() {
		return []int{22, 3389}
	}
	var out []int
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		bf := e.AsBigFloat()
		i, acc := bf.Int64()
		if acc == big.Exact {
			out = append(out, int(i))
		}
	}
	return out
}

func (c *Cloud) awsRevokePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	sg, err := c.find(r.Str("security_group"), asset.KindFirewall)
	if err != nil {
		return nil, err
	}
	idx := openRules(sg, c.revokePorts(r))
	ch := &action.Change{Summary: fmt.Sprintf("revoke %d world-open rules of %s", len(idx), sg.Name), Targets: []string{sg.ID}, NoOp: len(idx) == 0}
	for _, i := range idx {
		ch.Details = append(ch.Details, "revoke "+describeRule(sg.Facets.Ingress[i]))
	}
	return ch, nil
}

func (c *Cloud) awsRevokeApply(_ context.Context, r *action.Request) (*action.Result, error) {
	sg, err := c.find(r.Str("security_group"), asset.KindFirewall)
	if err != nil {
		return nil, err
	}
	var revoked []string
	err = c.change(r, "aws.ec2.revoke_open_ingress", sg.ID, "revoke", func() (bool, error) {
		live := c.get(sg.ID)
		idx := openRules(live, c.revokePorts(r))
		if len(idx) == 0 {
			return false, nil
		}
		// Exactly the sources that make the rule world-open go
		// (asset.WithoutInternet), as the real provider revokes them; a
		// rule's other sources stay.
		drop := map[int]bool{}
		for _, i := range idx {
			drop[i] = true
			rule := live.Facets.Ingress[i]
			keep := asset.WithoutInternet(rule.Sources)
			rule.Sources = slices.DeleteFunc(slices.Clone(rule.Sources), func(s string) bool { return slices.Contains(keep, s) })
			revoked = append(revoked, describeRule(rule))
		}
		var kept []asset.Rule
		for i, rule := range live.Facets.Ingress {
			if drop[i] {
				rule.Sources = asset.WithoutInternet(rule.Sources)
				if len(rule.Sources)+len(rule.SourceGroups) == 0 {
					continue
				}
			}
			kept = append(kept, rule)
		}
		live.Facets.Ingress = kept
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("revoked %d rules of %s", len(revoked), sg.Name), Targets: []string{sg.ID}, Outputs: map[string]cty.Value{"revoked": action.StringList(revoked)}}, nil
}

func (c *Cloud) awsTagPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	a, err := c.find(r.Str("resource"), "")
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("tag %s with %d tags", a.Name, len(r.StringMap("tags"))), Targets: []string{a.ID}}, nil
}

func (c *Cloud) awsTagApply(_ context.Context, r *action.Request) (*action.Result, error) {
	a, err := c.find(r.Str("resource"), "")
	if err != nil {
		return nil, err
	}
	err = c.change(r, "aws.ec2.tag", a.ID, "tag", func() (bool, error) {
		live := c.get(a.ID)
		changed := false
		for k, v := range r.StringMap("tags") {
			if live.Labels == nil {
				live.Labels = map[string]string{}
			}
			if live.Labels[k] != v {
				live.Labels[k] = v
				changed = true
			}
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "tagged " + a.Name, Targets: []string{a.ID}}, nil
}

func (c *Cloud) keysOf(user string) []*asset.Asset {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*asset.Asset
	for _, a := range c.inv.Assets() {
		if a.Kind == asset.KindAccessKey && a.Facets.User == user {
			out = append(out, a)
		}
	}
	return out
}

// recountKeys keeps the user's count of active keys (from the IAM
// credential report, which a collection reads) in step with its keys.
// Under mu.
func (c *Cloud) recountKeys(key *asset.Asset) {
	var user *asset.Asset
	n := 0
	for _, a := range c.inv.Assets() {
		switch {
		case a.Kind == asset.KindAccessKey && a.Facets.User == key.Facets.User && a.Scope == key.Scope && (a.Facets.Enabled == nil || *a.Facets.Enabled):
			n++
		case a.Kind == asset.KindUser && a.Name == key.Facets.User && a.Scope == key.Scope:
			user = a
		}
	}
	if user != nil && user.Facets.ActiveKeys != nil {
		user.Facets.ActiveKeys = asset.Int(n)
	}
}

func (c *Cloud) awsListKeysPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	return &action.Change{Summary: fmt.Sprintf("list the access keys of %s (%d in the inventory)", r.Str("user"), len(c.keysOf(r.Str("user"))))}, nil
}

func (c *Cloud) awsListKeysApply(_ context.Context, r *action.Request) (*action.Result, error) {
	keys := c.keysOf(r.Str("user"))
	vals := make([]cty.Value, 0, len(keys))
	for _, k := range keys {
		status := "Active"
		if k.Facets.Enabled != nil && !*k.Facets.Enabled {
			status = "Inactive"
		}
		vals = append(vals, cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(k.Name), "user": cty.StringVal(k.Facets.User),
			"status": cty.StringVal(status), "created": cty.StringVal(k.Facets.CreatedAt)}))
	}
	list := cty.ListValEmpty(action.AccessKey)
	if len(vals) > 0 {
		list = cty.ListVal(vals)
	}
	return &action.Result{Summary: fmt.Sprintf("%d keys", len(keys)), Outputs: map[string]cty.Value{"keys": list}}, nil
}

func (c *Cloud) awsDeactivatePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	k, err := c.find(r.Str("access_key_id"), asset.KindAccessKey)
	if err != nil {
		return nil, err
	}
	ch := &action.Change{Summary: fmt.Sprintf("deactivate access key %s of %s", k.Name, k.Facets.User), Targets: []string{k.ID}}
	if k.Facets.Enabled != nil && !*k.Facets.Enabled {
		ch.NoOp, ch.Summary = true, "access key "+k.Name+" is already inactive"
	}
	return ch, nil
}

func (c *Cloud) awsDeactivateApply(_ context.Context, r *action.Request) (*action.Result, error) {
	k, err := c.find(r.Str("access_key_id"), asset.KindAccessKey)
	if err != nil {
		return nil, err
	}
	err = c.change(r, "aws.iam.deactivate_access_key", k.ID, "deactivate", func() (bool, error) {
		live := c.get(k.ID)
		if live.Facets.Enabled != nil && !*live.Facets.Enabled {
			return false, nil
		}
		live.Facets.Enabled = asset.Bool(false)
		live.Facets.Status = "inactive"
		c.recountKeys(live)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "deactivated " + k.Name, Targets: []string{k.ID}, Outputs: map[string]cty.Value{"status": cty.StringVal("Inactive")}}, nil
}

func (c *Cloud) awsDeleteKeyPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	k, err := c.find(r.Str("access_key_id"), asset.KindAccessKey)
	if err != nil {
		if action.IsNotFound(err) {
			return &action.Change{Summary: r.Str("access_key_id") + " is already deleted", NoOp: true}, nil
		}
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("delete access key %s of %s", k.Name, k.Facets.User), Targets: []string{k.ID}, Deletes: []string{k.ID}}, nil
}

func (c *Cloud) awsDeleteKeyApply(_ context.Context, r *action.Request) (*action.Result, error) {
	k, err := c.find(r.Str("access_key_id"), asset.KindAccessKey)
	if err != nil {
		if action.IsNotFound(err) {
			return &action.Result{Summary: "already deleted", Outputs: map[string]cty.Value{"deleted": cty.StringVal(r.Str("access_key_id"))}}, nil
		}
		return nil, err
	}
	err = c.change(r, "aws.iam.delete_access_key", k.ID, "delete", func() (bool, error) {
		if !c.inv.Delete(k.ID) {
			return false, nil
		}
		c.recountKeys(k)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "deleted " + k.Name, Targets: []string{k.ID}, Deletes: []string{k.ID}, Outputs: map[string]cty.Value{"deleted": cty.StringVal(k.Name)}}, nil
}

func (c *Cloud) awsDenyAllPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	p, err := c.find(r.Str("principal"), "")
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: "attach a deny-all policy to " + p.Name, Targets: []string{p.ID}, NoOp: hasInlinePolicy(p, denyAllPolicy)}, nil
}

// denyAllPolicy is the inline policy the real provider writes.
const denyAllPolicy = "vigil-deny-all"

// hasInlinePolicy reads the principal's inline policies from its
// configuration (userPolicyList / rolePolicyList, as AWS Config has them):
// IAM policies are no tags, so the inventory's labels do not change.
func hasInlinePolicy(a *asset.Asset, name string) bool {
	cfg := awsConfig(a)
	for _, key := range []string{"userPolicyList", "rolePolicyList"} {
		for _, p := range objs(cfg[key]) {
			if str(p, "policyName") == name {
				return true
			}
		}
	}
	return false
}

func (c *Cloud) awsDenyAllApply(_ context.Context, r *action.Request) (*action.Result, error) {
	p, err := c.find(r.Str("principal"), "")
	if err != nil {
		return nil, err
	}
	name := denyAllPolicy
	err = c.change(r, "aws.iam.attach_deny_all_policy", p.ID, "deny all", func() (bool, error) {
		live := c.get(p.ID)
		if hasInlinePolicy(live, name) {
			return false, nil
		}
		var ci map[string]any
		if json.Unmarshal(live.Data, &ci) != nil || ci == nil {
			ci = map[string]any{}
		}
		cfg, _ := ci["configuration"].(map[string]any)
		if cfg == nil {
			cfg = map[string]any{}
		}
		key := "userPolicyList"
		if strings.Contains(live.ID, ":role/") {
			key = "rolePolicyList"
		}
		list, _ := cfg[key].([]any)
		cfg[key] = append(list, map[string]any{"policyName": name,
			"policyDocument": `{"Version":"2012-10-17","Statement":[{"Sid":"VigilIncidentDenyAll","Effect":"Deny","Action":"*","Resource":"*"}]}`})
		ci["configuration"] = cfg
		live.Data, _ = json.Marshal(ci)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "deny-all attached to " + p.Name, Targets: []string{p.ID}, Outputs: map[string]cty.Value{"policy_name": cty.StringVal(name)}}, nil
}
