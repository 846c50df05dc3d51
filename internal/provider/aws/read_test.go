package aws

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

// A resource read again is exactly the asset a full collection makes of it:
// the same calls and the same normalization.
func TestReadMatchesCollect(t *testing.T) {
	f, opts := start(t)
	inv, _ := collect(t, opts)
	r, err := NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	acct := awsfake.ProdAccount
	refs := []Ref{
		{Type: "AWS::EC2::SecurityGroup", Account: acct, Region: "eu-west-1", ID: "arn:aws:ec2:eu-west-1:111111111111:security-group/" + awsfake.WebGroup, Name: awsfake.WebGroup},
		{Type: "AWS::EC2::Instance", Account: acct, Region: "eu-west-1", ID: "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance, Name: awsfake.WebInstance},
		{Type: "AWS::EC2::VPC", Account: acct, Region: "eu-west-1", ID: "arn:aws:ec2:eu-west-1:111111111111:vpc/vpc-0aaaaaaaaaaaa0001", Name: "vpc-0aaaaaaaaaaaa0001"},
		{Type: "AWS::S3::Bucket", Account: acct, Region: "eu-west-1", ID: "arn:aws:s3:::acme-prod-reports", Name: "acme-prod-reports"},
		{Type: "AWS::CloudTrail::Trail", Account: acct, Region: "us-east-1", ID: "arn:aws:cloudtrail:us-east-1:111111111111:trail/org-trail", Name: "org-trail"},
		{Type: "AWS::GuardDuty::Detector", Account: acct, Region: "eu-west-1", ID: "arn:aws:guardduty:eu-west-1:111111111111:detector/4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5", Name: "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"},
		{Type: "AWS::IAM::AccessKey", Account: acct, Region: "global", ID: "arn:aws:iam::111111111111:user/ci-deployer/accesskey/" + awsfake.LeakedKey, Name: awsfake.LeakedKey, User: "ci-deployer"},
	}
	before := len(f.Calls())
	got, err := r.Read(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assets) != len(refs) || len(got.Gone) != 0 {
		t.Fatalf("read %d assets, %d gone", len(got.Assets), len(got.Gone))
	}
	for _, a := range got.Assets {
		want := inv.Get(a.ID)
		if want == nil {
			t.Errorf("%s: not in the collection", a.ID)
			continue
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(a)
		if string(wj) != string(gj) {
			t.Errorf("%s differs from its collected asset:\n got %s\nwant %s", a.ID, gj, wj)
		}
	}
	// Only the named resources were read: one DescribeSecurityGroups with
	// the group id, no listing of the region.
	for _, c := range f.Calls()[before:] {
		if c.Operation == "DescribeSubnets" || c.Operation == "DescribeVolumes" || c.Operation == "ListUsers" {
			t.Errorf("a narrow read listed %s", c.Operation)
		}
	}
}

func TestReadGoneAndNotVisible(t *testing.T) {
	f, opts := start(t)
	r, err := NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	f.With(func(f *awsfake.Fake) {
		prod := f.Get(awsfake.ProdAccount)
		delete(prod.Region("eu-west-1").SecurityGroups, awsfake.InternalGroup)
		delete(prod.Region("eu-west-1").Detectors, "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5")
		prod.Region("us-east-1").Trails = nil
		delete(prod.Buckets, "acme-prod-reports")
		// Terminated, still listed while it shuts down: it will not come
		// back, so it is gone (TerminateInstances is read right away).
		prod.Region("eu-west-1").Instances[awsfake.WebInstance].State = "shutting-down"
	})
	acct := awsfake.ProdAccount
	gone := []Ref{
		{Type: "AWS::EC2::SecurityGroup", Account: acct, Region: "eu-west-1", ID: "sg-arn", Name: awsfake.InternalGroup},
		{Type: "AWS::GuardDuty::Detector", Account: acct, Region: "eu-west-1", ID: "det-arn", Name: "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"},
		{Type: "AWS::CloudTrail::Trail", Account: acct, Region: "us-east-1", ID: "trail-arn", Name: "org-trail"},
		{Type: "AWS::S3::Bucket", Account: acct, Region: "eu-west-1", ID: "arn:aws:s3:::acme-prod-reports", Name: "acme-prod-reports"},
		{Type: "AWS::EC2::Instance", Account: acct, Region: "eu-west-1", ID: "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance, Name: awsfake.WebInstance},
	}
	got, err := r.Read(context.Background(), gone)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assets) != 0 || len(got.Gone) != 5 {
		t.Fatalf("assets %d gone %v", len(got.Assets), got.Gone)
	}
	// Just made and not there yet: not visible, not gone.
	_, err = r.Read(context.Background(), []Ref{{Type: "AWS::EC2::Instance", Account: acct, Region: "eu-west-1", ID: "i-arn", Name: "i-0aaaaaaaaaaaa0999", MustExist: true}})
	var nv *NotVisibleError
	if !errors.As(err, &nv) || len(nv.IDs) != 1 || nv.IDs[0] != "i-arn" {
		t.Fatalf("not visible: %v", err)
	}
	// A refused call is an error, not "gone".
	f.Inject(awsfake.Fault{Service: "ec2", Operation: "DescribeSecurityGroups", Kind: "denied", Times: 1})
	_, err = r.Read(context.Background(), []Ref{{Type: "AWS::EC2::SecurityGroup", Account: acct, Region: "eu-west-1", ID: "x", Name: awsfake.WebGroup}})
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("denied: %v", err)
	}
}
