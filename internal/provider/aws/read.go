package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// Ref names one resource to read again: what a cloud event changed.
type Ref struct {
	// Type is the AWS Config resource type (AWS::EC2::SecurityGroup, ...).
	Type    string
	Account string
	Region  string
	// ID is the asset id (ARN) the inventory knows the resource by; Name
	// its own id (sg-..., i-..., a bucket or trail name, a detector or
	// access key id).
	ID, Name string
	// User is an access key's IAM user.
	User string
	// MustExist: the resource was just made, so not finding it means the
	// API does not show it yet (EC2 is eventually consistent).
	MustExist bool
}

// Read is what a Reader found: the assets, and the ids of those that no
// longer exist.
type Read struct {
	Assets []*asset.Asset
	Gone   []string
}

// NotVisibleError is returned for resources just made that the API does
// not show yet; a later read finds them.
type NotVisibleError struct{ IDs []string }

func (e *NotVisibleError) Error() string {
	return fmt.Sprintf("aws: not visible yet (eventually consistent): %s", strings.Join(e.IDs, ", "))
}

// Reader reads named resources with the collector's calls and
// normalization, so a re-read asset is the asset a full collection makes.
// It is safe for concurrent use; one Reader keeps one session (and one
// rate limiter per account) for all its reads.
type Reader struct{ s *session }

// ReadTypes are the resource types a Reader reads.
var ReadTypes = []string{"AWS::EC2::SecurityGroup", "AWS::EC2::Instance", "AWS::EC2::VPC", "AWS::S3::Bucket",
	"AWS::CloudTrail::Trail", "AWS::GuardDuty::Detector", "AWS::IAM::AccessKey"}

// NewReader makes a Reader.
func NewReader(ctx context.Context, opts Options) (*Reader, error) {
	s, err := newSession(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Reader{s: s}, nil
}

// Read reads the resources again. A resource that is gone is listed in
// Gone; one that MustExist and is missing makes a *NotVisibleError (after
// the rest was read).
func (r *Reader) Read(ctx context.Context, refs []Ref) (*Read, error) {
	var mu sync.Mutex
	out := &Read{}
	found := map[string]bool{}
	c := &collector{s: r.s, emit: func(a *asset.Asset) error {
		mu.Lock()
		defer mu.Unlock()
		out.Assets = append(out.Assets, a)
		found[a.ID] = true
		return nil
	}}
	var errs []error
	for _, ref := range refs {
		cfg, err := r.s.config(ctx, ref.Account)
		if err != nil {
			return nil, err
		}
		if err := r.read(ctx, c, cfg, ref); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", ref.Type, ref.Name, explain(err)))
		}
	}
	if c.emitErr != nil {
		return nil, c.emitErr
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("aws: read: %w", errors.Join(errs...))
	}
	var invisible []string
	for _, ref := range refs {
		if found[ref.ID] {
			continue
		}
		if ref.MustExist {
			invisible = append(invisible, ref.ID)
		} else {
			out.Gone = append(out.Gone, ref.ID)
		}
	}
	sort.Slice(out.Assets, func(i, j int) bool { return out.Assets[i].ID < out.Assets[j].ID })
	if len(invisible) > 0 {
		return out, &NotVisibleError{IDs: invisible}
	}
	return out, nil
}

// notFound reports the error codes that mean the resource does not exist.
func notFound(err error) bool {
	switch apiCode(err) {
	case "InvalidGroup.NotFound", "InvalidInstanceID.NotFound", "InvalidVpcID.NotFound", "NoSuchEntity", "TrailNotFoundException", "NoSuchBucket":
		return true
	case "BadRequestException":
		// GuardDuty answers a deleted detector so.
		return strings.Contains(err.Error(), "not owned by the current account")
	}
	return false
}

func (r *Reader) read(ctx context.Context, c *collector, cfg aws.Config, ref Ref) error {
	acct, region := ref.Account, ref.Region
	switch ref.Type {
	case "AWS::EC2::SecurityGroup":
		out, err := r.s.ec2(cfg, region).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{ref.Name}})
		if notFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, v := range out.SecurityGroups {
			if aws.ToString(v.GroupId) == ref.Name {
				c.put(ec2Item(acct, region, "AWS::EC2::SecurityGroup", "security-group", ref.Name, v.Tags, v))
			}
		}
	case "AWS::EC2::Instance":
		out, err := r.s.ec2(cfg, region).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{ref.Name}})
		if notFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, res := range out.Reservations {
			for _, in := range res.Instances {
				// Shutting down is on the way to terminated, never back:
				// gone, as TerminateInstances leaves it when read at once.
				if aws.ToString(in.InstanceId) == ref.Name && (in.State == nil ||
					in.State.Name != ec2types.InstanceStateNameTerminated && in.State.Name != ec2types.InstanceStateNameShuttingDown) {
					c.put(ec2Item(acct, region, "AWS::EC2::Instance", "instance", ref.Name, in.Tags, in))
				}
			}
		}
	case "AWS::EC2::VPC":
		out, err := r.s.ec2(cfg, region).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{ref.Name}})
		if notFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, v := range out.Vpcs {
			if aws.ToString(v.VpcId) == ref.Name {
				c.put(ec2Item(acct, region, "AWS::EC2::VPC", "vpc", ref.Name, v.Tags, v))
			}
		}
	case "AWS::S3::Bucket":
		// The collector's own bucket read, for this bucket only: location,
		// public access block, ACL, policy and tags, as Config records them.
		bc := &collector{s: r.s, emit: c.emit, onlyBuckets: map[string]bool{ref.Name: true}}
		if err := bc.buckets(ctx, acct, cfg); err != nil {
			return err
		}
		if len(bc.sum.Failures) > 0 {
			return bc.sum.Failures[0].Err
		}
		return bc.emitErr
	case "AWS::CloudTrail::Trail":
		ct := r.s.cloudtrail(cfg, region)
		out, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: []string{ref.Name}, IncludeShadowTrails: aws.Bool(false)})
		if notFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, t := range out.TrailList {
			if aws.ToString(t.Name) != ref.Name && aws.ToString(t.TrailARN) != ref.ID {
				continue
			}
			item, err := trailItem(ctx, ct, acct, region, t)
			if notFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			c.put(item)
		}
	case "AWS::GuardDuty::Detector":
		d, err := r.s.guardduty(cfg, region).GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: aws.String(ref.Name)})
		if notFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		c.put(detectorItem(acct, region, ref.Name, string(d.Status), aws.ToString(d.CreatedAt)))
	case "AWS::IAM::AccessKey":
		client := r.s.iam(cfg)
		p := iam.NewListAccessKeysPaginator(client, &iam.ListAccessKeysInput{UserName: aws.String(ref.User)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if notFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			for _, k := range page.AccessKeyMetadata {
				if aws.ToString(k.AccessKeyId) != ref.Name {
					continue
				}
				var lastUsed *time.Time
				var service string
				lu, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
				if err != nil {
					return err
				}
				if lu.AccessKeyLastUsed != nil {
					lastUsed, service = lu.AccessKeyLastUsed.LastUsedDate, aws.ToString(lu.AccessKeyLastUsed.ServiceName)
				}
				c.put(accessKeyItem(acct, ref.User, ref.Name, string(k.Status), k.CreateDate, lastUsed, service))
			}
		}
	default:
		return fmt.Errorf("vigil does not read %s resources one by one (it reads %s)", ref.Type, strings.Join(ReadTypes, ", "))
	}
	return nil
}

// trailItem, detectorItem and accessKeyItem build the configuration items
// the collector builds for these types.
// trailItem is a trail as AWS Config records it, from DescribeTrails, its
// status (GetTrailStatus) and its event selectors (GetEventSelectors),
// which say which management events it records (VGL-LOG-001): collection
// and the watch's reads make it the one way.
func trailItem(ctx context.Context, ct *cloudtrail.Client, acct, region string, t cttypes.Trail) (*inventory.ConfigItem, error) {
	st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: t.TrailARN})
	if err != nil {
		return nil, err
	}
	sel, err := ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: t.TrailARN})
	if err != nil {
		return nil, err
	}
	conf := map[string]any{"Name": aws.ToString(t.Name), "IsMultiRegionTrail": aws.ToBool(t.IsMultiRegionTrail),
		"IsOrganizationTrail": aws.ToBool(t.IsOrganizationTrail), "S3BucketName": aws.ToString(t.S3BucketName),
		"HomeRegion": aws.ToString(t.HomeRegion), "IsLogging": aws.ToBool(st.IsLogging),
		"LogFileValidationEnabled": aws.ToBool(t.LogFileValidationEnabled)}
	if g := aws.ToString(t.CloudWatchLogsLogGroupArn); g != "" {
		conf["CloudWatchLogsLogGroupArn"] = g
	}
	if len(sel.AdvancedEventSelectors) > 0 {
		conf["AdvancedEventSelectors"] = sel.AdvancedEventSelectors
	} else {
		conf["EventSelectors"] = nonNil(sel.EventSelectors)
	}
	return &inventory.ConfigItem{ARN: aws.ToString(t.TrailARN), AccountID: acct, ResourceType: "AWS::CloudTrail::Trail",
		ResourceID: aws.ToString(t.Name), ResourceName: aws.ToString(t.Name), AWSRegion: region, Configuration: camelJSON(conf)}, nil
}

func detectorItem(acct, region, id, status, created string) *inventory.ConfigItem {
	return &inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/%s", region, acct, id), AccountID: acct,
		ResourceType: "AWS::GuardDuty::Detector", ResourceID: id, AWSRegion: region,
		Configuration: camelJSON(map[string]any{"DetectorId": id, "Status": status, "CreatedAt": created})}
}

func accessKeyItem(acct, user, id, status string, created, lastUsed *time.Time, service string) *inventory.ConfigItem {
	conf := map[string]any{"UserName": user, "AccessKeyId": id, "Status": status}
	if created != nil {
		conf["CreateDate"] = created.UTC().Format(time.RFC3339)
	}
	if lastUsed != nil {
		conf["LastUsedDate"] = lastUsed.UTC().Format(time.RFC3339)
		conf["LastUsedService"] = service
	}
	return &inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, user, id), AccountID: acct,
		ResourceType: "AWS::IAM::AccessKey", ResourceID: id, ResourceName: id, AWSRegion: "global", Configuration: camelJSON(conf)}
}
