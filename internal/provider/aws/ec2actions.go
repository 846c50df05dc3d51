package aws

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
)

// instanceCtx is an instance with its client, for the instance actions.
type instanceCtx struct {
	s   *session
	c   *ec2.Client
	t   target
	in  *ec2types.Instance
	arn string
}

func (p *Provider) instance(ctx context.Context, r *action.Request) (*instanceCtx, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	t := s.locate(r.Str("instance"))
	c, err := s.ec2For(ctx, t)
	if err != nil {
		return nil, err
	}
	in, err := instance(ctx, c, t.id)
	if err != nil {
		return nil, err
	}
	return &instanceCtx{s: s, c: c, t: t, in: in, arn: s.arn(ctx, t, "instance")}, nil
}

// ---- snapshots ----

func (p *Provider) snapshotPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	vols := volumesOf(ic.in)
	if len(vols) == 0 {
		return nil, fmt.Errorf("instance %s has no EBS volumes", ic.t.id)
	}
	if _, err := ic.c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vols[0]), DryRun: aws.Bool(true)}); dryRun(err) != nil {
		return nil, dryRun(err)
	}
	made, err := snapshotsOfStep(ctx, ic.c, r)
	if err != nil {
		return nil, err
	}
	if allTaken(vols, made) {
		res := p.snapshotResult(ctx, ic, vols, made)
		return &action.Change{Summary: "already taken for " + r.Incident + ": " + res.Summary, Targets: res.Targets, Outputs: res.Outputs, NoOp: true}, nil
	}
	targets := []string{ic.arn}
	for _, v := range vols {
		targets = append(targets, ic.s.arn(ctx, target{account: ic.t.account, region: ic.t.region, id: v}, "volume"))
	}
	details, err := ic.s.encryptionNotes(ctx, ic, vols)
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("snapshot %d volumes of %s (%s)", len(vols), instanceName(ic.in), strings.Join(vols, ", ")),
		Details: details, Targets: targets, Outputs: map[string]cty.Value{"volume_ids": action.StringList(vols)}}, nil
}

// encryptionNotes says, at plan time, which volumes are encrypted with
// the AWS managed key: their snapshots cannot be shared as they are.
func (s *session) encryptionNotes(ctx context.Context, ic *instanceCtx, vols []string) ([]string, error) {
	out, err := ic.c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: vols})
	if err != nil {
		return nil, err
	}
	var notes []string
	for _, v := range out.Volumes {
		if !aws.ToBool(v.Encrypted) {
			continue
		}
		key := aws.ToString(v.KmsKeyId)
		managed, err := s.keyIsAWSManaged(ctx, ic.t, key)
		switch {
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s is encrypted with %s; whether AWS manages that key is not known (%v): if it does, share_snapshot needs a kms_key_id", aws.ToString(v.VolumeId), key, explain(err)))
		case managed:
			notes = append(notes, fmt.Sprintf("%s is encrypted with the AWS managed key for EBS (%s): its snapshot cannot be shared with another account as it is; "+
				"share_snapshot re-encrypts it with kms_key_id, and stops without one (%s)", aws.ToString(v.VolumeId), key, shareDoc))
		}
	}
	return notes, nil
}

// snapshotsOfStep finds the snapshots this run and step made, by volume.
func snapshotsOfStep(ctx context.Context, c *ec2.Client, r *action.Request) (map[string]ec2types.Snapshot, error) {
	out := map[string]ec2types.Snapshot{}
	p := ec2.NewDescribeSnapshotsPaginator(c, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: stepFilters(r)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Snapshots {
			key := aws.ToString(s.VolumeId)
			for _, t := range s.Tags {
				if aws.ToString(t.Key) == "vigil-source" || aws.ToString(t.Key) == "vigil-volume" {
					key = aws.ToString(t.Value)
				}
			}
			out[key] = s
		}
	}
	return out, nil
}

func allTaken(vols []string, made map[string]ec2types.Snapshot) bool {
	for _, v := range vols {
		if _, ok := made[v]; !ok {
			return false
		}
	}
	return true
}

// waitCompleted waits until the snapshots are completed.
func (s *session) waitCompleted(ctx context.Context, c *ec2.Client, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.poll(ctx, "snapshots "+strings.Join(ids, ", "), func() (bool, error) {
		var out *ec2.DescribeSnapshotsOutput
		// A snapshot just made may not be found yet.
		err := s.settle(ctx, func() error {
			var err error
			out, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
			return err
		})
		if err != nil {
			return false, err
		}
		done := 0
		for _, sn := range out.Snapshots {
			switch sn.State {
			case ec2types.SnapshotStateCompleted:
				done++
			case ec2types.SnapshotStateError:
				return false, fmt.Errorf("snapshot %s failed: %s", aws.ToString(sn.SnapshotId), aws.ToString(sn.StateMessage))
			}
		}
		return done == len(ids), nil
	})
}

func (p *Provider) snapshotResult(ctx context.Context, ic *instanceCtx, vols []string, made map[string]ec2types.Snapshot) *action.Result {
	var ids []string
	var items []action.Evidence
	targets := []string{ic.arn}
	for _, v := range vols {
		id := aws.ToString(made[v].SnapshotId)
		ids = append(ids, id)
		vol := ic.s.arn(ctx, target{account: ic.t.account, region: ic.t.region, id: v}, "volume")
		snap := ic.s.arn(ctx, target{account: ic.t.account, region: ic.t.region, id: id}, "snapshot")
		targets = append(targets, vol, snap)
		items = append(items, action.Evidence{Item: snap, SHA256: action.HashValue(map[string]string{"snapshot": id, "volume": v, "started": aws.ToTime(made[v].StartTime).UTC().Format(time.RFC3339)}),
			Kind: action.EvidenceSnapshot, Of: []string{vol}, Note: "snapshot of " + v})
	}
	return &action.Result{Summary: fmt.Sprintf("%d snapshots of %s: %s", len(ids), instanceName(ic.in), strings.Join(ids, ", ")), Targets: targets, Evidence: items,
		Outputs: map[string]cty.Value{"snapshot_ids": action.StringList(ids), "volume_ids": action.StringList(vols)}}
}

func (p *Provider) snapshotApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	vols := volumesOf(ic.in)
	made, err := snapshotsOfStep(ctx, ic.c, r)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, v := range vols {
		if _, ok := made[v]; !ok {
			out, err := ic.c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
				VolumeId:    aws.String(v),
				Description: aws.String(fmt.Sprintf("vigil %s %s: %s of %s", r.Incident, r.Step, v, ic.t.id)),
				TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
					Tags: runTags(r, map[string]string{"vigil-volume": v, "vigil-instance": ic.t.id})}},
			})
			if err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", v, err)
			}
			made[v] = ec2types.Snapshot{SnapshotId: out.SnapshotId, VolumeId: out.VolumeId}
		}
		ids = append(ids, aws.ToString(made[v].SnapshotId))
	}
	if err := ic.s.waitCompleted(ctx, ic.c, ids); err != nil {
		return nil, err
	}
	return p.snapshotResult(ctx, ic, vols, made), nil
}

// snapshotRecover tells resume whether an interrupted attempt made every
// snapshot (they carry the run and step).
func (p *Provider) snapshotRecover(ctx context.Context, r *action.Request) (*action.Result, bool, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, false, classify(err)
	}
	vols := volumesOf(ic.in)
	made, err := snapshotsOfStep(ctx, ic.c, r)
	if err != nil {
		return nil, false, classify(err)
	}
	if !allTaken(vols, made) {
		return nil, false, nil
	}
	var ids []string
	for _, v := range vols {
		ids = append(ids, aws.ToString(made[v].SnapshotId))
	}
	if err := ic.s.waitCompleted(ctx, ic.c, ids); err != nil {
		return nil, false, classify(err)
	}
	return p.snapshotResult(ctx, ic, vols, made), true, nil
}

// snapGroup is the snapshots of snapshot_ids in one account and region.
type snapGroup struct {
	loc target
	ids []string
}

// snapshotsArg groups the snapshot_ids argument by region and account, in
// the order the argument names them.
func (s *session) snapshotsArg(r *action.Request) []snapGroup {
	var out []snapGroup
	at := map[target]int{}
	for _, id := range r.Strings("snapshot_ids") {
		t := s.locate(id)
		k := target{account: t.account, region: t.region}
		i, ok := at[k]
		if !ok {
			i, at[k] = len(out), len(out)
			out = append(out, snapGroup{loc: k})
		}
		out[i].ids = append(out[i].ids, t.id)
	}
	return out
}

// snapInfo is what sharing needs to know of a snapshot.
type snapInfo struct {
	id, volume, key string
	// awsManaged says the snapshot is encrypted with the AWS managed key
	// for EBS, which AWS does not let be shared.
	awsManaged bool
}

const shareDoc = "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html"

// keyIsAWSManaged asks KMS who manages a key.
func (s *session) keyIsAWSManaged(ctx context.Context, loc target, key string) (bool, error) {
	cfg, err := s.config(ctx, loc.account)
	if err != nil {
		return false, err
	}
	out, err := s.kms(cfg, loc.region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	if err != nil {
		return false, fmt.Errorf("describe KMS key %s: %w", key, err)
	}
	return out.KeyMetadata != nil && out.KeyMetadata.KeyManager == kmstypes.KeyManagerTypeAws, nil
}

// snapshotInfo describes the snapshots of one location.
func (s *session) snapshotInfo(ctx context.Context, c *ec2.Client, loc target, ids []string) (map[string]snapInfo, error) {
	var out *ec2.DescribeSnapshotsOutput
	if err := s.settle(ctx, func() error {
		var err error
		out, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
		return err
	}); err != nil {
		return nil, err
	}
	info := map[string]snapInfo{}
	for _, sn := range out.Snapshots {
		si := snapInfo{id: aws.ToString(sn.SnapshotId), volume: aws.ToString(sn.VolumeId), key: aws.ToString(sn.KmsKeyId)}
		if aws.ToBool(sn.Encrypted) {
			managed, err := s.keyIsAWSManaged(ctx, loc, si.key)
			if err != nil {
				return nil, err
			}
			si.awsManaged = managed
		}
		info[si.id] = si
	}
	return info, nil
}

// unshareable explains, before anything is shared, why snapshots
// encrypted with the AWS managed key need kms_key_id.
func unshareable(snaps []snapInfo, account string) error {
	var ids []string
	for _, si := range snaps {
		ids = append(ids, fmt.Sprintf("%s (of %s, key %s)", si.id, si.volume, si.key))
	}
	return fmt.Errorf("%s: encrypted with the AWS managed key for EBS, and AWS does not let such snapshots be shared with another account (%s). "+
		"Give share_snapshot a kms_key_id (compromised-ec2: -var evidence_kms_key=ARN): a customer managed key whose key policy lets account %s use it; "+
		"vigil then copies each such snapshot encrypted with that key and shares the copy. Nothing was shared",
		strings.Join(ids, ", "), shareDoc, account)
}

func (p *Provider) sharePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	acct, key := r.Str("account"), r.Str("kms_key_id")
	n, already := 0, 0
	var details []string
	var blocked []snapInfo
	for _, g := range s.snapshotsArg(r) {
		loc, ids := g.loc, g.ids
		c, err := s.ec2For(ctx, loc)
		if err != nil {
			return nil, err
		}
		info, err := s.snapshotInfo(ctx, c, loc, ids)
		if err != nil {
			return nil, err
		}
		made, err := snapshotsOfStep(ctx, c, r)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			n++
			si := info[id]
			target := id
			if si.awsManaged {
				if key == "" {
					blocked = append(blocked, si)
					continue
				}
				cp, ok := made[id]
				if !ok {
					details = append(details, fmt.Sprintf("%s is encrypted with the AWS managed key, which cannot be shared: copy it encrypted with %s and share the copy (%s)", id, key, shareDoc))
					continue
				}
				target = aws.ToString(cp.SnapshotId)
			} else if si.key != "" {
				details = append(details, fmt.Sprintf("%s is encrypted with %s: its key policy must let account %s use it", id, si.key, acct))
			}
			if shared, err := sharedWith(ctx, c, target, acct); err != nil {
				return nil, err
			} else if shared {
				already++
				continue
			}
			_, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(target), DryRun: aws.Bool(true),
				Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, OperationType: ec2types.OperationTypeAdd, UserIds: []string{acct}})
			if err := dryRun(err); err != nil {
				return nil, err
			}
		}
	}
	if len(blocked) > 0 {
		return nil, unshareable(blocked, acct)
	}
	if n == 0 {
		return &action.Change{Summary: "no snapshots to share", NoOp: true}, nil
	}
	if already == n {
		return &action.Change{Summary: fmt.Sprintf("the %d snapshots are already shared with account %s", n, acct), NoOp: true}, nil
	}
	return &action.Change{Summary: fmt.Sprintf("share %d snapshots with account %s", n-already, acct), Details: details}, nil
}

// sharedWith reports whether account may already create volumes from the
// snapshot.
func sharedWith(ctx context.Context, c *ec2.Client, id, account string) (bool, error) {
	attr, err := c.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(id), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission})
	if err != nil {
		return false, err
	}
	for _, perm := range attr.CreateVolumePermissions {
		if aws.ToString(perm.UserId) == account {
			return true, nil
		}
	}
	return false, nil
}

func (p *Provider) shareApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	acct, key := r.Str("account"), r.Str("kms_key_id")
	type loc struct {
		g    snapGroup
		c    *ec2.Client
		info map[string]snapInfo
	}
	var locs []loc
	var blocked []snapInfo
	// Every snapshot is looked at before any is shared.
	for _, g := range s.snapshotsArg(r) {
		c, err := s.ec2For(ctx, g.loc)
		if err != nil {
			return nil, err
		}
		info, err := s.snapshotInfo(ctx, c, g.loc, g.ids)
		if err != nil {
			return nil, err
		}
		for _, id := range g.ids {
			if info[id].awsManaged && key == "" {
				blocked = append(blocked, info[id])
			}
		}
		locs = append(locs, loc{g, c, info})
	}
	if len(blocked) > 0 {
		return nil, unshareable(blocked, acct)
	}
	var shared []string
	for _, l := range locs {
		c := l.c
		made, err := snapshotsOfStep(ctx, c, r)
		if err != nil {
			return nil, err
		}
		var pending []string
		targets := map[string]string{}
		for _, id := range l.g.ids {
			targets[id] = id
			if !l.info[id].awsManaged {
				continue
			}
			cp, ok := made[id]
			if !ok {
				out, err := c.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String(l.g.loc.region), SourceSnapshotId: aws.String(id),
					Encrypted: aws.Bool(true), KmsKeyId: aws.String(key),
					Description: aws.String(fmt.Sprintf("vigil %s: %s re-encrypted with %s to be shared", r.Incident, id, key)),
					TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
						Tags: runTags(r, map[string]string{"vigil-source": id})}}})
				if err != nil {
					return nil, fmt.Errorf("re-encrypt %s with %s: %w", id, key, err)
				}
				cp = ec2types.Snapshot{SnapshotId: out.SnapshotId}
			}
			targets[id] = aws.ToString(cp.SnapshotId)
			pending = append(pending, targets[id])
		}
		if err := s.waitCompleted(ctx, c, pending); err != nil {
			return nil, err
		}
		for _, id := range l.g.ids {
			t := targets[id]
			var already bool
			if err := s.settle(ctx, func() error {
				var err error
				already, err = sharedWith(ctx, c, t, acct)
				return err
			}); err != nil {
				return nil, err
			}
			if !already {
				if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(t),
					Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, OperationType: ec2types.OperationTypeAdd, UserIds: []string{acct}}); err != nil {
					return nil, fmt.Errorf("share %s: %w", t, err)
				}
			}
			shared = append(shared, t)
		}
	}
	sort.Strings(shared)
	return &action.Result{Summary: fmt.Sprintf("%d snapshots shared with %s", len(shared), acct), Outputs: map[string]cty.Value{"shared": action.StringList(shared)}}, nil
}

// copyLoc is one source location of copy_snapshot, with the evidence
// account's client for its destination region and the copies this step
// already made there.
type copyLoc struct {
	snapGroup
	c    *ec2.Client
	made map[string]ec2types.Snapshot
}

// copyLocations looks up, for plan and apply alike, where each group of
// snapshots is copied to and what is there already. Copies go to the
// evidence role's account, or to the credentials' own.
func (s *session) copyLocations(ctx context.Context, r *action.Request) ([]copyLoc, error) {
	var out []copyLoc
	for _, g := range s.snapshotsArg(r) {
		region := r.Str("destination_region")
		if region == "" {
			region = g.loc.region
		}
		var cfg aws.Config
		var err error
		if s.opts.EvidenceRole != "" {
			cfg = s.evidenceConfig()
		} else if cfg, err = s.config(ctx, ""); err != nil {
			return nil, err
		}
		c := s.ec2(cfg, region)
		made, err := snapshotsOfStep(ctx, c, r)
		if err != nil {
			return nil, err
		}
		out = append(out, copyLoc{snapGroup: g, c: c, made: made})
	}
	return out, nil
}

func (p *Provider) copyPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	n := len(r.Strings("snapshot_ids"))
	locs, err := s.copyLocations(ctx, r)
	if err != nil {
		return nil, err
	}
	copied := 0
	for _, l := range locs {
		for _, src := range l.ids {
			if _, ok := l.made[src]; ok {
				copied++
			}
		}
	}
	if n > 0 && copied == n {
		return &action.Change{Summary: fmt.Sprintf("the %d snapshots are already copied for %s", n, r.Incident), NoOp: true}, nil
	}
	dest := r.Str("destination_region")
	where := "the evidence account"
	if s.opts.EvidenceRole == "" {
		where = "the same account (no evidence role configured)"
	}
	if dest == "" {
		dest = "the source region"
	}
	summary := fmt.Sprintf("copy %d snapshots into %s, %s", n-copied, where, dest)
	if k := r.Str("kms_key_id"); k != "" {
		summary += ", encrypted with " + k
	}
	return &action.Change{Summary: summary, NoOp: n == 0}, nil
}

func (p *Provider) copyApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	locs, err := s.copyLocations(ctx, r)
	if err != nil {
		return nil, err
	}
	var ids, targets []string
	var items []action.Evidence
	for _, l := range locs {
		c := l.c
		var pending []string
		for _, src := range l.ids {
			cp, ok := l.made[src]
			if !ok {
				in := &ec2.CopySnapshotInput{SourceRegion: aws.String(l.loc.region), SourceSnapshotId: aws.String(src),
					Description: aws.String(fmt.Sprintf("vigil %s evidence copy of %s", r.Incident, src)),
					TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
						Tags: runTags(r, map[string]string{"vigil-source": src})}}}
				if k := r.Str("kms_key_id"); k != "" {
					in.Encrypted, in.KmsKeyId = aws.Bool(true), aws.String(k)
				}
				out, err := c.CopySnapshot(ctx, in)
				if err != nil {
					return nil, fmt.Errorf("copy %s: %w", src, err)
				}
				cp = ec2types.Snapshot{SnapshotId: out.SnapshotId}
			}
			id := aws.ToString(cp.SnapshotId)
			ids = append(ids, id)
			pending = append(pending, id)
			targets = append(targets, src, id)
			items = append(items, action.Evidence{Item: id, SHA256: action.HashValue(map[string]string{"snapshot": id, "source": src}), Kind: action.EvidenceSnapshot,
				Of: []string{src, s.arn(ctx, target{account: l.loc.account, region: l.loc.region, id: src}, "snapshot")}, Note: "evidence copy of " + src})
		}
		if err := s.waitCompleted(ctx, c, pending); err != nil {
			return nil, err
		}
	}
	return &action.Result{Summary: fmt.Sprintf("%d snapshots copied: %s", len(ids), strings.Join(ids, ", ")), Targets: targets, Evidence: items,
		Outputs: map[string]cty.Value{"snapshot_ids": action.StringList(ids)}}, nil
}

// ---- instance state ----

func (p *Provider) stopPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	st := stateOf(ic.in)
	ch := &action.Change{Summary: fmt.Sprintf("stop %s (now %s)", instanceName(ic.in), st), Targets: []string{ic.arn},
		Outputs: map[string]cty.Value{"state": cty.StringVal("stopped")}}
	if st == "stopped" || st == "stopping" {
		ch.NoOp, ch.Summary = true, instanceName(ic.in)+" is already "+st
		return ch, nil
	}
	_, err = ic.c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{ic.t.id}, DryRun: aws.Bool(true)})
	return ch, dryRun(err)
}

func (p *Provider) stopApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	if st := stateOf(ic.in); st != "stopped" && st != "stopping" {
		if _, err := ic.c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{ic.t.id}}); err != nil {
			return nil, err
		}
	}
	err = ic.s.poll(ctx, "instance "+ic.t.id+" to stop", func() (bool, error) {
		in, err := instance(ctx, ic.c, ic.t.id)
		if err != nil {
			return false, err
		}
		return stateOf(in) == "stopped", nil
	})
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: instanceName(ic.in) + " stopped", Targets: []string{ic.arn}, Outputs: map[string]cty.Value{"state": cty.StringVal("stopped")}}, nil
}

func terminating(in *ec2types.Instance) bool {
	st := stateOf(in)
	return st == "terminated" || st == "shutting-down"
}

func (p *Provider) terminatePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	ic, err := p.instance(ctx, r)
	if action.IsNotFound(err) || (err == nil && terminating(ic.in)) {
		return &action.Change{Summary: r.Str("instance") + " is already gone", NoOp: true}, nil
	}
	if err != nil {
		return nil, err
	}
	_, err = ic.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{ic.t.id}, DryRun: aws.Bool(true)})
	if err := dryRun(err); err != nil && apiCode(err) != "OperationNotPermitted" {
		return nil, err
	}
	var needs []action.Need
	for _, v := range volumesOf(ic.in) {
		needs = append(needs, action.VolumeNeed(ic.s.arn(ctx, target{account: ic.t.account, region: ic.t.region, id: v}, "volume"), v))
	}
	return &action.Change{Summary: "terminate " + instanceName(ic.in) + " (lifting termination protection if set)", Targets: []string{ic.arn}, Deletes: []string{ic.arn},
		Requires: needs}, nil
}

func (p *Provider) terminateApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	ic, err := p.instance(ctx, r)
	gone := &action.Result{Summary: "already terminated", Outputs: map[string]cty.Value{"state": cty.StringVal("terminated")}}
	if action.IsNotFound(err) {
		return gone, nil
	}
	if err != nil {
		return nil, err
	}
	if terminating(ic.in) {
		return gone, nil
	}
	// isolate_instance protects the instance; an approved terminate lifts it.
	if _, err := ic.c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(ic.t.id),
		DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		return nil, err
	}
	if _, err := ic.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{ic.t.id}}); err != nil {
		return nil, err
	}
	return &action.Result{Summary: "terminated " + instanceName(ic.in), Targets: []string{ic.arn}, Deletes: []string{ic.arn},
		Outputs: map[string]cty.Value{"state": cty.StringVal("terminated")}}, nil
}

// ---- security groups ----

func revokePorts(r *action.Request) []int32 {
	v, ok := r.Args["ports"]
	if !ok || v.IsNull() || !v.IsKnown() {
		return []int32{22, 3389}
	}
	var out []int32
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if i, acc := e.AsBigFloat().Int64(); acc == big.Exact {
			out = append(out, int32(i))
		}
	}
	return out
}

var worldV4, worldV6 = asset.WorldV4, asset.WorldV6

// openPermissions returns, for each world-open permission that reaches one
// of the ports (or every port), the permission narrowed to the sources
// that make it world-open: exactly what to revoke, leaving other sources
// of the same rule. A permission is world-open when its ranges together
// hold all of IPv4 or IPv6 (0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1);
// asset.WithoutInternet says which of them go.
func openPermissions(g *ec2types.SecurityGroup, ports []int32) []ec2types.IpPermission {
	var out []ec2types.IpPermission
	for _, p := range g.IpPermissions {
		all := sources(p)
		if !asset.OpenToInternet(all) {
			continue
		}
		keep := map[string]bool{}
		for _, r := range asset.WithoutInternet(all) {
			keep[r] = true
		}
		var v4 []ec2types.IpRange
		var v6 []ec2types.Ipv6Range
		for _, rg := range p.IpRanges {
			if !keep[aws.ToString(rg.CidrIp)] {
				v4 = append(v4, ec2types.IpRange{CidrIp: rg.CidrIp})
			}
		}
		for _, rg := range p.Ipv6Ranges {
			if !keep[aws.ToString(rg.CidrIpv6)] {
				v6 = append(v6, ec2types.Ipv6Range{CidrIpv6: rg.CidrIpv6})
			}
		}
		if len(v4)+len(v6) == 0 {
			continue
		}
		proto := aws.ToString(p.IpProtocol)
		hit := proto == "-1"
		if !hit && (proto == "tcp" || proto == "udp" || proto == "6" || proto == "17") && p.FromPort != nil && p.ToPort != nil {
			from, to := *p.FromPort, *p.ToPort
			hit = from <= 0 && to >= 65535 || from == -1
			for _, port := range ports {
				hit = hit || (from <= port && port <= to)
			}
		}
		if hit {
			out = append(out, ec2types.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort, IpRanges: v4, Ipv6Ranges: v6})
		}
	}
	return out
}

func sources(p ec2types.IpPermission) []string {
	var out []string
	for _, r := range p.IpRanges {
		out = append(out, aws.ToString(r.CidrIp))
	}
	for _, r := range p.Ipv6Ranges {
		out = append(out, aws.ToString(r.CidrIpv6))
	}
	return out
}

func (p *Provider) group(ctx context.Context, r *action.Request) (*session, *ec2.Client, target, *ec2types.SecurityGroup, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, nil, target{}, nil, err
	}
	t := s.locate(r.Str("security_group"))
	c, err := s.ec2For(ctx, t)
	if err != nil {
		return nil, nil, t, nil, err
	}
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{t.id}})
	if apiCode(err) == "InvalidGroup.NotFound" {
		return nil, nil, t, nil, &action.NotFoundError{What: "security group", ID: t.id}
	}
	if err != nil {
		return nil, nil, t, nil, err
	}
	if len(out.SecurityGroups) == 0 {
		return nil, nil, t, nil, &action.NotFoundError{What: "security group", ID: t.id}
	}
	return s, c, t, &out.SecurityGroups[0], nil
}

func (p *Provider) revokePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, c, t, g, err := p.group(ctx, r)
	if err != nil {
		return nil, err
	}
	perms := openPermissions(g, revokePorts(r))
	arn := s.arn(ctx, t, "security-group")
	ch := &action.Change{Summary: fmt.Sprintf("revoke %d world-open rules of %s", len(perms), aws.ToString(g.GroupName)), Targets: []string{arn}, NoOp: len(perms) == 0}
	for _, pm := range perms {
		ch.Details = append(ch.Details, "revoke "+describePerm(pm, sources(pm)))
	}
	if len(perms) > 0 {
		_, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perms, DryRun: aws.Bool(true)})
		if err := dryRun(err); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

func (p *Provider) revokeApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, c, t, g, err := p.group(ctx, r)
	if err != nil {
		return nil, err
	}
	perms := openPermissions(g, revokePorts(r))
	var revoked []string
	if len(perms) > 0 {
		if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perms}); err != nil {
			return nil, err
		}
		for _, pm := range perms {
			revoked = append(revoked, describePerm(pm, sources(pm)))
		}
	}
	return &action.Result{Summary: fmt.Sprintf("revoked %d rules of %s", len(revoked), aws.ToString(g.GroupName)), Targets: []string{s.arn(ctx, t, "security-group")},
		Outputs: map[string]cty.Value{"revoked": action.StringList(revoked)}}, nil
}

// ---- tags ----

func (p *Provider) tagPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	t := s.locate(r.Str("resource"))
	c, err := s.ec2For(ctx, t)
	if err != nil {
		return nil, err
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{t.id}, Tags: mapTags(r.StringMap("tags")), DryRun: aws.Bool(true)})
	if err := dryRun(err); err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("tag %s with %d tags", t.id, len(r.StringMap("tags"))), Targets: []string{r.Str("resource")}}, nil
}

func (p *Provider) tagApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	t := s.locate(r.Str("resource"))
	c, err := s.ec2For(ctx, t)
	if err != nil {
		return nil, err
	}
	want := r.StringMap("tags")
	// The tags it has already are not written again: a re-run, or Recover,
	// finds the step done.
	have, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{t.id}}}})
	if err != nil {
		return nil, err
	}
	missing := map[string]string{}
	for k, v := range want {
		missing[k] = v
	}
	for _, tag := range have.Tags {
		if v, ok := missing[aws.ToString(tag.Key)]; ok && v == aws.ToString(tag.Value) {
			delete(missing, aws.ToString(tag.Key))
		}
	}
	if len(missing) > 0 {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{t.id}, Tags: mapTags(missing)}); err != nil {
			return nil, err
		}
	}
	return &action.Result{Summary: "tagged " + t.id, Targets: []string{r.Str("resource")}}, nil
}

func mapTags(m map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []ec2types.Tag
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
