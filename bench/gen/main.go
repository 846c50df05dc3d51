// Command gen makes the benchmark's inputs, deterministically:
//
//	gen inventory -n 100000 -out DIR   CAI export (resources + IAM policies),
//	                                   an AWS Config snapshot, vigil.hcl and a
//	                                   100-step runbook, in realistic shapes
//	gen opa -in DIR -out DIR           the same normalized assets, config and
//	                                   cross-asset index as opa eval input and
//	                                   data, and a wrapper query running the
//	                                   built-in policies per asset and kind
//	gen plan -n 5000 -out DIR          a Terraform plan (terraform show -json)
//	                                   of at least n resource changes, for
//	                                   vigil check; gen opa -plan DIR/plan.json
//	                                   -config vigil.hcl writes its opa side
//	gen compare VIGIL.json OPA.json    checks both found the same findings
//	gen summary VIGIL.json             prints figures of vigil's summary
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/policies"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen inventory|opa|compare ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "inventory":
		err = cmdInventory(os.Args[2:])
	case "opa":
		err = cmdOPA(os.Args[2:])
	case "plan":
		err = cmdPlan(os.Args[2:])
	case "compare":
		err = cmdCompare(os.Args[2:])
	case "summary":
		err = cmdSummary(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// --- inventory ---------------------------------------------------------

type gen struct {
	// projectExtraCount is how many assets projectExtras emitted last.
	projectExtraCount int
	col               *bufio.Writer // aws-collected.ndjson
	r                 *rand.Rand
	res, iam          *bufio.Writer
	aws               *bufio.Writer
	awsFirst          bool
	gcpAssets         int
	awsAssets         int
	instances         []string
	// the records the runbook benchmark's instances need, for its
	// simulated cloud: project, network, instance, disk
	rbRecords []map[string]any
}

const runbookInstances = 20 // five steps each: a 100-step runbook

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

var gcpRegions = []string{"europe-west1", "europe-west3", "us-central1", "us-east1", "asia-east1", "europe-north1"}
var awsRegions = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"}
var teams = []string{"platform", "data", "web", "payments", "search", "ml"}
var classes = []string{"pii", "confidential", "public", "internal"}

func (g *gen) write(w *bufio.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	w.WriteByte('\n')
}

func (g *gen) labels(p float64) map[string]string {
	l := map[string]string{}
	if g.chance(p) {
		l["owner"] = g.pick(teams) + "-team"
	}
	l["env"] = g.pick([]string{"prod", "staging", "dev"})
	if g.chance(0.3) {
		l["data-class"] = g.pick(classes)
	}
	l["cost-center"] = fmt.Sprintf("cc-%04d", g.r.IntN(3000))
	return l
}

func cai(assetType, name, parent string, ancestors []string, location string, data map[string]any) map[string]any {
	svc := strings.SplitN(assetType, "/", 2)[0]
	return map[string]any{
		"name": name, "asset_type": assetType, "ancestors": ancestors, "update_time": "2026-11-20T08:00:00Z",
		"resource": map[string]any{
			"version": "v1", "discovery_document_uri": "https://www.googleapis.com/discovery/v1/apis/" + strings.TrimSuffix(svc, ".googleapis.com") + "/v1/rest",
			"discovery_name": strings.SplitN(assetType, "/", 2)[1], "parent": parent, "location": location, "data": data,
		},
	}
}

func (g *gen) project(i int, org, folder string, budget int) {
	num := fmt.Sprintf("%d", 400000000000+i)
	pid := fmt.Sprintf("acme-%s-%05d", g.pick(teams), i)
	anc := []string{"projects/" + num, folder, org}
	parent := "//cloudresourcemanager.googleapis.com/projects/" + num
	sl := func(path string) string { return "https://www.googleapis.com/compute/v1/projects/" + pid + "/" + path }
	emit := func(rec map[string]any) { g.write(g.res, rec); g.gcpAssets++; budget-- }
	projectRec := cai("cloudresourcemanager.googleapis.com/Project", "//cloudresourcemanager.googleapis.com/projects/"+num, "//cloudresourcemanager.googleapis.com/"+folder, anc, "",
		map[string]any{"projectNumber": num, "projectId": pid, "lifecycleState": "ACTIVE", "name": pid, "labels": g.labels(0.8),
			"parent": map[string]any{"type": "folder", "id": strings.TrimPrefix(folder, "folders/")}, "createTime": "2024-03-01T10:00:00Z"})
	emit(projectRec)
	audit := []map[string]any{{"service": "allServices", "auditLogConfigs": []map[string]any{{"logType": "ADMIN_READ"}, {"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}}}}
	pol := map[string]any{"version": 1, "etag": "BwYd2x0ab9k=", "bindings": []map[string]any{
		{"role": "roles/owner", "members": []string{"group:" + g.pick(teams) + "@acme.example"}},
		{"role": "roles/editor", "members": []string{"serviceAccount:" + num + "@cloudservices.gserviceaccount.com"}},
	}}
	if g.chance(0.7) {
		pol["auditConfigs"] = audit
	}
	if g.chance(0.9) {
		pol["bindings"] = append(pol["bindings"].([]map[string]any), map[string]any{"role": "roles/iam.securityReviewer", "members": []string{"group:ir-team@acme.example"}})
	}
	g.write(g.iam, map[string]any{"name": "//cloudresourcemanager.googleapis.com/projects/" + num, "asset_type": "cloudresourcemanager.googleapis.com/Project", "iam_policy": pol, "ancestors": anc})

	region := g.pick(gcpRegions)
	netName := "prod-vpc"
	if g.chance(0.25) {
		netName = "default"
	}
	netID := "projects/" + pid + "/global/networks/" + netName
	netRec := cai("compute.googleapis.com/Network", "//compute.googleapis.com/"+netID, parent, anc, "global",
		map[string]any{"name": netName, "selfLink": sl("global/networks/" + netName), "autoCreateSubnetworks": netName == "default",
			"routingConfig": map[string]any{"routingMode": "REGIONAL"}, "creationTimestamp": "2024-03-02T09:00:00.000-07:00", "id": fmt.Sprint(g.r.Uint64())})
	emit(netRec)
	g.projectExtras(pid, num, anc, parent, region, emit)
	keptProject := false
	for budget > 0 {
		switch k := g.r.IntN(100); {
		case k < 10: // firewall
			name := fmt.Sprintf("fw-%d", g.r.IntN(1e6))
			src := []string{fmt.Sprintf("10.%d.0.0/16", g.r.IntN(255))}
			ports := []string{g.pick([]string{"443", "80", "8080-8090", "5432", "6379"})}
			if g.chance(0.06) {
				src = []string{"0.0.0.0/0"}
				ports = []string{g.pick([]string{"22", "3389", "20-25", "0-65535"})}
			} else if g.chance(0.1) {
				src = []string{"0.0.0.0/0"}
			}
			emit(cai("compute.googleapis.com/Firewall", "//compute.googleapis.com/projects/"+pid+"/global/firewalls/"+name, parent, anc, "global",
				map[string]any{"name": name, "network": sl("global/networks/" + netName), "direction": "INGRESS", "priority": 1000, "disabled": g.chance(0.05),
					"allowed": []map[string]any{{"IPProtocol": "tcp", "ports": ports}}, "sourceRanges": src, "targetTags": []string{g.pick(teams)},
					"selfLink": sl("global/firewalls/" + name), "logConfig": map[string]any{"enable": g.chance(0.4)}, "description": "managed by terraform",
					"creationTimestamp": "2024-05-01T12:00:00.000-07:00", "id": fmt.Sprint(g.r.Uint64())}))
		case k < 35: // instance + its disk
			zone := region + "-" + g.pick([]string{"a", "b", "c"})
			name := fmt.Sprintf("vm-%d", g.r.IntN(1e7))
			nic := map[string]any{"name": "nic0", "network": sl("global/networks/" + netName), "subnetwork": sl("regions/" + region + "/subnetworks/" + netName),
				"networkIP": fmt.Sprintf("10.%d.%d.%d", g.r.IntN(255), g.r.IntN(255), g.r.IntN(255)), "stackType": "IPV4_ONLY", "fingerprint": "Z9b15gLF1tc="}
			if g.chance(0.15) {
				nic["accessConfigs"] = []map[string]any{{"name": "External NAT", "type": "ONE_TO_ONE_NAT", "natIP": fmt.Sprintf("34.%d.%d.%d", g.r.IntN(255), g.r.IntN(255), g.r.IntN(255)), "networkTier": "PREMIUM"}}
			}
			disk := "projects/" + pid + "/zones/" + zone + "/disks/" + name
			instRec := cai("compute.googleapis.com/Instance", "//compute.googleapis.com/projects/"+pid+"/zones/"+zone+"/instances/"+name, parent, anc, zone,
				map[string]any{"name": name, "zone": sl("zones/" + zone), "machineType": sl("zones/" + zone + "/machineTypes/e2-standard-4"), "status": "RUNNING",
					"networkInterfaces": []any{nic}, "labels": g.labels(0.7), "tags": map[string]any{"items": []string{g.pick(teams)}, "fingerprint": "42WmSpB8rSM="},
					"disks":           []map[string]any{{"deviceName": name, "boot": true, "source": "https://www.googleapis.com/compute/v1/" + disk, "mode": "READ_WRITE", "type": "PERSISTENT", "diskSizeGb": "50"}},
					"serviceAccounts": []map[string]any{{"email": num + "-compute@developer.gserviceaccount.com", "scopes": []string{"https://www.googleapis.com/auth/cloud-platform"}}},
					"metadata":        map[string]any{"items": g.instanceMetadata(), "fingerprint": "abc="},
					"scheduling":      map[string]any{"onHostMaintenance": "MIGRATE", "automaticRestart": true}, "cpuPlatform": "Intel Broadwell",
					"creationTimestamp": "2025-09-14T08:21:00.000-07:00", "id": fmt.Sprint(g.r.Uint64()), "selfLink": sl("zones/" + zone + "/instances/" + name)})
			emit(instRec)
			diskRec := cai("compute.googleapis.com/Disk", "//compute.googleapis.com/"+disk, parent, anc, zone,
				map[string]any{"name": name, "sizeGb": "50", "zone": sl("zones/" + zone), "status": "READY", "type": sl("zones/" + zone + "/diskTypes/pd-balanced"),
					"users": []string{sl("zones/" + zone + "/instances/" + name)}, "labels": g.labels(0.7), "selfLink": "https://www.googleapis.com/compute/v1/" + disk})
			emit(diskRec)
			if g.chance(0.6) { // the OS Config agent reports on most VMs
				g.vulnReport(pid, num, zone, name, anc, parent, emit)
			}
			if len(g.instances) < runbookInstances {
				g.instances = append(g.instances, "//compute.googleapis.com/projects/"+pid+"/zones/"+zone+"/instances/"+name)
				if !keptProject {
					g.rbRecords = append(g.rbRecords, projectRec, netRec)
					keptProject = true
				}
				g.rbRecords = append(g.rbRecords, instRec, diskRec)
			}
		case k < 42: // bucket
			name := fmt.Sprintf("acme-%d-%s", g.r.IntN(1e7), g.pick([]string{"logs", "exports", "assets", "backups"}))
			loc := g.pick([]string{"EU", "US", "EUROPE-WEST1", "US-CENTRAL1"})
			bindings := []map[string]any{{"role": "roles/storage.legacyBucketOwner", "members": []string{"projectOwner:" + pid}}}
			if g.chance(0.03) {
				bindings = append(bindings, map[string]any{"role": "roles/storage.objectViewer", "members": []string{"allUsers"}})
			}
			emit(cai("storage.googleapis.com/Bucket", "//storage.googleapis.com/"+name, parent, anc, strings.ToLower(loc),
				map[string]any{"name": name, "location": loc, "storageClass": "STANDARD", "labels": g.labels(0.75), "projectNumber": num,
					"iamConfiguration": map[string]any{"uniformBucketLevelAccess": map[string]any{"enabled": true}, "publicAccessPrevention": "inherited"},
					"versioning":       map[string]any{"enabled": true}, "timeCreated": "2025-01-10T10:00:00.000Z", "selfLink": "https://www.googleapis.com/storage/v1/b/" + name}))
			g.write(g.iam, map[string]any{"name": "//storage.googleapis.com/" + name, "asset_type": "storage.googleapis.com/Bucket", "iam_policy": map[string]any{"bindings": bindings, "etag": "CAE="}, "ancestors": anc})
		case k < 50: // subnetwork
			name := fmt.Sprintf("subnet-%d", g.r.IntN(1e6))
			emit(cai("compute.googleapis.com/Subnetwork", "//compute.googleapis.com/projects/"+pid+"/regions/"+region+"/subnetworks/"+name, parent, anc, region,
				map[string]any{"name": name, "network": sl("global/networks/" + netName), "ipCidrRange": fmt.Sprintf("10.%d.%d.0/24", g.r.IntN(255), g.r.IntN(255)),
					"region": sl("regions/" + region), "privateIpGoogleAccess": true, "selfLink": sl("regions/" + region + "/subnetworks/" + name),
					"logConfig": map[string]any{"enable": g.chance(0.5), "aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5}}))
		default: // types no built-in policy reads
			t := g.pick([]string{"compute.googleapis.com/Address", "compute.googleapis.com/InstanceTemplate", "compute.googleapis.com/ForwardingRule", "iam.googleapis.com/ServiceAccount", "pubsub.googleapis.com/Topic", "compute.googleapis.com/Route"})
			name := fmt.Sprintf("r-%d", g.r.IntN(1e7))
			emit(cai(t, "//"+strings.SplitN(t, "/", 2)[0]+"/projects/"+pid+"/regions/"+region+"/"+strings.ToLower(strings.SplitN(t, "/", 2)[1])+"s/"+name, parent, anc, region,
				map[string]any{"name": name, "description": "generated", "labels": g.labels(0.5), "creationTimestamp": "2025-02-02T10:00:00.000Z", "selfLink": sl("regions/" + region + "/x/" + name)}))
		}
	}
}

func (g *gen) awsItem(acct, region, rtype, rid, arn string, cfg map[string]any, tags map[string]string, sup map[string]any) {
	if tags == nil {
		tags = map[string]string{}
	}
	if sup == nil {
		sup = map[string]any{}
	}
	item := map[string]any{"configurationItemVersion": "1.3", "configurationItemCaptureTime": "2026-11-20T08:00:00.000Z", "configurationStateId": 1763625600000,
		"awsAccountId": acct, "configurationItemStatus": "OK", "resourceType": rtype, "resourceId": rid, "ARN": arn, "awsRegion": region,
		"availabilityZone": "Not Applicable", "tags": tags, "relatedEvents": []string{}, "relationships": []any{}, "configuration": cfg, "supplementaryConfiguration": sup}
	b, _ := json.Marshal(item)
	if !g.awsFirst {
		g.aws.WriteString(",\n")
	}
	g.awsFirst = false
	g.aws.Write(b)
	g.awsAssets++
}

func (g *gen) account(i int, budget int) {
	acct := fmt.Sprintf("%012d", 100000000000+i)
	region := g.pick(awsRegions)
	vpc := fmt.Sprintf("vpc-%017x", g.r.Uint64()>>4)
	g.awsItem(acct, region, "AWS::EC2::VPC", vpc, "arn:aws:ec2:"+region+":"+acct+":vpc/"+vpc, map[string]any{"vpcId": vpc, "cidrBlock": "10.0.0.0/16", "isDefault": g.chance(0.3), "state": "available"}, nil, nil)
	budget--
	if g.chance(0.6) {
		g.awsItem(acct, region, "AWS::CloudTrail::Trail", "main", "arn:aws:cloudtrail:"+region+":"+acct+":trail/main", map[string]any{"TrailName": "main", "IsMultiRegionTrail": g.chance(0.8), "IsLogging": true, "LogFileValidationEnabled": g.chance(0.7)}, nil, nil)
		budget--
	}
	if g.chance(0.5) {
		id := fmt.Sprintf("%032x", g.r.Uint64())
		g.awsItem(acct, region, "AWS::GuardDuty::Detector", id, "arn:aws:guardduty:"+region+":"+acct+":detector/"+id, map[string]any{"Enable": true}, nil, nil)
		budget--
	}
	budget -= g.accountExtras(acct, region, vpc)
	for ; budget > 0; budget-- {
		switch k := g.r.IntN(100); {
		case k < 15:
			gid := fmt.Sprintf("sg-%017x", g.r.Uint64()>>4)
			perm := map[string]any{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipv4Ranges": []map[string]any{{"cidrIp": "10.0.0.0/8"}}, "ipv6Ranges": []any{}, "userIdGroupPairs": []any{}, "prefixListIds": []any{}}
			if g.chance(0.07) {
				perm["ipv4Ranges"] = []map[string]any{{"cidrIp": "0.0.0.0/0"}}
				perm["fromPort"], perm["toPort"] = 22, 22
			}
			g.awsItem(acct, region, "AWS::EC2::SecurityGroup", gid, "arn:aws:ec2:"+region+":"+acct+":security-group/"+gid,
				map[string]any{"groupId": gid, "groupName": "sg-" + g.pick(teams), "vpcId": vpc, "description": "generated", "ipPermissions": []any{perm},
					"ipPermissionsEgress": []any{map[string]any{"ipProtocol": "-1", "ipv4Ranges": []map[string]any{{"cidrIp": "0.0.0.0/0"}}}}}, nil, nil)
		case k < 45:
			iid := fmt.Sprintf("i-%017x", g.r.Uint64()>>4)
			vol := fmt.Sprintf("vol-%017x", g.r.Uint64()>>4)
			cfg := map[string]any{"instanceId": iid, "instanceType": "m5.large", "state": map[string]any{"code": 16, "name": "running"}, "vpcId": vpc,
				"subnetId": "subnet-0aa", "privateIpAddress": "10.0.1.10", "placement": map[string]any{"availabilityZone": region + "a"},
				"securityGroups": []any{map[string]any{"groupId": "sg-1", "groupName": "web"}}, "blockDeviceMappings": []any{map[string]any{"deviceName": "/dev/xvda", "ebs": map[string]any{"volumeId": vol}}},
				"networkInterfaces": []any{map[string]any{"networkInterfaceId": "eni-1", "vpcId": vpc, "subnetId": "subnet-0aa", "groups": []any{map[string]any{"groupId": "sg-1"}}}}}
			if g.chance(0.15) {
				cfg["publicIpAddress"] = fmt.Sprintf("52.%d.%d.%d", g.r.IntN(255), g.r.IntN(255), g.r.IntN(255))
			}
			tags := map[string]string{"Name": "app-" + iid[2:8], "env": "prod"}
			if g.chance(0.7) {
				tags["owner"] = g.pick(teams)
			}
			g.awsItem(acct, region, "AWS::EC2::Instance", iid, "arn:aws:ec2:"+region+":"+acct+":instance/"+iid, cfg, tags, nil)
			if g.chance(0.5) {
				g.inspector(acct, region, iid)
				budget--
			}
		case k < 55:
			name := fmt.Sprintf("acme-%d-data", g.r.IntN(1e8))
			sup := map[string]any{"BucketPolicy": map[string]any{"policyText": nil}, "PublicAccessBlockConfiguration": map[string]any{"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true}}
			if g.chance(0.04) {
				sup = map[string]any{"BucketPolicy": map[string]any{"policyText": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + name + `/*"}]}`}}
			}
			g.awsItem(acct, region, "AWS::S3::Bucket", name, "arn:aws:s3:::"+name, map[string]any{"name": name, "creationDate": "2024-06-01T12:00:00.000Z"}, map[string]string{"owner": g.pick(teams)}, sup)
		default:
			vol := fmt.Sprintf("vol-%017x", g.r.Uint64()>>4)
			g.awsItem(acct, region, "AWS::EC2::Volume", vol, "arn:aws:ec2:"+region+":"+acct+":volume/"+vol, map[string]any{"volumeId": vol, "size": 100, "state": "in-use", "availabilityZone": region + "a"}, map[string]string{"owner": g.pick(teams)}, nil)
		}
	}
}

func cmdInventory(args []string) error {
	fl := flag.NewFlagSet("inventory", flag.ExitOnError)
	n := fl.Int("n", 100000, "assets")
	out := fl.String("out", "bench/data", "output directory")
	seed := fl.Uint64("seed", 42, "random seed")
	fl.Parse(args)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files := map[string]*os.File{}
	for _, name := range []string{"gcp-resources.ndjson", "gcp-iam.ndjson", "aws-config.json", "aws-collected.ndjson"} {
		f, err := os.Create(filepath.Join(*out, name))
		if err != nil {
			return err
		}
		files[name] = f
	}
	g := &gen{r: rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15)), awsFirst: true,
		res: bufio.NewWriterSize(files["gcp-resources.ndjson"], 1<<20), iam: bufio.NewWriterSize(files["gcp-iam.ndjson"], 1<<20),
		aws: bufio.NewWriterSize(files["aws-config.json"], 1<<20), col: bufio.NewWriterSize(files["aws-collected.ndjson"], 1<<20)}
	org := "organizations/684315297612"
	folders := []string{"folders/511904211743", "folders/930266102457", "folders/220044101010"}
	g.write(g.res, cai("cloudresourcemanager.googleapis.com/Organization", "//cloudresourcemanager.googleapis.com/"+org, "", []string{org}, "", map[string]any{"name": org, "displayName": "acme.example"}))
	g.write(g.iam, map[string]any{"name": "//cloudresourcemanager.googleapis.com/" + org, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
		"iam_policy": map[string]any{"bindings": []map[string]any{{"role": "roles/resourcemanager.organizationAdmin", "members": []string{"group:cloud-admins@acme.example"}}},
			"auditConfigs": []map[string]any{{"service": "allServices", "auditLogConfigs": []map[string]any{{"logType": "ADMIN_READ"}}}}}})
	for _, f := range folders {
		g.write(g.res, cai("cloudresourcemanager.googleapis.com/Folder", "//cloudresourcemanager.googleapis.com/"+f, "//cloudresourcemanager.googleapis.com/"+org, []string{f, org}, "", map[string]any{"name": f, "displayName": f, "parent": org}))
	}
	g.gcpAssets = 4
	g.aws.WriteString(`{"fileVersion":"1.0","configSnapshotId":"bench","configurationItems":[` + "\n")
	gcpTarget := *n * 8 / 10
	for i := 0; g.gcpAssets < gcpTarget; i++ {
		g.project(i, org, folders[i%len(folders)], min(100, gcpTarget-g.gcpAssets))
	}
	for i := 0; g.awsAssets < *n-gcpTarget; i++ {
		g.account(i, min(100, *n-gcpTarget-g.awsAssets))
	}
	g.aws.WriteString("\n]}\n")
	for _, w := range []*bufio.Writer{g.res, g.iam, g.aws, g.col} {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	for _, f := range files {
		f.Close()
	}
	cfg := `approved_networks = ["projects/*/global/networks/prod-vpc", "vpc-0*"]
required_labels   = ["owner"]
ir_principals     = ["group:ir-team@acme.example", "arn:aws:iam::999999999999:role/IR"]
residency "pii" {
  label   = "data-class"
  regions = ["eu", "eu-*", "europe-*"]
}
`
	if err := os.WriteFile(filepath.Join(*out, "vigil.hcl"), []byte(cfg), 0o644); err != nil {
		return err
	}
	// A 100-step runbook for the planning benchmark: the steps of a
	// compromised-VM response (record, snapshot, export the snapshots,
	// isolate, suspend) for each of 20 instances, with the references,
	// dependencies and approvals of the real one, and the records its
	// simulated cloud needs.
	var rb strings.Builder
	rb.WriteString("runbook \"bench-100\" {\n  variable \"incident\" {\n    type    = string\n    default = \"INC-BENCH\"\n  }\n")
	phase := func(name string, step func(i int, id string)) {
		fmt.Fprintf(&rb, "  phase %q {\n", name)
		for i, id := range g.instances {
			step(i, id)
		}
		rb.WriteString("  }\n")
	}
	phase("identification", func(i int, id string) {
		fmt.Fprintf(&rb, "    step \"record_%02d\" {\n      action = \"core.evidence\"\n      args   = { assets = [%q], note = \"${var.incident}: as found\" }\n    }\n", i, id)
	})
	phase("investigation", func(i int, id string) {
		fmt.Fprintf(&rb, "    step \"snap_%02d\" {\n      action   = \"gcp.compute.snapshot_instance_disks\"\n      args     = { instance = %q, labels = { incident = var.incident } }\n      evidence = true\n    }\n", i, id)
		fmt.Fprintf(&rb, "    step \"export_%02d\" {\n      action   = \"gcp.compute.export_snapshots\"\n      args     = { snapshots = [for s in step.snap_%02d.outputs.snapshots : s.id], destination_project = \"acme-sec-forensics\" }\n      evidence = true\n    }\n", i, i)
	})
	phase("containment", func(i int, id string) {
		fmt.Fprintf(&rb, "    step \"isolate_%02d\" {\n      action = \"gcp.compute.isolate_instance\"\n      args   = { instance = %q }\n      approval {\n        reason = \"cuts ${%q} off the network\"\n      }\n    }\n", i, id, id)
		fmt.Fprintf(&rb, "    step \"suspend_%02d\" {\n      action     = \"gcp.compute.suspend_instance\"\n      args       = { instance = %q }\n      depends_on = [step.isolate_%02d]\n    }\n", i, id, i)
	})
	rb.WriteString("}\n")
	rbDir := filepath.Join(*out, "runbook")
	if err := os.MkdirAll(rbDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rbDir, "bench-100.hcl"), []byte(rb.String()), 0o644); err != nil {
		return err
	}
	var inv strings.Builder
	for _, rec := range g.rbRecords {
		b, _ := json.Marshal(rec)
		inv.Write(b)
		inv.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(rbDir, "inventory.ndjson"), []byte(inv.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %d GCP and %d AWS assets to %s\n", g.gcpAssets, g.awsAssets, *out)
	return nil
}

// --- opa ---------------------------------------------------------------

// cmdOPA writes what `opa eval` needs to run the built-in policies over
// the same normalized assets vigil judges: input.json ({"assets": [...]}),
// data.json (data.vigil.config and data.vigil.inventory), the policies and
// a wrapper query.
func cmdOPA(args []string) error {
	fl := flag.NewFlagSet("opa", flag.ExitOnError)
	in := fl.String("in", "bench/data", "inventory directory")
	out := fl.String("out", "bench/data/opa", "output directory")
	plan := fl.String("plan", "", "a Terraform plan to judge instead of the inventory (vigil check's assets)")
	cfgPath := fl.String("config", "", "vigil.hcl (default: the one in -in)")
	fl.Parse(args)
	if *cfgPath == "" {
		*cfgPath = filepath.Join(*in, "vigil.hcl")
	}
	files := []string{filepath.Join(*in, "gcp-resources.ndjson"), filepath.Join(*in, "gcp-iam.ndjson"), filepath.Join(*in, "aws-config.json"), filepath.Join(*in, "aws-collected.ndjson")}
	if *plan != "" {
		files = []string{*plan}
	}
	if err := os.MkdirAll(filepath.Join(*out, "policies"), 0o755); err != nil {
		return err
	}
	cfg, _, diags := config.Load(*cfgPath)
	if diags.HasErrors() {
		return diags
	}
	fset, err := inventory.Open(files...)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*out, "input.json"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`{"assets":[`)
	var mu sync.Mutex
	first := true
	idx := scan.NewIndex()
	// the residency labels, as vigil scan gives its index (VGL-NET-008)
	var labels []string
	for _, r := range cfg.Residency {
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	slices.Sort(labels)
	idx.SetClassLabels(labels)
	err = fset.Scan(context.Background(), func(a *asset.Asset) error {
		idx.Observe(a)
		// the input policies read: as vigil builds it, without data
		c := *a
		c.Data = nil
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		b, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		if len(c.Labels) == 0 {
			// vigil's input always has labels ({} when none); the JSON tag
			// omits an empty map, so put it back
			b = append([]byte(`{"labels":{},`), b[1:]...)
		}
		mu.Lock()
		defer mu.Unlock()
		if !first {
			w.WriteByte(',')
		}
		first = false
		w.Write(b)
		w.WriteByte('\n')
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		return err
	}
	f.Close()
	clock := map[string]any{"now_ns": genClock.UnixNano(), "now": genClock.Format(time.RFC3339)}
	data, _ := json.Marshal(map[string]any{"vigil": map[string]any{"config": cfg.Data(), "inventory": idx.Data(), "clock": clock}})
	if err := os.WriteFile(filepath.Join(*out, "data.json"), data, 0o644); err != nil {
		return err
	}
	// the built-in policies, unchanged
	err = fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, _ := fs.ReadFile(policies.FS, p)
		dst := filepath.Join(*out, "policies", strings.ReplaceAll(p, "/", "_"))
		return os.WriteFile(dst, src, 0o644)
	})
	if err != nil {
		return err
	}
	eng, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data()})
	if err != nil {
		return err
	}
	var wr strings.Builder
	wr.WriteString("package bench\n\nimport rego.v1\n\n# One rule per policy: every asset of its kinds is judged with\n# input.asset set to it, as vigil does.\n")
	for _, p := range eng.Policies() {
		kinds := "true"
		if !p.Matches("*") || len(p.Kinds) > 1 || p.Kinds[0] != "*" {
			q := make([]string, len(p.Kinds))
			for i, k := range p.Kinds {
				q[i] = fmt.Sprintf("%q", k)
			}
			kinds = fmt.Sprintf("a.kind in {%s}", strings.Join(q, ", "))
		}
		fmt.Fprintf(&wr, "\nfindings contains {\"policy_id\": %q, \"asset_id\": a.id, \"message\": f.msg} if {\n\tsome a in input.assets\n\t%s\n\tsome f in data.%s.deny with input as {\"asset\": a}\n}\n", p.ID, kinds, p.Package)
	}
	return os.WriteFile(filepath.Join(*out, "wrapper.rego"), []byte(wr.String()), 0o644)
}

// --- summary -----------------------------------------------------------

// cmdSummary prints the figures of a vigil JSON report the benchmark
// table needs, as key=value words for the shell.
func cmdSummary(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: gen summary VIGIL.json")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var doc struct {
		Summary struct {
			Assets     int64 `json:"assets"`
			Findings   int64 `json:"findings"`
			IndexBytes int64 `json:"index_bytes"`
			Phases     struct {
				Read       int64 `json:"read_ns"`
				CrossAsset int64 `json:"cross_asset_ns"`
				Sort       int64 `json:"sort_ns"`
			} `json:"phases"`
		} `json:"summary"`
	}
	if err := json.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&doc); err != nil {
		return err
	}
	s := doc.Summary
	fmt.Printf("assets=%d findings=%d index_bytes=%d read_s=%.2f cross_asset_s=%.2f sort_s=%.2f\n",
		s.Assets, s.Findings, s.IndexBytes, float64(s.Phases.Read)/1e9, float64(s.Phases.CrossAsset)/1e9, float64(s.Phases.Sort)/1e9)
	return nil
}

// --- compare -----------------------------------------------------------

func cmdCompare(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: gen compare VIGIL.json OPA.json")
	}
	load := func(path string, opa bool) (map[string]bool, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		type f struct {
			PolicyID string `json:"policy_id"`
			AssetID  string `json:"asset_id"`
			Message  string `json:"message"`
		}
		var list []f
		if opa {
			var doc struct {
				Result []struct {
					Expressions []struct {
						Value []f `json:"value"`
					} `json:"expressions"`
				} `json:"result"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, err
			}
			if len(doc.Result) > 0 && len(doc.Result[0].Expressions) > 0 {
				list = doc.Result[0].Expressions[0].Value
			}
		} else {
			var doc struct{ Findings []f }
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, err
			}
			list = doc.Findings
		}
		set := map[string]bool{}
		for _, x := range list {
			set[x.PolicyID+"|"+x.AssetID+"|"+x.Message] = true
		}
		return set, nil
	}
	a, err := load(args[0], false)
	if err != nil {
		return err
	}
	b, err := load(args[1], true)
	if err != nil {
		return err
	}
	var onlyA, onlyB []string
	for k := range a {
		if !b[k] {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if !a[k] {
			onlyB = append(onlyB, k)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	if len(onlyA)+len(onlyB) > 0 {
		for i := 0; i < len(onlyA) && i < 5; i++ {
			fmt.Println("only vigil:", onlyA[i])
		}
		for i := 0; i < len(onlyB) && i < 5; i++ {
			fmt.Println("only opa:  ", onlyB[i])
		}
		return fmt.Errorf("findings differ: %d only in vigil, %d only in opa", len(onlyA), len(onlyB))
	}
	fmt.Printf("identical: %d findings\n", len(a))
	return nil
}
