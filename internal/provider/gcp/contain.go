package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	compute "google.golang.org/api/compute/v1"
	iam "google.golang.org/api/iam/v1"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/quarantine"
	"github.com/vigil-ir/vigil/internal/provider/gcp/restrict"
)

// QuarantineTag is the network tag isolated instances carry.
const QuarantineTag = quarantine.Tag

// isolationKey is the instance metadata entry that records what isolation
// changed, so release can undo it and a re-run does not overwrite it.
const isolationKey = "vigil-isolation"

type isolationRecord struct {
	Run                  string   `json:"run"`
	PreviousTags         []string `json:"previous_tags"`
	RemovedAccessConfigs []string `json:"removed_access_configs"`
}

// ruleState is one quarantine rule and what its network has of it.
type ruleState struct {
	rule      quarantine.Rule
	forensics []string          // the network's forensics ranges, for the plan
	current   *compute.Firewall // the rule of that name, nil when missing
	diff      []string          // what differs from the rule, when current is set
	// replace says the rule of that name cannot be patched into the
	// quarantine's (it is on another network, in the other direction, or
	// allows where it should deny): it is deleted and made again.
	replace bool
}

// networkState is what isolation found in one network.
type networkState struct {
	network string
	// dropped are ranges of the existing forensics rule that isolation
	// does not keep (see quarantine.Forensics).
	dropped []quarantine.Dropped
}

func (s *session) firewallGet(ctx context.Context, project, name string) (*compute.Firewall, error) {
	var fw *compute.Firewall
	err := s.do(ctx, func() error {
		var err error
		fw, err = s.cmp.Firewalls.Get(project, name).Context(ctx).Do()
		return err
	})
	return fw, err
}

// networksOf lists the networks of every interface of the instance.
func networksOf(in *compute.Instance) []string {
	var out []string
	for _, ni := range in.NetworkInterfaces {
		if n := linkPath(ni.Network); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// isolation reads the quarantine rules of every network the instance is
// in. A rule that carries a quarantine rule's name is not trusted to be
// vigil's: anyone allowed to create firewall rules can make one. It is
// kept only when it is exactly the rule the quarantine needs (network,
// direction, action, priority, ranges on both sides, sources, targets,
// enabled); otherwise it is patched or replaced. The forensics allow of a
// network is shared by its quarantined instances, so the ranges it has
// already stay, but only those quarantine.Forensics accepts.
func (s *session) isolation(ctx context.Context, in *compute.Instance, allow []string) ([]ruleState, []networkState, error) {
	nets := networksOf(in)
	if len(nets) == 0 {
		return nil, nil, fmt.Errorf("instance %s has no network interface", in.Name)
	}
	var out []ruleState
	var notes []networkState
	for _, n := range nets {
		project := strings.Split(n, "/")[1]
		have := map[string]*compute.Firewall{}
		name := quarantine.Name("allow-forensics", n)
		cur, err := s.firewallGet(ctx, project, name)
		var existing []string
		switch {
		case err == nil:
			have[name] = cur
			// Ranges of a rule on another network, or of an egress rule,
			// were never this network's forensics ranges.
			if linkPath(cur.Network) == n && cur.Direction == "INGRESS" {
				existing = cur.SourceRanges
			}
		case !isNotFound(err):
			return nil, nil, err
		}
		forensics, dropped, err := quarantine.Forensics(n, allow, existing)
		if err != nil {
			return nil, nil, err
		}
		notes = append(notes, networkState{network: n, dropped: dropped})
		rules, err := quarantine.Rules(n, forensics)
		if err != nil {
			return nil, nil, err
		}
		for _, ru := range rules {
			cur, ok := have[ru.Name]
			if !ok {
				cur, err = s.firewallGet(ctx, ru.Project(), ru.Name)
				if isNotFound(err) {
					cur, err = nil, nil
				}
				if err != nil {
					return nil, nil, err
				}
			}
			st := ruleState{rule: ru, forensics: forensics, current: cur}
			if cur != nil {
				st.diff, st.replace = differs(ru, cur)
			}
			out = append(out, st)
		}
	}
	return out, notes, nil
}

// firewallOf is the rule as the API takes it. Priority 0 and disabled
// false are zero values the Go client would drop: without ForceSendFields
// the API applies its default priority, 1000, and the deny loses to every
// allow at a lower number.
func firewallOf(ru quarantine.Rule) *compute.Firewall {
	fw := &compute.Firewall{Name: ru.Name, Network: "https://www.googleapis.com/compute/v1/" + ru.Network, Direction: ru.Direction,
		Priority: int64(ru.Priority), TargetTags: []string{QuarantineTag}, Description: ru.Description,
		ForceSendFields: []string{"Priority", "Disabled"}}
	if ru.Allow {
		fw.Allowed = []*compute.FirewallAllowed{{IPProtocol: "all"}}
	} else {
		fw.Denied = []*compute.FirewallDenied{{IPProtocol: "all"}}
	}
	if ru.Direction == "INGRESS" {
		fw.SourceRanges = ru.Ranges
	} else {
		fw.DestinationRanges = ru.Ranges
	}
	return fw
}

// sameRanges compares two range lists as sets of normalized prefixes.
func sameRanges(a, b []string) bool {
	na, errA := quarantine.Normalize(a)
	nb, errB := quarantine.Normalize(b)
	return errA == nil && errB == nil && slices.Equal(na, nb)
}

// differs says how an existing rule of the quarantine's name differs from
// what the quarantine needs (a rule from an older vigil at priority 1, a
// forensics range added since, or a rule someone else made under the
// name), and whether a patch cannot fix it.
func differs(ru quarantine.Rule, cur *compute.Firewall) (diff []string, replace bool) {
	all := func(proto string, ports []string) bool { return strings.EqualFold(proto, "all") && len(ports) == 0 }
	switch {
	case linkPath(cur.Network) != ru.Network:
		return []string{fmt.Sprintf("it is on network %s, not %s", linkPath(cur.Network), ru.Network)}, true
	case cur.Direction != ru.Direction:
		return []string{fmt.Sprintf("it is an %s rule, not %s", cur.Direction, ru.Direction)}, true
	case ru.Allow && len(cur.Denied) > 0, !ru.Allow && len(cur.Allowed) > 0:
		return []string{fmt.Sprintf("it is %s rule", map[bool]string{true: "a deny", false: "an allow"}[ru.Allow])}, true
	}
	if cur.Priority != int64(ru.Priority) {
		diff = append(diff, fmt.Sprintf("priority %d -> %d", cur.Priority, ru.Priority))
	}
	own, other, otherName := cur.SourceRanges, cur.DestinationRanges, "destination"
	if ru.Direction == "EGRESS" {
		own, other, otherName = cur.DestinationRanges, cur.SourceRanges, "source"
	}
	if !sameRanges(own, ru.Ranges) {
		diff = append(diff, fmt.Sprintf("%d ranges -> %d", len(own), len(ru.Ranges)))
	}
	// A deny that also names destination ranges (for ingress) or source
	// ranges (for egress) matches only the traffic inside them.
	if len(other) > 0 {
		diff = append(diff, fmt.Sprintf("%s ranges %s -> any", otherName, strings.Join(other, ", ")))
	}
	// Source tags and service accounts widen what an ingress rule matches:
	// for the forensics allow, instances of the network past the deny.
	if len(cur.SourceTags)+len(cur.SourceServiceAccounts) > 0 {
		diff = append(diff, "source tags and service accounts -> none")
	}
	if !slices.Equal(cur.TargetTags, []string{QuarantineTag}) || len(cur.TargetServiceAccounts) > 0 {
		diff = append(diff, "targets -> tag "+QuarantineTag)
	}
	entries := len(cur.Allowed) + len(cur.Denied)
	ok := entries == 1 && (ru.Allow && all(cur.Allowed[0].IPProtocol, cur.Allowed[0].Ports) || !ru.Allow && all(cur.Denied[0].IPProtocol, cur.Denied[0].Ports))
	if !ok {
		diff = append(diff, "protocols -> all")
	}
	if cur.Disabled {
		diff = append(diff, "disabled -> enabled")
	}
	return diff, false
}

func describeRule(st ruleState) string { return quarantine.Describe(st.rule, st.forensics) }

// droppedNotes tell the plan which ranges of an existing forensics rule
// isolation drops, and why.
func droppedNotes(notes []networkState) []string {
	var out []string
	for _, n := range notes {
		for _, d := range n.dropped {
			out = append(out, fmt.Sprintf("drop forensics range %s of the existing rule %s: %s", d.Range, quarantine.Name("allow-forensics", n.network), d.Why))
		}
	}
	return out
}

// ensureRules creates the missing quarantine rules, updates those that
// differ and replaces those a patch cannot fix.
func (s *session) ensureRules(ctx context.Context, rules []ruleState) error {
	for _, st := range rules {
		ru := st.rule
		insert := func() error {
			err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
				return s.cmp.Firewalls.Insert(ru.Project(), firewallOf(ru)).RequestId(id).Context(ctx).Do()
			})
			if err != nil && !isConflict(err) {
				return fmt.Errorf("create firewall %s: %w", ru.Name, err)
			}
			return nil
		}
		switch {
		case st.current == nil:
			if err := insert(); err != nil {
				return err
			}
		case st.replace:
			// Firewall names are unique in a project, so the rule that
			// holds the name goes first.
			if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
				return s.cmp.Firewalls.Delete(ru.Project(), ru.Name).RequestId(id).Context(ctx).Do()
			}); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete firewall %s (%s): %w", ru.Name, strings.Join(st.diff, ", "), err)
			}
			if err := insert(); err != nil {
				return err
			}
		case len(st.diff) > 0:
			patch := firewallOf(ru)
			patch.Network = ""
			cur := st.current
			// A JSON merge patch clears a field sent as null.
			if len(cur.TargetServiceAccounts) > 0 {
				// Target tags and service accounts exclude each other.
				patch.NullFields = append(patch.NullFields, "TargetServiceAccounts")
			}
			if ru.Direction == "INGRESS" && len(cur.DestinationRanges) > 0 {
				patch.NullFields = append(patch.NullFields, "DestinationRanges")
			}
			if ru.Direction == "EGRESS" && len(cur.SourceRanges) > 0 {
				patch.NullFields = append(patch.NullFields, "SourceRanges")
			}
			if len(cur.SourceTags) > 0 {
				patch.NullFields = append(patch.NullFields, "SourceTags")
			}
			if len(cur.SourceServiceAccounts) > 0 {
				patch.NullFields = append(patch.NullFields, "SourceServiceAccounts")
			}
			if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
				return s.cmp.Firewalls.Patch(ru.Project(), ru.Name, patch).RequestId(id).Context(ctx).Do()
			}); err != nil {
				return fmt.Errorf("update firewall %s: %w", ru.Name, err)
			}
		}
	}
	return nil
}

func tagsOf(in *compute.Instance) []string {
	if in.Tags == nil {
		return nil
	}
	return in.Tags.Items
}

func record(in *compute.Instance) (*isolationRecord, bool) {
	if in.Metadata == nil {
		return nil, false
	}
	for _, it := range in.Metadata.Items {
		if it.Key == isolationKey && it.Value != nil {
			var rec isolationRecord
			if json.Unmarshal([]byte(*it.Value), &rec) == nil {
				return &rec, true
			}
		}
	}
	return nil, false
}

// accessConfigs lists the external access of every interface: IPv4
// access configs (ONE_TO_ONE_NAT) and IPv6 ones (DIRECT_IPV6), each a way
// in from the internet that the firewall is not the only guard of.
func accessConfigs(in *compute.Instance) []string {
	var out []string
	for _, ni := range in.NetworkInterfaces {
		for _, ac := range ni.AccessConfigs {
			out = append(out, fmt.Sprintf("%s/%s (%s)", ni.Name, ac.Name, ac.NatIP))
		}
		for _, ac := range ni.Ipv6AccessConfigs {
			out = append(out, fmt.Sprintf("%s/%s (%s)", ni.Name, ac.Name, ac.ExternalIpv6))
		}
	}
	return out
}

func isolatedTags(in *compute.Instance) bool {
	tags := tagsOf(in)
	return len(tags) == 1 && tags[0] == QuarantineTag
}

func shortNetworks(nets []string) string {
	var out []string
	for _, n := range nets {
		out = append(out, n[strings.LastIndex(n, "/")+1:])
	}
	return strings.Join(out, ", ")
}

func (p *Provider) isolatePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	rules, notes, err := s.isolation(ctx, in, r.Strings("allow_ranges"))
	if err != nil {
		return nil, err
	}
	removeAccess := r.Bool("remove_external_access", true)
	ch := &action.Change{Targets: []string{ir.assetID()}}
	todo := 0
	for _, st := range rules {
		switch {
		case st.current == nil:
			todo++
			ch.Details = append(ch.Details, fmt.Sprintf("create firewall %s in project %s: %s", st.rule.Name, st.rule.Project(), describeRule(st)))
		case st.replace:
			todo++
			ch.Details = append(ch.Details, fmt.Sprintf("replace firewall %s, which is not the quarantine's (%s): delete it and create %s", st.rule.Name,
				strings.Join(st.diff, ", "), describeRule(st)))
		case len(st.diff) > 0:
			todo++
			ch.Details = append(ch.Details, fmt.Sprintf("update firewall %s: %s (%s)", st.rule.Name, strings.Join(st.diff, ", "), describeRule(st)))
		}
	}
	ch.Details = append(ch.Details, droppedNotes(notes)...)
	nets := networksOf(in)
	if todo == 0 && isolatedTags(in) && (!removeAccess || len(accessConfigs(in)) == 0) {
		ch.NoOp, ch.Summary = true, ir.name+" is already isolated"
		return ch, nil
	}
	ch.Summary = fmt.Sprintf("tag %s %s (replacing %s) behind deny-all rules at priority 0 in %d networks (%s)", ir.name, QuarantineTag,
		strings.Join(tagsOf(in), ", "), len(nets), shortNetworks(nets))
	ch.Details = append(ch.Details, quarantine.Why)
	if removeAccess {
		for _, ac := range accessConfigs(in) {
			ch.Details = append(ch.Details, "remove external access "+ac)
		}
	}
	return ch, nil
}

func (p *Provider) isolateApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	rules, _, err := s.isolation(ctx, in, r.Strings("allow_ranges"))
	if err != nil {
		return nil, err
	}
	if err := s.ensureRules(ctx, rules); err != nil {
		return nil, err
	}
	var names []string
	for _, st := range rules {
		names = append(names, st.rule.Name)
	}
	removeAccess := r.Bool("remove_external_access", true)
	rec, ok := record(in)
	if !ok {
		rec = &isolationRecord{Run: r.RunID, PreviousTags: tagsOf(in)}
		if removeAccess {
			rec.RemovedAccessConfigs = accessConfigs(in)
		}
		raw, _ := json.Marshal(rec)
		md := &compute.Metadata{ForceSendFields: []string{"Items"}}
		if in.Metadata != nil {
			md.Fingerprint, md.Items = in.Metadata.Fingerprint, in.Metadata.Items
		}
		v := string(raw)
		md.Items = append(md.Items, &compute.MetadataItems{Key: isolationKey, Value: &v})
		if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Instances.SetMetadata(ir.project, ir.zone, ir.name, md).RequestId(id).Context(ctx).Do()
		}); err != nil {
			return nil, fmt.Errorf("record the isolation on %s: %w", ir.name, err)
		}
	}
	if !isolatedTags(in) {
		fp := ""
		if in.Tags != nil {
			fp = in.Tags.Fingerprint
		}
		if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Instances.SetTags(ir.project, ir.zone, ir.name, &compute.Tags{Items: []string{QuarantineTag}, Fingerprint: fp}).RequestId(id).Context(ctx).Do()
		}); err != nil {
			return nil, fmt.Errorf("tag %s: %w", ir.name, err)
		}
	}
	if removeAccess {
		// deleteAccessConfig takes the name of an IPv4 or an IPv6 access
		// config of the interface.
		for _, ni := range in.NetworkInterfaces {
			for _, ac := range append(append([]*compute.AccessConfig(nil), ni.AccessConfigs...), ni.Ipv6AccessConfigs...) {
				if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
					return s.cmp.Instances.DeleteAccessConfig(ir.project, ir.zone, ir.name, ac.Name, ni.Name).RequestId(id).Context(ctx).Do()
				}); err != nil && !isNotFound(err) {
					return nil, fmt.Errorf("remove external access %s/%s: %w", ni.Name, ac.Name, err)
				}
			}
		}
	}
	nets := networksOf(in)
	return &action.Result{Summary: fmt.Sprintf("%s isolated in %d networks (%s) behind %d rules", ir.name, len(nets), shortNetworks(nets), len(names)),
		Targets: []string{ir.assetID()},
		Outputs: map[string]cty.Value{"quarantine_tag": cty.StringVal(QuarantineTag), "firewall_rules": action.StringList(names),
			"previous_tags": action.StringList(rec.PreviousTags), "removed_access_configs": action.StringList(rec.RemovedAccessConfigs)}}, nil
}

func (p *Provider) releasePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	_, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	rec, ok := record(in)
	if !ok {
		return &action.Change{Summary: ir.name + " is not isolated by vigil", Targets: []string{ir.assetID()}, NoOp: true}, nil
	}
	return &action.Change{Summary: fmt.Sprintf("restore the tags of %s (%s); removed external IPs are not restored", ir.name, strings.Join(rec.PreviousTags, ", ")),
		Targets: []string{ir.assetID()}}, nil
}

func (p *Provider) releaseApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	rec, ok := record(in)
	if !ok {
		return &action.Result{Summary: ir.name + " was not isolated", Targets: []string{ir.assetID()}, Outputs: map[string]cty.Value{"restored_tags": action.StringList(tagsOf(in))}}, nil
	}
	fp := ""
	if in.Tags != nil {
		fp = in.Tags.Fingerprint
	}
	// No previous tags is an empty list, which must be sent.
	if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
		return s.cmp.Instances.SetTags(ir.project, ir.zone, ir.name, &compute.Tags{Items: rec.PreviousTags, Fingerprint: fp, ForceSendFields: []string{"Items"}}).RequestId(id).Context(ctx).Do()
	}); err != nil {
		return nil, err
	}
	md := &compute.Metadata{Fingerprint: in.Metadata.Fingerprint, ForceSendFields: []string{"Items"}}
	for _, it := range in.Metadata.Items {
		if it.Key != isolationKey {
			md.Items = append(md.Items, it)
		}
	}
	if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
		return s.cmp.Instances.SetMetadata(ir.project, ir.zone, ir.name, md).RequestId(id).Context(ctx).Do()
	}); err != nil {
		return nil, err
	}
	return &action.Result{Summary: ir.name + " released", Targets: []string{ir.assetID()}, Outputs: map[string]cty.Value{"restored_tags": action.StringList(rec.PreviousTags)}}, nil
}

// ---- instance state ----

// localSSDs counts an instance's Local SSDs (SCRATCH disks).
func localSSDs(in *compute.Instance) int {
	n := 0
	for _, d := range in.Disks {
		if d.Type == "SCRATCH" {
			n++
		}
	}
	return n
}

// state makes stop, suspend and resume. Stop and suspend of an instance
// with a Local SSD send discardLocalSsd, which the API requires then:
// false (the default) keeps the Local SSD data, which may be evidence.
func (p *Provider) state(status string) (planFn, applyFn) {
	verb := map[string]string{"TERMINATED": "stop", "SUSPENDED": "suspend", "RUNNING": "resume"}[status]
	out := strings.ToLower(status)
	// Only the final status is done. STOPPING and SUSPENDING are an
	// operation still running (ours, interrupted, or someone else's): the
	// instance may still serve, and its memory is not saved yet.
	settled := func(st string) bool { return st == status }
	transitional := map[string]string{"TERMINATED": "STOPPING", "SUSPENDED": "SUSPENDING", "RUNNING": "STAGING"}[status]
	ssdNote := func(r *action.Request, in *compute.Instance) string {
		n := localSSDs(in)
		if n == 0 || status == "RUNNING" {
			return ""
		}
		if r.Bool("discard_local_ssd", false) {
			return fmt.Sprintf("%d Local SSD: its data is discarded (discardLocalSsd=true)", n)
		}
		return fmt.Sprintf("%d Local SSD: its data is kept (discardLocalSsd=false; set discard_local_ssd = true to drop it)", n)
	}
	plan := func(ctx context.Context, r *action.Request) (*action.Change, error) {
		_, ir, in, err := p.instance(ctx, r)
		if err != nil {
			return nil, err
		}
		ch := &action.Change{Summary: fmt.Sprintf("%s %s (now %s)", verb, ir.name, strings.ToLower(in.Status)), Targets: []string{ir.assetID()},
			Outputs: map[string]cty.Value{"status": cty.StringVal(out)}}
		if note := ssdNote(r, in); note != "" {
			ch.Details = append(ch.Details, ir.name+" has "+note)
		}
		switch {
		case settled(in.Status):
			ch.NoOp, ch.Summary = true, fmt.Sprintf("%s is already %s", ir.name, strings.ToLower(in.Status))
		case in.Status == transitional:
			ch.Summary = fmt.Sprintf("wait until %s, now %s, is %s", ir.name, strings.ToLower(in.Status), out)
		}
		return ch, nil
	}
	apply := func(ctx context.Context, r *action.Request) (*action.Result, error) {
		s, ir, in, err := p.instance(ctx, r)
		if err != nil {
			return nil, err
		}
		switch {
		case settled(in.Status):
		case in.Status == transitional:
			// An operation is taking the instance there: wait for it
			// rather than start another. Under Recover this is not done.
			if writesRefused(ctx) {
				return nil, errWouldWrite
			}
			if err := s.waitStatus(ctx, ir, status); err != nil {
				return nil, fmt.Errorf("%s %s: %w", verb, ir.name, err)
			}
		default:
			ssd, discard := localSSDs(in) > 0, r.Bool("discard_local_ssd", false)
			err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
				switch status {
				case "TERMINATED":
					c := s.cmp.Instances.Stop(ir.project, ir.zone, ir.name).RequestId(id)
					if ssd {
						c = c.DiscardLocalSsd(discard)
					}
					return c.Context(ctx).Do()
				case "SUSPENDED":
					c := s.cmp.Instances.Suspend(ir.project, ir.zone, ir.name).RequestId(id)
					if ssd {
						c = c.DiscardLocalSsd(discard)
					}
					return c.Context(ctx).Do()
				}
				return s.cmp.Instances.Resume(ir.project, ir.zone, ir.name).RequestId(id).Context(ctx).Do()
			})
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", verb, ir.name, err)
			}
		}
		summary := ir.name + " " + out
		if note := ssdNote(r, in); note != "" {
			summary += "; " + note
		}
		return &action.Result{Summary: summary, Targets: []string{ir.assetID()}, Outputs: map[string]cty.Value{"status": cty.StringVal(out)}}, nil
	}
	return plan, apply
}

// waitStatus looks at an instance until it has the status, for as long as
// an operation may take.
func (s *session) waitStatus(ctx context.Context, ir ref, status string) error {
	deadline := time.Now().Add(s.opts.Timeout)
	for {
		var in *compute.Instance
		if err := s.do(ctx, func() error {
			var err error
			in, err = s.cmp.Instances.Get(ir.project, ir.zone, ir.name).Context(ctx).Do()
			return err
		}); err != nil {
			return err
		}
		if in.Status == status {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still %s after %s, not %s", in.Status, s.opts.Timeout, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.opts.PollInterval):
		}
	}
}

// deleter makes the plan and apply of a delete action. A target already
// gone is a no-op, and a 404 from the delete itself means an earlier
// attempt got there first. label names the kind in summaries ("" or
// "firewall ").
func (p *Provider) deleter(arg, label string, find func(context.Context, *action.Request) (*session, ref, error),
	del func(ctx context.Context, s *session, r ref, requestID string) (*compute.Operation, error)) (planFn, applyFn) {
	plan := func(ctx context.Context, r *action.Request) (*action.Change, error) {
		_, ref, err := find(ctx, r)
		if action.IsNotFound(err) {
			return &action.Change{Summary: r.Str(arg) + " is already gone", NoOp: true}, nil
		}
		if err != nil {
			return nil, err
		}
		return &action.Change{Summary: "delete " + label + ref.name, Targets: []string{ref.assetID()}, Deletes: []string{ref.assetID()}}, nil
	}
	apply := func(ctx context.Context, r *action.Request) (*action.Result, error) {
		s, ref, err := find(ctx, r)
		if action.IsNotFound(err) {
			return &action.Result{Summary: "already deleted", Outputs: map[string]cty.Value{"deleted": cty.StringVal(r.Str(arg))}}, nil
		}
		if err != nil {
			return nil, err
		}
		if err := s.mutate(ctx, func(id string) (*compute.Operation, error) { return del(ctx, s, ref, id) }); err != nil && !isNotFound(err) {
			return nil, err
		}
		return &action.Result{Summary: "deleted " + label + ref.name, Targets: []string{ref.assetID()}, Deletes: []string{ref.assetID()},
			Outputs: map[string]cty.Value{"deleted": cty.StringVal(ref.assetID())}}, nil
	}
	return plan, apply
}

func (p *Provider) deleteInstance() (planFn, applyFn) {
	plan, apply := p.deleter("instance", "", func(ctx context.Context, r *action.Request) (*session, ref, error) {
		s, ir, _, err := p.instance(ctx, r)
		return s, ir, err
	}, func(ctx context.Context, s *session, ir ref, id string) (*compute.Operation, error) {
		return s.cmp.Instances.Delete(ir.project, ir.zone, ir.name).RequestId(id).Context(ctx).Do()
	})
	// Deleting an instance needs a snapshot or content hash of each disk.
	withNeeds := func(ctx context.Context, r *action.Request) (*action.Change, error) {
		ch, err := plan(ctx, r)
		if err != nil || ch.NoOp {
			return ch, err
		}
		_, _, in, err := p.instance(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, d := range diskRefs(in) {
			ch.Requires = append(ch.Requires, action.DiskNeed(d.assetID(), d.name, "disk"))
		}
		return ch, nil
	}
	return withNeeds, apply
}

func (p *Provider) deleteFirewall() (planFn, applyFn) {
	return p.deleter("firewall", "firewall ", func(ctx context.Context, r *action.Request) (*session, ref, error) {
		s, fr, _, err := p.firewall(ctx, r)
		return s, fr, err
	}, func(ctx context.Context, s *session, fr ref, id string) (*compute.Operation, error) {
		return s.cmp.Firewalls.Delete(fr.project, fr.name).RequestId(id).Context(ctx).Do()
	})
}

// ---- firewalls ----

func (p *Provider) firewall(ctx context.Context, r *action.Request) (*session, ref, *compute.Firewall, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, ref{}, nil, err
	}
	fr, err := parse(r.Str("firewall"), "firewalls")
	if err != nil {
		return nil, ref{}, nil, err
	}
	fw, err := s.firewallGet(ctx, fr.project, fr.name)
	if isNotFound(err) {
		return s, fr, nil, &action.NotFoundError{What: "firewall", ID: fr.assetID()}
	}
	return s, fr, fw, err
}

// restriction checks the arguments of restrict_firewall against the rule
// (see restrict.Check).
func restriction(fr ref, fw *compute.Firewall, with []string) error {
	if fw.Direction == "EGRESS" {
		return fmt.Errorf("firewall %s is an egress rule: restrict_firewall replaces source ranges of ingress rules", fr.name)
	}
	return restrict.Check(fr.name, with)
}

func (p *Provider) restrictPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	_, fr, fw, err := p.firewall(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := restriction(fr, fw, r.Strings("source_ranges")); err != nil {
		return nil, err
	}
	next := restrict.Sources(fw.SourceRanges, r.Strings("source_ranges"))
	ch := &action.Change{Summary: fmt.Sprintf("restrict %s: sources %s -> %s", fr.name, strings.Join(fw.SourceRanges, ", "), strings.Join(next, ", ")),
		Targets: []string{fr.assetID()}, Outputs: map[string]cty.Value{"previous_source_ranges": action.StringList(fw.SourceRanges), "source_ranges": action.StringList(next)}}
	if !restrict.Open(fw.SourceRanges) {
		ch.NoOp, ch.Summary = true, fr.name+" is not open to the internet"
		ch.Outputs["source_ranges"] = action.StringList(fw.SourceRanges)
	}
	return ch, nil
}

func (p *Provider) restrictApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, fr, fw, err := p.firewall(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := restriction(fr, fw, r.Strings("source_ranges")); err != nil {
		return nil, err
	}
	prev := fw.SourceRanges
	next := prev
	if restrict.Open(prev) {
		next = restrict.Sources(prev, r.Strings("source_ranges"))
		if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Firewalls.Patch(fr.project, fr.name, &compute.Firewall{SourceRanges: next, ForceSendFields: []string{"SourceRanges"}}).RequestId(id).Context(ctx).Do()
		}); err != nil {
			return nil, err
		}
	}
	return &action.Result{Summary: fmt.Sprintf("%s now allows %s", fr.name, strings.Join(next, ", ")), Targets: []string{fr.assetID()},
		Outputs: map[string]cty.Value{"previous_source_ranges": action.StringList(prev), "source_ranges": action.StringList(next)}}, nil
}

// ---- ssh keys ----

var sshKeys = map[string]bool{"ssh-keys": true, "sshKeys": true}

func countKeys(items []*compute.MetadataItems) int {
	n := 0
	for _, it := range items {
		if sshKeys[it.Key] && it.Value != nil {
			for _, line := range strings.Split(*it.Value, "\n") {
				if strings.TrimSpace(line) != "" {
					n++
				}
			}
		}
	}
	return n
}

func withoutKeys(items []*compute.MetadataItems) []*compute.MetadataItems {
	var out []*compute.MetadataItems
	for _, it := range items {
		if !sshKeys[it.Key] {
			out = append(out, it)
		}
	}
	return out
}

func (p *Provider) projectMetadata(ctx context.Context, s *session, project string) (*compute.Metadata, error) {
	var pr *compute.Project
	err := s.do(ctx, func() error {
		var err error
		pr, err = s.cmp.Projects.Get(project).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, err
	}
	if pr.CommonInstanceMetadata == nil {
		return &compute.Metadata{}, nil
	}
	return pr.CommonInstanceMetadata, nil
}

func (p *Provider) sshPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	n := 0
	if in.Metadata != nil {
		n = countKeys(in.Metadata.Items)
	}
	summary := fmt.Sprintf("remove %d SSH keys from %s", n, ir.name)
	if r.Bool("project_metadata", false) {
		md, err := p.projectMetadata(ctx, s, ir.project)
		if err != nil {
			return nil, err
		}
		pn := countKeys(md.Items)
		n += pn
		summary += fmt.Sprintf(" and %d from project %s", pn, ir.project)
	}
	return &action.Change{Summary: summary, Targets: []string{ir.assetID()}, NoOp: n == 0}, nil
}

func (p *Provider) sshApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	removed := 0
	if in.Metadata != nil && countKeys(in.Metadata.Items) > 0 {
		removed += countKeys(in.Metadata.Items)
		if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Instances.SetMetadata(ir.project, ir.zone, ir.name, &compute.Metadata{Fingerprint: in.Metadata.Fingerprint,
				Items: withoutKeys(in.Metadata.Items), ForceSendFields: []string{"Items"}}).RequestId(id).Context(ctx).Do()
		}); err != nil {
			return nil, err
		}
	}
	if r.Bool("project_metadata", false) {
		md, err := p.projectMetadata(ctx, s, ir.project)
		if err != nil {
			return nil, err
		}
		if n := countKeys(md.Items); n > 0 {
			removed += n
			if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
				return s.cmp.Projects.SetCommonInstanceMetadata(ir.project, &compute.Metadata{Fingerprint: md.Fingerprint, Items: withoutKeys(md.Items),
					ForceSendFields: []string{"Items"}}).RequestId(id).Context(ctx).Do()
			}); err != nil {
				return nil, err
			}
		}
	}
	return &action.Result{Summary: fmt.Sprintf("removed %d SSH keys", removed), Targets: []string{ir.assetID()},
		Outputs: map[string]cty.Value{"removed_keys": cty.NumberVal(new(big.Float).SetInt64(int64(removed)))}}, nil
}

// ---- service account keys ----

func keyName(s string) (string, error) {
	n := strings.TrimPrefix(s, "//iam.googleapis.com/")
	parts := strings.Split(n, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "serviceAccounts" || parts[4] != "keys" {
		return "", fmt.Errorf("%q is not a service account key: want its asset id or projects/P/serviceAccounts/SA/keys/K", s)
	}
	return n, nil
}

func (p *Provider) serviceAccountKey(ctx context.Context, r *action.Request) (*session, string, *iam.ServiceAccountKey, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	name, err := keyName(r.Str("key"))
	if err != nil {
		return nil, "", nil, err
	}
	var k *iam.ServiceAccountKey
	err = s.do(ctx, func() error {
		var err error
		k, err = s.iam.Projects.ServiceAccounts.Keys.Get(name).Context(ctx).Do()
		return err
	})
	if isNotFound(err) {
		return nil, "", nil, &action.NotFoundError{What: "service account key", ID: name}
	}
	return s, name, k, err
}

func (p *Provider) keyPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	_, name, k, err := p.serviceAccountKey(ctx, r)
	if err != nil {
		return nil, err
	}
	ch := &action.Change{Summary: "disable key " + name, Targets: []string{"//iam.googleapis.com/" + name}}
	if k.Disabled {
		ch.NoOp, ch.Summary = true, "key "+name+" is already disabled"
	}
	return ch, nil
}

func (p *Provider) keyApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, name, k, err := p.serviceAccountKey(ctx, r)
	if err != nil {
		return nil, err
	}
	if !k.Disabled {
		// The request message is an object: a nil one goes out as null.
		if err := s.mutateIAM(ctx, func() error {
			_, err := s.iam.Projects.ServiceAccounts.Keys.Disable(name, &iam.DisableServiceAccountKeyRequest{}).Context(ctx).Do()
			return err
		}); err != nil {
			return nil, err
		}
	}
	return &action.Result{Summary: "disabled key " + name, Targets: []string{"//iam.googleapis.com/" + name},
		Outputs: map[string]cty.Value{"key": cty.StringVal(name), "disabled": cty.True}}, nil
}

// ---- recovery ----

// zoneRegion is the region of a zone: europe-west1-b is in europe-west1.
func zoneRegion(zone string) string {
	if i := strings.LastIndex(zone, "-"); i > 0 {
		return zone[:i]
	}
	return zone
}

// subnetworkPath reads a subnetwork's asset id, self link or path.
func subnetworkPath(s string) (string, error) {
	p := linkPath(s)
	parts := strings.Split(p, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "regions" || parts[4] != "subnetworks" || slices.Contains(parts, "") {
		return "", fmt.Errorf("%q is not a subnetwork reference: want its asset id, self link or projects/P/regions/R/subnetworks/S", s)
	}
	return p, nil
}

// recoveryInterface decides the network interface of a recovered
// instance. NetworkInterface.subnetwork: "If the network is in custom
// subnet mode, specifying the subnetwork is required." A subnetwork given
// is used as it is; otherwise the network is read, and on a custom-mode
// network its one subnetwork in the zone's region is taken (several are
// a choice vigil does not make).
func (s *session) recoveryInterface(ctx context.Context, project, zone, network, subnetwork string) (*compute.NetworkInterface, string, error) {
	region := zoneRegion(zone)
	if subnetwork != "" {
		sp, err := subnetworkPath(subnetwork)
		if err != nil {
			return nil, "", err
		}
		if parts := strings.Split(sp, "/"); parts[3] != region {
			return nil, "", fmt.Errorf("subnetwork %s is in region %s, not %s, the region of zone %s", sp, parts[3], region, zone)
		}
		return &compute.NetworkInterface{Subnetwork: "https://www.googleapis.com/compute/v1/" + sp}, "subnetwork " + sp, nil
	}
	if network == "" {
		network = "projects/" + project + "/global/networks/default"
	}
	nr, err := parse(network, "networks")
	if err != nil {
		return nil, "", err
	}
	var n *compute.Network
	err = s.do(ctx, func() error {
		var err error
		n, err = s.cmp.Networks.Get(nr.project, nr.name).Context(ctx).Do()
		return err
	})
	if isNotFound(err) {
		return nil, "", &action.NotFoundError{What: "network", ID: nr.assetID()}
	}
	if err != nil {
		return nil, "", err
	}
	ni := &compute.NetworkInterface{Network: "https://www.googleapis.com/compute/v1/" + nr.path()}
	if n.AutoCreateSubnetworks {
		return ni, "network " + nr.path(), nil
	}
	var in []string
	for _, sn := range n.Subnetworks {
		if p := linkPath(sn); len(strings.Split(p, "/")) == 6 && strings.Split(p, "/")[3] == region {
			in = append(in, p)
		}
	}
	switch len(in) {
	case 0:
		return nil, "", fmt.Errorf("network %s is in custom subnet mode and has no subnetwork in %s, the region of zone %s: create one, or choose another zone or network", nr.path(), region, zone)
	case 1:
		ni.Subnetwork = "https://www.googleapis.com/compute/v1/" + in[0]
		return ni, "subnetwork " + in[0], nil
	}
	return nil, "", fmt.Errorf("network %s is in custom subnet mode with %d subnetworks in %s (%s): name one with subnetwork", nr.path(), len(in), region, strings.Join(in, ", "))
}

func (p *Provider) createPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	sr, err := parse(r.Str("snapshot"), "snapshots")
	if err != nil {
		return nil, err
	}
	project := r.Str("project")
	if project == "" {
		project = sr.project
	}
	ir := ref{project: project, zone: r.Str("zone"), coll: "instances", name: r.Str("name")}
	_, where, err := s.recoveryInterface(ctx, project, ir.zone, r.Str("network"), r.Str("subnetwork"))
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("create instance %s in %s from snapshot %s, on %s", ir.name, ir.zone, sr.name, where), Targets: []string{sr.assetID(), ir.assetID()},
		Outputs: map[string]cty.Value{"instance": cty.StringVal(ir.assetID())}}, nil
}

func (p *Provider) createApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	sr, err := parse(r.Str("snapshot"), "snapshots")
	if err != nil {
		return nil, err
	}
	project := r.Str("project")
	if project == "" {
		project = sr.project
	}
	zone := r.Str("zone")
	ir := ref{project: project, zone: zone, coll: "instances", name: r.Str("name")}
	var existing *compute.Instance
	err = s.do(ctx, func() error {
		var err error
		existing, err = s.cmp.Instances.Get(project, zone, ir.name).Context(ctx).Do()
		return err
	})
	switch {
	case err == nil && matchesStep(existing.Labels, r):
		return &action.Result{Summary: fmt.Sprintf("%s already created from %s", ir.name, sr.name), Targets: []string{sr.assetID(), ir.assetID()},
			Outputs: map[string]cty.Value{"instance": cty.StringVal(ir.assetID())}}, nil
	case err == nil:
		return nil, fmt.Errorf("instance %s already exists and was not made by this step: choose another name", ir.path())
	case !isNotFound(err):
		return nil, err
	}
	ni, _, err := s.recoveryInterface(ctx, project, zone, r.Str("network"), r.Str("subnetwork"))
	if err != nil {
		return nil, err
	}
	labels := stepLabels(r)
	for k, v := range r.StringMap("labels") {
		labels[k] = labelValue(v)
	}
	in := &compute.Instance{Name: ir.name, MachineType: "zones/" + zone + "/machineTypes/e2-medium", Labels: labels,
		Disks: []*compute.AttachedDisk{{Boot: true, AutoDelete: true, InitializeParams: &compute.AttachedDiskInitializeParams{
			SourceSnapshot: "https://www.googleapis.com/compute/v1/" + sr.path()}}},
		NetworkInterfaces: []*compute.NetworkInterface{ni}}
	err = s.mutate(ctx, func(id string) (*compute.Operation, error) {
		return s.cmp.Instances.Insert(project, zone, in).RequestId(id).Context(ctx).Do()
	})
	if err != nil && !isConflict(err) {
		return nil, err
	}
	return &action.Result{Summary: fmt.Sprintf("created %s from %s", in.Name, sr.name), Targets: []string{sr.assetID(), ir.assetID()},
		Outputs: map[string]cty.Value{"instance": cty.StringVal(ir.assetID())}}, nil
}
