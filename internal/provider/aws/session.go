// Package aws is vigil's AWS provider: it collects an account's or an
// organization's inventory with aws-sdk-go-v2 and carries out the aws.*
// runbook actions of the catalog, with the contracts the simulated cloud
// implements, so a rehearsed runbook runs unchanged for real.
//
// Every client honours an endpoint override (Options.Endpoint, or the SDK's
// own AWS_ENDPOINT_URL), so the same code runs against AWS, an emulator or
// the wire-protocol fake in awsfake.
package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Options configure the provider. The zero value uses the SDK's default
// credential chain and region.
type Options struct {
	// Profile is a shared-config profile (AWS_PROFILE otherwise).
	Profile string
	// Region is the home region: global services, and bare ids in actions.
	// Default: the SDK's configured region, else us-east-1.
	Region string
	// Regions to collect; empty or "all" means every enabled region.
	Regions []string
	// AssumeRole is a role ARN assumed before anything else.
	AssumeRole string
	// OrgRole is the role name assumed in each account of the
	// organization (collection), and in the account of an action's target.
	OrgRole string
	// EvidenceRole is a role ARN in the security account: copy_snapshot
	// makes its copies there.
	EvidenceRole string
	// Endpoint overrides every service endpoint (an emulator or a fake).
	Endpoint string
	// RateLimit caps requests per second per account, so that a scan never
	// throttles production workloads. 0 means 20.
	RateLimit float64
	// Concurrency is how many regions (and accounts) are collected at once.
	Concurrency int
	// MaxAttempts and MaxBackoff tune the adaptive retryer.
	MaxAttempts int
	MaxBackoff  time.Duration
	// PollInterval is how often long operations (snapshots, stops) are
	// checked; Timeout bounds each wait.
	PollInterval time.Duration
	Timeout      time.Duration
	// Progress receives one line per finished region; nil for none.
	Progress io.Writer
	// RegionDone, when set, is told of every finished region: how many
	// are done of how many are known so far (every region of the accounts
	// listed yet; all of them once the last account's regions are
	// listed) and the assets collected so far. Calls do not overlap.
	RegionDone func(done, total, assets int)
	// Accounts, when set, picks the accounts collected (a shard's slice
	// of the organization: vigil scan --shard).
	Accounts func(accountID string) bool
}

func (o *Options) defaults() {
	if o.RateLimit <= 0 {
		o.RateLimit = 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 20 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 15 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Hour
	}
}

// session holds the configuration of the base identity and of each
// account reached from it, with one rate limiter per account.
type session struct {
	opts    Options
	base    aws.Config
	account string // the base identity's account
	mu      sync.Mutex
	cfgs    map[string]aws.Config
}

func newSession(ctx context.Context, opts Options) (*session, error) {
	opts.defaults()
	var lo []func(*config.LoadOptions) error
	if opts.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("aws: load configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if opts.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(opts.Endpoint)
	}
	maxAttempts, maxBackoff := opts.MaxAttempts, opts.MaxBackoff
	cfg.Retryer = func() aws.Retryer {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = maxAttempts
				so.MaxBackoff = maxBackoff
				// Our own limiter paces requests; the SDK's retry quota
				// would give up on a long, throttled collection.
				so.RateLimiter = ratelimit.None
			})
		})
	}
	s := &session{opts: opts, base: cfg, cfgs: map[string]aws.Config{}}
	if opts.AssumeRole != "" {
		s.base.Credentials = aws.NewCredentialsCache(&roleCredentials{role: opts.AssumeRole,
			p: stscreds.NewAssumeRoleProvider(sts.NewFromConfig(s.limited(cfg)), opts.AssumeRole, func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "vigil" })})
	}
	return s, nil
}

// roleCredentials are a role's credentials; a failure to assume it says
// which role, so that a denied sts:AssumeRole is not taken for the call
// that needed the credentials.
type roleCredentials struct {
	role string
	p    aws.CredentialsProvider
}

func (r *roleCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := r.p.Retrieve(ctx)
	if err != nil {
		return c, &AssumeRoleError{Role: r.role, Err: err}
	}
	return c, nil
}

// AssumeRoleError is a role vigil could not assume.
type AssumeRoleError struct {
	Role string
	Err  error
}

func (e *AssumeRoleError) Error() string { return fmt.Sprintf("assume role %s: %v", e.Role, e.Err) }
func (e *AssumeRoleError) Unwrap() error { return e.Err }

// burst lets a quarter second of requests through at once; the rest are
// paced evenly.
func burst(rps float64) int { return max(1, int(rps/4)) }

// limited returns a copy of cfg whose requests pass a rate limiter; each
// account gets its own.
func (s *session) limited(cfg aws.Config) aws.Config {
	l := rate.NewLimiter(rate.Limit(s.opts.RateLimit), burst(s.opts.RateLimit))
	mw := middleware.FinalizeMiddlewareFunc("vigil.RateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if err := l.Wait(ctx); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		return next.HandleFinalize(ctx, in)
	})
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
		// After the retry middleware, so that every attempt is paced.
		if err := st.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
			if err := st.Finalize.Add(mw, middleware.After); err != nil {
				return err
			}
		}
		if err := st.Finalize.Insert(unknownOutcomes, "Retry", middleware.After); err != nil {
			if err := st.Finalize.Add(unknownOutcomes, middleware.After); err != nil {
				return err
			}
		}
		return st.Initialize.Add(writeGuard, middleware.Before)
	})
	return cfg
}

// readOnlyOperation reports calls that change nothing.
func readOnlyOperation(op string) bool {
	for _, p := range []string{"Describe", "Get", "List", "Head"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return op == "AssumeRole"
}

// noWritesKey marks a context in which mutating calls are refused: Recover
// runs Apply that way, so an attempt that took effect in full is told
// apart from one with writes still to do.
type noWritesKey struct{}

// errWouldWrite is what a mutating call answers under readOnly.
var errWouldWrite = errors.New("the interrupted attempt had writes left to do")

func readOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWritesKey{}, true)
}

// writeGuard refuses mutating calls (not their dry runs) under readOnly.
var writeGuard = middleware.InitializeMiddlewareFunc("vigil.WriteGuard", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	if v, _ := ctx.Value(noWritesKey{}).(bool); v && !readOnlyOperation(middleware.GetOperationName(ctx)) && !dryRunInput(in.Parameters) {
		return middleware.InitializeOutput{}, middleware.Metadata{}, errWouldWrite
	}
	return next.HandleInitialize(ctx, in)
})

func dryRunInput(params any) bool {
	v := reflect.ValueOf(params)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	f := v.FieldByName("DryRun")
	return f.IsValid() && f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.Bool && f.Elem().Bool()
}

// outcomeUnknown marks an attempt of a mutating call that may or may not
// have taken effect: a 5xx that is not throttling, a timeout, a broken
// connection. The SDK's retryer must not repeat it (EC2's CreateSnapshot,
// say, has no idempotency token): the engine asks the action's Recover
// first.
type outcomeUnknown struct{ err error }

func (e *outcomeUnknown) Error() string        { return e.err.Error() }
func (e *outcomeUnknown) Unwrap() error        { return e.err }
func (e *outcomeUnknown) RetryableError() bool { return false }

var unknownOutcomes = middleware.FinalizeMiddlewareFunc("vigil.UnknownOutcomes", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleFinalize(ctx, in)
	if err != nil && !readOnlyOperation(middleware.GetOperationName(ctx)) && ambiguous(err) {
		err = &outcomeUnknown{err: err}
	}
	return out, md, err
})

// ambiguous reports the errors after which a request may have been
// carried out.
func ambiguous(err error) bool {
	if throttled(apiCode(err)) || errors.Is(err, context.Canceled) {
		return false
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "server closed") || strings.Contains(msg, "EOF")
}

// callerAccount returns the base identity's account.
func (s *session) callerAccount(ctx context.Context) (string, error) {
	s.mu.Lock()
	acct := s.account
	s.mu.Unlock()
	if acct != "" {
		return acct, nil
	}
	cfg := s.limited(s.base) // the account's one rate limiter, from its first call on
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", explain(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account = aws.ToString(out.Account)
	s.cfgs[s.account] = cfg
	return s.account, nil
}

// config returns the configuration for an account: the base identity's
// own, or the org role assumed in it.
func (s *session) config(ctx context.Context, account string) (aws.Config, error) {
	base, err := s.callerAccount(ctx)
	if err != nil {
		return aws.Config{}, err
	}
	if account == "" {
		account = base
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg, ok := s.cfgs[account]; ok {
		return cfg, nil
	}
	if s.opts.OrgRole == "" {
		return aws.Config{}, &AccountError{Account: account, Credentials: base}
	}
	cfg := s.roleConfig(fmt.Sprintf("arn:aws:iam::%s:role/%s", account, s.opts.OrgRole))
	s.cfgs[account] = cfg
	return cfg, nil
}

// evidenceConfig is the evidence role's configuration, made once: its
// credentials cache and rate limiter serve every copy.
func (s *session) evidenceConfig() aws.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := "role:" + s.opts.EvidenceRole
	cfg, ok := s.cfgs[key]
	if !ok {
		cfg = s.roleConfig(s.opts.EvidenceRole)
		s.cfgs[key] = cfg
	}
	return cfg
}

// roleConfig is the base configuration with a role's credentials.
func (s *session) roleConfig(arn string) aws.Config {
	cfg := s.base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(s.roleProvider(arn))
	return s.limited(cfg)
}

// roleProvider assumes a role from the base identity.
func (s *session) roleProvider(arn string) aws.CredentialsProvider {
	return &roleCredentials{role: arn, p: stscreds.NewAssumeRoleProvider(sts.NewFromConfig(s.base), arn,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "vigil" })}
}

func regional(cfg aws.Config, region string) aws.Config {
	if region != "" && region != "global" {
		cfg = cfg.Copy()
		cfg.Region = region
	}
	return cfg
}

func (s *session) ec2(cfg aws.Config, region string) *ec2.Client {
	return ec2.NewFromConfig(regional(cfg, region))
}

func (s *session) iam(cfg aws.Config) *iam.Client { return iam.NewFromConfig(cfg) }

func (s *session) kms(cfg aws.Config, region string) *kms.Client {
	return kms.NewFromConfig(regional(cfg, region))
}

func (s *session) s3(cfg aws.Config, region string) *s3.Client {
	return s3.NewFromConfig(regional(cfg, region), func(o *s3.Options) {
		// Emulators and fakes on localhost have no virtual-host names.
		o.UsePathStyle = s.opts.Endpoint != "" || o.BaseEndpoint != nil
	})
}

func (s *session) cloudtrail(cfg aws.Config, region string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(regional(cfg, region))
}

func (s *session) guardduty(cfg aws.Config, region string) *guardduty.Client {
	return guardduty.NewFromConfig(regional(cfg, region))
}

func (s *session) organizations(cfg aws.Config) *organizations.Client {
	return organizations.NewFromConfig(cfg)
}

// ParseARN splits arn:aws:svc:region:account:resource.
func ParseARN(id string) (service, region, account, resource string, ok bool) {
	p := strings.SplitN(id, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return "", "", "", "", false
	}
	return p[2], p[3], p[4], p[5], true
}

// resourceID returns the last path element of an ARN's resource, or id.
func resourceID(id string) string {
	if _, _, _, res, ok := ParseARN(id); ok {
		return res[strings.LastIndex(res, "/")+1:]
	}
	return id
}

// AccountError says that a resource is in an account the credentials are
// not for, and no role is configured to assume there: nothing retried
// will read it, only configuration can.
type AccountError struct {
	Account, Credentials string
}

func (e *AccountError) Error() string {
	return fmt.Sprintf("aws: the target is in account %s, but the credentials are for %s: pass --org-role to assume a role there", e.Account, e.Credentials)
}
