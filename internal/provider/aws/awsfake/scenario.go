package awsfake

import "time"

// Accounts of the scenario.
const (
	ProdAccount     = "111111111111"
	SecurityAccount = "333333333333"
	// LeakedKey is the access key the leaked-key scenario revokes.
	LeakedKey = "AKIAFAKELEAKED000001"
	// OtherKey is a second active key of the same user.
	OtherKey = "AKIAFAKEOTHER0000002"
	// WebInstance has two network interfaces and two volumes.
	WebInstance = "i-0aaaaaaaaaaaa0001"
	// WebGroup lets the internet reach SSH (and 10/8 in the same rule)
	// and HTTPS; DBGroup lets ::/0 reach RDP.
	WebGroup = "sg-0aaaaaaaaaaaa0001"
	DBGroup  = "sg-0aaaaaaaaaaaa0002"
	// InternalGroup is open to 10/8 only.
	InternalGroup = "sg-0aaaaaaaaaaaa0003"
	// ProdSubnet holds web-1; ProdACL is the prod VPC's default network
	// ACL, associated with it.
	ProdSubnet = "subnet-0aaaaaaaaaaaa001"
	ProdACL    = "acl-0aaaaaaaaaaaa0001"
	// EvidenceKey is a customer managed KMS key of the production account
	// that the security account may use: the key to re-encrypt snapshots
	// the AWS managed key makes unshareable.
	EvidenceKey = "arn:aws:kms:eu-west-1:111111111111:key/6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
)

// WebVolumeBlocks are the written blocks of web-1's volumes: the first, a
// run, one in the middle, the last (of 2048), and unwritten stretches
// between them.
var WebVolumeBlocks = map[string][]int64{
	"vol-0aaaaaaaaaaaa0001": {0, 1, 2, 3, 700, 1500, 2047},
	"vol-0aaaaaaaaaaaa0002": {5, 1024, 1025},
}

// AlertTime is when the scenario's alert about web-1 fired.
var AlertTime = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// AttackerIP is where the scenario's attacker calls from.
const AttackerIP = "203.0.113.50"

// scenarioEvents are the documented sample records (Samples) as the
// scenario's attacker made them with the leaked key of ci-deployer: a
// console sign-in three hours before the alert, an SSH key pushed to
// web-1 an hour before, and batch-1 terminated half an hour after.
func scenarioEvents() []TrailEvent {
	s := Samples()
	user := "arn:aws:iam::" + ProdAccount + ":user/ci-deployer"
	who := func(r map[string]any, key string) {
		id := r["userIdentity"].(map[string]any)
		id["arn"], id["accountId"], id["principalId"] = user, ProdAccount, "AIDAFAKE0000000000001"
		if id["type"] == "AssumedRole" {
			id["arn"] = "arn:aws:sts::" + ProdAccount + ":assumed-role/ci-deployer-role/ci-deployer"
			id["sessionContext"].(map[string]any)["sessionIssuer"].(map[string]any)["accountId"] = ProdAccount
		} else {
			id["type"], id["userName"] = "IAMUser", "ci-deployer"
		}
		if key != "" {
			id["accessKeyId"] = key
		}
		r["recipientAccountId"], r["sourceIPAddress"] = ProdAccount, AttackerIP
	}
	at := func(r map[string]any, t time.Time, region string) TrailEvent {
		r["eventTime"], r["awsRegion"] = t.Format(time.RFC3339), region
		return TrailEvent{Account: ProdAccount, Region: region, Time: t, Record: r}
	}
	login, ssh, term := s[0], s[1], s[2]
	who(login, "")
	who(ssh, LeakedKey)
	ssh["requestParameters"].(map[string]any)["instanceId"] = WebInstance
	who(term, LeakedKey)
	term["requestParameters"].(map[string]any)["instancesSet"].(map[string]any)["items"].([]any)[0].(map[string]any)["instanceId"] = "i-0aaaaaaaaaaaa0002"
	term["responseElements"].(map[string]any)["instancesSet"].(map[string]any)["items"].([]any)[0].(map[string]any)["instanceId"] = "i-0aaaaaaaaaaaa0002"
	return []TrailEvent{
		at(login, AlertTime.Add(-3*time.Hour), "us-east-1"),
		at(ssh, AlertTime.Add(-time.Hour), "eu-west-1"),
		at(term, AlertTime.Add(30*time.Minute), "eu-west-1"),
	}
}

// Scenario returns a fake with a small production account that has the
// gaps vigil's policies look for, and an empty security account. What a
// request makes stays unseen by the next one, as EC2's eventual
// consistency allows.
func Scenario() *Fake {
	f := New(ProdAccount)
	f.Lag = 1
	created := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	f.With(func(f *Fake) {
		prod := f.Get(ProdAccount)
		prod.Name = "acme-prod"
		prod.Tags = map[string]string{"owner": "platform-team", "purpose": "web shop"}
		f.Get(SecurityAccount).Name = "acme-security"
		eu := prod.Region("eu-west-1")
		eu.VPCs["vpc-0aaaaaaaaaaaa0001"] = &VPC{ID: "vpc-0aaaaaaaaaaaa0001", CIDR: "10.0.0.0/16", Tags: map[string]string{"Name": "prod"}}
		eu.VPCs["vpc-0aaaaaaaaaaaa0002"] = &VPC{ID: "vpc-0aaaaaaaaaaaa0002", CIDR: "172.31.0.0/16", IsDefault: true}
		eu.Subnets["subnet-0aaaaaaaaaaaa001"] = &Subnet{ID: "subnet-0aaaaaaaaaaaa001", VpcID: "vpc-0aaaaaaaaaaaa0001", CIDR: "10.0.1.0/24", AZ: "eu-west-1a"}
		eu.NetworkACLs[ProdACL] = &NetworkACL{ID: ProdACL, VpcID: "vpc-0aaaaaaaaaaaa0001", Default: true, AllowAll: true,
			Associations: map[string]string{"aclassoc-0aaaaaaaaaaaa001": ProdSubnet}}
		prod.KMSKeys["6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"] = &KMSKey{ID: "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", ARN: EvidenceKey,
			Alias: "vigil-evidence", Manager: "CUSTOMER", Users: []string{SecurityAccount}}
		eu.SecurityGroups[WebGroup] = &SecurityGroup{ID: WebGroup, Name: "web", Description: "web tier", VpcID: "vpc-0aaaaaaaaaaaa0001",
			Ingress: []Perm{
				{Protocol: "tcp", From: 22, To: 22, CIDRs: []string{"0.0.0.0/0", "10.0.0.0/8"}},
				{Protocol: "tcp", From: 443, To: 443, CIDRs: []string{"0.0.0.0/0"}},
			},
			Egress: []Perm{{Protocol: "-1", From: -1, To: -1, CIDRs: []string{"0.0.0.0/0"}}}}
		eu.SecurityGroups[DBGroup] = &SecurityGroup{ID: DBGroup, Name: "db", Description: "db tier", VpcID: "vpc-0aaaaaaaaaaaa0001",
			Ingress: []Perm{
				{Protocol: "tcp", From: 3389, To: 3389, IPv6: []string{"::/0"}},
				{Protocol: "tcp", From: 5432, To: 5432, Groups: []string{WebGroup}},
			}}
		eu.SecurityGroups[InternalGroup] = &SecurityGroup{ID: InternalGroup, Name: "internal", Description: "internal", VpcID: "vpc-0aaaaaaaaaaaa0001",
			Ingress: []Perm{{Protocol: "-1", From: -1, To: -1, CIDRs: []string{"10.0.0.0/8"}}}}
		eu.Instances[WebInstance] = &Instance{ID: WebInstance, AZ: "eu-west-1a", VpcID: "vpc-0aaaaaaaaaaaa0001", SubnetID: "subnet-0aaaaaaaaaaaa001",
			PrivateIP: "10.0.1.10", State: "running",
			ENIs: []*ENI{
				{ID: "eni-0aaaaaaaaaaaa0001", Groups: []string{WebGroup}, PublicIP: "52.18.44.101"},
				{ID: "eni-0aaaaaaaaaaaa0002", Groups: []string{DBGroup, InternalGroup}},
			},
			Volumes: []string{"vol-0aaaaaaaaaaaa0001", "vol-0aaaaaaaaaaaa0002"},
			Tags:    map[string]string{"Name": "web-1", "owner": "payments"}}
		eu.Instances["i-0aaaaaaaaaaaa0002"] = &Instance{ID: "i-0aaaaaaaaaaaa0002", AZ: "eu-west-1b", VpcID: "vpc-0aaaaaaaaaaaa0001",
			PrivateIP: "10.0.2.20", State: "running", ENIs: []*ENI{{ID: "eni-0aaaaaaaaaaaa0003", Groups: []string{InternalGroup}}},
			Volumes: []string{"vol-0aaaaaaaaaaaa0003"}, Tags: map[string]string{"Name": "batch-1"}}
		// web-1's volumes are 1 GiB (2048 blocks) each, so that hashing
		// their content stays quick, with a few written blocks among
		// unwritten ones (WebVolumeBlocks).
		for i, v := range []string{"vol-0aaaaaaaaaaaa0001", "vol-0aaaaaaaaaaaa0002", "vol-0aaaaaaaaaaaa0003"} {
			az, size := "eu-west-1a", 1
			if i == 2 {
				az, size = "eu-west-1b", 24
			}
			eu.Volumes[v] = &Volume{ID: v, AZ: az, Size: size}
			eu.Volumes[v].Write(WebVolumeBlocks[v]...)
		}
		eu.Detectors["4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"] = "ENABLED"
		f.events = scenarioEvents()
		us := prod.Region("us-east-1")
		us.Trails = []*Trail{{Name: "org-trail", Bucket: "acme-trail-logs", MultiRegion: true, Logging: true}}
		us.VPCs["vpc-0bbbbbbbbbbbb0001"] = &VPC{ID: "vpc-0bbbbbbbbbbbb0001", CIDR: "172.31.0.0/16", IsDefault: true}
		prod.Users["ci-deployer"] = &User{Name: "ci-deployer", ID: "AIDAFAKE0000000000001", Created: created}
		prod.Keys[LeakedKey] = &AccessKey{ID: LeakedKey, User: "ci-deployer", Status: "Active", Created: created, LastUsed: created.AddDate(1, 8, 0)}
		prod.Keys[OtherKey] = &AccessKey{ID: OtherKey, User: "ci-deployer", Status: "Active", Created: created.AddDate(0, 6, 0)}
		prod.Buckets["acme-prod-reports"] = &Bucket{Name: "acme-prod-reports", Region: "eu-west-1", Created: created, PublicRead: true,
			Tags: map[string]string{"owner": "finance"}}
		prod.Buckets["acme-trail-logs"] = &Bucket{Name: "acme-trail-logs", Region: "us-east-1", Created: created,
			PublicAccessBlock: &[4]bool{true, true, true, true},
			Policy:            `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::acme-trail-logs/*"}]}`}
	})
	return f
}
