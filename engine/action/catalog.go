package action

import (
	"sort"

	"github.com/zclconf/go-cty/cty"
)

// The catalog of cloud and core actions. Providers implement these specs;
// the registry refuses an implementation whose spec differs.

var (
	str     = cty.String
	num     = cty.Number
	boolean = cty.Bool
	strList = cty.List(cty.String)
	strMap  = cty.Map(cty.String)
	numList = cty.List(cty.Number)
	any_    = cty.DynamicPseudoType
)

func req(t cty.Type, desc string) Arg { return Arg{Type: t, Required: true, Description: desc} }
func opt(t cty.Type, desc string) Arg { return Arg{Type: t, Description: desc} }

// GCPSnapshot is one snapshot in gcp.compute.snapshot_instance_disks outputs.
var GCPSnapshot = cty.Object(map[string]cty.Type{
	"id": str, "name": str, "project": str, "source_disk": str, "self_link": str, "created": str,
})

// GCPImage is one image made by gcp.compute.export_snapshots.
var GCPImage = cty.Object(map[string]cty.Type{
	"id": str, "name": str, "project": str, "source_snapshot": str, "self_link": str,
})

// AccessKey is one key in aws.iam.list_access_keys outputs.
var AccessKey = cty.Object(map[string]cty.Type{"id": str, "user": str, "status": str, "created": str})

// FindingType is a finding as core.scan and findings() expose it.
var FindingType = cty.Object(map[string]cty.Type{
	"policy_id": str, "asset_id": str, "severity": str, "title": str, "message": str,
	"kind": str, "provider": str, "scope": str, "region": str,
})

// ActivityEvent is one event of the provider's activity logs (CloudTrail,
// Cloud Audit Logs) as aws.cloudtrail.lookup_events and
// gcp.logging.list_entries give it; the timeline merges them.
var ActivityEvent = cty.Object(map[string]cty.Type{
	"time": str, "actor": str, "source_ip": str, "service": str, "call": str, "result": str,
	"resource": str, "region": str, "id": str, "log": str,
})

// activityArgs are the arguments both log steps share.
func activityArgs(extra map[string]Arg) map[string]Arg {
	m := map[string]Arg{
		"at":        req(str, "the detection time (RFC 3339): the window is around it"),
		"resource":  opt(str, "the resource whose events to read (its asset id, ARN, self link or name)"),
		"principal": opt(str, "the principal of the alert whose events to read"),
		"before":    opt(str, "how far before the detection the window starts (default 24h)"),
		"after":     opt(str, "how far after the detection it ends (default 6h)"),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var activityOutputs = map[string]cty.Type{"events": cty.List(ActivityEvent), "count": num, "notes": strList}

const instanceDesc = "the instance: its asset id, self link or projects/P/zones/Z/instances/N"

// Catalog lists every action spec by name.
var Catalog = map[string]*Spec{}

func define(s *Spec) *Spec {
	if s.Args == nil {
		s.Args = map[string]Arg{}
	}
	if s.Outputs == nil {
		s.Outputs = map[string]cty.Type{}
	}
	Catalog[s.Name] = s
	return s
}

// Names lists the catalog's action names in order.
func Names() []string {
	out := make([]string, 0, len(Catalog))
	for n := range Catalog {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func init() {
	// --- Google Cloud ---
	define(&Spec{Name: "gcp.compute.snapshot_instance_disks", Effect: Reversible,
		Description: "Snapshot every disk attached to an instance, labelled with incident, run and step, optionally into the security project.",
		Args: map[string]Arg{
			"instance":            req(str, instanceDesc),
			"destination_project": opt(str, "project to create the snapshots in (default: the instance's)"),
			"labels":              opt(strMap, "labels to add to every snapshot"),
		},
		Outputs: map[string]cty.Type{"snapshots": cty.List(GCPSnapshot), "disks": strList},
	})
	define(&Spec{Name: "gcp.compute.export_snapshots", Effect: Reversible,
		Description: "Copy snapshots into a security-owned project as images, so the evidence survives the compromised project.",
		Args: map[string]Arg{
			"snapshots":           req(strList, "snapshot ids (projects/P/global/snapshots/S or asset ids)"),
			"destination_project": req(str, "the security project"),
			"labels":              opt(strMap, "labels to add to every image"),
		},
		Outputs: map[string]cty.Type{"images": cty.List(GCPImage)},
	})
	define(&Spec{Name: "gcp.compute.isolate_instance", Effect: Reversible,
		Description: "Tag the instance for quarantine behind deny-all ingress and egress rules at priority 0 in the network of every interface (a deny at 0 beats every allow; forensics ranges are left out of the denies and allowed at 0), and remove its external access configs (IPv4 and IPv6). Rules that already carry the quarantine's names are not trusted: any that differs is patched or replaced, and an existing forensics rule keeps only ranges that would be accepted if asked for.",
		Args: map[string]Arg{
			"instance":               req(str, instanceDesc),
			"allow_ranges":           opt(strList, "source ranges still allowed in (the forensics workstation): none broader than a /8 (IPv4) or /32 (IPv6), and not all of the internet together"),
			"remove_external_access": opt(boolean, "remove external IPs (default true)"),
		},
		Outputs: map[string]cty.Type{"quarantine_tag": str, "firewall_rules": strList, "previous_tags": strList, "removed_access_configs": strList},
	})
	define(&Spec{Name: "gcp.compute.release_instance", Effect: Reversible,
		Description: "Undo isolate_instance: remove the quarantine tag.",
		Args:        map[string]Arg{"instance": req(str, instanceDesc)},
		Outputs:     map[string]cty.Type{"restored_tags": strList},
	})
	for _, s := range []struct{ name, verb, status string }{
		{"gcp.compute.stop_instance", "Stop the instance (its memory is lost; Local SSD data is kept unless discard_local_ssd).", "terminated"},
		{"gcp.compute.suspend_instance", "Suspend the instance, keeping memory and open connections for forensics (and Local SSD data unless discard_local_ssd).", "suspended"},
		{"gcp.compute.resume_instance", "Resume a suspended instance.", "running"},
	} {
		args := map[string]Arg{"instance": req(str, instanceDesc)}
		if s.status != "running" {
			// The API requires discardLocalSsd on an instance with a Local
			// SSD; keeping the data is the default, as it may be evidence.
			args["discard_local_ssd"] = opt(boolean, "discard the data of the instance's Local SSDs (default false: keep it)")
		}
		define(&Spec{Name: s.name, Effect: Reversible, Description: s.verb, Args: args,
			Outputs: map[string]cty.Type{"status": str},
		})
	}
	define(&Spec{Name: "gcp.compute.delete_instance", Effect: Destructive,
		Description: "Delete the instance. Needs an approval and a successful evidence step of the same run for it.",
		Args:        map[string]Arg{"instance": req(str, instanceDesc)},
		Outputs:     map[string]cty.Type{"deleted": str},
	})
	define(&Spec{Name: "gcp.compute.delete_firewall", Effect: Destructive,
		Description: "Delete a firewall rule. Needs an approval and a successful evidence step of the same run for it.",
		Args:        map[string]Arg{"firewall": req(str, "the firewall's asset id or projects/P/global/firewalls/F")},
		Outputs:     map[string]cty.Type{"deleted": str},
	})
	define(&Spec{Name: "gcp.compute.restrict_firewall", Effect: Reversible,
		Description: "Replace a firewall's 0.0.0.0/0 and ::/0 sources with the given ranges (an empty list is refused: a rule left with no source is open to 0.0.0.0/0).",
		Args: map[string]Arg{
			"firewall":      req(str, "the firewall's asset id or projects/P/global/firewalls/F"),
			"source_ranges": req(strList, "ranges that replace the world-open ones (at least one)"),
		},
		Outputs: map[string]cty.Type{"previous_source_ranges": strList, "source_ranges": strList},
	})
	define(&Spec{Name: "gcp.compute.remove_instance_ssh_keys", Effect: Reversible,
		Description: "Remove SSH keys from the instance's metadata (and the project's, when asked); the removed keys are kept in the outputs.",
		Args: map[string]Arg{
			"instance":         req(str, instanceDesc),
			"project_metadata": opt(boolean, "also remove project-wide keys"),
		},
		Outputs: map[string]cty.Type{"removed_keys": num},
	})
	define(&Spec{Name: "gcp.iam.disable_service_account_key", Effect: Reversible,
		Description: "Disable a service account key.",
		Args:        map[string]Arg{"key": req(str, "the key's asset id or projects/P/serviceAccounts/SA/keys/K")},
		Outputs:     map[string]cty.Type{"key": str, "disabled": boolean},
	})
	define(&Spec{Name: "gcp.compute.create_instance_from_snapshot", Effect: Reversible,
		Description: "Recovery: create a clean instance from a snapshot.",
		Args: map[string]Arg{
			"snapshot":   req(str, "the snapshot's id"),
			"name":       req(str, "the new instance's name"),
			"zone":       req(str, "its zone"),
			"project":    opt(str, "its project (default: the snapshot's)"),
			"network":    opt(str, "its network (default: the project's default); on a custom-mode network, its one subnetwork in the zone's region is used"),
			"subnetwork": opt(str, "its subnetwork (projects/P/regions/R/subnetworks/S), which a custom-mode network with several subnetworks in the region needs"),
			"labels":     opt(strMap, "labels"),
		},
		Outputs: map[string]cty.Type{"instance": str},
	})

	define(&Spec{Name: "gcp.compute.hash_snapshot", Effect: Reversible,
		Description: "Hash the raw content of snapshots the libcloudforensics way: in the security project, make a disk of each snapshot and a short-lived worker VM with no external IP whose service account can only write to the evidence bucket; its startup script (shipped in vigil) streams the disk through sha256 (and, when asked, writes the raw image to the bucket). vigil waits for the result object, records the hash with the object's MD5 and CRC32C, and deletes the worker and the disk.",
		Args: map[string]Arg{
			"snapshots":       req(strList, "snapshot ids (projects/P/global/snapshots/S or asset ids)"),
			"project":         req(str, "the security project the worker runs in"),
			"zone":            req(str, "the zone of the worker and its disks"),
			"bucket":          req(str, "the evidence bucket (NAME or gs://NAME/PREFIX): result objects, and raw images with write_image"),
			"service_account": req(str, "the worker's service account: one that may only create objects in the bucket"),
			"subnetwork":      opt(str, "the worker's subnetwork (projects/P/regions/R/subnetworks/S); default the project's default network"),
			"write_image":     opt(boolean, "also write each disk's raw image to the bucket (default false)"),
			"machine_type":    opt(str, "the worker's machine type (default e2-small)"),
			"worker_image":    opt(str, "the worker's boot image (default projects/debian-cloud/global/images/family/debian-12)"),
		},
		Outputs: map[string]cty.Type{"hashes": strMap, "objects": strMap},
	})
	define(&Spec{Name: "gcp.logging.list_entries", Effect: Read,
		Description: "Read Cloud Audit Logs (admin activity and data access) with Cloud Logging entries.list, for the resource and the principal over a window around the detection; the raw entries are hashed into the custody record and the timeline shows them.",
		Args: activityArgs(map[string]Arg{
			"project":     opt(str, "the project whose logs to read (default: the resource's)"),
			"logs":        opt(strList, "log ids (default cloudaudit.googleapis.com/activity and cloudaudit.googleapis.com/data_access)"),
			"max_entries": opt(num, "stop after this many entries (default 1000)"),
		}),
		Outputs: activityOutputs,
	})

	// --- AWS ---
	define(&Spec{Name: "aws.ebs.hash_snapshot", Effect: Read,
		Description: "Hash the raw content of EBS snapshots with the EBS direct APIs: every block is read (ListSnapshotBlocks, GetSnapshotBlock) and checked against its SHA-256 checksum, and the SHA-256 of the whole volume, unlisted blocks read as zeros, equals sha256sum of a byte-for-byte image of it. A block manifest (index to checksum) is kept with the evidence, progress goes to stderr and checkpoints to the journal, so a hash that is interrupted resumes where it was. With --aws-evidence-role it reads the copies in the security account.",
		Args: map[string]Arg{
			"snapshot_ids":        req(strList, "snapshots to hash (ids or ARNs)"),
			"concurrency":         opt(num, "blocks fetched at once (default 8)"),
			"requests_per_second": opt(num, "at most this many EBS direct API requests per second (default 50)"),
		},
		Outputs: map[string]cty.Type{"hashes": strMap, "manifests": strMap},
	})
	define(&Spec{Name: "aws.cloudtrail.lookup_events", Effect: Read,
		Description: "Read CloudTrail's event history (LookupEvents) for the resource and for the principal over a window around the detection, in every region given (default: the resource's and us-east-1, where IAM and STS events are); notes when an organization trail kept by another account is the better source. The raw events are hashed into the custody record and the timeline shows them.",
		Args: activityArgs(map[string]Arg{
			"regions":    opt(strList, "regions to read (default: the resource's region and us-east-1)"),
			"max_events": opt(num, "stop after this many events per region and lookup (default 1000)"),
		}),
		Outputs: activityOutputs,
	})
	define(&Spec{Name: "aws.ec2.snapshot_instance_volumes", Effect: Reversible,
		Description: "Snapshot every volume attached to an instance, tagged with incident, run and step; waits for completion.",
		Args: map[string]Arg{
			"instance": req(str, "the instance id or ARN"),
			"tags":     opt(strMap, "tags to add to every snapshot"),
		},
		Outputs: map[string]cty.Type{"snapshot_ids": strList, "volume_ids": strList},
	})
	define(&Spec{Name: "aws.ec2.share_snapshot", Effect: Reversible,
		Description: "Share snapshots with the security account (createVolumePermission). A snapshot encrypted with the AWS managed key cannot be shared: with kms_key_id it is copied, encrypted with that customer managed key, and the copy is shared; without, the step stops before sharing anything and says so (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html).",
		Args: map[string]Arg{
			"snapshot_ids": req(strList, "snapshots to share"),
			"account":      req(str, "the security account id"),
			"kms_key_id":   opt(str, "customer managed KMS key, usable by the security account, to re-encrypt snapshots the AWS managed key makes unshareable"),
		},
		Outputs: map[string]cty.Type{"shared": strList},
	})
	define(&Spec{Name: "aws.ec2.copy_snapshot", Effect: Reversible,
		Description: "Copy snapshots (into the security account's region), optionally re-encrypting with a KMS key.",
		Args: map[string]Arg{
			"snapshot_ids":       req(strList, "snapshots to copy"),
			"destination_region": opt(str, "region of the copies (default: the source's)"),
			"kms_key_id":         opt(str, "KMS key for the copies"),
			"tags":               opt(strMap, "tags for the copies"),
		},
		Outputs: map[string]cty.Type{"snapshot_ids": strList},
	})
	define(&Spec{Name: "aws.ec2.isolate_instance", Effect: Reversible,
		Description: "Replace the security groups of every network interface with an isolation group that has no rules, recording the previous groups (as a tag too), and end the connections security groups keep tracking: " +
			"changing a group does not interrupt tracked connections (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html). " +
			"nacl (the default, the way that page gives) gives the instance's subnets a network ACL that denies everything, which breaks established connections that cross the subnets' edge, tracked ones included, and cuts off every instance in them until release; " +
			"traffic within a subnet is not evaluated by network ACLs (https://docs.aws.amazon.com/vpc/latest/userguide/nacl-basics.html), so a tracked connection with a peer in the same subnet goes on until it times out. " +
			"untrack swaps each interface first through a group that allows all traffic, then to the isolation group: the page says flows such rules allow are not tracked, not that a connection already tracked stops being tracked, so it may end none, and connections through load balancers, NAT gateways and the like are always tracked; " +
			"for that moment everything is allowed, and an interface left there by an interruption is moved to the isolation group at once, or by Recover on resume. none leaves them.",
		Args: map[string]Arg{
			"instance":                req(str, "the instance id or ARN"),
			"disable_api_termination": opt(boolean, "also protect it from termination (default true)"),
			"end_tracked_connections": opt(str, "nacl (default), untrack or none: how to end the connections security group tracking keeps alive"),
		},
		Outputs: map[string]cty.Type{"isolation_group": str, "previous_groups": cty.Map(strList)},
	})
	define(&Spec{Name: "aws.ec2.release_instance", Effect: Reversible,
		Description: "Undo isolate_instance: restore the previous security groups.",
		Args:        map[string]Arg{"instance": req(str, "the instance id or ARN")},
		Outputs:     map[string]cty.Type{"restored_groups": cty.Map(strList)},
	})
	define(&Spec{Name: "aws.ec2.stop_instance", Effect: Reversible,
		Description: "Stop the instance.",
		Args:        map[string]Arg{"instance": req(str, "the instance id or ARN")},
		Outputs:     map[string]cty.Type{"state": str},
	})
	define(&Spec{Name: "aws.ec2.terminate_instance", Effect: Destructive,
		Description: "Terminate the instance. Needs an approval and a successful evidence step of the same run for it.",
		Args:        map[string]Arg{"instance": req(str, "the instance id or ARN")},
		Outputs:     map[string]cty.Type{"state": str},
	})
	define(&Spec{Name: "aws.ec2.revoke_open_ingress", Effect: Reversible,
		Description: "Revoke exactly the ingress rules of a security group that are open to the internet and reach the given ports (by default those VGL-NET-001 reports: admin ports or all ports).",
		Args: map[string]Arg{
			"security_group": req(str, "the group id or ARN"),
			"ports":          opt(numList, "ports that make a world-open rule go (default 22 and 3389)"),
		},
		Outputs: map[string]cty.Type{"revoked": strList},
	})
	define(&Spec{Name: "aws.ec2.tag", Effect: Reversible,
		Description: "Add tags to a resource.",
		Args: map[string]Arg{
			"resource": req(str, "the resource id or ARN"),
			"tags":     req(strMap, "tags"),
		},
	})
	define(&Spec{Name: "aws.iam.list_access_keys", Effect: Read,
		Description: "List a user's access keys.",
		Args:        map[string]Arg{"user": req(str, "the IAM user name")},
		Outputs:     map[string]cty.Type{"keys": cty.List(AccessKey)},
	})
	define(&Spec{Name: "aws.iam.deactivate_access_key", Effect: Reversible,
		Description: "Deactivate an access key.",
		Args: map[string]Arg{
			"access_key_id": req(str, "the key id (AKIA...)"),
			"user":          opt(str, "its user (found from the inventory when omitted)"),
		},
		Outputs: map[string]cty.Type{"status": str},
	})
	define(&Spec{Name: "aws.iam.delete_access_key", Effect: Destructive,
		Description: "Delete an access key. Needs an approval and a successful evidence step of the same run for it.",
		Args: map[string]Arg{
			"access_key_id": req(str, "the key id (AKIA...)"),
			"user":          opt(str, "its user"),
		},
		Outputs: map[string]cty.Type{"deleted": str},
	})
	define(&Spec{Name: "aws.iam.attach_deny_all_policy", Effect: Reversible,
		Description: "Attach an inline deny-all policy to a user or role, revoking its permissions (and sessions issued before now).",
		Args:        map[string]Arg{"principal": req(str, "the user or role ARN")},
		Outputs:     map[string]cty.Type{"policy_name": str},
	})

	// --- core ---
	define(&Spec{Name: "core.log", Effect: Read, Description: "Write a message to the journal and the console.",
		Args: map[string]Arg{"message": req(str, "the message"), "level": opt(str, "info (default), warn or error")}})
	define(&Spec{Name: "core.notify", Effect: Read, Description: "POST a message to a webhook, as JSON or as a Slack-compatible payload.",
		Args: map[string]Arg{
			"url":     req(str, "the webhook URL"),
			"message": req(str, "the text"),
			"format":  opt(str, "json (default) or slack"),
			"headers": opt(strMap, "extra HTTP headers"),
			"data":    opt(any_, "extra fields for the JSON body"),
		},
		Outputs: map[string]cty.Type{"status": num},
	})
	define(&Spec{Name: "core.wait", Effect: Read, Description: "Wait, e.g. for a propagation delay.",
		Args: map[string]Arg{"duration": req(str, "how long: 30s, 5m")}})
	define(&Spec{Name: "core.assert", Effect: Read, Description: "Stop the run unless a condition holds.",
		Args: map[string]Arg{"condition": req(boolean, "what must be true"), "message": req(str, "what to say when it is not")}})
	define(&Spec{Name: "core.approval", Effect: Read, Gate: true, Description: "A pure approval gate: the run waits here until a responder approves.",
		Args: map[string]Arg{"reason": opt(str, "what the approver decides")}})
	define(&Spec{Name: "core.scan", Effect: Read, Description: "Run the posture scan over the run's inventory and expose its findings.",
		Args: map[string]Arg{
			"policies": opt(strList, "policy ids (default: all)"),
		},
		Outputs: map[string]cty.Type{"findings": cty.List(FindingType), "count": num},
	})
	define(&Spec{Name: "core.evidence", Effect: Read, Description: "Hash files, values or assets into the run's chain-of-custody record.",
		Args: map[string]Arg{
			"files":  opt(strList, "files to hash"),
			"values": opt(any_, "values to hash (their canonical JSON)"),
			"assets": opt(strList, "asset ids whose current record to hash"),
			"note":   opt(str, "what this evidence is"),
		},
		Outputs: map[string]cty.Type{"hashes": strMap},
	})
}
