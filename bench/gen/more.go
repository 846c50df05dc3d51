package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// The kinds of issue 19, in the proportions of a real estate: each project
// has its compute metadata, a handful of enabled services, its _Default
// and _Required sinks, sometimes log-based metrics with alert policies,
// and service account keys, a third Artifact Analysis reports of their
// container images; most VMs have an OS Config vulnerability report, a
// few with a fixable critical CVE. Each AWS account has IAM
// users with keys (credential report rows), a network ACL per VPC,
// sometimes flow logs, a metric filter and alarm or EventBridge rules,
// roles, Inspector findings for half its instances and Inspector's status.

// genClock is the time the benchmark's ages are judged by (run.sh passes
// it to vigil as --as-of, and gen opa writes it as data.vigil.clock).
var genClock = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func (g *gen) daysAgo(max int) string {
	return genClock.Add(-time.Duration(g.r.IntN(max*24)) * time.Hour).Format(time.RFC3339)
}

func (g *gen) instanceMetadata() []map[string]any {
	var items []map[string]any
	if g.chance(0.7) {
		items = append(items, map[string]any{"key": "enable-oslogin", "value": "TRUE"})
	}
	if g.chance(0.2) {
		items = append(items, map[string]any{"key": "block-project-ssh-keys", "value": "TRUE"})
	}
	if g.chance(0.3) {
		items = append(items, map[string]any{"key": "startup-script", "value": "#!/bin/bash\napt-get update && apt-get -y upgrade\n"})
	}
	return items
}

func (g *gen) projectExtras(pid, num string, anc []string, parent, region string, emit func(map[string]any)) {
	n := 0
	put := func(rec map[string]any) { emit(rec); n++ }
	var md []map[string]any
	if g.chance(0.7) {
		md = append(md, map[string]any{"key": "enable-oslogin", "value": "TRUE"})
	}
	if g.chance(0.6) {
		md = append(md, map[string]any{"key": "enable-osconfig", "value": "TRUE"})
	}
	if g.chance(0.5) {
		md = append(md, map[string]any{"key": "ssh-keys", "value": "deploy:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBENCH deploy@ci"})
	}
	put(cai("compute.googleapis.com/Project", "//compute.googleapis.com/projects/"+pid, parent, anc, "global",
		map[string]any{"kind": "compute#project", "id": num, "name": pid, "commonInstanceMetadata": map[string]any{"items": md, "fingerprint": "8tcn5Xr9QvQ="},
			"defaultServiceAccount": num + "-compute@developer.gserviceaccount.com", "selfLink": "https://www.googleapis.com/compute/v1/projects/" + pid}))
	services := []string{"compute.googleapis.com", "logging.googleapis.com", "storage.googleapis.com"}
	if g.chance(0.6) {
		services = append(services, "osconfig.googleapis.com")
	}
	if g.chance(0.5) {
		services = append(services, "securitycenter.googleapis.com")
	}
	for _, sv := range services {
		put(cai("serviceusage.googleapis.com/Service", "//serviceusage.googleapis.com/projects/"+num+"/services/"+sv, parent, anc, "global",
			map[string]any{"name": "projects/" + num + "/services/" + sv, "parent": "projects/" + num, "state": "ENABLED", "config": map[string]any{"name": sv}}))
	}
	for _, sink := range []string{"_Default", "_Required"} {
		put(cai("logging.googleapis.com/LogSink", "//logging.googleapis.com/projects/"+pid+"/sinks/"+sink, parent, anc, "global",
			map[string]any{"name": sink, "destination": "logging.googleapis.com/projects/" + pid + "/locations/global/buckets/" + sink, "filter": `NOT LOG_ID("cloudaudit.googleapis.com/activity")`}))
	}
	if g.chance(0.3) {
		for _, m := range []struct{ name, filter string }{
			{"firewall-changes", `resource.type="gce_firewall_rule" AND protoPayload.methodName:"compute.firewalls"`},
			{"route-changes", `resource.type="gce_route" AND protoPayload.methodName:"compute.routes"`},
			{"network-changes", `resource.type="gce_network" AND protoPayload.methodName:"compute.networks"`},
			{"owner-changes", `protoPayload.serviceName="cloudresourcemanager.googleapis.com" AND protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner"`},
		} {
			put(cai("logging.googleapis.com/LogMetric", "//logging.googleapis.com/projects/"+pid+"/metrics/"+m.name, parent, anc, "global",
				map[string]any{"name": m.name, "filter": m.filter, "metricDescriptor": map[string]any{"metricKind": "DELTA", "valueType": "INT64"}}))
			id := fmt.Sprint(g.r.Uint64() % 1e12)
			put(cai("monitoring.googleapis.com/AlertPolicy", "//monitoring.googleapis.com/projects/"+pid+"/alertPolicies/"+id, parent, anc, "global",
				map[string]any{"name": "projects/" + pid + "/alertPolicies/" + id, "displayName": m.name, "enabled": true, "combiner": "OR",
					"conditions":           []any{map[string]any{"displayName": m.name, "conditionThreshold": map[string]any{"filter": `metric.type="logging.googleapis.com/user/` + m.name + `" AND resource.type="global"`, "comparison": "COMPARISON_GT", "duration": "0s"}}},
					"notificationChannels": []string{"projects/" + pid + "/notificationChannels/1"}}))
		}
	}
	for i := 0; i < 1+g.r.IntN(2); i++ {
		sa := fmt.Sprintf("app-%d@%s.iam.gserviceaccount.com", i, pid)
		if g.chance(0.1) {
			sa = num + "-compute@developer.gserviceaccount.com"
		}
		typ := "SYSTEM_MANAGED"
		if g.chance(0.5) {
			typ = "USER_MANAGED"
		}
		kid := fmt.Sprintf("%040x", g.r.Uint64())
		put(cai("iam.googleapis.com/ServiceAccountKey", "//iam.googleapis.com/projects/"+pid+"/serviceAccounts/"+sa+"/keys/"+kid, parent, anc, "global",
			map[string]any{"name": "projects/" + pid + "/serviceAccounts/" + sa + "/keys/" + kid, "validAfterTime": g.daysAgo(400), "validBeforeTime": "9999-12-31T23:59:59Z", "keyAlgorithm": "KEY_ALG_RSA_2048", "keyType": typ}))
	}
	// A third of the projects push container images that Artifact
	// Analysis scans: one report per image (the collector groups a
	// project's occurrences by image), most with a few CVEs, some fixable.
	if g.chance(0.3) {
		put(cai("serviceusage.googleapis.com/Service", "//serviceusage.googleapis.com/projects/"+num+"/services/containeranalysis.googleapis.com", parent, anc, "global",
			map[string]any{"name": "projects/" + num + "/services/containeranalysis.googleapis.com", "parent": "projects/" + num, "state": "ENABLED", "config": map[string]any{"name": "containeranalysis.googleapis.com"}}))
		for i := 0; i < 1+g.r.IntN(3); i++ {
			uri := fmt.Sprintf("https://%s-docker.pkg.dev/%s/apps/app-%d@sha256:%016x%016x", region, pid, i, g.r.Uint64(), g.r.Uint64())
			occ := []any{}
			for j := g.r.IntN(8); j > 0; j-- {
				cve, sev := g.pick(cves), g.pick(sevs)
				fixed := map[string]any{"kind": "MAXIMUM"}
				if g.chance(0.4) {
					fixed = map[string]any{"kind": "NORMAL", "fullName": "1.2.3-1+deb12u1"}
				}
				occ = append(occ, map[string]any{"name": fmt.Sprintf("projects/%s/occurrences/%016x", pid, g.r.Uint64()), "kind": "VULNERABILITY", "noteName": "projects/goog-vulnz/notes/" + cve,
					"vulnerability": map[string]any{"shortDescription": cve, "severity": sev, "effectiveSeverity": sev, "fixAvailable": fixed["kind"] == "NORMAL",
						"packageIssue": []any{map[string]any{"affectedPackage": "libssl3", "effectiveSeverity": sev, "fixAvailable": fixed["kind"] == "NORMAL", "fixedVersion": fixed}}}})
			}
			put(cai("containeranalysis.googleapis.com/ImageVulnerabilities", "//containeranalysis.googleapis.com/projects/"+pid+"/imageVulnerabilities/"+url.PathEscape(uri), parent, anc, "global",
				map[string]any{"resourceUri": uri, "occurrences": occ}))
		}
	}
	g.projectExtraCount = n
}

var cves = []string{"CVE-2024-6387", "CVE-2023-48795", "CVE-2024-3094", "CVE-2023-38545", "CVE-2024-2961", "CVE-2023-4911", "CVE-2022-3602", "CVE-2021-3156"}
var sevs = []string{"LOW", "MEDIUM", "MEDIUM", "HIGH", "CRITICAL"}

func (g *gen) vulnReport(pid, num, zone, name string, anc []string, parent string, emit func(map[string]any)) {
	// The record's name links it to its VM (projects/NUMBER/locations/ZONE/
	// instances/NAME/vulnerabilityReport), as in a CAI export.
	var vulns []any
	for i := g.r.IntN(6); i > 0; i-- {
		v := map[string]any{"details": map[string]any{"cve": g.pick(cves), "severity": g.pick(sevs), "cvssV3": map[string]any{"baseScore": 7.5}}, "installedInventoryItemIds": []string{"d-pkg"}}
		if g.chance(0.3) {
			v["availableInventoryItemIds"] = []string{"a-pkg"}
			v["items"] = []any{map[string]any{"installedInventoryItemId": "d-pkg", "availableInventoryItemId": "a-pkg"}}
		}
		vulns = append(vulns, v)
	}
	emit(cai("osconfig.googleapis.com/VulnerabilityReport", "//osconfig.googleapis.com/projects/"+num+"/locations/"+zone+"/instances/"+name+"/vulnerabilityReport", parent, anc, zone,
		map[string]any{"name": "projects/" + num + "/locations/" + zone + "/instances/" + name + "/vulnerabilityReport", "updateTime": "2026-11-26T04:12:09Z", "vulnerabilities": vulns}))
}

// collected writes one record as vigil's AWS collector does (a
// configuration item) to aws-collected.ndjson.
func (g *gen) collected(acct, region, rtype, rid, arn string, cfg map[string]any, sup map[string]any) {
	item := map[string]any{"arn": arn, "accountId": acct, "resourceType": rtype, "resourceId": rid, "resourceName": rid, "awsRegion": region, "configuration": cfg}
	if sup != nil {
		item["supplementaryConfiguration"] = sup
	}
	b, _ := json.Marshal(item)
	g.col.Write(b)
	g.col.WriteByte('\n')
	g.awsAssets++
}

// accountExtras adds an account's IAM, network ACL, flow log, alerting,
// roles and Inspector records; it returns how many it made.
func (g *gen) accountExtras(acct, region, vpc string) int {
	before := g.awsAssets
	root := map[string]any{"user": "<root_account>", "password_enabled": "not_supported", "mfa_active": fmt.Sprint(g.chance(0.9)), "access_key_1_active": fmt.Sprint(g.chance(0.05)), "access_key_2_active": "false"}
	g.collected(acct, "global", "AWS::::Account", acct, "", map[string]any{"summaryMap": map[string]any{"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}},
		map[string]any{"CredentialReport": root})
	for u := 0; u < 2+g.r.IntN(3); u++ {
		name := fmt.Sprintf("%s-%d", g.pick(teams), u)
		k1, k2 := g.chance(0.8), g.chance(0.1)
		row := map[string]any{"user": name, "password_enabled": fmt.Sprint(g.chance(0.4)), "mfa_active": fmt.Sprint(g.chance(0.7)), "access_key_1_active": fmt.Sprint(k1), "access_key_2_active": fmt.Sprint(k2)}
		g.collected(acct, "global", "AWS::IAM::User", "AIDA"+name, "arn:aws:iam::"+acct+":user/"+name, map[string]any{"userName": name, "path": "/", "createDate": "2024-01-15T09:00:00Z"},
			map[string]any{"CredentialReport": row})
		for i, active := range []bool{k1, k2} {
			if !active {
				continue
			}
			kid := fmt.Sprintf("AKIA%016X", g.r.Uint64()>>1)
			cfg := map[string]any{"userName": name, "accessKeyId": kid, "status": "Active", "createDate": g.daysAgo(500)}
			if i == 0 || g.chance(0.5) {
				cfg["lastUsedDate"] = g.daysAgo(120)
			}
			g.collected(acct, "global", "AWS::IAM::AccessKey", kid, "arn:aws:iam::"+acct+":user/"+name+"/accesskey/"+kid, cfg, nil)
		}
	}
	for _, st := range []string{"ENABLED", "DISABLED"}[:1+g.r.IntN(2)] {
		if g.chance(0.5) {
			g.collected(acct, region, "AWS::Inspector2::AccountStatus", acct+"/"+region, "arn:aws:inspector2:"+region+":"+acct+":account-status", map[string]any{"status": st, "ec2": st}, nil)
			break
		}
	}
	acl := fmt.Sprintf("acl-%017x", g.r.Uint64()>>4)
	g.awsItem(acct, region, "AWS::EC2::NetworkAcl", acl, "arn:aws:ec2:"+region+":"+acct+":network-acl/"+acl, map[string]any{"networkAclId": acl, "vpcId": vpc, "isDefault": true,
		"entries": []any{
			map[string]any{"ruleNumber": 100, "protocol": "-1", "ruleAction": "allow", "egress": false, "cidrBlock": "0.0.0.0/0"},
			map[string]any{"ruleNumber": 32767, "protocol": "-1", "ruleAction": "deny", "egress": false, "cidrBlock": "0.0.0.0/0"},
			map[string]any{"ruleNumber": 100, "protocol": "-1", "ruleAction": "allow", "egress": true, "cidrBlock": "0.0.0.0/0"},
		},
		"associations": []any{map[string]any{"subnetId": "subnet-0aa", "networkAclId": acl}}}, nil, nil)
	if g.chance(0.5) {
		fl := fmt.Sprintf("fl-%017x", g.r.Uint64()>>4)
		g.awsItem(acct, region, "AWS::EC2::FlowLog", fl, "arn:aws:ec2:"+region+":"+acct+":vpc-flow-log/"+fl, map[string]any{"flowLogId": fl, "resourceId": vpc, "flowLogStatus": "ACTIVE", "trafficType": "ALL"}, nil, nil)
	}
	if g.chance(0.2) {
		g.awsItem(acct, region, "AWS::Events::Rule", "security-changes", "arn:aws:events:"+region+":"+acct+":rule/security-changes",
			map[string]any{"Name": "security-changes", "EventPattern": `{"source":["aws.ec2","aws.iam","aws.cloudtrail"],"detail-type":["AWS API Call via CloudTrail"]}`, "State": "ENABLED",
				"Targets": []any{map[string]any{"Id": "sns", "Arn": "arn:aws:sns:" + region + ":" + acct + ":secops"}}}, nil, nil)
	}
	for i := 0; i < 1+g.r.IntN(3); i++ {
		trust := "arn:aws:iam::" + acct + ":root"
		if g.chance(0.3) {
			trust = "arn:aws:iam::999999999999:role/IR"
		}
		doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": trust}, "Action": "sts:AssumeRole"}}})
		name := fmt.Sprintf("role-%d", i)
		g.awsItem(acct, "global", "AWS::IAM::Role", "AROA"+name, "arn:aws:iam::"+acct+":role/"+name, map[string]any{"roleName": name, "assumeRolePolicyDocument": url.QueryEscape(string(doc))}, nil, nil)
	}
	return g.awsAssets - before
}

// inspector writes the Inspector findings of one instance.
func (g *gen) inspector(acct, region, iid string) {
	var fs []any
	for i := 1 + g.r.IntN(4); i > 0; i-- {
		fix := "NO"
		if g.chance(0.3) {
			fix = "YES"
		}
		fs = append(fs, map[string]any{"type": "PACKAGE_VULNERABILITY", "status": "ACTIVE", "severity": g.pick(sevs), "fixAvailable": fix,
			"packageVulnerabilityDetails": map[string]any{"vulnerabilityId": g.pick(cves), "vulnerablePackages": []any{map[string]any{"name": "openssl", "fixedInVersion": "3.0.13"}}}})
	}
	g.collected(acct, region, "AWS::Inspector2::Findings", iid, "arn:aws:inspector2:"+region+":"+acct+":findings/"+iid, map[string]any{"resourceId": iid, "resourceType": "AWS_EC2_INSTANCE", "findings": fs}, nil)
}
