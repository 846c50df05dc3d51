package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	awsprov "github.com/vigil-ir/vigil/internal/provider/aws"
)

// awsFlags configure the AWS provider. Collection commands use the plain
// names of the issue (--profile, --regions); runbook commands prefix them
// with aws- so that they sit beside the GCP ones.
type awsFlags struct {
	enabled      bool
	profile      string
	region       string
	regions      string
	assumeRole   string
	orgRole      string
	endpoint     string
	evidenceRole string
	rateLimit    float64
	concurrency  int
	live         bool
}

func (f *awsFlags) registerCollect(c *cobra.Command) {
	fl := c.Flags()
	fl.BoolVar(&f.enabled, "aws", false, "collect from AWS with the SDK's credential chain (environment, profile, SSO, instance role)")
	fl.StringVar(&f.regions, "regions", "all", "AWS regions to collect: all (every enabled region) or a comma-separated list")
	fl.StringVar(&f.profile, "profile", "", "AWS shared-config profile (default AWS_PROFILE)")
	fl.StringVar(&f.assumeRole, "assume-role", "", "AWS role ARN to assume first")
	fl.StringVar(&f.orgRole, "org-role", "", "role name to assume in every account of the AWS organization (Organizations ListAccounts)")
	fl.StringVar(&f.endpoint, "aws-endpoint", "", "send every AWS request to this endpoint (an emulator); AWS_ENDPOINT_URL works too")
	fl.Float64Var(&f.rateLimit, "rate-limit", 20, "AWS requests per second per account, so a scan never throttles production")
	fl.IntVar(&f.concurrency, "concurrency", 4, "AWS regions and accounts collected at once")
}

func (f *awsFlags) registerRunbook(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.profile, "aws-profile", "", "AWS shared-config profile for aws.* actions (default AWS_PROFILE)")
	fl.StringVar(&f.region, "aws-region", "", "AWS region of bare ids (i-..., snap-...); ARNs carry their own")
	fl.StringVar(&f.assumeRole, "aws-assume-role", "", "AWS role ARN to assume for aws.* actions")
	fl.StringVar(&f.orgRole, "aws-org-role", "", "role name to assume in the account of an action's target when it is not the credentials' own")
	fl.StringVar(&f.evidenceRole, "aws-evidence-role", "", "role ARN in the security account: aws.ec2.copy_snapshot makes its copies there")
	fl.StringVar(&f.endpoint, "aws-endpoint", "", "send every AWS request to this endpoint (an emulator); AWS_ENDPOINT_URL works too")
	fl.BoolVar(&f.live, "aws-live", false, "assets() and findings() read a live AWS collection made at the start, and core.scan steps collect again (a final scan shows what is left)")
	fl.StringVar(&f.regions, "aws-regions", "all", "with --aws-live: the regions to collect")
	fl.Float64Var(&f.rateLimit, "aws-rate-limit", 20, "AWS requests per second per account")
}

func (f *awsFlags) options(progress io.Writer) awsprov.Options {
	o := awsprov.Options{Profile: f.profile, Region: f.region, AssumeRole: f.assumeRole, OrgRole: f.orgRole, EvidenceRole: f.evidenceRole,
		Endpoint: f.endpoint, RateLimit: f.rateLimit, Concurrency: f.concurrency, Progress: progress}
	if f.regions != "" && f.regions != "all" {
		for _, r := range strings.Split(f.regions, ",") {
			if r = strings.TrimSpace(r); r != "" {
				o.Regions = append(o.Regions, r)
			}
		}
	}
	return o
}

// collectAWS collects a live inventory, reporting progress and the parts
// that could not be read on stderr.
func (a *app) collectAWS(ctx context.Context, f *awsFlags, quiet bool) (*inventory.Inventory, error) {
	return a.collectAWSWith(ctx, f, quiet, nil)
}

// collectAWSWith collects the accounts that accounts picks (nil: all).
func (a *app) collectAWSWith(ctx context.Context, f *awsFlags, quiet bool, accounts func(string) bool) (*inventory.Inventory, error) {
	var assets []*asset.Asset
	opts := f.options(nil) // progress by the meter, not a line a region
	opts.Accounts = accounts
	var meter *regionMeter
	if !quiet {
		meter = newRegionMeter(a.stderr, a.progressTTY(), a.progressClock())
		opts.RegionDone = meter.region
	}
	sum, err := awsprov.Collect(ctx, opts, func(x *asset.Asset) error {
		assets = append(assets, x)
		return nil
	})
	if meter != nil {
		meter.finish()
	}
	if sum != nil {
		for _, fl := range sum.Failures {
			fmt.Fprintf(a.stderr, "vigil: warning: aws: not collected: %s\n", fl)
		}
	}
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	if !quiet {
		fmt.Fprintf(a.stderr, "aws: collected %d assets from %d accounts in %d regions (%d parts could not be read)\n",
			len(assets), len(sum.Accounts), len(sum.Regions), len(sum.Failures))
	}
	inv := inventory.New(assets...)
	// what was read, for history to compare scans of the same accounts
	// and regions only
	inv.From = []string{"aws accounts " + strings.Join(slices.Sorted(slices.Values(sum.Accounts)), ",") +
		" regions " + strings.Join(slices.Sorted(slices.Values(sum.Regions)), ",")}
	// A part refused is so from one collection to the next; one that
	// failed otherwise may have been read in part, and names this
	// collection alone (history compares no other scan with it).
	started := time.Now().UTC().Format(time.RFC3339Nano)
	for _, fl := range sum.Failures {
		where := fl.Account
		if fl.Region != "" {
			where += "/" + fl.Region
		}
		part := "aws " + where + " " + fl.Service
		if pe := (*awsprov.PermissionError)(nil); errors.As(fl.Err, &pe) {
			part += ": permission denied"
		} else {
			part += ": failed in the collection of " + started
		}
		inv.Gaps = append(inv.Gaps, inventory.Gap{Part: part, Message: fmt.Sprintf("aws: not collected: %s", fl)})
	}
	return inv, nil
}

func (a *app) inventoryCollectCmd() *cobra.Command {
	var f liveFlags
	var out string
	var quiet bool
	c := &cobra.Command{
		Use:   "collect --aws|--gcp-scope SCOPE [flags] --output FILE",
		Short: "Collect a live inventory from the cloud APIs",
		Long: `Collect reads a live inventory through the providers' APIs and writes it as
vigil NDJSON, ready for 'vigil scan' and for runbooks' --inventory.

AWS (--aws): the credentials' account, or with --org-role every account of the
organization (the role is assumed in each). Every enabled region is read
concurrently (--concurrency) at a bounded request rate (--rate-limit), with
the SDK's adaptive retryer for throttling. Collected: VPCs, subnets, security
groups, instances (network interfaces, public IPs), EBS volumes and snapshots,
S3 buckets (region, public access block, ACL, policy), IAM users and access
keys (age, last use), CloudTrail trails (multi-region, logging), GuardDuty
detectors, and one asset per account. A region or service that is denied is
reported and the rest is still collected.

For more accounts than one machine should walk, aggregate with AWS Config
(an organization aggregator) and scan its output: vigil reads Config
snapshots and configuration items directly.

Google Cloud (--gcp-scope organizations/N|folders/N|projects/P): the Cloud
Asset API's ListAssets, content types RESOURCE and IAM_POLICY (merged per
asset), paged, retried with backoff on quota errors, for the asset types the
built-in policies read (--asset-types overrides). For large organizations,
--export gs://BUCKET/PREFIX runs ExportAssets and reads what it wrote: the
export runs server-side, so one machine is not the limit. Then, for the
vulnerability policies, each project's OS Config vulnerability reports of
its VMs and Artifact Analysis vulnerability occurrences of its images (one
report per image). A project whose API is off, or that refuses a call, is
skipped and named in a warning; what was read is kept. Credentials are
Application Default Credentials, or --impersonate-service-account; the
scope needs roles/cloudasset.viewer and roles/serviceusage.serviceUsageConsumer,
and for the scanners roles/osconfig.vulnerabilityReportViewer and
roles/containeranalysis.occurrences.viewer (examples/gcp/README.md lists
each permission, and vigil-collector-role.yaml is the custom role).`,
		Example: `  # one account, every enabled region
  vigil inventory collect --aws --output aws.ndjson

  # an organization, through a role in each account, two regions
  vigil inventory collect --aws --org-role OrganizationAccountAccessRole \
      --regions eu-west-1,us-east-1 --output org.ndjson

  # an emulator on localhost
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
      vigil inventory collect --aws --aws-endpoint http://127.0.0.1:5000 --output aws.ndjson

  # a Google Cloud organization, and a large one through an export
  vigil inventory collect --gcp-scope organizations/684315297612 --output org.ndjson
  vigil inventory collect --gcp-scope organizations/684315297612 --export gs://acme-sec-cai/vigil --output org.ndjson`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(c, "collect takes no arguments")
			}
			if !f.enabled() {
				return usageError(c, "say which cloud to collect from: --aws, --gcp-scope SCOPE, or both")
			}
			inv, err := a.collectLive(c.Context(), &f, quiet)
			if err != nil {
				return err
			}
			w, closeOut, err := a.openOutput(out)
			if err != nil {
				return err
			}
			if err := inv.WriteNDJSON(w); err != nil {
				closeOut()
				return err
			}
			return closeOut()
		},
	}
	f.register(c)
	c.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return c
}

func init() {
	inventoryCommands = append(inventoryCommands, (*app).inventoryCollectCmd)
	cloudProviders = append(cloudProviders, func(_ context.Context, _ *app, f *runbookFlags) (action.Provider, error) {
		return awsprov.New(f.aws.options(nil)), nil
	})
}
