package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// The plans under testdata/plans/constructed/review-15 were written by
// hand by the reviewer of issue 15 (round 1) to break `vigil check`; each
// test below states what the plan holds and what follows from it.

func reviewPlan(t *testing.T, name ...string) string {
	return testutil.Path(t, append([]string{"testdata", "plans", "constructed", "review-15"}, name...)...)
}

func public(a *asset.Asset) string {
	switch {
	case a == nil:
		return "missing"
	case a.Facets.Public == nil:
		return "unknown"
	case *a.Facets.Public:
		return "public"
	}
	return "private"
}

// Instances of a count or for_each block are judged apart: a helper
// resource applies to the one instance it targets.
func TestInstancesKeepTheirOwnState(t *testing.T) {
	// aws_s3_bucket.b[0] has acl private, b[1] acl public-read (AWS v3).
	m, _ := loadPlan(t, reviewPlan(t, "count-buckets.json"))
	if public(m["aws_s3_bucket.b[0]"]) != "private" || public(m["aws_s3_bucket.b[1]"]) != "public" {
		t.Errorf("count buckets: b[0] %s, b[1] %s; want private, public", public(m["aws_s3_bucket.b[0]"]), public(m["aws_s3_bucket.b[1]"]))
	}
	// b["priv"] enforces public access prevention; b["pub"] is inherited
	// and google_storage_bucket_iam_member.pub (bucket = b["pub"].name,
	// "acme-pub") grants allUsers.
	m, _ = loadPlan(t, reviewPlan(t, "gcs-for-each-iam.json"))
	if len(m) != 2 || public(m[`google_storage_bucket.b["priv"]`]) != "private" || public(m[`google_storage_bucket.b["pub"]`]) != "public" {
		t.Errorf("for_each buckets: %v, priv %s, pub %s", keysOf(m), public(m[`google_storage_bucket.b["priv"]`]), public(m[`google_storage_bucket.b["pub"]`]))
	}
	if via := m[`google_storage_bucket.b["pub"]`].Facets.PublicVia; len(via) != 1 || via[0].Detail != "google_storage_bucket_iam_member.pub grants roles/storage.objectViewer to allUsers" {
		t.Errorf("pub exposure: %+v", via)
	}
	// module.m["a"]: an ACL public-read and a public access block of all
	// false; module.m["b"]: a block of all true. Each module instance's
	// helpers reference aws_s3_bucket.this of their own instance.
	m, _ = loadPlan(t, reviewPlan(t, "module-for-each-helpers.json"))
	if a, b := m[`module.m["a"].aws_s3_bucket.this`], m[`module.m["b"].aws_s3_bucket.this`]; public(a) != "public" || public(b) != "private" ||
		b.Facets.PublicAccessBlock == nil || !b.Facets.PublicAccessBlock.IgnorePublicACLs || a.Facets.PublicAccessBlock.IgnorePublicACLs {
		t.Errorf("module instances: a %s %+v, b %s %+v", public(a), a.Facets.PublicAccessBlock, public(b), b.Facets.PublicAccessBlock)
	}
}

// A helper with count or for_each that picks its bucket by count.index or
// each.value is paired with the bucket instance of the same key.
func TestHelpersPairedByKey(t *testing.T) {
	bucket := func(addr, key string) string {
		return `{"address":"aws_s3_bucket.b[` + key + `]","mode":"managed","type":"aws_s3_bucket","name":"b","index":` + key + `,"change":{"actions":["create"],"after":{"bucket":"` + addr + `","acl":"public-read"},"after_unknown":{"id":true}}}`
	}
	pab := func(typ, key string, on bool) string {
		v := "false"
		if on {
			v = "true"
		}
		return `{"address":"aws_s3_bucket_public_access_block.p[` + key + `]","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"p","index":` + key + `,"change":{"actions":["create"],"after":{"block_public_acls":` + v + `,"ignore_public_acls":` + v + `,"block_public_policy":` + v + `,"restrict_public_buckets":` + v + `},"after_unknown":{"id":true,"bucket":true}}}`
	}
	// count: bucket = aws_s3_bucket.b[count.index].id
	m, _ := planWith(t, bucket("zero", "0")+","+bucket("one", "1")+","+pab("", "0", false)+","+pab("", "1", true),
		`{"address":"aws_s3_bucket_public_access_block.p","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"p","provider_config_key":"aws","count_expression":{"constant_value":2},
		  "expressions":{"bucket":{"references":["aws_s3_bucket.b","count.index"]}}}`)
	if public(m["aws_s3_bucket.b[0]"]) != "public" || public(m["aws_s3_bucket.b[1]"]) != "private" {
		t.Errorf("count.index: b[0] %s, b[1] %s; want public (p[0] blocks nothing), private (p[1] ignores public ACLs)", public(m["aws_s3_bucket.b[0]"]), public(m["aws_s3_bucket.b[1]"]))
	}
	// for_each = aws_s3_bucket.b, bucket = each.value.id
	fe := func(s string) string {
		return strings.NewReplacer(`[0]`, `[\"x\"]`, `[1]`, `[\"y\"]`, `"index":0`, `"index":"x"`, `"index":1`, `"index":"y"`).Replace(s)
	}
	m, _ = planWith(t, fe(bucket("zero", "0")+","+bucket("one", "1")+","+pab("", "0", true)+","+pab("", "1", false)),
		`{"address":"aws_s3_bucket_public_access_block.p","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"p","provider_config_key":"aws","for_each_expression":{"references":["aws_s3_bucket.b"]},
		  "expressions":{"bucket":{"references":["each.value.id","each.value"]}}}`)
	if public(m[`aws_s3_bucket.b["x"]`]) != "private" || public(m[`aws_s3_bucket.b["y"]`]) != "public" {
		t.Errorf("each.value: x %s, y %s; want private, public", public(m[`aws_s3_bucket.b["x"]`]), public(m[`aws_s3_bucket.b["y"]`]))
	}
	// A reference that cannot tell the instances apart merges into none:
	// the block protects neither (the conservative side), and stands as an
	// asset of its own.
	m, _ = planWith(t, bucket("zero", "0")+","+bucket("one", "1")+`,{"address":"aws_s3_bucket_public_access_block.one","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"one","change":{"actions":["create"],"after":{"block_public_acls":true,"ignore_public_acls":true,"block_public_policy":true,"restrict_public_buckets":true},"after_unknown":{"id":true,"bucket":true}}}`,
		`{"address":"aws_s3_bucket_public_access_block.one","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"one","provider_config_key":"aws","expressions":{"bucket":{"references":["aws_s3_bucket.b"]}}}`)
	if public(m["aws_s3_bucket.b[0]"]) != "public" || public(m["aws_s3_bucket.b[1]"]) != "public" || m["aws_s3_bucket_public_access_block.one"] == nil {
		t.Errorf("ambiguous: b[0] %s, b[1] %s, block %v", public(m["aws_s3_bucket.b[0]"]), public(m["aws_s3_bucket.b[1]"]), m["aws_s3_bucket_public_access_block.one"] != nil)
	}
}

func keysOf(m map[string]*asset.Asset) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Deleting a public access block opens the bucket it protected: the
// unchanged bucket is judged, and its exposures say why.
func TestDeletedPublicAccessBlock(t *testing.T) {
	// aws_s3_bucket.site and aws_s3_bucket_policy.site (Principal "*") are
	// no-op; aws_s3_bucket_public_access_block.site (all true) is deleted.
	m, stats := loadPlan(t, reviewPlan(t, "deleted-public-access-block.json"))
	site := m["aws_s3_bucket.site"]
	if len(m) != 1 || public(site) != "public" {
		t.Fatalf("assets %v, site %s", keysOf(m), public(site))
	}
	// The bucket's own policy attribute (computed, v4+) is the policy
	// resource's document: one exposure, not two.
	want := []asset.Exposure{{Via: "policy", Detail: `bucket policy (aws_s3_bucket_policy.site) allows Principal "*" (no longer blocked: aws_s3_bucket_public_access_block.site is deleted)`}}
	if diff := cmp.Diff(want, site.Facets.PublicVia); diff != "" {
		t.Errorf("exposures (-want +got):\n%s", diff)
	}
	if stats.Actions["delete"] != 1 || stats.Deleted != 0 || stats.Unchanged != 2 {
		t.Errorf("the deletion is judged: %+v", stats)
	}
	// The same block updated to all false: the update stands for the
	// unchanged bucket.
	m, _ = loadPlan(t, reviewPlan(t, "updated-public-access-block.json"))
	if p := m["aws_s3_bucket_public_access_block.site"]; len(m) != 1 || public(p) != "public" || p.Name != "site" || len(p.Facets.PublicVia) != 1 {
		t.Errorf("updated block: %v %+v", keysOf(m), p)
	}
	// A deleted block of a bucket not in the plan: what it kept closed is
	// not in the plan either.
	m, stats = planWith(t, `{"address":"aws_s3_bucket_public_access_block.ext","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"ext","change":{"actions":["delete"],"before":{"bucket":"elsewhere","block_public_acls":true,"ignore_public_acls":true,"block_public_policy":true,"restrict_public_buckets":true},"after":null}}`, "")
	if e := m["aws_s3_bucket_public_access_block.ext"]; public(e) != "unknown" || e.Name != "elsewhere" || e.Kind != asset.KindBucket || stats.Actions["delete"] != 1 {
		t.Errorf("block of a bucket outside the plan: %+v %+v", e, stats)
	}
	// Deleted together with its bucket (a teardown): nothing is exposed.
	m, stats = planWith(t, `{"address":"aws_s3_bucket.gone","mode":"managed","type":"aws_s3_bucket","name":"gone","change":{"actions":["delete"],"before":{"bucket":"gone-bucket"},"after":null}},
	  {"address":"aws_s3_bucket_public_access_block.gone","mode":"managed","type":"aws_s3_bucket_public_access_block","name":"gone","change":{"actions":["delete"],"before":{"bucket":"gone-bucket","block_public_acls":true,"ignore_public_acls":true,"block_public_policy":true,"restrict_public_buckets":true},"after":null}}`, "")
	if len(m) != 0 || stats.Deleted != 2 || len(stats.Actions) != 0 {
		t.Errorf("bucket and block deleted: %v %+v", keysOf(m), stats)
	}
	// Other deletions stay not judged.
	_, stats = planWith(t, `{"address":"aws_s3_bucket_policy.gone","mode":"managed","type":"aws_s3_bucket_policy","name":"gone","change":{"actions":["delete"],"before":{"bucket":"x","policy":"{}"},"after":null}}`, "")
	if stats.Deleted != 1 || len(stats.Actions) != 0 {
		t.Errorf("a deleted policy: %+v", stats)
	}
}

// The account's S3 public access block applies to the buckets of the same
// provider configuration; deleting it opens them.
func TestAccountPublicAccessBlock(t *testing.T) {
	bucket := `{"address":"aws_s3_bucket.site","mode":"managed","type":"aws_s3_bucket","name":"site","change":{"actions":["%s"],"after":{"bucket":"site","acl":"public-read"},"after_unknown":{}}}`
	account := `{"address":"aws_s3_account_public_access_block.all","mode":"managed","type":"aws_s3_account_public_access_block","name":"all","change":{"actions":["%s"],%s:{"block_public_acls":true,"ignore_public_acls":true,"block_public_policy":true,"restrict_public_buckets":true}}}`
	cfg := `{"address":"aws_s3_bucket.site","mode":"managed","type":"aws_s3_bucket","name":"site","provider_config_key":"%s"},
	        {"address":"aws_s3_account_public_access_block.all","mode":"managed","type":"aws_s3_account_public_access_block","name":"all","provider_config_key":"aws"}`
	f := func(s string, args ...string) string {
		for _, a := range args {
			s = strings.Replace(s, "%s", a, 1)
		}
		return s
	}
	m, stats := planWith(t, f(bucket, "create")+","+f(account, "create", `"after"`), f(cfg, "aws"))
	if public(m["aws_s3_bucket.site"]) != "private" || m["aws_s3_account_public_access_block.all"].Kind != "public_access_block" || len(stats.Unmapped) != 0 {
		t.Errorf("a public-read bucket in an account that ignores public ACLs: %s %+v", public(m["aws_s3_bucket.site"]), stats)
	}
	// another provider configuration (aws.us) may be another account
	m, _ = planWith(t, f(bucket, "create")+","+f(account, "create", `"after"`), f(cfg, "aws.us"))
	if public(m["aws_s3_bucket.site"]) != "public" {
		t.Errorf("bucket of another provider configuration: %s", public(m["aws_s3_bucket.site"]))
	}
	// weakened to all false: the unchanged bucket is judged, open
	weak := strings.ReplaceAll(f(account, "update", `"after"`), "true", "false")
	m, _ = planWith(t, f(bucket, "no-op")+","+weak, f(cfg, "aws"))
	if public(m["aws_s3_bucket.site"]) != "public" {
		t.Errorf("account block updated to all false: %v", keysOf(m))
	}
	// deleted: the unchanged bucket is judged, open again
	m, stats = planWith(t, f(bucket, "no-op")+","+f(account, "delete", `"before"`), f(cfg, "aws"))
	if s := m["aws_s3_bucket.site"]; public(s) != "public" || !strings.Contains(s.Facets.PublicVia[0].Detail, "no longer blocked: aws_s3_account_public_access_block.all is deleted") || stats.Actions["delete"] != 1 {
		t.Errorf("deleted account block: %+v %+v", s, stats)
	}
}

// A Google ingress rule admits its source ranges, tags and service
// accounts; only with none of them is it open to 0.0.0.0/0.
func TestGoogleFirewallSources(t *testing.T) {
	// source_service_accounts = [google_service_account.bastion.email],
	// unknown until apply; no ranges, no tags.
	m, _ := loadPlan(t, reviewPlan(t, "gcp-source-service-account.json"))
	if r := m["google_compute_firewall.from_bastion"].Facets.Ingress[0]; len(r.Sources) != 0 || len(r.Unknown) != 0 {
		t.Errorf("sources from a service account made at apply: %+v", r)
	}
	// the same with source_tags from a resource
	m, _ = loadPlan(t, reviewPlan(t, "gcp-unknown-source-tags.json"))
	for _, id := range []string{"google_compute_firewall.from_bastion", "google_compute_firewall.from_tag"} {
		if r := m[id].Facets.Ingress[0]; len(r.Sources) != 0 || len(r.Unknown) != 0 {
			t.Errorf("%s: %+v", id, r)
		}
	}
	// source_tags ["bastion"] known, source_ranges from
	// google_compute_address.x: Google ORs them, so the ranges decide.
	m, _ = loadPlan(t, reviewPlan(t, "gcp-unknown-ranges-known-tags.json"))
	if r := m["google_compute_firewall.mixed"].Facets.Ingress[0]; !cmp.Equal(r.Unknown, []string{"sources"}) || !cmp.Equal(r.SourceTags, []string{"bastion"}) {
		t.Errorf("unknown ranges next to known tags: %+v", r)
	}
	// An EGRESS rule whose destinations come from apply, and a dynamic
	// allow block over something only apply knows.
	m, _ = planWith(t, `{"address":"google_compute_firewall.out","mode":"managed","type":"google_compute_firewall","name":"out","change":{"actions":["create"],"after":{"name":"out","direction":"EGRESS","allow":[{"protocol":"tcp","ports":["22"]}]},"after_unknown":{"destination_ranges":true}}},
	  {"address":"google_compute_firewall.dyn","mode":"managed","type":"google_compute_firewall","name":"dyn","change":{"actions":["create"],"after":{"name":"dyn","source_ranges":["0.0.0.0/0"]},"after_unknown":{"allow":true}}}`,
		`{"address":"google_compute_firewall.out","mode":"managed","type":"google_compute_firewall","name":"out","expressions":{"destination_ranges":{"references":["google_compute_address.x"]}}},
		 {"address":"google_compute_firewall.dyn","mode":"managed","type":"google_compute_firewall","name":"dyn","expressions":{"source_ranges":{"constant_value":["0.0.0.0/0"]}}}`)
	if r := m["google_compute_firewall.out"].Facets.Egress[0]; !cmp.Equal(r.Unknown, []string{"sources"}) || len(r.Sources) != 0 {
		t.Errorf("egress to destinations known at apply: %+v", r)
	}
	if r := m["google_compute_firewall.dyn"].Facets.Ingress; len(r) != 1 || !cmp.Equal(r[0].Unknown, []string{"ports", "protocol"}) || r[0].Sources[0] != "0.0.0.0/0" {
		t.Errorf("allow rules known at apply: %+v", r)
	}
}

// In-line rules the .tf source shows as a dynamic block stay unknown,
// whatever standalone rules add to the group; without the source, the
// plan cannot tell, and the assumption is noted.
func TestDynamicRulesAndStandaloneRules(t *testing.T) {
	// main.tf: a dynamic "ingress" over aws_eip.peer[*].public_ip on 22,
	// and an egress aws_security_group_rule on 443 for the same group.
	dir := reviewPlan(t, "dynamic-ingress-egress-rule")
	src, diags := LoadTFSource(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	as, stats, err := LoadPlanWith(filepath.Join(dir, "plan.json"), src)
	if err != nil {
		t.Fatal(err)
	}
	g := byID(as)["aws_security_group.dyn"]
	if len(g.Facets.Ingress) != 1 || !cmp.Equal(g.Facets.Ingress[0].Unknown, []string{"sources", "ports", "protocol"}) || len(g.Facets.Egress) != 0 {
		t.Errorf("dynamic ingress next to an egress rule: %+v", g.Facets)
	}
	if len(stats.Notes) != 0 {
		t.Errorf("with the source nothing is assumed: %+v", stats.Notes)
	}
	// The same plan without its .tf: judged as configuring no rules, and
	// noted (both rule lists are unknown and absent from the plan's
	// configuration section).
	as, stats, err = LoadPlan(filepath.Join(dir, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if g := byID(as)["aws_security_group.dyn"]; len(g.Facets.Ingress) != 0 {
		t.Errorf("without the source: %+v", g.Facets.Ingress)
	}
	if len(stats.Notes) != 1 || stats.Notes[0].Address != "aws_security_group.dyn" || !cmp.Equal(stats.Notes[0].Attrs, []string{"ingress", "egress"}) ||
		!strings.Contains(stats.Notes[0].Message(), "pass --chdir") || stats.Notes[0].File != filepath.Join(dir, "plan.json") || stats.Notes[0].Offset == 0 {
		t.Errorf("notes: %+v", stats.Notes)
	}
}

func byID(as []*asset.Asset) map[string]*asset.Asset {
	m := map[string]*asset.Asset{}
	for _, a := range as {
		m[a.ID] = a
	}
	return m
}

// Elastic IPs, their associations and network interfaces are mapped, and
// give the instances they attach to a public IP.
func TestElasticIPs(t *testing.T) {
	// aws_instance.i sets associate_public_ip_address = false; aws_eip.i
	// has instance = aws_instance.i.id.
	m, stats := loadPlan(t, reviewPlan(t, "eip-and-rules.json"))
	i := m["aws_instance.i"]
	if !cmp.Equal(i.Facets.PublicIPs, []string{knownAfterApply}) || strings.Contains(strings.Join(i.Facets.Unknown, " "), "public_ips") {
		t.Errorf("instance with an Elastic IP: %+v", i.Facets)
	}
	if m["aws_eip.i"].Kind != "address" || m["aws_eip.peer"].Kind != "address" || len(stats.Unmapped) != 0 {
		t.Errorf("Elastic IPs are addresses: %s %s %v", m["aws_eip.i"].Kind, m["aws_eip.peer"].Kind, stats.Unmapped)
	}
	// An interface with an Elastic IP (association), attached in the
	// instance's network_interface block; and a new association on an
	// unchanged instance, which makes it judged.
	m, stats = planWith(t, `{"address":"aws_network_interface.n","mode":"managed","type":"aws_network_interface","name":"n","change":{"actions":["create"],"after":{"subnet_id":"subnet-1","private_ips":["10.0.0.5"]},"after_unknown":{"id":true}}},
	  {"address":"aws_eip.n","mode":"managed","type":"aws_eip","name":"n","change":{"actions":["create"],"after":{"domain":"vpc"},"after_unknown":{"id":true,"public_ip":true}}},
	  {"address":"aws_eip_association.n","mode":"managed","type":"aws_eip_association","name":"n","change":{"actions":["create"],"after":{},"after_unknown":{"allocation_id":true,"network_interface_id":true}}},
	  {"address":"aws_instance.web","mode":"managed","type":"aws_instance","name":"web","change":{"actions":["create"],"after":{"network_interface":[{"device_index":0}]},"after_unknown":{"network_interface":[{"network_interface_id":true}]}}},
	  {"address":"aws_instance.old","mode":"managed","type":"aws_instance","name":"old","change":{"actions":["no-op"],"after":{"id":"i-1","public_ip":"","subnet_id":"subnet-private","associate_public_ip_address":false},"after_unknown":{}}},
	  {"address":"aws_eip.old","mode":"managed","type":"aws_eip","name":"old","change":{"actions":["create"],"after":{"domain":"vpc","instance":"i-1"},"after_unknown":{"public_ip":true}}}`,
		`{"address":"aws_eip_association.n","mode":"managed","type":"aws_eip_association","name":"n","expressions":{"allocation_id":{"references":["aws_eip.n.id","aws_eip.n"]},"network_interface_id":{"references":["aws_network_interface.n.id","aws_network_interface.n"]}}},
		 {"address":"aws_instance.web","mode":"managed","type":"aws_instance","name":"web","expressions":{"network_interface":[{"device_index":{"constant_value":0},"network_interface_id":{"references":["aws_network_interface.n.id","aws_network_interface.n"]}}]}},
		 {"address":"aws_eip.old","mode":"managed","type":"aws_eip","name":"old","expressions":{"instance":{"references":["aws_instance.old.id","aws_instance.old"]}}}`)
	if n := m["aws_network_interface.n"]; n.Kind != asset.KindNetworkInterface || !cmp.Equal(n.Facets.PublicIPs, []string{knownAfterApply}) || !cmp.Equal(n.Facets.PrivateIPs, []string{"10.0.0.5"}) {
		t.Errorf("interface: %+v", n)
	}
	if w := m["aws_instance.web"]; !cmp.Equal(w.Facets.PublicIPs, []string{knownAfterApply}) {
		t.Errorf("instance attaching the interface: %+v", w.Facets)
	}
	if o := m["aws_instance.old"]; o == nil || !cmp.Equal(o.Facets.PublicIPs, []string{knownAfterApply}) || stats.Actions["create"] != 5 || stats.Unchanged != 1 {
		t.Errorf("unchanged instance given an Elastic IP: %+v %+v", o, stats)
	}
}

func TestOrganizationsAccount(t *testing.T) {
	m, stats := planWith(t, `{"address":"aws_organizations_account.dev","mode":"managed","type":"aws_organizations_account","name":"dev","change":{"actions":["create"],"after":{"name":"acme-dev","email":"dev@acme.example","tags":{"owner":"platform"}},"after_unknown":{"id":true,"arn":true}}}`, "")
	a := m["aws_organizations_account.dev"]
	if a.Kind != asset.KindAccount || a.Name != "acme-dev" || a.Labels["owner"] != "platform" || len(stats.Unmapped) != 0 {
		t.Errorf("account: %+v", a)
	}
}

// "resource_changes": null is an empty plan, not invalid JSON.
func TestNullResourceChanges(t *testing.T) {
	as, _, err := LoadPlan(reviewPlan(t, "null-resource-changes.json"))
	if err != nil || len(as) != 0 {
		t.Errorf("%v %v", err, as)
	}
	p := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(p, []byte(`{"format_version":"1.2","resource_changes":{}}`), 0o644)
	if _, _, err := LoadPlan(p); err == nil || !strings.Contains(err.Error(), "resource_changes is not a list") {
		t.Errorf("an object: %v", err)
	}
}

// A bucket policy known only after apply because it names the new
// bucket's ARN is judged from its .tf source, where the principals are.
func TestPolicyFromTerraformSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`variable "partner" {
  default = "arn:aws:iam::111122223333:root"
}

resource "aws_s3_bucket" "b" {
  bucket = "acme-b"
}

resource "aws_s3_bucket_policy" "partner" {
  bucket = aws_s3_bucket.b.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { AWS = var.partner }, Action = "s3:GetObject", Resource = "${aws_s3_bucket.b.arn}/*" }]
  })
}

resource "aws_s3_bucket_policy" "open" {
  bucket = aws_s3_bucket.b.id
  policy = <<-EOT
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "${aws_s3_bucket.b.arn}/*"}]}
  EOT
}

resource "aws_s3_bucket_policy" "role" {
  bucket = aws_s3_bucket.b.id
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = { AWS = aws_iam_role.r.arn }, Action = "s3:GetObject", Resource = aws_s3_bucket.b.arn }]
  })
}

resource "aws_s3_bucket_policy" "vpce" {
  bucket = aws_s3_bucket.b.id
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = "*", Action = "s3:GetObject", Resource = aws_s3_bucket.b.arn,
      Condition = { StringEquals = { "aws:SourceVpce" = aws_vpc_endpoint.s3.id } } }]
  })
}
`), 0o644)
	change := func(name string) string {
		return `{"address":"aws_s3_bucket_policy.` + name + `","mode":"managed","type":"aws_s3_bucket_policy","name":"` + name + `","change":{"actions":["create"],"after":{},"after_unknown":{"bucket":true,"policy":true,"id":true}}}`
	}
	cfg := func(name string) string {
		return `{"address":"aws_s3_bucket_policy.` + name + `","mode":"managed","type":"aws_s3_bucket_policy","name":"` + name + `","provider_config_key":"aws","expressions":{"bucket":{"references":["aws_s3_bucket.b.id","aws_s3_bucket.b"]},"policy":{"references":["aws_s3_bucket.b.arn","aws_s3_bucket.b"]}}}`
	}
	plan := filepath.Join(dir, "plan.json")
	names := []string{"partner", "open", "role", "vpce"}
	var changes, configs []string
	for _, n := range names {
		changes = append(changes, change(n))
		configs = append(configs, cfg(n))
	}
	os.WriteFile(plan, []byte(`{"format_version":"1.2","variables":{"partner":{"value":"arn:aws:iam::111122223333:root"}},"resource_changes":[
	{"address":"aws_s3_bucket.b","mode":"managed","type":"aws_s3_bucket","name":"b","change":{"actions":["create"],"after":{"bucket":"acme-b"},"after_unknown":{"acl":true,"grant":true,"policy":true,"arn":true,"id":true}}},`+
		strings.Join(changes, ",")+`],"configuration":{"root_module":{"resources":[{"address":"aws_s3_bucket.b","mode":"managed","type":"aws_s3_bucket","name":"b","provider_config_key":"aws","expressions":{"bucket":{"constant_value":"acme-b"}}},`+
		strings.Join(configs, ",")+`]}}}`), 0o644)
	// Several policies name one bucket here; each is judged on the
	// bucket it stands for only when alone, so judge them one by one
	// through their own verdicts.
	src, diags := LoadTFSource(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, err := readPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.indexData(); err != nil {
		t.Fatal(err)
	}
	m := &tfMapper{p: p}
	for name, want := range map[string]tristate{
		"partner": tNo,      // one account, from var.partner's plan value
		"open":    tYes,     // Principal "*" in JSON text; the ARN is only the Resource
		"role":    tUnknown, // the principal is a role made at apply
		"vpce":    tNo,      // Principal "*" restricted by aws:SourceVpce (its value does not matter)
	} {
		var rc tfResourceChange
		for _, c := range p.changes {
			if c.Address == "aws_s3_bucket_policy."+name {
				rc = c
			}
		}
		r, err := p.resource(rc, "create")
		if err != nil {
			t.Fatal(err)
		}
		r.src = src
		got, from := m.policyFromSource(r, "policy")
		if got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		if got != tUnknown && !strings.HasPrefix(from, "its .tf source, "+filepath.Join(dir, "main.tf")+":") {
			t.Errorf("%s: from %q", name, from)
		}
		r.src = nil
		if got, _ := m.policyFromSource(r, "policy"); got != tUnknown {
			t.Errorf("%s without the source: %v", name, got)
		}
	}
	// Through the whole mapping: the open policy makes the bucket public.
	as, _, err := LoadPlanWith(plan, src)
	if err != nil {
		t.Fatal(err)
	}
	b := byID(as)["aws_s3_bucket.b"]
	if public(b) != "public" || len(b.Facets.PublicVia) != 1 || !strings.Contains(b.Facets.PublicVia[0].Detail, "aws_s3_bucket_policy.open, from its .tf source") {
		t.Errorf("bucket: %s %+v", public(b), b.Facets.PublicVia)
	}
}

// A registry module that `terraform init` downloaded is read for its
// dynamic blocks (findings stay on the module block, the line a pull
// request changes); one that was not downloaded is noted. Dynamic blocks
// are seen in JSON syntax too.
func TestDownloadedModulesAndJSONSyntax(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`module "sg" {
  source  = "terraform-aws-modules/security-group/aws"
  version = "5.1.0"
}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "j.tf.json"), []byte(`{"resource": {"aws_security_group": {"j": {"name": "j", "dynamic": {"ingress": {"for_each": "${var.peers}", "content": {"from_port": 22, "to_port": 22, "protocol": "tcp"}}}}}}}`), 0o644)
	mod := filepath.Join(dir, ".terraform", "modules", "sg")
	os.MkdirAll(mod, 0o755)
	os.WriteFile(filepath.Join(mod, "main.tf"), []byte(`resource "aws_security_group" "this" {
  name = "this"
  dynamic "ingress" {
    for_each = var.ingress
    content {
      from_port = ingress.value.port
      to_port   = ingress.value.port
      protocol  = "tcp"
    }
  }
}
`), 0o644)
	manifest := filepath.Join(dir, ".terraform", "modules", "modules.json")
	os.WriteFile(manifest, []byte(`{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"sg","Source":"registry.terraform.io/terraform-aws-modules/security-group/aws","Version":"5.1.0","Dir":".terraform/modules/sg"}]}`), 0o644)
	plan := filepath.Join(dir, "plan.json")
	os.WriteFile(plan, []byte(`{"format_version":"1.2","resource_changes":[
	{"address":"module.sg.aws_security_group.this","module_address":"module.sg","mode":"managed","type":"aws_security_group","name":"this","change":{"actions":["create"],"after":{"name":"this"},"after_unknown":{"ingress":true,"egress":true,"id":true}}},
	{"address":"aws_security_group.j","mode":"managed","type":"aws_security_group","name":"j","change":{"actions":["create"],"after":{"name":"j"},"after_unknown":{"ingress":true,"egress":true,"id":true}}}],
	"configuration":{"root_module":{"resources":[{"address":"aws_security_group.j","mode":"managed","type":"aws_security_group","name":"j","expressions":{"name":{"constant_value":"j"}}}],
	"module_calls":{"sg":{"source":"terraform-aws-modules/security-group/aws","module":{"resources":[{"address":"aws_security_group.this","mode":"managed","type":"aws_security_group","name":"this","expressions":{"name":{"constant_value":"this"}}}]}}}}}}`), 0o644)
	src, diags := LoadTFSource(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if pl := src.Locate("module.sg.aws_security_group.this"); pl.Via != "module.sg" || pl.Range.Line != 1 || pl.Range.File != filepath.Join(dir, "main.tf") {
		t.Errorf("a downloaded module's resource is placed on its module block: %+v", pl)
	}
	as, stats, err := LoadPlanWith(plan, src)
	if err != nil {
		t.Fatal(err)
	}
	m := byID(as)
	for _, id := range []string{"module.sg.aws_security_group.this", "aws_security_group.j"} {
		if in := m[id].Facets.Ingress; len(in) != 1 || len(in[0].Unknown) != 3 {
			t.Errorf("%s: the dynamic ingress is seen: %+v", id, in)
		}
		if len(m[id].Facets.Egress) != 0 {
			t.Errorf("%s: no egress block: %+v", id, m[id].Facets.Egress)
		}
	}
	if len(stats.Notes) != 0 {
		t.Errorf("notes: %+v", stats.Notes)
	}
	// not downloaded: the module's group is judged as unset, and noted
	os.Remove(manifest)
	src, _ = LoadTFSource(dir)
	as, stats, _ = LoadPlanWith(plan, src)
	if in := byID(as)["module.sg.aws_security_group.this"].Facets.Ingress; len(in) != 0 {
		t.Errorf("without the module: %+v", in)
	}
	if len(stats.Notes) != 1 || stats.Notes[0].Address != "module.sg.aws_security_group.this" || !strings.Contains(stats.Notes[0].Why, "not local and not installed") {
		t.Errorf("notes: %+v", stats.Notes)
	}
}
