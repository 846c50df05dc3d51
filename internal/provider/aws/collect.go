package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// Failure is a part of the collection that could not be read (a region or
// service denied, say); the rest is still collected.
type Failure struct {
	Account, Region, Service string
	Err                      error
}

func (f Failure) String() string {
	where := f.Account
	if f.Region != "" {
		where += "/" + f.Region
	}
	return fmt.Sprintf("%s %s: %v", where, f.Service, f.Err)
}

// Summary says what a collection read.
type Summary struct {
	Accounts []string
	Regions  []string
	Assets   int
	Failures []Failure
}

// collector gathers assets from many goroutines.
type collector struct {
	s        *session
	emitMu   sync.Mutex
	emit     func(*asset.Asset) error
	emitErr  error
	sum      Summary
	progress io.Writer
	// onlyBuckets, when set, limits bucket reads to these names (read.go).
	onlyBuckets map[string]bool
	more        moreState // collectmore.go
}

func (c *collector) fail(account, region, service string, err error) {
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	c.sum.Failures = append(c.sum.Failures, Failure{Account: account, Region: region, Service: service, Err: explain(err)})
}

// put normalizes a configuration item, exactly as the AWS Config loader
// does, and emits the asset.
func (c *collector) put(ci *inventory.ConfigItem) {
	c.decorate(ci) // collectmore.go: credential report rows
	a, err := inventory.NormalizeAWS(ci, "aws")
	if err == nil {
		c.inherit(a) // collectmore.go: the account's tags
	}
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	if err == nil {
		a.Data, err = json.Marshal(ci)
	}
	if err == nil && c.emitErr == nil {
		c.sum.Assets++
		err = c.emit(a)
	}
	if err != nil && c.emitErr == nil {
		c.emitErr = err
	}
}

// Collect reads the inventory of the credentials' account, or with
// Options.OrgRole of every account of the organization, and emits one asset
// per resource. A region or service that fails is reported in the summary;
// the error is for what stops the whole collection.
func Collect(ctx context.Context, opts Options, emit func(*asset.Asset) error) (*Summary, error) {
	s, err := newSession(ctx, opts)
	if err != nil {
		return nil, err
	}
	c := &collector{s: s, emit: emit, progress: s.opts.Progress}
	base, err := s.callerAccount(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws: who am I (sts:GetCallerIdentity): %w", err)
	}
	accounts := []orgAccount{{id: base}}
	if s.opts.OrgRole != "" {
		accounts, err = listAccounts(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("aws: list the organization's accounts: %w", explain(err))
		}
	}
	if s.opts.Accounts != nil {
		var mine []orgAccount
		for _, a := range accounts {
			if s.opts.Accounts(a.id) {
				mine = append(mine, a)
			}
		}
		accounts = mine
	}
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	doneRegions, totalRegions := 0, 0 // under c.emitMu
	regionSet := map[string]bool{}
	var regionMu sync.Mutex
	for _, acct := range accounts {
		cfg, err := s.config(ctx, acct.id)
		if err != nil {
			c.fail(acct.id, "", "sts", err)
			continue
		}
		regions, err := c.regions(ctx, cfg)
		if err != nil {
			c.fail(acct.id, "", "ec2", fmt.Errorf("list regions: %w", err))
			continue
		}
		c.sum.Accounts = append(c.sum.Accounts, acct.id)
		c.emitMu.Lock()
		totalRegions += len(regions)
		c.emitMu.Unlock()
		tags, _ := json.Marshal(acct.tags)
		ai := &inventory.ConfigItem{ResourceType: "AWS::::Account", AccountID: acct.id, ResourceID: acct.id, ResourceName: acct.name,
			AWSRegion: "global", Tags: tags, Configuration: json.RawMessage(`{}`)}
		c.accountDetails(ctx, acct.id, acct.tags, cfg, ai) // collectmore.go: summary, credential report
		c.put(ai)
		wg.Add(1)
		go func(acct string, cfg aws.Config) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c.global(ctx, acct, cfg)
		}(acct.id, cfg)
		for _, r := range regions {
			regionMu.Lock()
			regionSet[r] = true
			regionMu.Unlock()
			wg.Add(1)
			go func(acct, region string, cfg aws.Config) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				c.region(ctx, acct, region, cfg)
				c.emitMu.Lock()
				doneRegions++
				if c.progress != nil {
					fmt.Fprintf(c.progress, "aws: %s %s collected (%d assets so far)\n", acct, region, c.sum.Assets)
				}
				if s.opts.RegionDone != nil {
					s.opts.RegionDone(doneRegions, totalRegions, c.sum.Assets)
				}
				c.emitMu.Unlock()
			}(acct.id, r, cfg)
		}
	}
	wg.Wait()
	if c.emitErr != nil {
		return nil, c.emitErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for r := range regionSet {
		c.sum.Regions = append(c.sum.Regions, r)
	}
	sort.Strings(c.sum.Regions)
	sort.Slice(c.sum.Failures, func(i, j int) bool { return c.sum.Failures[i].String() < c.sum.Failures[j].String() })
	if len(c.sum.Accounts) == 0 && len(c.sum.Failures) > 0 {
		return &c.sum, fmt.Errorf("aws: no account could be read: %s", c.sum.Failures[0])
	}
	return &c.sum, nil
}

type orgAccount struct {
	id, name string
	// tags are the account's tags in Organizations (owner, purpose, ...):
	// where AWS keeps what VGL-OWN-002 and triage ask of an account.
	tags map[string]string
}

func listAccounts(ctx context.Context, s *session) ([]orgAccount, error) {
	cfg, err := s.config(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []orgAccount
	p := organizations.NewListAccountsPaginator(s.organizations(cfg), &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Accounts {
			if string(a.Status) == "" || string(a.Status) == "ACTIVE" {
				out = append(out, orgAccount{id: aws.ToString(a.Id), name: aws.ToString(a.Name)})
			}
		}
	}
	client := s.organizations(cfg)
	for i := range out {
		out[i].tags = map[string]string{}
		tp := organizations.NewListTagsForResourcePaginator(client, &organizations.ListTagsForResourceInput{ResourceId: aws.String(out[i].id)})
		for tp.HasMorePages() {
			page, err := tp.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("tags of account %s: %w", out[i].id, err)
			}
			for _, t := range page.Tags {
				out[i].tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	}
	return out, nil
}

func (c *collector) regions(ctx context.Context, cfg aws.Config) ([]string, error) {
	want := c.s.opts.Regions
	if len(want) > 0 && !(len(want) == 1 && want[0] == "all") {
		return want, nil
	}
	out, err := c.s.ec2(cfg, "").DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, explain(err)
	}
	var regions []string
	for _, r := range out.Regions {
		regions = append(regions, aws.ToString(r.RegionName))
	}
	sort.Strings(regions)
	return regions, nil
}

// camelJSON marshals an SDK value with AWS Config's key style (the API's
// names with a lower-case first letter), so the collected items have the
// shape of Config's configuration items.
// nonNil keeps an empty list a list: a trail whose selectors record
// nothing is not one that carries none.
func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func camelJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return raw
	}
	out, _ := json.Marshal(camelize(x))
	return out
}

func camelize(x any) any {
	switch v := x.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			r, n := utf8.DecodeRuneInString(k)
			m[string(unicode.ToLower(r))+k[n:]] = camelize(e)
		}
		return m
	case []any:
		for i := range v {
			v[i] = camelize(v[i])
		}
		return v
	}
	return x
}

func tagsJSON(tags []ec2types.Tag) json.RawMessage {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	raw, _ := json.Marshal(m)
	return raw
}

func nameTag(tags []ec2types.Tag) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == "Name" {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func ec2Item(acct, region, typ, kind, id string, tags []ec2types.Tag, cfg any) *inventory.ConfigItem {
	return &inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", region, acct, kind, id), AccountID: acct, ResourceType: typ,
		ResourceID: id, ResourceName: nameTag(tags), AWSRegion: region, Tags: tagsJSON(tags), Configuration: camelJSON(cfg)}
}

// region collects one region of one account.
func (c *collector) region(ctx context.Context, acct, region string, cfg aws.Config) {
	e := c.s.ec2(cfg, region)
	step := func(service string, fn func() error) {
		if err := fn(); err != nil && ctx.Err() == nil {
			c.fail(acct, region, service, err)
		}
	}
	step("ec2:DescribeVpcs", func() error {
		p := ec2.NewDescribeVpcsPaginator(e, &ec2.DescribeVpcsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, v := range page.Vpcs {
				c.put(ec2Item(acct, region, "AWS::EC2::VPC", "vpc", aws.ToString(v.VpcId), v.Tags, v))
			}
		}
		return nil
	})
	step("ec2:DescribeSubnets", func() error {
		p := ec2.NewDescribeSubnetsPaginator(e, &ec2.DescribeSubnetsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, v := range page.Subnets {
				c.put(ec2Item(acct, region, "AWS::EC2::Subnet", "subnet", aws.ToString(v.SubnetId), v.Tags, v))
			}
		}
		return nil
	})
	step("ec2:DescribeSecurityGroups", func() error {
		p := ec2.NewDescribeSecurityGroupsPaginator(e, &ec2.DescribeSecurityGroupsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, v := range page.SecurityGroups {
				c.put(ec2Item(acct, region, "AWS::EC2::SecurityGroup", "security-group", aws.ToString(v.GroupId), v.Tags, v))
			}
		}
		return nil
	})
	step("ec2:DescribeInstances", func() error {
		p := ec2.NewDescribeInstancesPaginator(e, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(100)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, r := range page.Reservations {
				for _, in := range r.Instances {
					if in.State != nil && in.State.Name == ec2types.InstanceStateNameTerminated {
						continue
					}
					c.put(ec2Item(acct, region, "AWS::EC2::Instance", "instance", aws.ToString(in.InstanceId), in.Tags, in))
				}
			}
		}
		return nil
	})
	step("ec2:DescribeVolumes", func() error {
		p := ec2.NewDescribeVolumesPaginator(e, &ec2.DescribeVolumesInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, v := range page.Volumes {
				c.put(ec2Item(acct, region, "AWS::EC2::Volume", "volume", aws.ToString(v.VolumeId), v.Tags, v))
			}
		}
		return nil
	})
	step("ec2:DescribeSnapshots", func() error {
		p := ec2.NewDescribeSnapshotsPaginator(e, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, MaxResults: aws.Int32(1000)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, v := range page.Snapshots {
				c.put(ec2Item(acct, region, "AWS::EC2::Snapshot", "snapshot", aws.ToString(v.SnapshotId), v.Tags, v))
			}
		}
		return nil
	})
	step("guardduty:ListDetectors", func() error {
		gd := c.s.guardduty(cfg, region)
		p := guardduty.NewListDetectorsPaginator(gd, &guardduty.ListDetectorsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, id := range page.DetectorIds {
				d, err := gd.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: aws.String(id)})
				if err != nil {
					return err
				}
				c.put(&inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/%s", region, acct, id), AccountID: acct,
					ResourceType: "AWS::GuardDuty::Detector", ResourceID: id, AWSRegion: region,
					Configuration: camelJSON(map[string]any{"DetectorId": id, "Status": string(d.Status), "CreatedAt": aws.ToString(d.CreatedAt)})})
			}
		}
		return nil
	})
	step("cloudtrail:DescribeTrails", func() error {
		ct := c.s.cloudtrail(cfg, region)
		out, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(false)})
		if err != nil {
			return err
		}
		for _, t := range out.TrailList {
			if aws.ToString(t.HomeRegion) != "" && aws.ToString(t.HomeRegion) != region {
				continue // a shadow of a trail kept in its home region
			}
			item, err := trailItem(ctx, ct, acct, region, t)
			if err != nil {
				return err
			}
			c.put(item)
		}
		return nil
	})
	c.regionMore(ctx, acct, region, cfg, step) // collectmore.go: the types of issue 19
}

// global collects IAM and S3, which are not regional.
func (c *collector) global(ctx context.Context, acct string, cfg aws.Config) {
	c.globalMore(ctx, acct, cfg) // collectmore.go: roles
	if err := c.iamUsers(ctx, acct, cfg); err != nil && ctx.Err() == nil {
		c.fail(acct, "", "iam", err)
	}
	if err := c.buckets(ctx, acct, cfg); err != nil && ctx.Err() == nil {
		c.fail(acct, "", "s3", err)
	}
}

func (c *collector) iamUsers(ctx context.Context, acct string, cfg aws.Config) error {
	client := c.s.iam(cfg)
	p := iam.NewListUsersPaginator(client, &iam.ListUsersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, u := range page.Users {
			name := aws.ToString(u.UserName)
			c.put(&inventory.ConfigItem{ARN: aws.ToString(u.Arn), AccountID: acct, ResourceType: "AWS::IAM::User", ResourceID: aws.ToString(u.UserId),
				ResourceName: name, AWSRegion: "global", Configuration: camelJSON(u)})
			kp := iam.NewListAccessKeysPaginator(client, &iam.ListAccessKeysInput{UserName: u.UserName})
			for kp.HasMorePages() {
				kpage, err := kp.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, k := range kpage.AccessKeyMetadata {
					id := aws.ToString(k.AccessKeyId)
					conf := map[string]any{"UserName": name, "AccessKeyId": id, "Status": string(k.Status)}
					if k.CreateDate != nil {
						conf["CreateDate"] = k.CreateDate.UTC().Format(time.RFC3339)
					}
					if lu, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId}); err != nil {
						return err
					} else if lu.AccessKeyLastUsed != nil && lu.AccessKeyLastUsed.LastUsedDate != nil {
						conf["LastUsedDate"] = lu.AccessKeyLastUsed.LastUsedDate.UTC().Format(time.RFC3339)
						conf["LastUsedService"] = aws.ToString(lu.AccessKeyLastUsed.ServiceName)
					}
					c.put(&inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, name, id), AccountID: acct,
						ResourceType: "AWS::IAM::AccessKey", ResourceID: id, ResourceName: id, AWSRegion: "global", Configuration: camelJSON(conf)})
				}
			}
		}
	}
	return nil
}

// buckets reads every bucket's location, public access block, ACL and
// policy into supplementaryConfiguration, as AWS Config records them.
func (c *collector) buckets(ctx context.Context, acct string, cfg aws.Config) error {
	client := c.s.s3(cfg, "")
	out, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return err
	}
	for _, b := range out.Buckets {
		name := aws.ToString(b.Name)
		if c.onlyBuckets != nil && !c.onlyBuckets[name] {
			continue
		}
		region := aws.ToString(b.BucketRegion)
		if region == "" {
			loc, err := client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b.Name})
			if err != nil {
				c.fail(acct, "", "s3:GetBucketLocation "+name, err)
				continue
			}
			region = string(loc.LocationConstraint)
			if region == "" {
				region = "us-east-1"
			}
		}
		rc := c.s.s3(cfg, region)
		sup := map[string]json.RawMessage{}
		if pab, err := rc.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b.Name}); err == nil && pab.PublicAccessBlockConfiguration != nil {
			sup["PublicAccessBlockConfiguration"] = camelJSON(pab.PublicAccessBlockConfiguration)
		} else if err != nil && apiCode(err) != "NoSuchPublicAccessBlockConfiguration" {
			c.fail(acct, region, "s3:GetPublicAccessBlock "+name, err)
		}
		if acl, err := rc.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b.Name}); err == nil {
			sup["AccessControlList"] = aclJSON(acl.Grants)
		} else {
			c.fail(acct, region, "s3:GetBucketAcl "+name, err)
		}
		if pol, err := rc.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b.Name}); err == nil && pol.Policy != nil {
			raw, _ := json.Marshal(map[string]string{"policyText": aws.ToString(pol.Policy)})
			sup["BucketPolicy"] = raw
		} else if err != nil && apiCode(err) != "NoSuchBucketPolicy" {
			c.fail(acct, region, "s3:GetBucketPolicy "+name, err)
		}
		tags := map[string]string{}
		if tg, err := rc.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b.Name}); err == nil {
			for _, t := range tg.TagSet {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		} else if apiCode(err) != "NoSuchTagSet" {
			c.fail(acct, region, "s3:GetBucketTagging "+name, err)
		}
		rawTags, _ := json.Marshal(tags)
		conf := map[string]any{"name": name}
		if b.CreationDate != nil {
			conf["creationDate"] = b.CreationDate.UTC().Format(time.RFC3339)
		}
		rawConf, _ := json.Marshal(conf)
		c.put(&inventory.ConfigItem{ARN: "arn:aws:s3:::" + name, AccountID: acct, ResourceType: "AWS::S3::Bucket", ResourceID: name,
			ResourceName: name, AWSRegion: region, Tags: rawTags, Configuration: rawConf, SupplementaryConfiguration: sup})
	}
	return nil
}

// aclJSON writes grants in Config's AccessControlList shape.
func aclJSON(grants []s3types.Grant) json.RawMessage {
	type grant struct {
		Grantee    any    `json:"grantee"`
		Permission string `json:"permission"`
	}
	var list []grant
	for _, g := range grants {
		var who any = "unknown"
		if g.Grantee != nil {
			switch {
			case g.Grantee.URI != nil:
				who = aws.ToString(g.Grantee.URI)
			case g.Grantee.ID != nil:
				who = map[string]string{"id": aws.ToString(g.Grantee.ID)}
			}
		}
		list = append(list, grant{Grantee: who, Permission: string(g.Permission)})
	}
	raw, _ := json.Marshal(map[string]any{"grantList": list})
	return raw
}

// CollectInventory collects into an in-memory inventory.
func CollectInventory(ctx context.Context, opts Options) (*inventory.Inventory, *Summary, error) {
	var assets []*asset.Asset
	sum, err := Collect(ctx, opts, func(a *asset.Asset) error { assets = append(assets, a); return nil })
	if err != nil {
		return nil, sum, err
	}
	return inventory.New(assets...), sum, nil
}
