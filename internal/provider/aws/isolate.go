package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/aws/isolation"
)

// eniGroups lists each network interface with its security groups.
func eniGroups(in *ec2types.Instance) (enis []string, groups map[string][]string) {
	groups = map[string][]string{}
	for _, ni := range in.NetworkInterfaces {
		id := aws.ToString(ni.NetworkInterfaceId)
		enis = append(enis, id)
		for _, g := range ni.Groups {
			groups[id] = append(groups[id], aws.ToString(g.GroupId))
		}
	}
	sort.Strings(enis)
	return enis, groups
}

// subnetsOf lists the subnets of the instance's interfaces.
func subnetsOf(in *ec2types.Instance) []string {
	var out []string
	add := func(s *string) {
		if v := aws.ToString(s); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(in.SubnetId)
	for _, ni := range in.NetworkInterfaces {
		add(ni.SubnetId)
	}
	sort.Strings(out)
	return out
}

func tagValue(tags []ec2types.Tag, key string) (string, bool) {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

// errNotListedYet is a resource EC2 has made but does not list yet.
var errNotListedYet = errors.New("not listed yet")

// findGroup returns a group of the VPC by name ("" when there is none).
func findGroup(ctx context.Context, c *ec2.Client, vpc, name string) (*ec2types.SecurityGroup, error) {
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil || len(out.SecurityGroups) == 0 {
		return nil, err
	}
	return &out.SecurityGroups[0], nil
}

// makeGroup creates a group, or finds the one a concurrent or earlier
// attempt made that EC2 did not list yet.
func (s *session) makeGroup(ctx context.Context, c *ec2.Client, vpc, name, desc string, r *action.Request) (string, error) {
	made, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), VpcId: aws.String(vpc), Description: aws.String(desc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: runTags(r, map[string]string{"Name": name})}}})
	if apiCode(err) == "InvalidGroup.Duplicate" {
		var g *ec2types.SecurityGroup
		err = s.settle(ctx, func() error {
			var err error
			if g, err = findGroup(ctx, c, vpc, name); err == nil && g == nil {
				return fmt.Errorf("group %s: %w", name, errNotListedYet)
			}
			return err
		})
		if err != nil {
			return "", err
		}
		return aws.ToString(g.GroupId), nil
	}
	if err != nil {
		return "", fmt.Errorf("create group %s in %s: %w", name, vpc, err)
	}
	return aws.ToString(made.GroupId), nil
}

// isolationGroup finds the VPC's isolation group, or makes it when create
// is set: no ingress rules, and its default egress rule revoked.
func (s *session) isolationGroup(ctx context.Context, c *ec2.Client, vpc string, r *action.Request, create bool) (string, error) {
	name := isolation.GroupName(vpc)
	g, err := findGroup(ctx, c, vpc, name)
	if err != nil {
		return "", err
	}
	var id string
	var egress []ec2types.IpPermission
	switch {
	case g != nil:
		id, egress = aws.ToString(g.GroupId), g.IpPermissionsEgress
	case !create:
		return "", nil
	default:
		if id, err = s.makeGroup(ctx, c, vpc, name, "vigil: isolates instances under investigation; allows nothing", r); err != nil {
			return "", err
		}
		egress = []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	}
	if create && len(egress) > 0 {
		if err := s.settle(ctx, func() error {
			_, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(id), IpPermissions: egress})
			return err
		}); err != nil && apiCode(err) != "InvalidPermission.NotFound" {
			return "", fmt.Errorf("remove the egress rules of isolation group %s: %w", id, err)
		}
	}
	return id, nil
}

var allTraffic = []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
	Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}

// untrackGroup finds or makes the group that allows all traffic in and out
// from 0.0.0.0/0 and ::/0: flows through it are not tracked.
func (s *session) untrackGroup(ctx context.Context, c *ec2.Client, vpc string, r *action.Request) (string, error) {
	name := isolation.UntrackGroupName(vpc)
	g, err := findGroup(ctx, c, vpc, name)
	if err != nil {
		return "", err
	}
	id := ""
	if g != nil {
		id = aws.ToString(g.GroupId)
	} else if id, err = s.makeGroup(ctx, c, vpc, name, "vigil: allows all traffic for a moment so that connection tracking lets go of established flows; deleted right after", r); err != nil {
		return "", err
	}
	if g == nil || !worldOpen(g.IpPermissions) {
		if err := s.settle(ctx, func() error {
			_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: allTraffic})
			return err
		}); err != nil && apiCode(err) != "InvalidPermission.Duplicate" {
			return "", fmt.Errorf("open %s: %w", name, err)
		}
	}
	if g == nil || !worldOpen(g.IpPermissionsEgress) {
		// A new group's egress already allows 0.0.0.0/0: ::/0 is added.
		v6 := []ec2types.IpPermission{{IpProtocol: aws.String("-1"), Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}
		if err := s.settle(ctx, func() error {
			_, err := c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(id), IpPermissions: v6})
			return err
		}); err != nil && apiCode(err) != "InvalidPermission.Duplicate" {
			return "", fmt.Errorf("open %s: %w", name, err)
		}
	}
	return id, nil
}

func worldOpen(perms []ec2types.IpPermission) bool {
	v4, v6 := false, false
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != "-1" {
			continue
		}
		for _, r := range p.IpRanges {
			v4 = v4 || aws.ToString(r.CidrIp) == worldV4
		}
		for _, r := range p.Ipv6Ranges {
			v6 = v6 || aws.ToString(r.CidrIpv6) == worldV6
		}
	}
	return v4 && v6
}

func isolated(enis []string, groups map[string][]string, gid string) bool {
	if gid == "" || len(enis) == 0 {
		return false
	}
	for _, e := range enis {
		if len(groups[e]) != 1 || groups[e][0] != gid {
			return false
		}
	}
	return true
}

// subnetACL is a subnet's network ACL association.
type subnetACL struct{ subnet, acl, association string }

func (s *session) subnetACLs(ctx context.Context, c *ec2.Client, subnets []string) ([]subnetACL, error) {
	var out []subnetACL
	for _, sn := range subnets {
		res, err := c.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{sn}}}})
		if err != nil {
			return nil, err
		}
		for _, acl := range res.NetworkAcls {
			for _, a := range acl.Associations {
				if aws.ToString(a.SubnetId) == sn {
					out = append(out, subnetACL{subnet: sn, acl: aws.ToString(acl.NetworkAclId), association: aws.ToString(a.NetworkAclAssociationId)})
				}
			}
		}
	}
	return out, nil
}

// isolationACL finds or makes the VPC's isolation network ACL: a new ACL
// has no entries and so denies everything.
func (s *session) isolationACL(ctx context.Context, c *ec2.Client, vpc string, r *action.Request, create bool) (string, error) {
	name := isolation.ACLName(vpc)
	res, err := c.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("tag:Name"), Values: []string{name}}}})
	if err != nil {
		return "", err
	}
	if len(res.NetworkAcls) > 0 || !create {
		if len(res.NetworkAcls) == 0 {
			return "", nil
		}
		return aws.ToString(res.NetworkAcls[0].NetworkAclId), nil
	}
	made, err := c.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: aws.String(vpc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeNetworkAcl, Tags: runTags(r, map[string]string{"Name": name})}}})
	if err != nil {
		return "", fmt.Errorf("create network ACL %s: %w", name, err)
	}
	return aws.ToString(made.NetworkAcl.NetworkAclId), nil
}

// neighbours lists the other instances of the subnets, for the risk of
// the nacl way.
func neighbours(ctx context.Context, c *ec2.Client, self string, subnets []string) ([]string, error) {
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("subnet-id"), Values: subnets}}})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if id := aws.ToString(in.InstanceId); id != self && stateOf(&in) != "terminated" {
				ids = append(ids, instanceName(&in))
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func (p *Provider) isolatePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	way, err := isolation.Way(r.Str("end_tracked_connections"))
	if err != nil {
		return nil, err
	}
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	vpc := aws.ToString(ic.in.VpcId)
	gid, err := ic.s.isolationGroup(ctx, ic.c, vpc, r, false)
	if err != nil {
		return nil, err
	}
	enis, groups := eniGroups(ic.in)
	if len(enis) == 0 {
		return nil, fmt.Errorf("instance %s has no network interfaces to isolate", ic.t.id)
	}
	subnets := subnetsOf(ic.in)
	aclsDone := true
	var near []string
	if way == isolation.NACL {
		acl, err := ic.s.isolationACL(ctx, ic.c, vpc, r, false)
		if err != nil {
			return nil, err
		}
		cur, err := ic.s.subnetACLs(ctx, ic.c, subnets)
		if err != nil {
			return nil, err
		}
		for _, a := range cur {
			aclsDone = aclsDone && acl != "" && a.acl == acl
		}
		if near, err = neighbours(ctx, ic.c, ic.t.id, subnets); err != nil {
			return nil, err
		}
	}
	if isolated(enis, groups, gid) && aclsDone {
		return &action.Change{Summary: instanceName(ic.in) + " is already isolated in " + gid, Targets: []string{ic.arn}, NoOp: true}, nil
	}
	_, err = ic.c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(enis[0]), Groups: groups[enis[0]], DryRun: aws.Bool(true)})
	if err := dryRun(err); err != nil {
		return nil, err
	}
	group := gid
	if group == "" {
		group = "a new group " + isolation.GroupName(vpc)
	}
	ch := &action.Change{Summary: fmt.Sprintf("replace the security groups of %d network interfaces of %s with isolation group %s (no rules)", len(enis), instanceName(ic.in), group),
		Targets: []string{ic.arn}}
	for _, e := range enis {
		ch.Details = append(ch.Details, fmt.Sprintf("%s: %s -> isolation", e, strings.Join(groups[e], ", ")))
	}
	if open, err := findGroup(ctx, ic.c, vpc, isolation.UntrackGroupName(vpc)); err != nil {
		return nil, err
	} else if open != nil {
		for _, e := range enis {
			if slices.Contains(groups[e], aws.ToString(open.GroupId)) {
				ch.Details = append(ch.Details, fmt.Sprintf("%s is in the all-open group %s, left by an interrupted isolation: it goes to the isolation group first", e, aws.ToString(open.GroupId)))
			}
		}
	}
	ch.Details = append(ch.Details, isolation.Risk(way, vpc, subnets, near))
	return ch, nil
}

func (p *Provider) isolateApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	way, err := isolation.Way(r.Str("end_tracked_connections"))
	if err != nil {
		return nil, err
	}
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	s, c, vpc := ic.s, ic.c, aws.ToString(ic.in.VpcId)
	gid, err := s.isolationGroup(ctx, c, vpc, r, true)
	if err != nil {
		return nil, err
	}
	enis, groups := eniGroups(ic.in)
	// The tag keeps the groups from before the first isolation: a re-run
	// must not record the isolation group as "previous". It is written
	// before anything changes, so release can undo a half-done attempt.
	previous := groups
	if prev, ok := tagValue(ic.in.Tags, isolation.PreviousGroupsTag); ok {
		previous = isolation.DecodeGroups(prev)
	} else {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{ic.t.id}, Tags: []ec2types.Tag{
			{Key: aws.String(isolation.PreviousGroupsTag), Value: aws.String(isolation.EncodeGroups(groups))},
			{Key: aws.String(isolation.QuarantineTag), Value: aws.String(r.RunID)}}}); err != nil {
			return nil, fmt.Errorf("record the previous groups: %w", err)
		}
	}
	var pending []string
	for _, e := range enis {
		if !(len(groups[e]) == 1 && groups[e][0] == gid) {
			pending = append(pending, e)
		}
	}
	swap := func(eni, group string) error {
		return s.settle(ctx, func() error {
			_, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni), Groups: []string{group}})
			return err
		})
	}
	if way == isolation.Untrack && len(pending) > 0 {
		uid, err := s.untrackGroup(ctx, c, vpc, r)
		if err != nil {
			return nil, err
		}
		// Through the open group and straight on. An interface must never
		// be left in the open group: after any error of either swap (the
		// first may have been made and its answer lost) it is moved to the
		// isolation group before the error is returned.
		for _, e := range pending {
			if err := swap(e, uid); err != nil {
				if cerr := s.isolateENI(ctx, c, e, gid); cerr != nil {
					return nil, fmt.Errorf("untrack the flows of %s: %w; moving it to isolation group %s failed too, it may be in the all-open group %s: %v", e, err, gid, uid, cerr)
				}
				return nil, fmt.Errorf("untrack the flows of %s (it is in isolation group %s now, its tracked connections may go on): %w", e, gid, err)
			}
			if err := s.isolateENI(ctx, c, e, gid); err != nil {
				return nil, fmt.Errorf("isolate %s, which may be in the all-open group %s (resume the step: Recover moves it first): %w", e, uid, err)
			}
		}
	}
	for _, e := range pending {
		if way != isolation.Untrack {
			if err := swap(e, gid); err != nil {
				return nil, fmt.Errorf("isolate %s: %w", e, err)
			}
		}
	}
	if way == isolation.Untrack {
		// The open group must not outlive the isolation (a crashed attempt
		// leaves it behind: this one removes it).
		if g, err := findGroup(ctx, c, vpc, isolation.UntrackGroupName(vpc)); err != nil {
			return nil, err
		} else if g != nil {
			if err := s.settle(ctx, func() error {
				_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: g.GroupId})
				return err
			}); err != nil && apiCode(err) != "InvalidGroup.NotFound" {
				return nil, fmt.Errorf("delete %s: %w", isolation.UntrackGroupName(vpc), err)
			}
		}
	}
	if way == isolation.NACL {
		if err := s.isolateSubnets(ctx, ic, r); err != nil {
			return nil, err
		}
	}
	if r.Bool("disable_api_termination", true) {
		attr, err := c.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(ic.t.id), Attribute: ec2types.InstanceAttributeNameDisableApiTermination})
		if err != nil {
			return nil, err
		}
		protected := attr.DisableApiTermination != nil && aws.ToBool(attr.DisableApiTermination.Value)
		if !protected {
			if _, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(ic.t.id),
				DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
				return nil, fmt.Errorf("protect %s from termination: %w", ic.t.id, err)
			}
		}
	}
	prevVals := map[string]cty.Value{}
	for e, gs := range previous {
		prevVals[e] = action.StringList(gs)
	}
	prevMap := cty.MapValEmpty(cty.List(cty.String))
	if len(prevVals) > 0 {
		prevMap = cty.MapVal(prevVals)
	}
	return &action.Result{Summary: fmt.Sprintf("%s isolated in %s (%d network interfaces; tracked connections: %s)", instanceName(ic.in), gid, len(enis), way),
		Targets: []string{ic.arn}, Outputs: map[string]cty.Value{"isolation_group": cty.StringVal(gid), "previous_groups": prevMap}}, nil
}

// isolateENI gives an interface the isolation group alone. Setting an
// interface's groups is idempotent, so a try whose answer was lost is
// tried again; and it runs to the end even when the step is being
// interrupted: it is what closes the untrack way's open group.
func (s *session) isolateENI(ctx context.Context, c *ec2.Client, eni, gid string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var err error
	for try := 0; try < 3; try++ {
		err = s.settle(ctx, func() error {
			_, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni), Groups: []string{gid}})
			return err
		})
		if err == nil || !action.IsOutcomeUnknown(err) && !action.IsRetryable(err) {
			return err
		}
	}
	return err
}

// finishUntrack moves every interface of the instance that is in its
// VPC's untrack group (a crash between the untrack way's two swaps) into
// the isolation group. Recover runs it before anything else: an interface
// there is more exposed than before the isolation began.
func (p *Provider) finishUntrack(ctx context.Context, r *action.Request) (moved []string, err error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	vpc := aws.ToString(ic.in.VpcId)
	open, err := findGroup(ctx, ic.c, vpc, isolation.UntrackGroupName(vpc))
	if err != nil || open == nil {
		return nil, err
	}
	enis, groups := eniGroups(ic.in)
	for _, e := range enis {
		if !slices.Contains(groups[e], aws.ToString(open.GroupId)) {
			continue
		}
		gid, err := ic.s.isolationGroup(ctx, ic.c, vpc, r, true)
		if err != nil {
			return moved, err
		}
		if err := ic.s.isolateENI(ctx, ic.c, e, gid); err != nil {
			return moved, fmt.Errorf("move %s out of the all-open group %s: %w", e, aws.ToString(open.GroupId), err)
		}
		moved = append(moved, e)
	}
	return moved, nil
}

// isolateRecover is isolate_instance's Recover: it first closes what an
// interrupted untrack way left open, then tells, as every action does,
// whether the attempt took effect.
func (p *Provider) isolateRecover(ctx context.Context, r *action.Request) (*action.Result, bool, error) {
	if _, err := p.finishUntrack(ctx, r); err != nil {
		return nil, false, classify(err)
	}
	return recoverBy(p.isolateApply)(ctx, r)
}

// isolateSubnets gives the instance's subnets the isolation network ACL,
// recording their ACLs first.
func (s *session) isolateSubnets(ctx context.Context, ic *instanceCtx, r *action.Request) error {
	c, vpc := ic.c, aws.ToString(ic.in.VpcId)
	acl, err := s.isolationACL(ctx, c, vpc, r, true)
	if err != nil {
		return err
	}
	cur, err := s.subnetACLs(ctx, c, subnetsOf(ic.in))
	if err != nil {
		return err
	}
	rec := map[string]string{}
	if v, ok := tagValue(ic.in.Tags, isolation.PreviousACLsTag); ok {
		rec = isolation.DecodeACLs(v)
	}
	changed := false
	for _, a := range cur {
		if _, ok := rec[a.subnet]; !ok && a.acl != acl {
			rec[a.subnet], changed = a.acl, true
		}
	}
	if changed {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{ic.t.id}, Tags: []ec2types.Tag{
			{Key: aws.String(isolation.PreviousACLsTag), Value: aws.String(isolation.EncodeACLs(rec))}}}); err != nil {
			return fmt.Errorf("record the subnets' network ACLs: %w", err)
		}
	}
	for _, a := range cur {
		if a.acl == acl {
			continue
		}
		if err := s.settle(ctx, func() error {
			_, err := c.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: aws.String(a.association), NetworkAclId: aws.String(acl)})
			return err
		}); err != nil {
			return fmt.Errorf("give subnet %s network ACL %s: %w", a.subnet, acl, err)
		}
	}
	return nil
}

func (p *Provider) releasePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	prev, ok := tagValue(ic.in.Tags, isolation.PreviousGroupsTag)
	if !ok {
		return &action.Change{Summary: instanceName(ic.in) + " is not isolated by vigil", Targets: []string{ic.arn}, NoOp: true}, nil
	}
	ch := &action.Change{Summary: fmt.Sprintf("restore the security groups of %s (%s)", instanceName(ic.in), prev), Targets: []string{ic.arn}}
	if acls, ok := tagValue(ic.in.Tags, isolation.PreviousACLsTag); ok {
		ch.Details = append(ch.Details, "restore the network ACLs of the subnets ("+acls+")")
	}
	return ch, nil
}

func (p *Provider) releaseApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	ic, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	c := ic.c
	prev, ok := tagValue(ic.in.Tags, isolation.PreviousGroupsTag)
	restored := map[string]cty.Value{}
	if ok {
		_, groups := eniGroups(ic.in)
		for eni, gs := range isolation.DecodeGroups(prev) {
			if !slices.Equal(groups[eni], gs) {
				if _, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni), Groups: gs}); err != nil {
					return nil, fmt.Errorf("restore %s: %w", eni, err)
				}
			}
			restored[eni] = action.StringList(gs)
		}
		del := []ec2types.Tag{{Key: aws.String(isolation.PreviousGroupsTag)}, {Key: aws.String(isolation.QuarantineTag)}}
		if v, ok := tagValue(ic.in.Tags, isolation.PreviousACLsTag); ok {
			want := isolation.DecodeACLs(v)
			cur, err := ic.s.subnetACLs(ctx, c, slices.Sorted(maps.Keys(want)))
			if err != nil {
				return nil, err
			}
			for _, a := range cur {
				if want[a.subnet] != "" && a.acl != want[a.subnet] {
					if _, err := c.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: aws.String(a.association),
						NetworkAclId: aws.String(want[a.subnet])}); err != nil {
						return nil, fmt.Errorf("restore the network ACL of %s: %w", a.subnet, err)
					}
				}
			}
			del = append(del, ec2types.Tag{Key: aws.String(isolation.PreviousACLsTag)})
		}
		if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{ic.t.id}, Tags: del}); err != nil {
			return nil, err
		}
	}
	out := cty.MapValEmpty(cty.List(cty.String))
	if len(restored) > 0 {
		out = cty.MapVal(restored)
	}
	return &action.Result{Summary: instanceName(ic.in) + " released", Targets: []string{ic.arn}, Outputs: map[string]cty.Value{"restored_groups": out}}, nil
}
