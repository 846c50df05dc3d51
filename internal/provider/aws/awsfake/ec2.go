package awsfake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

func (f *Fake) ec2Error(req *request, status int, code, msg string) {
	req.status = status
	req.w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	req.w.WriteHeader(status)
	var b xb
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>`)
	b.el("Code", code)
	b.el("Message", msg)
	b.WriteString(`</Error></Errors>`)
	b.el("RequestID", requestID(req))
	b.WriteString(`</Response>`)
	req.w.Write([]byte(b.String()))
}

func (f *Fake) ec2OK(req *request, body func(b *xb)) {
	var b xb
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString("<" + req.op + `Response xmlns="` + ec2NS + `">`)
	b.el("requestId", requestID(req))
	body(&b)
	b.close(req.op + "Response")
	req.w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	req.w.Write([]byte(b.String()))
}

// ec2 serves the EC2 query API.
func (f *Fake) ec2(req *request) {
	q := parseForm(req.body)
	req.params = q.v
	req.op = q.get("Action")
	req.dryRun = q.get("DryRun") == "true"
	// Tagging what a call creates needs ec2:CreateTags too.
	if len(q.items("TagSpecification")) > 0 {
		req.perms = append(req.perms, "ec2:CreateTags")
	}
	switch f.fault(req) {
	case "throttle":
		f.ec2Error(req, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
		return
	case "denied":
		f.ec2Error(req, http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:iam::"+req.acctID+":user/vigil is not authorized to perform: ec2:"+req.op)
		return
	case "unavailable":
		f.unavailable(req)
		return
	case "reset":
		return
	}
	if req.dryRun {
		f.ec2Error(req, http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
		return
	}
	reg := req.account.Region(req.region)
	h, ok := map[string]func(*request, form, *Region){
		"DescribeRegions":                 f.describeRegions,
		"DescribeVpcs":                    f.describeVpcs,
		"DescribeSubnets":                 f.describeSubnets,
		"DescribeSecurityGroups":          f.describeSecurityGroups,
		"DescribeInstances":               f.describeInstances,
		"DescribeVolumes":                 f.describeVolumes,
		"DescribeSnapshots":               f.describeSnapshots,
		"DescribeFlowLogs":                f.describeFlowLogs, // more.go
		"DescribeSnapshotAttribute":       f.describeSnapshotAttribute,
		"CreateSnapshot":                  f.createSnapshot,
		"ModifySnapshotAttribute":         f.modifySnapshotAttribute,
		"CopySnapshot":                    f.copySnapshot,
		"CreateSecurityGroup":             f.createSecurityGroup,
		"DeleteSecurityGroup":             f.deleteSecurityGroup,
		"RevokeSecurityGroupIngress":      f.revoke(true),
		"RevokeSecurityGroupEgress":       f.revoke(false),
		"AuthorizeSecurityGroupIngress":   f.authorize(true),
		"AuthorizeSecurityGroupEgress":    f.authorize(false),
		"DescribeNetworkAcls":             f.describeNetworkAcls,
		"CreateNetworkAcl":                f.createNetworkAcl,
		"ReplaceNetworkAclAssociation":    f.replaceNetworkAclAssociation,
		"DescribeTags":                    f.describeTags,
		"ModifyNetworkInterfaceAttribute": f.modifyENI,
		"ModifyInstanceAttribute":         f.modifyInstanceAttribute,
		"DescribeInstanceAttribute":       f.describeInstanceAttribute,
		"CreateTags":                      f.tags(true),
		"DeleteTags":                      f.tags(false),
		"StopInstances":                   f.stateChange("stopped"),
		"TerminateInstances":              f.stateChange("terminated"),
	}[req.op]
	if !ok {
		f.ec2Error(req, http.StatusBadRequest, "InvalidAction", "The action "+req.op+" is not valid for this web service.")
		return
	}
	h(req, q, reg)
}

func (f *Fake) describeRegions(req *request, _ form, _ *Region) {
	f.ec2OK(req, func(b *xb) {
		b.open("regionInfo")
		for _, r := range f.EnabledRegions {
			b.open("item")
			b.el("regionName", r)
			b.el("regionEndpoint", "ec2."+r+".amazonaws.com")
			b.el("optInStatus", "opt-in-not-required")
			b.close("item")
		}
		b.close("regionInfo")
	})
}

func (f *Fake) describeVpcs(req *request, q form, reg *Region) {
	fl := q.filters()
	f.ec2OK(req, func(b *xb) {
		b.open("vpcSet")
		for _, id := range slices.Sorted(maps.Keys(reg.VPCs)) {
			v := reg.VPCs[id]
			if !matches(fl, func(n string) []string { return tagAttr(v.Tags, n) }) {
				continue
			}
			b.open("item")
			b.el("vpcId", v.ID)
			b.el("ownerId", req.acctID)
			b.el("state", "available")
			b.el("cidrBlock", v.CIDR)
			b.bool("isDefault", v.IsDefault)
			b.tagSet(v.Tags)
			b.close("item")
		}
		b.close("vpcSet")
	})
}

func (f *Fake) describeSubnets(req *request, _ form, reg *Region) {
	f.ec2OK(req, func(b *xb) {
		b.open("subnetSet")
		for _, id := range slices.Sorted(maps.Keys(reg.Subnets)) {
			s := reg.Subnets[id]
			b.open("item")
			b.el("subnetId", s.ID)
			b.el("vpcId", s.VpcID)
			b.el("cidrBlock", s.CIDR)
			b.el("availabilityZone", s.AZ)
			b.el("ownerId", req.acctID)
			b.el("subnetArn", fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", req.region, req.acctID, s.ID))
			b.tagSet(s.Tags)
			b.close("item")
		}
		b.close("subnetSet")
	})
}

func writePerms(b *xb, name string, perms []Perm) {
	b.open(name)
	for _, p := range perms {
		b.open("item")
		b.el("ipProtocol", p.Protocol)
		if p.Protocol != "-1" {
			b.int("fromPort", p.From)
			b.int("toPort", p.To)
		}
		b.open("groups")
		for _, g := range p.Groups {
			b.open("item")
			b.el("groupId", g)
			b.close("item")
		}
		b.close("groups")
		b.open("ipRanges")
		for _, c := range p.CIDRs {
			b.open("item")
			b.el("cidrIp", c)
			b.close("item")
		}
		b.close("ipRanges")
		b.open("ipv6Ranges")
		for _, c := range p.IPv6 {
			b.open("item")
			b.el("cidrIpv6", c)
			b.close("item")
		}
		b.close("ipv6Ranges")
		b.close("item")
	}
	b.close(name)
}

func (f *Fake) describeSecurityGroups(req *request, q form, reg *Region) {
	ids := q.list("GroupId")
	for _, id := range ids {
		if f.group(reg, id) == nil {
			f.ec2Error(req, http.StatusBadRequest, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id))
			return
		}
	}
	fl := q.filters()
	f.ec2OK(req, func(b *xb) {
		b.open("securityGroupInfo")
		for _, id := range slices.Sorted(maps.Keys(reg.SecurityGroups)) {
			g := reg.SecurityGroups[id]
			if len(ids) > 0 && !slices.Contains(ids, id) || !f.seen(id) {
				continue
			}
			if !matches(fl, func(n string) []string {
				switch n {
				case "vpc-id":
					return []string{g.VpcID}
				case "group-name":
					return []string{g.Name}
				case "group-id":
					return []string{g.ID}
				}
				return tagAttr(g.Tags, n)
			}) {
				continue
			}
			b.open("item")
			b.el("ownerId", req.acctID)
			b.el("groupId", g.ID)
			b.el("groupName", g.Name)
			b.el("groupDescription", g.Description)
			b.el("vpcId", g.VpcID)
			b.el("securityGroupArn", fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", req.region, req.acctID, g.ID))
			writePerms(b, "ipPermissions", g.Ingress)
			writePerms(b, "ipPermissionsEgress", g.Egress)
			b.tagSet(g.Tags)
			b.close("item")
		}
		b.close("securityGroupInfo")
	})
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func writeState(b *xb, name, state string) {
	b.open(name)
	b.int("code", stateCodes[state])
	b.el("name", state)
	b.close(name)
}

func (f *Fake) describeInstances(req *request, q form, reg *Region) {
	ids := q.list("InstanceId")
	for _, id := range ids {
		if reg.Instances[id] == nil {
			f.ec2Error(req, http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
	}
	fl := q.filters()
	var list []*Instance
	for _, id := range slices.Sorted(maps.Keys(reg.Instances)) {
		in := reg.Instances[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		if !matches(fl, func(n string) []string {
			switch n {
			case "instance-state-name":
				return []string{in.State}
			case "subnet-id":
				return []string{in.SubnetID}
			case "vpc-id":
				return []string{in.VpcID}
			}
			return tagAttr(in.Tags, n)
		}) {
			continue
		}
		list = append(list, in)
	}
	from, to, next := page(q, len(list))
	f.ec2OK(req, func(b *xb) {
		b.open("reservationSet")
		for _, in := range list[from:to] {
			b.open("item")
			b.el("reservationId", "r-"+in.ID[2:])
			b.el("ownerId", req.acctID)
			b.open("instancesSet")
			b.open("item")
			b.el("instanceId", in.ID)
			b.el("imageId", "ami-0fake")
			writeState(b, "instanceState", in.State)
			b.el("instanceType", "t3.micro")
			b.open("placement")
			b.el("availabilityZone", in.AZ)
			b.close("placement")
			b.elIf("subnetId", in.SubnetID)
			b.elIf("vpcId", in.VpcID)
			b.elIf("privateIpAddress", in.PrivateIP)
			if len(in.ENIs) > 0 && in.ENIs[0].PublicIP != "" && in.State == "running" {
				b.el("ipAddress", in.ENIs[0].PublicIP)
			}
			b.open("groupSet")
			seen := map[string]bool{}
			for _, eni := range in.ENIs {
				for _, g := range eni.Groups {
					if !seen[g] {
						seen[g] = true
						b.open("item")
						b.el("groupId", g)
						if sg := reg.SecurityGroups[g]; sg != nil {
							b.el("groupName", sg.Name)
						}
						b.close("item")
					}
				}
			}
			b.close("groupSet")
			b.open("blockDeviceMapping")
			for i, v := range in.Volumes {
				b.open("item")
				b.el("deviceName", fmt.Sprintf("/dev/xvd%c", 'a'+i))
				b.open("ebs")
				b.el("volumeId", v)
				b.el("status", "attached")
				b.close("ebs")
				b.close("item")
			}
			b.close("blockDeviceMapping")
			b.open("networkInterfaceSet")
			for _, eni := range in.ENIs {
				b.open("item")
				b.el("networkInterfaceId", eni.ID)
				b.elIf("subnetId", in.SubnetID)
				b.elIf("vpcId", in.VpcID)
				b.el("status", "in-use")
				b.open("groupSet")
				for _, g := range eni.Groups {
					b.open("item")
					b.el("groupId", g)
					b.close("item")
				}
				b.close("groupSet")
				if eni.PublicIP != "" && in.State == "running" {
					b.open("association")
					b.el("publicIp", eni.PublicIP)
					b.close("association")
				}
				b.close("item")
			}
			b.close("networkInterfaceSet")
			b.tagSet(in.Tags)
			b.close("item")
			b.close("instancesSet")
			b.close("item")
		}
		b.close("reservationSet")
		b.elIf("nextToken", next)
	})
	// A stop takes effect between two looks, as it does in EC2.
	for _, in := range list[from:to] {
		if in.State == "stopping" {
			in.State = "stopped"
		}
		if in.State == "shutting-down" {
			in.State = "terminated"
		}
	}
}

func (f *Fake) describeVolumes(req *request, _ form, reg *Region) {
	f.ec2OK(req, func(b *xb) {
		b.open("volumeSet")
		for _, id := range slices.Sorted(maps.Keys(reg.Volumes)) {
			v := reg.Volumes[id]
			b.open("item")
			b.el("volumeId", v.ID)
			b.int("size", v.Size)
			b.el("availabilityZone", v.AZ)
			state := "available"
			b.open("attachmentSet")
			for _, in := range reg.Instances {
				if slices.Contains(in.Volumes, v.ID) && in.State != "terminated" {
					state = "in-use"
					b.open("item")
					b.el("volumeId", v.ID)
					b.el("instanceId", in.ID)
					b.el("status", "attached")
					b.close("item")
				}
			}
			b.close("attachmentSet")
			b.el("status", state)
			b.bool("encrypted", v.Encrypted)
			b.elIf("kmsKeyId", v.KmsKeyID)
			b.tagSet(v.Tags)
			b.close("item")
		}
		b.close("volumeSet")
	})
}

func writeSnapshot(b *xb, s *Snapshot, owner string) {
	b.el("snapshotId", s.ID)
	b.el("volumeId", s.VolumeID)
	b.el("status", s.State)
	b.el("startTime", s.Started.Format(time.RFC3339))
	progress := "0%"
	if s.State == "completed" {
		progress = "100%"
	}
	b.el("progress", progress)
	b.el("ownerId", owner)
	b.el("volumeSize", strconv.Itoa(max(s.VolumeSize, 1)))
	b.elIf("description", s.Description)
	b.bool("encrypted", s.Encrypted)
	b.elIf("kmsKeyId", s.KmsKeyID)
	b.tagSet(s.Tags)
}

func (f *Fake) describeSnapshots(req *request, q form, reg *Region) {
	ids := q.list("SnapshotId")
	fl := q.filters()
	type owned struct {
		s     *Snapshot
		owner string
	}
	var list []owned
	self := len(q.list("Owner")) > 0 && q.list("Owner")[0] == "self"
	// Snapshots of other accounts that are shared with the caller are
	// visible too, unless the caller asks for its own only.
	for _, acct := range slices.Sorted(maps.Keys(f.accounts)) {
		a := f.accounts[acct]
		r := a.Regions[req.region]
		if r == nil {
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(r.Snapshots)) {
			s := r.Snapshots[id]
			if acct != req.acctID && (self || !slices.Contains(s.CreateVolumePermissions, req.acctID)) || !f.seen(id) {
				continue
			}
			if len(ids) > 0 && !slices.Contains(ids, id) {
				continue
			}
			if !matches(fl, func(n string) []string {
				switch n {
				case "volume-id":
					return []string{s.VolumeID}
				case "status":
					return []string{s.State}
				}
				return tagAttr(s.Tags, n)
			}) {
				continue
			}
			list = append(list, owned{s, acct})
		}
	}
	for _, id := range ids {
		found := false
		for _, o := range list {
			found = found || o.s.ID == id
		}
		if !found {
			f.ec2Error(req, http.StatusBadRequest, "InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
			return
		}
	}
	from, to, next := page(q, len(list))
	f.ec2OK(req, func(b *xb) {
		b.open("snapshotSet")
		for _, o := range list[from:to] {
			b.open("item")
			writeSnapshot(b, o.s, o.owner)
			b.close("item")
		}
		b.close("snapshotSet")
		b.elIf("nextToken", next)
	})
	// Snapshots complete between two looks (or after PendingLooks).
	for _, o := range list[from:to] {
		o.s.looks++
		if o.s.looks >= max(1, f.PendingLooks) {
			o.s.State = "completed"
		}
	}
}

func (f *Fake) createSnapshot(req *request, q form, reg *Region) {
	v := reg.Volumes[q.get("VolumeId")]
	if v == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidVolume.NotFound", fmt.Sprintf("The volume '%s' does not exist.", q.get("VolumeId")))
		return
	}
	s := &Snapshot{ID: f.id("snap"), VolumeID: v.ID, Description: q.get("Description"), State: "pending", Started: f.now(), Tags: q.tagSpec("snapshot"),
		Encrypted: v.Encrypted, KmsKeyID: v.KmsKeyID, VolumeSize: v.Size, Blocks: copyBlocks(v.Blocks)}
	reg.Snapshots[s.ID] = s
	f.made(s.ID)
	f.ec2OK(req, func(b *xb) { writeSnapshot(b, s, req.acctID) })
}

func (f *Fake) describeSnapshotAttribute(req *request, q form, reg *Region) {
	s := f.snapshot(reg, q.get("SnapshotId"))
	if s == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", q.get("SnapshotId")))
		return
	}
	f.ec2OK(req, func(b *xb) {
		b.el("snapshotId", s.ID)
		b.open("createVolumePermission")
		for _, u := range s.CreateVolumePermissions {
			b.open("item")
			b.el("userId", u)
			b.close("item")
		}
		b.close("createVolumePermission")
	})
}

func (f *Fake) modifySnapshotAttribute(req *request, q form, reg *Region) {
	s := f.snapshot(reg, q.get("SnapshotId"))
	if s == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", q.get("SnapshotId")))
		return
	}
	// "Snapshots encrypted with your default KMS key cannot be shared with
	// other accounts."
	if k := f.key(s.KmsKeyID); s.Encrypted && q.get("OperationType") != "remove" && (k == nil || k.Manager == "AWS") {
		f.ec2Error(req, http.StatusBadRequest, "InvalidParameter",
			fmt.Sprintf("Snapshot %s is encrypted with the AWS managed key for EBS and cannot be shared. Share a copy encrypted with a customer managed key.", s.ID))
		return
	}
	add := q.list("UserId")
	if q.get("OperationType") == "remove" {
		add = nil
	}
	for _, it := range q.items("CreateVolumePermission.Add") {
		add = append(add, it.get("UserId"))
	}
	for _, u := range add {
		if !slices.Contains(s.CreateVolumePermissions, u) {
			s.CreateVolumePermissions = append(s.CreateVolumePermissions, u)
		}
	}
	f.ec2OK(req, func(b *xb) { b.bool("return", true) })
}

func (f *Fake) copySnapshot(req *request, q form, reg *Region) {
	srcRegion, srcID := q.get("SourceRegion"), q.get("SourceSnapshotId")
	var src *Snapshot
	for _, a := range f.accounts {
		r := a.Regions[srcRegion]
		if r == nil || r.Snapshots[srcID] == nil || !f.seen(srcID) {
			continue
		}
		if a.ID == req.acctID || slices.Contains(r.Snapshots[srcID].CreateVolumePermissions, req.acctID) {
			src = r.Snapshots[srcID]
		}
	}
	if src == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", srcID))
		return
	}
	encrypted := q.get("Encrypted") == "true" || src.Encrypted
	if src.Encrypted {
		req.facts = append(req.facts, "source encrypted")
	}
	key := ""
	if encrypted {
		// EBS uses the keys on the caller's behalf: reading the source's,
		// encrypting with the copy's.
		req.perms = append(req.perms, "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo")
		if src.Encrypted {
			if k := f.key(src.KmsKeyID); k == nil || !f.mayUse(k, req.acctID) {
				f.ec2Error(req, http.StatusBadRequest, "InvalidRequest",
					fmt.Sprintf("Snapshot %s is encrypted with KMS key %s, which account %s may not use: its key policy must allow it", src.ID, src.KmsKeyID, req.acctID))
				return
			}
		}
		switch {
		case q.get("KmsKeyId") != "":
			k := f.key(q.get("KmsKeyId"))
			if k == nil || !f.mayUse(k, req.acctID) {
				f.ec2Error(req, http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("KMS key %s does not exist or account %s may not use it", q.get("KmsKeyId"), req.acctID))
				return
			}
			key = k.ARN
		case src.Encrypted && f.keyAccount(src.KmsKeyID) == req.acctID:
			key = src.KmsKeyID
		default:
			key = f.ebsKey(req.acctID, req.region).ARN
		}
	}
	s := &Snapshot{ID: f.id("snap"), VolumeID: "vol-ffffffff", SourceSnapshotID: src.ID, Description: q.get("Description"), State: "pending",
		Started: f.now(), Encrypted: encrypted, KmsKeyID: key, Tags: q.tagSpec("snapshot"), VolumeSize: src.VolumeSize, Blocks: copyBlocks(src.Blocks)}
	reg.Snapshots[s.ID] = s
	f.made(s.ID)
	f.ec2OK(req, func(b *xb) {
		b.el("snapshotId", s.ID)
		b.tagSet(s.Tags)
	})
}

func (f *Fake) createSecurityGroup(req *request, q form, reg *Region) {
	vpc := q.get("VpcId")
	if reg.VPCs[vpc] == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidVpcID.NotFound", fmt.Sprintf("The vpc ID '%s' does not exist", vpc))
		return
	}
	for _, g := range reg.SecurityGroups {
		if g.VpcID == vpc && g.Name == q.get("GroupName") {
			f.ec2Error(req, http.StatusBadRequest, "InvalidGroup.Duplicate", fmt.Sprintf("The security group '%s' already exists for VPC '%s'", g.Name, vpc))
			return
		}
	}
	g := &SecurityGroup{ID: f.id("sg"), Name: q.get("GroupName"), Description: q.get("GroupDescription"), VpcID: vpc,
		Egress: []Perm{{Protocol: "-1", From: -1, To: -1, CIDRs: []string{"0.0.0.0/0"}}}, Tags: q.tagSpec("security-group")}
	reg.SecurityGroups[g.ID] = g
	f.made(g.ID)
	f.ec2OK(req, func(b *xb) {
		b.el("groupId", g.ID)
		b.el("securityGroupArn", fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", req.region, req.acctID, g.ID))
	})
}

func permsOf(q form) []Perm {
	var out []Perm
	for _, it := range q.items("IpPermissions") {
		p := Perm{Protocol: it.get("IpProtocol"), From: -1, To: -1}
		if v, err := strconv.Atoi(it.get("FromPort")); err == nil {
			p.From = v
		}
		if v, err := strconv.Atoi(it.get("ToPort")); err == nil {
			p.To = v
		}
		for _, r := range it.items("IpRanges") {
			p.CIDRs = append(p.CIDRs, r.get("CidrIp"))
		}
		for _, r := range it.items("Ipv6Ranges") {
			p.IPv6 = append(p.IPv6, r.get("CidrIpv6"))
		}
		for _, g := range it.items("Groups") {
			p.Groups = append(p.Groups, g.get("GroupId"))
		}
		out = append(out, p)
	}
	return out
}

func samePorts(a, b Perm) bool {
	if a.Protocol != b.Protocol {
		return false
	}
	return a.Protocol == "-1" || (a.From == b.From && a.To == b.To)
}

func without(list, drop []string) ([]string, int) {
	var out []string
	n := 0
	for _, x := range list {
		if slices.Contains(drop, x) {
			n++
			continue
		}
		out = append(out, x)
	}
	return out, n
}

// revoke removes the sources the request names from matching permissions;
// as in EC2, naming a rule that does not exist is an error.
func (f *Fake) revoke(ingress bool) func(*request, form, *Region) {
	return func(req *request, q form, reg *Region) {
		g := f.group(reg, q.get("GroupId"))
		if g == nil {
			f.ec2Error(req, http.StatusBadRequest, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", q.get("GroupId")))
			return
		}
		defer f.retrackGroup(reg, g.ID)
		rules := &g.Egress
		if ingress {
			rules = &g.Ingress
		}
		for _, want := range permsOf(q) {
			hit := false
			var kept []Perm
			for _, p := range *rules {
				if samePorts(p, want) {
					var a, b, c int
					p.CIDRs, a = without(p.CIDRs, want.CIDRs)
					p.IPv6, b = without(p.IPv6, want.IPv6)
					p.Groups, c = without(p.Groups, want.Groups)
					hit = hit || a+b+c > 0
					if len(p.CIDRs)+len(p.IPv6)+len(p.Groups) == 0 {
						continue
					}
				}
				kept = append(kept, p)
			}
			if !hit {
				f.ec2Error(req, http.StatusBadRequest, "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
				return
			}
			*rules = kept
		}
		f.ec2OK(req, func(b *xb) { b.bool("return", true) })
	}
}

func (f *Fake) findENI(reg *Region, id string) *ENI {
	for _, in := range reg.Instances {
		for _, e := range in.ENIs {
			if e.ID == id {
				return e
			}
		}
	}
	return nil
}

func (f *Fake) modifyENI(req *request, q form, reg *Region) {
	eni := f.findENI(reg, q.get("NetworkInterfaceId"))
	if eni == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", q.get("NetworkInterfaceId")))
		return
	}
	if groups := q.list("SecurityGroupId"); len(groups) > 0 {
		for _, g := range groups {
			if f.group(reg, g) == nil {
				f.ec2Error(req, http.StatusBadRequest, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", g))
				return
			}
		}
		eni.Groups = groups
		f.retrack(reg, eni.ID)
	}
	f.ec2OK(req, func(b *xb) { b.bool("return", true) })
}

func (f *Fake) modifyInstanceAttribute(req *request, q form, reg *Region) {
	in := reg.Instances[q.get("InstanceId")]
	if in == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", q.get("InstanceId")))
		return
	}
	if v := q.get("DisableApiTermination.Value"); v != "" {
		in.DisableAPITermination = v == "true"
	}
	f.ec2OK(req, func(b *xb) { b.bool("return", true) })
}

func (f *Fake) describeInstanceAttribute(req *request, q form, reg *Region) {
	in := reg.Instances[q.get("InstanceId")]
	if in == nil {
		f.ec2Error(req, http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", q.get("InstanceId")))
		return
	}
	if q.get("Attribute") != "disableApiTermination" {
		f.ec2Error(req, http.StatusBadRequest, "InvalidParameterValue", "the fake answers disableApiTermination only")
		return
	}
	f.ec2OK(req, func(b *xb) {
		b.el("instanceId", in.ID)
		b.open("disableApiTermination")
		b.bool("value", in.DisableAPITermination)
		b.close("disableApiTermination")
	})
}

// tagsOf finds the tag map of any taggable resource of the region.
func tagsOf(reg *Region, id string) *map[string]string {
	switch {
	case reg.Instances[id] != nil:
		return &reg.Instances[id].Tags
	case reg.Volumes[id] != nil:
		return &reg.Volumes[id].Tags
	case reg.Snapshots[id] != nil:
		return &reg.Snapshots[id].Tags
	case reg.SecurityGroups[id] != nil:
		return &reg.SecurityGroups[id].Tags
	case reg.VPCs[id] != nil:
		return &reg.VPCs[id].Tags
	case reg.Subnets[id] != nil:
		return &reg.Subnets[id].Tags
	case reg.NetworkACLs[id] != nil:
		return &reg.NetworkACLs[id].Tags
	}
	return nil
}

func (f *Fake) tags(create bool) func(*request, form, *Region) {
	return func(req *request, q form, reg *Region) {
		for _, id := range q.list("ResourceId") {
			if tagsOf(reg, id) == nil || !f.seen(id) {
				f.ec2Error(req, http.StatusBadRequest, "InvalidID", fmt.Sprintf("The ID '%s' is not valid", id))
				return
			}
		}
		for _, id := range q.list("ResourceId") {
			t := tagsOf(reg, id)
			if *t == nil {
				*t = map[string]string{}
			}
			for _, it := range q.items("Tag") {
				if create {
					(*t)[it.get("Key")] = it.get("Value")
				} else {
					delete(*t, it.get("Key"))
				}
			}
		}
		f.ec2OK(req, func(b *xb) { b.bool("return", true) })
	}
}

func (f *Fake) stateChange(target string) func(*request, form, *Region) {
	return func(req *request, q form, reg *Region) {
		ids := q.list("InstanceId")
		for _, id := range ids {
			in := reg.Instances[id]
			if in == nil {
				f.ec2Error(req, http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
				return
			}
			if target == "terminated" && in.DisableAPITermination {
				f.ec2Error(req, http.StatusBadRequest, "OperationNotPermitted", fmt.Sprintf("The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", id))
				return
			}
		}
		prev := map[string]string{}
		for _, id := range ids {
			in := reg.Instances[id]
			prev[id] = in.State
			switch {
			case target == "stopped" && in.State == "running":
				in.State = "stopping"
			case target == "terminated" && in.State != "terminated":
				in.State = "shutting-down"
			}
		}
		sort.Strings(ids)
		f.ec2OK(req, func(b *xb) {
			b.open("instancesSet")
			for _, id := range ids {
				b.open("item")
				b.el("instanceId", id)
				writeState(b, "currentState", reg.Instances[id].State)
				writeState(b, "previousState", prev[id])
				b.close("item")
			}
			b.close("instancesSet")
		})
	}
}

// ARN of an EC2 resource, for tests.
func ARN(region, account, kind, id string) string {
	return strings.Join([]string{"arn:aws:ec2", region, account, kind + "/" + id}, ":")
}
