package gcpfake

import "fmt"

// Names of the scenario.
const (
	ProdProject     = "acme-prod"
	SecurityProject = "acme-sec-forensics"
	Zone            = "europe-west1-b"
	// Web1 has two persistent disks and a Local SSD, an external IP, SSH
	// keys and network tags, and two network interfaces: nic0 in ProdVPC,
	// nic1 in MgmtVPC.
	Web1    = "projects/acme-prod/zones/europe-west1-b/instances/web-1"
	ProdVPC = "projects/acme-prod/global/networks/prod-vpc"
	MgmtVPC = "projects/acme-prod/global/networks/mgmt-vpc"
	// ForensicsVPC is the security project's network (custom subnet mode,
	// one subnetwork in europe-west1).
	ForensicsVPC = "projects/acme-sec-forensics/global/networks/forensics-vpc"
	// OpenSSH is world-open on 22; OpenHTTPS on 443; Internal is 10/8.
	OpenSSH   = "projects/acme-prod/global/firewalls/allow-ssh-debug"
	OpenHTTPS = "projects/acme-prod/global/firewalls/allow-https"
	Internal  = "projects/acme-prod/global/firewalls/allow-internal"
	// HealthChecks allows Google's load-balancer health checks to every
	// instance of prod-vpc at priority 0: a rule a deny at priority 1
	// does not beat.
	HealthChecks = "projects/acme-prod/global/firewalls/allow-health-checks"
	// MgmtSSH lets the management range reach every instance of mgmt-vpc.
	MgmtSSH = "projects/acme-prod/global/firewalls/allow-mgmt-ssh"
	// LeakedKey is a user-managed key of the web service account.
	LeakedKey = "projects/acme-prod/serviceAccounts/shop-frontend@acme-prod.iam.gserviceaccount.com/keys/3f6c2a1b9d8e7f60"
)

// Scenario returns a fake with a production project that has the gaps
// vigil's policies look for, and an empty security project.
func Scenario() *Fake {
	f := New()
	link := f.selfLink
	f.projects[ProdProject] = &Project{ID: ProdProject, Number: "402398720121", Ancestors: []string{"folders/511904211743", "organizations/684315297612"},
		Labels:   map[string]string{"owner": "platform-team", "purpose": "customer-facing web shop", "env": "prod", "data-class": "pii"},
		Bindings: map[string][]string{"roles/owner": {"group:platform-team@acme.example"}},
		// enable-osconfig: web-1's OS Config vulnerability report exists
		// only because the agent runs, which it needs.
		Metadata: []Doc{{"key": "ssh-keys", "value": "ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@acme.example"}, {"key": "enable-osconfig", "value": "TRUE"}}}
	f.projects[SecurityProject] = &Project{ID: SecurityProject, Number: "218745590023", Ancestors: []string{"folders/511904211743", "organizations/684315297612"},
		Labels:   map[string]string{"owner": "security-team", "purpose": "incident evidence"},
		Bindings: map[string][]string{"roles/owner": {"group:security-team@acme.example"}, "roles/compute.instanceAdmin.v1": {"group:ir-team@acme.example"}}}
	for i, n := range []string{ProdVPC, MgmtVPC, ForensicsVPC} {
		f.networks[n] = Doc{"kind": "compute#network", "id": fmt.Sprint(70693204989031067 + i), "name": lastSeg(n), "selfLink": link(n),
			"autoCreateSubnetworks": false, "routingConfig": map[string]any{"routingMode": "REGIONAL"}}
	}
	f.AddSubnetwork("projects/acme-prod/regions/europe-west1/subnetworks/prod-ew1", ProdVPC, "10.20.0.0/24")
	f.AddSubnetwork("projects/acme-prod/regions/europe-west1/subnetworks/mgmt-ew1", MgmtVPC, "10.30.0.0/24")
	f.AddSubnetwork("projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1", ForensicsVPC, "10.99.0.0/24")
	fw := func(path, network string, priority int, ranges []string, protocol string, ports ...string) {
		entry := map[string]any{"IPProtocol": protocol}
		if len(ports) > 0 {
			entry["ports"] = anyStrings(ports)
		}
		f.firewalls[path] = Doc{"kind": "compute#firewall", "id": f.nextID(), "name": lastSeg(path), "selfLink": link(path), "network": link(network),
			"direction": "INGRESS", "priority": priority, "sourceRanges": anyStrings(ranges), "allowed": []any{entry},
			"disabled": false, "logConfig": map[string]any{"enable": false}, "creationTimestamp": "2025-01-14T10:00:00.000-08:00"}
	}
	fw(OpenSSH, ProdVPC, 1000, []string{"0.0.0.0/0", "10.0.0.0/8"}, "tcp", "22")
	fw(OpenHTTPS, ProdVPC, 1000, []string{"0.0.0.0/0"}, "tcp", "443")
	fw(Internal, ProdVPC, 1000, []string{"10.0.0.0/8"}, "tcp", "0-65535")
	fw(HealthChecks, ProdVPC, 0, []string{"35.191.0.0/16", "130.211.0.0/22"}, "tcp")
	fw(MgmtSSH, MgmtVPC, 1000, []string{"10.30.0.0/16"}, "tcp", "22")
	zone := "projects/acme-prod/zones/" + Zone
	for _, d := range []struct {
		name, size string
	}{{"web-1", "20"}, {"web-1-data", "100"}} {
		path := zone + "/disks/" + d.name
		f.disks[path] = Doc{"kind": "compute#disk", "id": f.nextID(), "name": d.name, "selfLink": link(path), "sizeGb": d.size, "zone": link(zone),
			"status": "READY", "type": link(zone + "/diskTypes/pd-balanced"), "users": anyStrings([]string{link(Web1)})}
	}
	tags := []string{"http-server", "ssh"}
	items := []Doc{
		{"key": "ssh-keys", "value": "alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@acme.example\nmallory:ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQMallory mallory"},
		{"key": "startup-script", "value": "#!/bin/sh\nsystemctl start shop"},
	}
	f.instances[Web1] = Doc{"kind": "compute#instance", "id": "4711", "name": "web-1", "selfLink": link(Web1), "zone": link(zone), "status": "RUNNING",
		"machineType": link(zone + "/machineTypes/n2-standard-4"),
		"labels":      map[string]any{"owner": "web-team", "env": "prod", "app": "shop-frontend"},
		"tags":        map[string]any{"items": anyStrings(tags), "fingerprint": fingerprint(tags)},
		"disks": []any{
			map[string]any{"kind": "compute#attachedDisk", "index": 0, "deviceName": "web-1", "boot": true, "type": "PERSISTENT", "mode": "READ_WRITE",
				"interface": "SCSI", "autoDelete": true, "source": link(zone + "/disks/web-1")},
			map[string]any{"kind": "compute#attachedDisk", "index": 1, "deviceName": "web-1-data", "type": "PERSISTENT", "mode": "READ_WRITE",
				"interface": "SCSI", "source": link(zone + "/disks/web-1-data")},
			map[string]any{"kind": "compute#attachedDisk", "index": 2, "deviceName": "local-ssd-0", "type": "SCRATCH", "mode": "READ_WRITE",
				"interface": "NVME", "autoDelete": true, "diskSizeGb": "375"},
		},
		"networkInterfaces": []any{
			map[string]any{"kind": "compute#networkInterface", "name": "nic0", "network": link(ProdVPC), "networkIP": "10.20.0.5",
				"subnetwork":    link("projects/acme-prod/regions/europe-west1/subnetworks/prod-ew1"),
				"accessConfigs": []any{map[string]any{"kind": "compute#accessConfig", "name": "External NAT", "type": "ONE_TO_ONE_NAT", "natIP": "34.76.112.9"}}},
			map[string]any{"kind": "compute#networkInterface", "name": "nic1", "network": link(MgmtVPC), "networkIP": "10.30.0.5",
				"subnetwork": link("projects/acme-prod/regions/europe-west1/subnetworks/mgmt-ew1")},
		},
		"serviceAccounts": []any{map[string]any{"email": "shop-frontend@acme-prod.iam.gserviceaccount.com",
			"scopes": anyStrings([]string{"https://www.googleapis.com/auth/cloud-platform"})}},
		"metadata": map[string]any{"kind": "compute#metadata", "items": list(items), "fingerprint": fingerprint(items)},
	}
	f.keys[LeakedKey] = Doc{"name": LeakedKey, "keyType": "USER_MANAGED", "keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED",
		"validAfterTime": "2025-02-01T00:00:00Z", "validBeforeTime": "9999-12-31T23:59:59Z"}
	f.buckets["acme-sec-evidence"] = SecurityProject
	f.logEntries = ScenarioEntries()
	return f
}
