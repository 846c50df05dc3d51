package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/zclconf/go-cty/cty"
	compute "google.golang.org/api/compute/v1"

	"github.com/vigil-ir/vigil/engine/action"
)

// QuarantineTag is the network tag isolated instances carry.
const QuarantineTag = "vigil-quarantine"

// isolationKey is the instance metadata entry that records what isolation
// changed, so release can undo it and a re-run does not overwrite it.
const isolationKey = "vigil-isolation"

type isolationRecord struct {
	Run                  string   `json:"run"`
	PreviousTags         []string `json:"previous_tags"`
	RemovedAccessConfigs []string `json:"removed_access_configs"`
}

type rule struct {
	name string
	fw   *compute.Firewall
}

// quarantineRules are the rules isolation ensures in the network's project:
// deny everything in and out for the tag at priority 1, and when asked,
// allow the forensics ranges in at priority 0 (which wins over the deny).
func quarantineRules(netLink string, allow []string) (project string, rules []rule) {
	net, _ := parse(netLink, "networks")
	project = net.project
	name := func(kind string) string {
		n := "vigil-quarantine-" + kind + "-" + net.name
		if len(n) > 63 {
			n = resourceName("vigil-q-"+kind+"-", net.project, net.name)
		}
		return n
	}
	all := []*compute.FirewallDenied{{IPProtocol: "all"}}
	link := "https://www.googleapis.com/compute/v1/" + net.path()
	mk := func(kind, dir string, ranges []string) rule {
		fw := &compute.Firewall{Name: name(kind), Network: link, Direction: dir, Priority: 1, Denied: all, TargetTags: []string{QuarantineTag},
			Description: "vigil: isolates instances tagged " + QuarantineTag}
		if dir == "INGRESS" {
			fw.SourceRanges = ranges
		} else {
			fw.DestinationRanges = ranges
		}
		return rule{fw.Name, fw}
	}
	rules = []rule{
		mk("deny-in", "INGRESS", []string{"0.0.0.0/0"}), mk("deny-in-v6", "INGRESS", []string{"::/0"}),
		mk("deny-out", "EGRESS", []string{"0.0.0.0/0"}), mk("deny-out-v6", "EGRESS", []string{"::/0"}),
	}
	if len(allow) > 0 {
		rules = append(rules, rule{name("allow-forensics"), &compute.Firewall{Name: name("allow-forensics"), Network: link, Direction: "INGRESS",
			Priority: 0, Allowed: []*compute.FirewallAllowed{{IPProtocol: "all"}}, SourceRanges: allow, TargetTags: []string{QuarantineTag},
			Description: "vigil: lets the forensics workstations reach quarantined instances"}})
	}
	return project, rules
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

func accessConfigs(in *compute.Instance) []string {
	var out []string
	for _, ni := range in.NetworkInterfaces {
		for _, ac := range ni.AccessConfigs {
			out = append(out, fmt.Sprintf("%s/%s (%s)", ni.Name, ac.Name, ac.NatIP))
		}
	}
	return out
}

func (p *Provider) isolatePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, ir, in, err := p.instance(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(in.NetworkInterfaces) == 0 {
		return nil, fmt.Errorf("instance %s has no network interface", ir.name)
	}
	project, rules := quarantineRules(in.NetworkInterfaces[0].Network, r.Strings("allow_ranges"))
	missing := 0
	for _, ru := range rules {
		_, err := s.cmp.Firewalls.Get(project, ru.name).Context(ctx).Do()
		if isNotFound(err) {
			missing++
		} else if err != nil {
			return nil, err
		}
	}
	removeAccess := r.Bool("remove_external_access", true)
	tags := tagsOf(in)
	ch := &action.Change{Targets: []string{ir.assetID()}}
	if missing == 0 && len(tags) == 1 && tags[0] == QuarantineTag && (!removeAccess || len(accessConfigs(in)) == 0) {
		ch.NoOp, ch.Summary = true, ir.name+" is already isolated"
		return ch, nil
	}
	ch.Summary = fmt.Sprintf("tag %s %s (replacing %s) behind deny-all rules in project %s", ir.name, QuarantineTag, strings.Join(tags, ", "), project)
	for _, ru := range rules {
		ch.Details = append(ch.Details, fmt.Sprintf("ensure firewall %s (%s, priority %d)", ru.name, strings.ToLower(ru.fw.Direction), ru.fw.Priority))
	}
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
	if len(in.NetworkInterfaces) == 0 {
		return nil, fmt.Errorf("instance %s has no network interface", ir.name)
	}
	project, rules := quarantineRules(in.NetworkInterfaces[0].Network, r.Strings("allow_ranges"))
	var names []string
	for _, ru := range rules {
		names = append(names, ru.name)
		_, err := s.cmp.Firewalls.Get(project, ru.name).Context(ctx).Do()
		if err == nil {
			continue
		}
		if !isNotFound(err) {
			return nil, err
		}
		var op *compute.Operation
		err = s.do(ctx, func() error {
			op, err = s.cmp.Firewalls.Insert(project, ru.fw).Context(ctx).Do()
			return err
		})
		if err != nil && !isConflict(err) {
			return nil, fmt.Errorf("create firewall %s: %w", ru.name, err)
		}
		if err := s.wait(ctx, op); err != nil {
			return nil, err
		}
	}
	removeAccess := r.Bool("remove_external_access", true)
	rec, ok := record(in)
	if !ok {
		rec = &isolationRecord{Run: r.RunID, PreviousTags: tagsOf(in)}
		if removeAccess {
			rec.RemovedAccessConfigs = accessConfigs(in)
		}
		raw, _ := json.Marshal(rec)
		md := &compute.Metadata{}
		if in.Metadata != nil {
			md.Fingerprint, md.Items = in.Metadata.Fingerprint, in.Metadata.Items
		}
		v := string(raw)
		md.Items = append(md.Items, &compute.MetadataItems{Key: isolationKey, Value: &v})
		if err := s.call(ctx, func() (*compute.Operation, error) {
			return s.cmp.Instances.SetMetadata(ir.project, ir.zone, ir.name, md).Context(ctx).Do()
		}); err != nil {
			return nil, fmt.Errorf("record the isolation on %s: %w", ir.name, err)
		}
	}
	if tags := tagsOf(in); !(len(tags) == 1 && tags[0] == QuarantineTag) {
		fp := ""
		if in.Tags != nil {
			fp = in.Tags.Fingerprint
		}
		if err := s.call(ctx, func() (*compute.Operation, error) {
			return s.cmp.Instances.SetTags(ir.project, ir.zone, ir.name, &compute.Tags{Items: []string{QuarantineTag}, Fingerprint: fp}).Context(ctx).Do()
		}); err != nil {
			return nil, fmt.Errorf("tag %s: %w", ir.name, err)
		}
	}
	if removeAccess {
		for _, ni := range in.NetworkInterfaces {
			for _, ac := range ni.AccessConfigs {
				if err := s.call(ctx, func() (*compute.Operation, error) {
					return s.cmp.Instances.DeleteAccessConfig(ir.project, ir.zone, ir.name, ac.Name, ni.Name).Context(ctx).Do()
				}); err != nil {
					return nil, fmt.Errorf("remove external access %s/%s: %w", ni.Name, ac.Name, err)
				}
			}
		}
	}
	return &action.Result{Summary: fmt.Sprintf("%s isolated behind %d rules", ir.name, len(names)), Targets: []string{ir.assetID()},
		Outputs: map[string]cty.Value{"quarantine_tag": cty.StringVal(QuarantineTag), "firewall_rules": action.StringList(names),
			"previous_tags": action.StringList(rec.PreviousTags), "removed_access_configs": action.StringList(rec.RemovedAccessConfigs)}}, nil
}

// call runs a mutating compute call with retries and waits for its
// operation.
func (s *session) call(ctx context.Context, fn func() (*compute.Operation, error)) error {
	var op *compute.Operation
	err := s.do(ctx, func() error {
		var err error
		op, err = fn()
		return err
	})
	if err != nil {
		return err
	}
	return s.wait(ctx, op)
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
	if err := s.call(ctx, func() (*compute.Operation, error) {
		return s.cmp.Instances.SetTags(ir.project, ir.zone, ir.name, &compute.Tags{Items: rec.PreviousTags, Fingerprint: fp}).Context(ctx).Do()
	}); err != nil {
		return nil, err
	}
	md := &compute.Metadata{Fingerprint: in.Metadata.Fingerprint}
	for _, it := range in.Metadata.Items {
		if it.Key != isolationKey {
			md.Items = append(md.Items, it)
		}
	}
	if err := s.call(ctx, func() (*compute.Operation, error) {
		return s.cmp.Instances.SetMetadata(ir.project, ir.zone, ir.name, md).Context(ctx).Do()
	}); err != nil {
		return nil, err
	}
	return &action.Result{Summary: ir.name + " released", Targets: []string{ir.assetID()}, Outputs: map[string]cty.Value{"restored_tags": action.StringList(rec.PreviousTags)}}, nil
}

// ---- instance state ----

func (p *Provider) state(name, status string) action.Action {
	verb := map[string]string{"TERMINATED": "stop", "SUSPENDED": "suspend", "RUNNING": "resume"}[status]
	out := strings.ToLower(status)
	settled := func(st string) bool {
		switch status {
		case "TERMINATED":
			return st == "TERMINATED" || st == "STOPPING"
		case "SUSPENDED":
			return st == "SUSPENDED" || st == "SUSPENDING"
		}
		return st == "RUNNING"
	}
	return &action.Func{S: action.MustSpec(name),
		PlanFn: func(ctx context.Context, r *action.Request) (*action.Change, error) {
			_, ir, in, err := p.instance(ctx, r)
			if err != nil {
				return nil, classify(err)
			}
			ch := &action.Change{Summary: fmt.Sprintf("%s %s (now %s)", verb, ir.name, strings.ToLower(in.Status)), Targets: []string{ir.assetID()},
				Outputs: map[string]cty.Value{"status": cty.StringVal(out)}}
			if settled(in.Status) {
				ch.NoOp, ch.Summary = true, fmt.Sprintf("%s is already %s", ir.name, strings.ToLower(in.Status))
			}
			return ch, nil
		},
		ApplyFn: func(ctx context.Context, r *action.Request) (*action.Result, error) {
			s, ir, in, err := p.instance(ctx, r)
			if err != nil {
				return nil, classify(err)
			}
			if !settled(in.Status) {
				err := s.call(ctx, func() (*compute.Operation, error) {
					switch status {
					case "TERMINATED":
						return s.cmp.Instances.Stop(ir.project, ir.zone, ir.name).Context(ctx).Do()
					case "SUSPENDED":
						return s.cmp.Instances.Suspend(ir.project, ir.zone, ir.name).Context(ctx).Do()
					}
					return s.cmp.Instances.Resume(ir.project, ir.zone, ir.name).Context(ctx).Do()
				})
				if err != nil {
					return nil, classify(fmt.Errorf("%s %s: %w", verb, ir.name, err))
				}
			}
			return &action.Result{Summary: ir.name + " " + out, Targets: []string{ir.assetID()}, Outputs: map[string]cty.Value{"status": cty.StringVal(out)}}, nil
		},
	}
}

// deleter makes the plan and apply of a delete action. A target already
// gone is a no-op, and a 404 from the delete itself means an earlier
// attempt got there first. label names the kind in summaries ("" or
// "firewall ").
func (p *Provider) deleter(arg, label string, find func(context.Context, *action.Request) (*session, ref, error),
	del func(ctx context.Context, s *session, r ref) (*compute.Operation, error)) (planFn, applyFn) {
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
		if err := s.call(ctx, func() (*compute.Operation, error) { return del(ctx, s, ref) }); err != nil && !isNotFound(err) {
			return nil, err
		}
		return &action.Result{Summary: "deleted " + label + ref.name, Targets: []string{ref.assetID()}, Deletes: []string{ref.assetID()},
			Outputs: map[string]cty.Value{"deleted": cty.StringVal(ref.assetID())}}, nil
	}
	return plan, apply
}

func (p *Provider) deleteInstance() (planFn, applyFn) {
	return p.deleter("instance", "", func(ctx context.Context, r *action.Request) (*session, ref, error) {
		s, ir, _, err := p.instance(ctx, r)
		return s, ir, err
	}, func(ctx context.Context, s *session, ir ref) (*compute.Operation, error) {
		return s.cmp.Instances.Delete(ir.project, ir.zone, ir.name).Context(ctx).Do()
	})
}

func (p *Provider) deleteFirewall() (planFn, applyFn) {
	return p.deleter("firewall", "firewall ", func(ctx context.Context, r *action.Request) (*session, ref, error) {
		s, fr, _, err := p.firewall(ctx, r)
		return s, fr, err
	}, func(ctx context.Context, s *session, fr ref) (*compute.Operation, error) {
		return s.cmp.Firewalls.Delete(fr.project, fr.name).Context(ctx).Do()
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
	var fw *compute.Firewall
	err = s.do(ctx, func() error {
		fw, err = s.cmp.Firewalls.Get(fr.project, fr.name).Context(ctx).Do()
		return err
	})
	if isNotFound(err) {
		return s, fr, nil, &action.NotFoundError{What: "firewall", ID: fr.assetID()}
	}
	return s, fr, fw, err
}

func world(r string) bool { return r == "0.0.0.0/0" || r == "::/0" }

func restricted(current, with []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range append(append([]string{}, current...), with...) {
		if !world(r) && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func hasWorld(ranges []string) bool {
	for _, r := range ranges {
		if world(r) {
			return true
		}
	}
	return false
}

func (p *Provider) restrictPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	_, fr, fw, err := p.firewall(ctx, r)
	if err != nil {
		return nil, err
	}
	next := restricted(fw.SourceRanges, r.Strings("source_ranges"))
	ch := &action.Change{Summary: fmt.Sprintf("restrict %s: sources %s -> %s", fr.name, strings.Join(fw.SourceRanges, ", "), strings.Join(next, ", ")),
		Targets: []string{fr.assetID()}, Outputs: map[string]cty.Value{"previous_source_ranges": action.StringList(fw.SourceRanges), "source_ranges": action.StringList(next)}}
	if !hasWorld(fw.SourceRanges) {
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
	prev := fw.SourceRanges
	next := prev
	if hasWorld(prev) {
		next = restricted(prev, r.Strings("source_ranges"))
		if err := s.call(ctx, func() (*compute.Operation, error) {
			return s.cmp.Firewalls.Patch(fr.project, fr.name, &compute.Firewall{SourceRanges: next}).Context(ctx).Do()
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
		if err := s.call(ctx, func() (*compute.Operation, error) {
			return s.cmp.Instances.SetMetadata(ir.project, ir.zone, ir.name, &compute.Metadata{Fingerprint: in.Metadata.Fingerprint, Items: withoutKeys(in.Metadata.Items)}).Context(ctx).Do()
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
			if err := s.call(ctx, func() (*compute.Operation, error) {
				return s.cmp.Projects.SetCommonInstanceMetadata(ir.project, &compute.Metadata{Fingerprint: md.Fingerprint, Items: withoutKeys(md.Items)}).Context(ctx).Do()
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

func (p *Provider) keyPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	name, err := keyName(r.Str("key"))
	if err != nil {
		return nil, err
	}
	k, err := s.iam.Projects.ServiceAccounts.Keys.Get(name).Context(ctx).Do()
	if isNotFound(err) {
		return nil, &action.NotFoundError{What: "service account key", ID: name}
	}
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
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	name, err := keyName(r.Str("key"))
	if err != nil {
		return nil, err
	}
	var k *iamKey
	err = s.do(ctx, func() error {
		got, err := s.iam.Projects.ServiceAccounts.Keys.Get(name).Context(ctx).Do()
		if err == nil {
			k = &iamKey{disabled: got.Disabled}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !k.disabled {
		if err := s.do(ctx, func() error {
			_, err := s.iam.Projects.ServiceAccounts.Keys.Disable(name, nil).Context(ctx).Do()
			return err
		}); err != nil {
			return nil, err
		}
	}
	return &action.Result{Summary: "disabled key " + name, Targets: []string{"//iam.googleapis.com/" + name},
		Outputs: map[string]cty.Value{"key": cty.StringVal(name), "disabled": cty.True}}, nil
}

type iamKey struct{ disabled bool }

// ---- recovery ----

func (p *Provider) createPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	sr, err := parse(r.Str("snapshot"), "snapshots")
	if err != nil {
		return nil, err
	}
	project := r.Str("project")
	if project == "" {
		project = sr.project
	}
	ir := ref{project: project, zone: r.Str("zone"), coll: "instances", name: r.Str("name")}
	return &action.Change{Summary: fmt.Sprintf("create instance %s in %s from snapshot %s", ir.name, ir.zone, sr.name), Targets: []string{sr.assetID(), ir.assetID()},
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
	network := r.Str("network")
	if network == "" {
		network = "global/networks/default"
	}
	labels := stepLabels(r)
	for k, v := range r.StringMap("labels") {
		labels[k] = labelValue(v)
	}
	in := &compute.Instance{Name: r.Str("name"), MachineType: "zones/" + zone + "/machineTypes/e2-medium", Labels: labels,
		Disks: []*compute.AttachedDisk{{Boot: true, AutoDelete: true, InitializeParams: &compute.AttachedDiskInitializeParams{
			SourceSnapshot: "https://www.googleapis.com/compute/v1/" + sr.path()}}},
		NetworkInterfaces: []*compute.NetworkInterface{{Network: network}}}
	err = s.call(ctx, func() (*compute.Operation, error) { return s.cmp.Instances.Insert(project, zone, in).Context(ctx).Do() })
	if err != nil && !isConflict(err) {
		return nil, err
	}
	ir := ref{project: project, zone: zone, coll: "instances", name: in.Name}
	return &action.Result{Summary: fmt.Sprintf("created %s from %s", in.Name, sr.name), Targets: []string{sr.assetID(), ir.assetID()},
		Outputs: map[string]cty.Value{"instance": cty.StringVal(ir.assetID())}}, nil
}
