package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/vigil-ir/vigil/engine/action"
)

// Provider carries out the aws.* actions. Its session is made on first
// use, so runbooks without AWS steps need no AWS credentials.
type Provider struct {
	opts Options
	once sync.Once
	s    *session
	err  error
}

// New returns the AWS provider.
func New(opts Options) *Provider {
	opts.defaults()
	return &Provider{opts: opts}
}

// Name implements action.Provider.
func (p *Provider) Name() string { return "aws" }

func (p *Provider) session(ctx context.Context) (*session, error) {
	p.once.Do(func() { p.s, p.err = newSession(ctx, p.opts) })
	return p.s, p.err
}

// Actions implements action.Provider. Every action that writes can tell
// whether an interrupted attempt took effect: Recover runs its Apply with
// writes refused, and the attempt took effect when Apply finds nothing
// left to do.
func (p *Provider) Actions() []action.Action {
	f := func(name string, plan func(context.Context, *action.Request) (*action.Change, error), apply func(context.Context, *action.Request) (*action.Result, error)) *action.Func {
		a := &action.Func{S: action.MustSpec(name), PlanFn: wrapPlan(plan), ApplyFn: wrapApply(apply)}
		if a.S.Effect != action.Read {
			a.RecoverFn = recoverBy(apply)
		}
		return a
	}
	isolate := f("aws.ec2.isolate_instance", p.isolatePlan, p.isolateApply)
	isolate.RecoverFn = p.isolateRecover
	return []action.Action{
		f("aws.ec2.snapshot_instance_volumes", p.snapshotPlan, p.snapshotApply),
		f("aws.ec2.share_snapshot", p.sharePlan, p.shareApply),
		f("aws.ec2.copy_snapshot", p.copyPlan, p.copyApply),
		f("aws.ebs.hash_snapshot", p.hashPlan, p.hashApply),
		f("aws.cloudtrail.lookup_events", p.lookupPlan, p.lookupApply),
		isolate,
		f("aws.ec2.release_instance", p.releasePlan, p.releaseApply),
		f("aws.ec2.stop_instance", p.stopPlan, p.stopApply),
		f("aws.ec2.terminate_instance", p.terminatePlan, p.terminateApply),
		f("aws.ec2.revoke_open_ingress", p.revokePlan, p.revokeApply),
		f("aws.ec2.tag", p.tagPlan, p.tagApply),
		f("aws.iam.list_access_keys", p.listKeysPlan, p.listKeysApply),
		f("aws.iam.deactivate_access_key", p.deactivatePlan, p.deactivateApply),
		f("aws.iam.delete_access_key", p.deleteKeyPlan, p.deleteKeyApply),
		f("aws.iam.attach_deny_all_policy", p.denyAllPlan, p.denyAllApply),
	}
}

// recoverBy tells whether an interrupted attempt took effect: Apply runs
// with every write refused; if it needs none, the effect is all there and
// its result is the step's.
func recoverBy(apply func(context.Context, *action.Request) (*action.Result, error)) func(context.Context, *action.Request) (*action.Result, bool, error) {
	return func(ctx context.Context, r *action.Request) (*action.Result, bool, error) {
		res, err := apply(readOnly(ctx), r)
		if errors.Is(err, errWouldWrite) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, classify(err)
		}
		return res, true, nil
	}
}

// wrapPlan and wrapApply name missing permissions, keep unknown outcomes
// as they are, and mark throttling that outlasted the SDK's retries as
// retryable for the step's retry block.
func wrapPlan(fn func(context.Context, *action.Request) (*action.Change, error)) func(context.Context, *action.Request) (*action.Change, error) {
	return func(ctx context.Context, r *action.Request) (*action.Change, error) {
		ch, err := fn(ctx, r)
		return ch, classify(err)
	}
}

func wrapApply(fn func(context.Context, *action.Request) (*action.Result, error)) func(context.Context, *action.Request) (*action.Result, error) {
	return func(ctx context.Context, r *action.Request) (*action.Result, error) {
		res, err := fn(ctx, r)
		return res, classify(err)
	}
}

func classify(err error) error {
	if err == nil || action.IsOutcomeUnknown(err) {
		return err
	}
	var ou *outcomeUnknown
	if errors.As(err, &ou) {
		return &action.OutcomeUnknownError{Err: err}
	}
	err = explain(err)
	if code := apiCode(err); throttled(code) || code == "InternalError" || code == "ServiceUnavailable" || code == "Unavailable" {
		return &action.RetryableError{Err: err}
	}
	return err
}

// settle calls fn again while EC2 answers NotFound for something this
// attempt has just made: the API is eventually consistent ("Eventual
// consistency in the Amazon EC2 API" advises retrying with a growing
// wait).
func (s *session) settle(ctx context.Context, fn func() error) error {
	wait := min(100*time.Millisecond, s.opts.PollInterval)
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !notFoundYet(err) || attempt >= 8 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func notFoundYet(err error) bool {
	if errors.Is(err, errNotListedYet) {
		return true
	}
	code := apiCode(err)
	return strings.HasSuffix(code, ".NotFound") || code == "DependencyViolation"
}

// target is where a resource lives.
type target struct{ account, region, id string }

// locate reads an id or ARN; bare ids are in the home region of the
// credentials' account.
func (s *session) locate(id string) target {
	if _, region, account, _, ok := ParseARN(id); ok {
		return target{account: account, region: region, id: resourceID(id)}
	}
	return target{region: s.base.Region, id: id}
}

func (s *session) ec2For(ctx context.Context, t target) (*ec2.Client, error) {
	cfg, err := s.config(ctx, t.account)
	if err != nil {
		return nil, err
	}
	return s.ec2(cfg, t.region), nil
}

// arn returns the ARN of an EC2 resource at t.
func (s *session) arn(ctx context.Context, t target, kind string) string {
	acct := t.account
	if acct == "" {
		acct, _ = s.callerAccount(ctx)
	}
	return fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", t.region, acct, kind, t.id)
}

// instance describes one instance.
func instance(ctx context.Context, c *ec2.Client, id string) (*ec2types.Instance, error) {
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if apiCode(err) == "InvalidInstanceID.NotFound" || apiCode(err) == "InvalidInstanceID.Malformed" {
		return nil, &action.NotFoundError{What: "instance", ID: id}
	}
	if err != nil {
		return nil, err
	}
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if aws.ToString(r.Instances[i].InstanceId) == id {
				return &r.Instances[i], nil
			}
		}
	}
	return nil, &action.NotFoundError{What: "instance", ID: id}
}

func volumesOf(in *ec2types.Instance) []string {
	var out []string
	for _, bd := range in.BlockDeviceMappings {
		if bd.Ebs != nil && bd.Ebs.VolumeId != nil {
			out = append(out, *bd.Ebs.VolumeId)
		}
	}
	return out
}

func instanceName(in *ec2types.Instance) string {
	if n := nameTag(in.Tags); n != "" {
		return n
	}
	return aws.ToString(in.InstanceId)
}

func stateOf(in *ec2types.Instance) string {
	if in.State == nil {
		return ""
	}
	return string(in.State.Name)
}

// dryRun asks EC2 whether a call would be allowed: DryRunOperation means
// yes, UnauthorizedOperation names the missing permission.
func dryRun(err error) error {
	if err == nil || apiCode(err) == "DryRunOperation" {
		return nil
	}
	return explain(err)
}

// runTags are the tags idempotent actions put on what they make, the same
// keys the simulated cloud uses as labels.
func runTags(r *action.Request, extra map[string]string) []ec2types.Tag {
	m := map[string]string{"vigil-run": r.RunID, "vigil-step": r.Step}
	if r.Incident != "" {
		m["incident"] = r.Incident
	}
	for k, v := range r.StringMap("tags") {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return mapTags(m)
}

// stepFilters find what a step made before. With an incident id the key is
// the incident and step, so running the runbook again for the same
// incident finds the evidence already taken instead of taking it twice;
// without one it is the run and step (a resumed run finds its own).
func stepFilters(r *action.Request) []ec2types.Filter {
	if r.Incident != "" {
		return []ec2types.Filter{
			{Name: aws.String("tag:incident"), Values: []string{r.Incident}},
			{Name: aws.String("tag:vigil-step"), Values: []string{r.Step}},
		}
	}
	return []ec2types.Filter{
		{Name: aws.String("tag:vigil-run"), Values: []string{r.RunID}},
		{Name: aws.String("tag:vigil-step"), Values: []string{r.Step}},
	}
}

// poll calls check until it reports done, the step's context ends, or
// Timeout passes. The first looks come quickly (a stop often takes
// seconds), then the interval doubles up to PollInterval.
func (s *session) poll(ctx context.Context, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(s.opts.Timeout)
	wait := min(250*time.Millisecond, s.opts.PollInterval)
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", s.opts.Timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, s.opts.PollInterval)
	}
}

func describePerm(p ec2types.IpPermission, sources []string) string {
	proto := aws.ToString(p.IpProtocol)
	ports := "all ports"
	if proto == "-1" {
		proto = "all"
	} else if p.FromPort != nil && p.ToPort != nil && !(*p.FromPort <= 0 && *p.ToPort >= 65535) && *p.FromPort != -1 {
		if *p.FromPort == *p.ToPort {
			ports = fmt.Sprint(*p.FromPort)
		} else {
			ports = fmt.Sprintf("%d-%d", *p.FromPort, *p.ToPort)
		}
	}
	return fmt.Sprintf("%s %s from %s", proto, ports, strings.Join(sources, ", "))
}
