package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
)

// DenyAllPolicyName is the inline policy attach_deny_all_policy writes.
const DenyAllPolicyName = "vigil-deny-all"

// denyAllDocument denies everything. An explicit Deny beats any Allow, so
// it also cuts sessions and temporary credentials issued before it.
const denyAllDocument = `{"Version":"2012-10-17","Statement":[{"Sid":"VigilIncidentDenyAll","Effect":"Deny","Action":"*","Resource":"*"}]}`

func (p *Provider) iamClient(ctx context.Context, account string) (*session, *iam.Client, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := s.config(ctx, account)
	if err != nil {
		return nil, nil, err
	}
	return s, s.iam(cfg), nil
}

func listKeys(ctx context.Context, c *iam.Client, user string) ([]iamtypes.AccessKeyMetadata, error) {
	var out []iamtypes.AccessKeyMetadata
	p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if apiCode(err) == "NoSuchEntity" {
				return nil, &action.NotFoundError{What: "IAM user", ID: user}
			}
			return nil, err
		}
		out = append(out, page.AccessKeyMetadata...)
	}
	return out, nil
}

func (p *Provider) listKeysPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	return &action.Change{Summary: "list the access keys of " + r.Str("user")}, nil
}

func (p *Provider) listKeysApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	_, c, err := p.iamClient(ctx, "")
	if err != nil {
		return nil, err
	}
	keys, err := listKeys(ctx, c, r.Str("user"))
	if err != nil {
		return nil, err
	}
	vals := make([]cty.Value, 0, len(keys))
	for _, k := range keys {
		created := ""
		if k.CreateDate != nil {
			created = k.CreateDate.UTC().Format(time.RFC3339)
		}
		vals = append(vals, cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(aws.ToString(k.AccessKeyId)), "user": cty.StringVal(aws.ToString(k.UserName)),
			"status": cty.StringVal(string(k.Status)), "created": cty.StringVal(created)}))
	}
	list := cty.ListValEmpty(action.AccessKey)
	if len(vals) > 0 {
		list = cty.ListVal(vals)
	}
	return &action.Result{Summary: fmt.Sprintf("%d keys of %s", len(keys), r.Str("user")), Outputs: map[string]cty.Value{"keys": list}}, nil
}

// key finds an access key and its user: the user argument, or IAM's own
// answer (GetAccessKeyLastUsed names the user of any key of the account).
func (p *Provider) key(ctx context.Context, r *action.Request) (*iam.Client, *iamtypes.AccessKeyMetadata, error) {
	s, c, err := p.iamClient(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	id, user := r.Str("access_key_id"), r.Str("user")
	if user == "" {
		lu, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
		if err != nil {
			if apiCode(err) == "AccessDenied" || apiCode(err) == "NoSuchEntity" {
				acct, _ := s.callerAccount(ctx)
				return nil, nil, &action.NotFoundError{What: "access key in account " + acct, ID: id}
			}
			return nil, nil, err
		}
		user = aws.ToString(lu.UserName)
	}
	keys, err := listKeys(ctx, c, user)
	if err != nil {
		return nil, nil, err
	}
	for i := range keys {
		if aws.ToString(keys[i].AccessKeyId) == id {
			return c, &keys[i], nil
		}
	}
	return nil, nil, &action.NotFoundError{What: "access key of " + user, ID: id}
}

func keyARN(ctx context.Context, p *Provider, k *iamtypes.AccessKeyMetadata) string {
	s, _ := p.session(ctx)
	acct, _ := s.callerAccount(ctx)
	return fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, aws.ToString(k.UserName), aws.ToString(k.AccessKeyId))
}

func (p *Provider) deactivatePlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	_, k, err := p.key(ctx, r)
	if err != nil {
		return nil, err
	}
	ch := &action.Change{Summary: fmt.Sprintf("deactivate access key %s of %s", aws.ToString(k.AccessKeyId), aws.ToString(k.UserName)), Targets: []string{keyARN(ctx, p, k)}}
	if k.Status == iamtypes.StatusTypeInactive {
		ch.NoOp, ch.Summary = true, "access key "+aws.ToString(k.AccessKeyId)+" is already inactive"
	}
	return ch, nil
}

func (p *Provider) deactivateApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	c, k, err := p.key(ctx, r)
	if err != nil {
		return nil, err
	}
	if k.Status != iamtypes.StatusTypeInactive {
		if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: k.AccessKeyId, UserName: k.UserName, Status: iamtypes.StatusTypeInactive}); err != nil {
			return nil, err
		}
	}
	return &action.Result{Summary: "deactivated " + aws.ToString(k.AccessKeyId), Targets: []string{keyARN(ctx, p, k)}, Outputs: map[string]cty.Value{"status": cty.StringVal("Inactive")}}, nil
}

func (p *Provider) deleteKeyPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	_, k, err := p.key(ctx, r)
	if action.IsNotFound(err) {
		return &action.Change{Summary: r.Str("access_key_id") + " is already deleted", NoOp: true}, nil
	}
	if err != nil {
		return nil, err
	}
	arn := keyARN(ctx, p, k)
	return &action.Change{Summary: fmt.Sprintf("delete access key %s of %s", aws.ToString(k.AccessKeyId), aws.ToString(k.UserName)), Targets: []string{arn}, Deletes: []string{arn}}, nil
}

func (p *Provider) deleteKeyApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	c, k, err := p.key(ctx, r)
	if action.IsNotFound(err) {
		return &action.Result{Summary: "already deleted", Outputs: map[string]cty.Value{"deleted": cty.StringVal(r.Str("access_key_id"))}}, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: k.AccessKeyId, UserName: k.UserName}); err != nil && apiCode(err) != "NoSuchEntity" {
		return nil, err
	}
	arn := keyARN(ctx, p, k)
	return &action.Result{Summary: "deleted " + aws.ToString(k.AccessKeyId), Targets: []string{arn}, Deletes: []string{arn},
		Outputs: map[string]cty.Value{"deleted": cty.StringVal(aws.ToString(k.AccessKeyId))}}, nil
}

// principal splits a user or role ARN.
func principal(arn string) (account, kind, name string, err error) {
	svc, _, acct, res, ok := ParseARN(arn)
	if !ok || svc != "iam" {
		return "", "", "", fmt.Errorf("principal %q: want a user or role ARN (arn:aws:iam::ACCOUNT:user/NAME)", arn)
	}
	kind, name, ok = strings.Cut(res, "/")
	if !ok || (kind != "user" && kind != "role") {
		return "", "", "", fmt.Errorf("principal %q: only users and roles take a deny-all policy", arn)
	}
	return acct, kind, name[strings.LastIndex(name, "/")+1:], nil
}

func (p *Provider) hasDenyAll(ctx context.Context, c *iam.Client, kind, name string) (bool, error) {
	var err error
	if kind == "user" {
		_, err = c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(DenyAllPolicyName)})
	} else {
		_, err = c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(DenyAllPolicyName)})
	}
	if apiCode(err) == "NoSuchEntity" {
		return false, nil
	}
	return err == nil, err
}

func (p *Provider) denyAllPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	acct, kind, name, err := principal(r.Str("principal"))
	if err != nil {
		return nil, err
	}
	_, c, err := p.iamClient(ctx, acct)
	if err != nil {
		return nil, err
	}
	has, err := p.hasDenyAll(ctx, c, kind, name)
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("attach inline policy %s (Deny *) to %s %s", DenyAllPolicyName, kind, name), Targets: []string{r.Str("principal")}, NoOp: has}, nil
}

func (p *Provider) denyAllApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	acct, kind, name, err := principal(r.Str("principal"))
	if err != nil {
		return nil, err
	}
	_, c, err := p.iamClient(ctx, acct)
	if err != nil {
		return nil, err
	}
	if has, err := p.hasDenyAll(ctx, c, kind, name); err != nil {
		return nil, err
	} else if has {
		return &action.Result{Summary: kind + " " + name + " already has " + DenyAllPolicyName, Targets: []string{r.Str("principal")},
			Outputs: map[string]cty.Value{"policy_name": cty.StringVal(DenyAllPolicyName)}}, nil
	}
	if kind == "user" {
		_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(DenyAllPolicyName), PolicyDocument: aws.String(denyAllDocument)})
	} else {
		_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(DenyAllPolicyName), PolicyDocument: aws.String(denyAllDocument)})
	}
	if err != nil {
		return nil, err
	}
	return &action.Result{Summary: "deny-all attached to " + kind + " " + name, Targets: []string{r.Str("principal")},
		Outputs: map[string]cty.Value{"policy_name": cty.StringVal(DenyAllPolicyName)}}, nil
}
