package gcpfake

import (
	compute "google.golang.org/api/compute/v1"
	iam "google.golang.org/api/iam/v1"
)

// Names of the scenario.
const (
	ProdProject     = "acme-prod"
	SecurityProject = "acme-sec-forensics"
	Zone            = "europe-west1-b"
	// Web1 has two disks, an external IP, SSH keys and network tags.
	Web1 = "projects/acme-prod/zones/europe-west1-b/instances/web-1"
	// OpenSSH is world-open on 22; OpenHTTPS on 443; Internal is 10/8.
	OpenSSH   = "projects/acme-prod/global/firewalls/allow-ssh-debug"
	OpenHTTPS = "projects/acme-prod/global/firewalls/allow-https"
	Internal  = "projects/acme-prod/global/firewalls/allow-internal"
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
		Metadata: []*compute.MetadataItems{{Key: "ssh-keys", Value: ptr("ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@acme.example")}}}
	f.projects[SecurityProject] = &Project{ID: SecurityProject, Number: "218745590023", Ancestors: []string{"folders/511904211743", "organizations/684315297612"},
		Labels:   map[string]string{"owner": "security-team", "purpose": "incident evidence"},
		Bindings: map[string][]string{"roles/owner": {"group:security-team@acme.example"}, "roles/compute.instanceAdmin.v1": {"group:ir-team@acme.example"}}}
	net := "projects/acme-prod/global/networks/prod-vpc"
	f.networks[net] = &compute.Network{Name: "prod-vpc", SelfLink: link(net), AutoCreateSubnetworks: false, Id: 70693204989031067}
	f.networks["projects/acme-sec-forensics/global/networks/forensics-vpc"] = &compute.Network{Name: "forensics-vpc", SelfLink: link("projects/acme-sec-forensics/global/networks/forensics-vpc")}
	fw := func(path, name string, ranges []string, ports ...string) {
		f.firewalls[path] = &compute.Firewall{Name: name, SelfLink: link(path), Network: link(net), Direction: "INGRESS", Priority: 1000,
			SourceRanges: ranges, Allowed: []*compute.FirewallAllowed{{IPProtocol: "tcp", Ports: ports}}}
	}
	fw(OpenSSH, "allow-ssh-debug", []string{"0.0.0.0/0", "10.0.0.0/8"}, "22")
	fw(OpenHTTPS, "allow-https", []string{"0.0.0.0/0"}, "443")
	fw(Internal, "allow-internal", []string{"10.0.0.0/8"}, "0-65535")
	zone := "projects/acme-prod/zones/" + Zone
	for _, d := range []struct {
		name string
		size int64
	}{{"web-1", 20}, {"web-1-data", 100}} {
		path := zone + "/disks/" + d.name
		f.disks[path] = &compute.Disk{Name: d.name, SelfLink: link(path), SizeGb: d.size, Zone: link(zone), Status: "READY", Users: []string{link(Web1)}}
	}
	f.instances[Web1] = &compute.Instance{Name: "web-1", Id: 4711, SelfLink: link(Web1), Zone: link(zone), Status: "RUNNING",
		MachineType: link(zone + "/machineTypes/e2-medium"),
		Labels:      map[string]string{"owner": "web-team", "env": "prod", "app": "shop-frontend"},
		Tags:        &compute.Tags{Items: []string{"http-server", "ssh"}, Fingerprint: fingerprint([]string{"http-server", "ssh"})},
		Disks: []*compute.AttachedDisk{
			{DeviceName: "web-1", Boot: true, Source: link(zone + "/disks/web-1")},
			{DeviceName: "web-1-data", Source: link(zone + "/disks/web-1-data")},
		},
		NetworkInterfaces: []*compute.NetworkInterface{{Name: "nic0", Network: link(net), NetworkIP: "10.20.0.5",
			Subnetwork:    link("projects/acme-prod/regions/europe-west1/subnetworks/prod-ew1"),
			AccessConfigs: []*compute.AccessConfig{{Name: "External NAT", Type: "ONE_TO_ONE_NAT", NatIP: "34.76.112.9"}}}},
		ServiceAccounts: []*compute.ServiceAccount{{Email: "shop-frontend@acme-prod.iam.gserviceaccount.com", Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}}},
		Metadata: &compute.Metadata{Items: []*compute.MetadataItems{
			{Key: "ssh-keys", Value: ptr("alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@acme.example\nmallory:ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQMallory mallory")},
			{Key: "startup-script", Value: ptr("#!/bin/sh\nsystemctl start shop")},
		}},
	}
	f.instances[Web1].Metadata.Fingerprint = fingerprint(f.instances[Web1].Metadata.Items)
	f.keys[LeakedKey] = &iam.ServiceAccountKey{Name: LeakedKey, KeyType: "USER_MANAGED", ValidAfterTime: "2025-02-01T00:00:00Z", ValidBeforeTime: "9999-12-31T23:59:59Z"}
	f.buckets["acme-sec-evidence"] = SecurityProject
	return f
}

func ptr(s string) *string { return &s }
