package awsfake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// group returns a security group the request can see.
func (f *Fake) group(reg *Region, id string) *SecurityGroup {
	if g := reg.SecurityGroups[id]; g != nil && f.seen(id) {
		return g
	}
	return nil
}

// snapshot returns a snapshot the request can see.
func (f *Fake) snapshot(reg *Region, id string) *Snapshot {
	if s := reg.Snapshots[id]; s != nil && f.seen(id) {
		return s
	}
	return nil
}

func (f *Fake) authorize(ingress bool) func(*request, form, *Region) {
	return func(req *request, q form, reg *Region) {
		g := f.group(reg, q.get("GroupId"))
		if g == nil {
			f.ec2Error(req, http.StatusBadRequest, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", q.get("GroupId")))
			return
		}
		rules := &g.Egress
		if ingress {
			rules = &g.Ingress
		}
		for _, want := range permsOf(q) {
			for _, p := range *rules {
				if samePorts(p, want) && (overlapAny(p.CIDRs, want.CIDRs) || overlapAny(p.IPv6, want.IPv6) || overlapAny(p.Groups, want.Groups)) {
					f.ec2Error(req, http.StatusBadRequest, "InvalidPermission.Duplicate", "the specified rule already exists")
					return
				}
			}
		}
		*rules = append(*rules, permsOf(q)...)
		f.retrackGroup(reg, g.ID)
		f.ec2OK(req, func(b *xb) { b.bool("return", true) })
	}
}

func overlapAny(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (f *Fake) deleteSecurityGroup(req *request, q form, reg *Region) {
	g := f.group(reg, q.get("GroupId"))
	if g == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", q.get("GroupId")))
		return
	}
	for _, in := range reg.Instances {
		for _, e := range in.ENIs {
			if slices.Contains(e.Groups, g.ID) {
				f.ec2Error(req, http.StatusBadRequest, "DependencyViolation", fmt.Sprintf("resource %s has a dependent object", g.ID))
				return
			}
		}
	}
	delete(reg.SecurityGroups, g.ID)
	f.ec2OK(req, func(b *xb) { b.bool("return", true) })
}

func writeACL(b *xb, acl *NetworkACL) {
	b.el("networkAclId", acl.ID)
	b.el("vpcId", acl.VpcID)
	b.bool("default", acl.Default)
	b.open("entrySet")
	entry := func(n int, egress bool, action string) {
		b.open("item")
		b.int("ruleNumber", n)
		b.el("protocol", "-1")
		b.el("ruleAction", action)
		b.bool("egress", egress)
		b.el("cidrBlock", "0.0.0.0/0")
		b.close("item")
	}
	for _, e := range acl.Entries {
		b.open("item")
		b.int("ruleNumber", e.Number)
		b.el("protocol", e.Protocol)
		b.el("ruleAction", map[bool]string{true: "allow", false: "deny"}[e.Allow])
		b.bool("egress", e.Egress)
		b.el("cidrBlock", e.CIDR)
		if e.Protocol != "-1" {
			b.open("portRange")
			b.int("from", e.From)
			b.int("to", e.To)
			b.close("portRange")
		}
		b.close("item")
	}
	for _, egress := range []bool{false, true} {
		if acl.AllowAll {
			entry(100, egress, "allow")
		}
		entry(32767, egress, "deny")
	}
	b.close("entrySet")
	b.open("associationSet")
	for _, id := range slices.Sorted(maps.Keys(acl.Associations)) {
		b.open("item")
		b.el("networkAclAssociationId", id)
		b.el("networkAclId", acl.ID)
		b.el("subnetId", acl.Associations[id])
		b.close("item")
	}
	b.close("associationSet")
	b.tagSet(acl.Tags)
}

func (f *Fake) describeNetworkAcls(req *request, q form, reg *Region) {
	ids := q.list("NetworkAclId")
	fl := q.filters()
	f.ec2OK(req, func(b *xb) {
		b.open("networkAclSet")
		for _, id := range slices.Sorted(maps.Keys(reg.NetworkACLs)) {
			acl := reg.NetworkACLs[id]
			if !f.seen(id) || len(ids) > 0 && !slices.Contains(ids, id) {
				continue
			}
			if !matches(fl, func(n string) []string {
				switch n {
				case "vpc-id":
					return []string{acl.VpcID}
				case "network-acl-id":
					return []string{acl.ID}
				case "default":
					return []string{fmt.Sprint(acl.Default)}
				case "association.subnet-id":
					return slices.Collect(maps.Values(acl.Associations))
				case "association.association-id":
					return slices.Collect(maps.Keys(acl.Associations))
				}
				return tagAttr(acl.Tags, n)
			}) {
				continue
			}
			b.open("item")
			writeACL(b, acl)
			b.close("item")
		}
		b.close("networkAclSet")
	})
}

func (f *Fake) createNetworkAcl(req *request, q form, reg *Region) {
	vpc := q.get("VpcId")
	if reg.VPCs[vpc] == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidVpcID.NotFound", fmt.Sprintf("The vpc ID '%s' does not exist", vpc))
		return
	}
	acl := &NetworkACL{ID: f.id("acl"), VpcID: vpc, Associations: map[string]string{}, Tags: q.tagSpec("network-acl")}
	reg.NetworkACLs[acl.ID] = acl
	f.made(acl.ID)
	f.ec2OK(req, func(b *xb) {
		b.open("networkAcl")
		writeACL(b, acl)
		b.close("networkAcl")
	})
}

func (f *Fake) replaceNetworkAclAssociation(req *request, q form, reg *Region) {
	to := reg.NetworkACLs[q.get("NetworkAclId")]
	if to == nil || !f.seen(to.ID) {
		f.ec2Error(req, http.StatusBadRequest, "InvalidNetworkAclID.NotFound", fmt.Sprintf("The network ACL '%s' does not exist", q.get("NetworkAclId")))
		return
	}
	assoc := q.get("AssociationId")
	for _, acl := range reg.NetworkACLs {
		subnet, ok := acl.Associations[assoc]
		if !ok {
			continue
		}
		if reg.Subnets[subnet].VpcID != to.VpcID {
			f.ec2Error(req, http.StatusBadRequest, "InvalidParameterValue", "the network ACL and the subnet are in different VPCs")
			return
		}
		delete(acl.Associations, assoc)
		id := strings.Replace(f.id("aclassoc"), "aclassoc-0", "aclassoc-", 1)
		to.Associations[id] = subnet
		f.retrackSubnet(reg, subnet)
		f.ec2OK(req, func(b *xb) { b.el("newAssociationId", id) })
		return
	}
	f.ec2Error(req, http.StatusBadRequest, "InvalidAssociationID.NotFound", fmt.Sprintf("The association ID '%s' does not exist", assoc))
}

func (f *Fake) describeTags(req *request, q form, reg *Region) {
	fl := q.filters()
	ids := fl["resource-id"]
	delete(fl, "resource-id")
	f.ec2OK(req, func(b *xb) {
		b.open("tagSet")
		for _, id := range ids {
			t := tagsOf(reg, id)
			if t == nil || !f.seen(id) {
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(*t)) {
				if keys := fl["key"]; len(keys) > 0 && !slices.Contains(keys, k) {
					continue
				}
				b.open("item")
				b.el("resourceId", id)
				b.el("resourceType", resourceType(id))
				b.el("key", k)
				b.el("value", (*t)[k])
				b.close("item")
			}
		}
		b.close("tagSet")
	})
}

func resourceType(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	return map[string]string{"i": "instance", "vol": "volume", "snap": "snapshot", "sg": "security-group", "vpc": "vpc", "subnet": "subnet", "acl": "network-acl"}[prefix]
}

// key finds a KMS key by id, ARN or alias (alias/NAME or its ARN), in any
// account.
func (f *Fake) key(ref string) *KMSKey {
	if ref == "" {
		return nil
	}
	for _, a := range f.accounts {
		for _, k := range a.KMSKeys {
			if ref == k.ID || ref == k.ARN || k.Alias != "" && (ref == "alias/"+k.Alias || strings.HasSuffix(ref, ":alias/"+k.Alias) && strings.Contains(ref, a.ID)) {
				return k
			}
		}
	}
	return nil
}

// keyAccount is the account a key ARN is in.
func (f *Fake) keyAccount(arn string) string {
	p := strings.Split(arn, ":")
	if len(p) >= 5 {
		return p[4]
	}
	return ""
}

func (f *Fake) mayUse(k *KMSKey, account string) bool {
	return f.keyAccount(k.ARN) == account || slices.Contains(k.Users, account)
}

// ebsKey is the account's AWS managed key for EBS (aws/ebs), made on
// first use as AWS does.
func (f *Fake) ebsKey(account, region string) *KMSKey {
	a := f.accountLocked(account)
	for _, k := range a.KMSKeys {
		if k.Alias == "aws/ebs" {
			return k
		}
	}
	id := strings.TrimPrefix(f.id("key"), "key-")
	k := &KMSKey{ID: id, ARN: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, account, id), Alias: "aws/ebs", Manager: "AWS"}
	a.KMSKeys[id] = k
	return k
}

// EBSKey returns (making it) the account's AWS managed key for EBS, for
// scenarios (under With).
func (f *Fake) EBSKey(account, region string) *KMSKey { return f.ebsKey(account, region) }
