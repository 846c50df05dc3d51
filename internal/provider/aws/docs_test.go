package aws

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// permRow is one row of testdata/permissions.tsv.
type permRow struct{ op, action, when, source string }

// permissionTable reads testdata/permissions.tsv: the IAM actions each
// operation needs as AWS documents them, independent of the fake.
func permissionTable(t *testing.T) []permRow {
	var rows []permRow
	for _, c := range testutil.PermissionRows(t, "testdata/permissions.tsv", "https://docs.aws.amazon.com/") {
		rows = append(rows, permRow{c[0], c[1], c[2], c[3]})
	}
	return rows
}

// recorded are the calls and permissions of each action (and of
// collection), as the fake served them and the table prices them.
type recorded struct {
	t            *testing.T
	rows         []permRow
	calls, perms map[string]map[string]bool
}

func (rec *recorded) add(name string, calls []awsfake.Call) {
	if rec.calls[name] == nil {
		rec.calls[name], rec.perms[name] = map[string]bool{}, map[string]bool{}
	}
	for _, c := range calls {
		if c.Operation == "" {
			continue
		}
		op := c.Service + ":" + c.Operation
		found := false
		for _, row := range rec.rows {
			if row.op != op {
				continue
			}
			found = true
			if row.action != "-" && rec.holds(row.when, c) {
				rec.perms[name][row.action] = true
			}
		}
		if !found {
			rec.t.Errorf("testdata/permissions.tsv has no row for %s", op)
		}
		if c.Operation != "GetCallerIdentity" { // every action asks who it is; it needs no permission
			rec.calls[name][op] = true
		}
	}
}

func (rec *recorded) holds(when string, c awsfake.Call) bool {
	switch when {
	case "":
		return true
	case "tags on create":
		for k := range c.Params {
			if strings.HasPrefix(k, "TagSpecification.") {
				return true
			}
		}
		return false
	case "encrypted":
		return c.Params.Get("Encrypted") == "true" || c.Params.Get("KmsKeyId") != "" || slices.Contains(c.Facts, "source encrypted")
	}
	rec.t.Fatalf("testdata/permissions.tsv: unknown condition %q", when)
	return false
}

// exercise runs every action through each of its paths (plan, then
// apply), and collection, recording what each called.
func exercise(t *testing.T) *recorded {
	f, opts := start(t)
	f.With(func(f *awsfake.Fake) {
		prod := f.Get(awsfake.ProdAccount)
		v := prod.Region("eu-west-1").Volumes["vol-0aaaaaaaaaaaa0002"]
		v.Encrypted, v.KmsKeyID = true, f.EBSKey(awsfake.ProdAccount, "eu-west-1").ARN
		prod.Roles["app-role"] = true
		// A bucket ListBuckets gives no region for (older answers do not).
		prod.Buckets["acme-legacy"] = &awsfake.Bucket{Name: "acme-legacy"}
		f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true
	})
	f.Organization(awsfake.ProdAccount, "vigil-collect", awsfake.SecurityAccount)
	// What the posture policies of issue 19 read: so collection makes
	// every call it can make.
	awsfake.AddIssue19(f)
	rec := &recorded{t: t, rows: permissionTable(t), calls: map[string]map[string]bool{}, perms: map[string]map[string]bool{}}
	ctx := context.Background()
	seen := 0
	mark := func(name string) {
		calls := f.Calls()
		rec.add(name, calls[seen:])
		seen = len(calls)
	}
	p := New(opts)
	evidence := opts
	evidence.EvidenceRole = "arn:aws:iam::333333333333:role/vigil-evidence"
	pe := New(evidence)
	run := func(p *Provider, name string, args map[string]cty.Value) *action.Result {
		t.Helper()
		a := act(t, p, name)
		r := req(args)
		if _, err := a.Plan(ctx, r); err != nil {
			t.Fatalf("%s plan: %v", name, err)
		}
		res, err := a.Apply(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mark(name)
		return res
	}
	mark("") // start-up
	collect(t, opts)
	mark("collect")
	org := opts
	org.OrgRole = "vigil-collect"
	collect(t, org)
	mark("collect --org-role")
	vm := cty.StringVal(webARN)
	snap := run(p, "aws.ec2.snapshot_instance_volumes", map[string]cty.Value{"instance": vm})
	shared := run(p, "aws.ec2.share_snapshot", map[string]cty.Value{"snapshot_ids": snap.Outputs["snapshot_ids"],
		"account": cty.StringVal(awsfake.SecurityAccount), "kms_key_id": cty.StringVal(awsfake.EvidenceKey)})
	copied := run(pe, "aws.ec2.copy_snapshot", map[string]cty.Value{"snapshot_ids": shared.Outputs["shared"], "tags": cty.MapVal(map[string]cty.Value{"case": cty.StringVal("INC-1")})})
	run(pe, "aws.ebs.hash_snapshot", map[string]cty.Value{"snapshot_ids": copied.Outputs["snapshot_ids"]})
	run(p, "aws.cloudtrail.lookup_events", map[string]cty.Value{"at": cty.StringVal(awsfake.AlertTime.Format(time.RFC3339)), "resource": vm,
		"principal": cty.StringVal(awsfake.LeakedKey)})
	for _, way := range []string{"untrack", "nacl"} {
		run(p, "aws.ec2.isolate_instance", map[string]cty.Value{"instance": vm, "end_tracked_connections": cty.StringVal(way)})
		run(p, "aws.ec2.release_instance", map[string]cty.Value{"instance": vm})
	}
	run(p, "aws.ec2.stop_instance", map[string]cty.Value{"instance": vm})
	run(p, "aws.ec2.revoke_open_ingress", map[string]cty.Value{"security_group": cty.StringVal(awsfake.WebGroup)})
	run(p, "aws.ec2.tag", map[string]cty.Value{"resource": vm, "tags": cty.MapVal(map[string]cty.Value{"incident": cty.StringVal("INC-1")})})
	run(p, "aws.ec2.isolate_instance", map[string]cty.Value{"instance": vm, "end_tracked_connections": cty.StringVal("none")})
	run(p, "aws.ec2.terminate_instance", map[string]cty.Value{"instance": vm})
	run(p, "aws.iam.list_access_keys", map[string]cty.Value{"user": cty.StringVal("ci-deployer")})
	run(p, "aws.iam.deactivate_access_key", map[string]cty.Value{"access_key_id": cty.StringVal(awsfake.OtherKey)})
	run(p, "aws.iam.delete_access_key", map[string]cty.Value{"access_key_id": cty.StringVal(awsfake.LeakedKey), "user": cty.StringVal("ci-deployer")})
	run(p, "aws.iam.delete_access_key", map[string]cty.Value{"access_key_id": cty.StringVal(awsfake.OtherKey)})
	run(p, "aws.iam.attach_deny_all_policy", map[string]cty.Value{"principal": cty.StringVal("arn:aws:iam::111111111111:user/ci-deployer")})
	run(p, "aws.iam.attach_deny_all_policy", map[string]cty.Value{"principal": cty.StringVal("arn:aws:iam::111111111111:role/app-role")})
	return rec
}

var ticked = regexp.MustCompile("`([a-z0-9]+:[A-Za-z0-9*]+)`")

// table reads the rows of a markdown table between two markers: the
// first backticked name of a row, and the service:Action names after it.
func table(t *testing.T, path, begin, end string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, line := range strings.Split(testutil.DocSection(t, path, begin, end), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		names := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1)
		set := map[string]bool{}
		for _, m := range ticked.FindAllStringSubmatch(cells[2], -1) {
			set[m[1]] = true
		}
		for _, n := range names {
			key := n[1]
			if !strings.HasPrefix(key, "aws.") && !strings.HasPrefix(key, "vigil ") {
				continue
			}
			out[key] = set
		}
	}
	return out
}

func key(name string) string {
	switch name {
	case "collect":
		return "vigil inventory collect --aws"
	case "collect --org-role":
		return "vigil inventory collect --aws --org-role ROLE"
	}
	return name
}

// The README says which calls each action makes, and examples/aws which
// IAM actions they need, in a table and in the policy: exactly what the
// fake saw.
func TestDocumentedCallsAndPermissions(t *testing.T) {
	rec := exercise(t)
	if testing.Verbose() {
		for _, name := range slices.Sorted(maps.Keys(rec.calls)) {
			t.Logf("%s\n  calls: %v\n  perms: %v", key(name), slices.Sorted(maps.Keys(rec.calls[name])), slices.Sorted(maps.Keys(rec.perms[name])))
		}
	}
	calls := table(t, "README.md", "<!-- aws-calls -->", "<!-- /aws-calls -->")
	perms := table(t, "examples/aws/README.md", "<!-- aws-permissions -->", "<!-- /aws-permissions -->")
	respond, collectAll := map[string]bool{}, map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(rec.calls)) {
		if name == "" {
			continue
		}
		if d := testutil.SetDiff(rec.calls[name], calls[key(name)]); d != "" {
			t.Errorf("README, calls of %s: %s", key(name), d)
		}
		if d := testutil.SetDiff(rec.perms[name], perms[key(name)]); d != "" {
			t.Errorf("examples/aws/README.md, IAM actions of %s: %s", key(name), d)
		}
		dst := respond
		if strings.HasPrefix(name, "collect") {
			dst = collectAll
		}
		for p := range rec.perms[name] {
			dst[p] = true
		}
	}
	raw, err := os.ReadFile(testutil.Path(t, "examples/aws/vigil-iam-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct {
			Sid      string
			Action   []string
			Resource any
		}
	}
	if err := json.Unmarshal(raw, &policy); err != nil {
		t.Fatal(err)
	}
	// Least privilege: the roles vigil may assume are named, never "*".
	for _, st := range policy.Statement {
		if slices.Contains(st.Action, "sts:AssumeRole") {
			var res []string
			switch r := st.Resource.(type) {
			case string:
				res = []string{r}
			case []any:
				for _, x := range r {
					s, _ := x.(string)
					res = append(res, s)
				}
			}
			for _, r := range res {
				if !regexp.MustCompile(`^arn:aws:iam::(\*|[0-9]{12}):role/[A-Za-z0-9+=,.@_/-]+$`).MatchString(r) || strings.HasSuffix(r, "/*") {
					t.Errorf("vigil-iam-policy.json, %s: sts:AssumeRole on %q: name the roles vigil assumes", st.Sid, r)
				}
			}
		}
	}
	stmts := map[string]map[string]bool{}
	for _, st := range policy.Statement {
		stmts[st.Sid] = map[string]bool{}
		for _, a := range st.Action {
			stmts[st.Sid][a] = true
		}
	}
	union := func(sids ...string) map[string]bool {
		out := map[string]bool{}
		for _, s := range sids {
			for a := range stmts[s] {
				out[a] = true
			}
		}
		return out
	}
	if d := testutil.SetDiff(collectAll, union("VigilCollect", "VigilCollectOrganization", "VigilAssumeOrgRole")); d != "" {
		t.Errorf("vigil-iam-policy.json, collection statements: %s", d)
	}
	if d := testutil.SetDiff(respond, union("VigilAssumeRoles", "VigilRespondEC2", "VigilRespondKMS", "VigilRespondIAM", "VigilRespondEvidence")); d != "" {
		t.Errorf("vigil-iam-policy.json, response statements: %s", d)
	}
	// The copies and their content hashes are made as the evidence role.
	asRole := map[string]bool{}
	for _, name := range []string{"aws.ec2.copy_snapshot", "aws.ebs.hash_snapshot"} {
		for p := range rec.perms[name] {
			asRole[p] = true
		}
	}
	if d := testutil.SetDiff(asRole, union("VigilAssumeRoles", "VigilEvidenceRole")); d != "" {
		t.Errorf("vigil-iam-policy.json, evidence role statements: %s", d)
	}
}
