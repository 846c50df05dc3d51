package inventory

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// bucketState collects what the plan says about one bucket instance: the
// bucket resource and the helper resources (ACL, policy, public access
// block, IAM) that change who can read it.
type bucketState struct {
	r         *tfResource // the bucket; nil for a bucket not in the plan
	a         *asset.Asset
	family    string // "aws" or "google"
	provider  string // provider configuration key (the account)
	exposures []asset.Exposure
	// own are the exposures of the bucket's own acl, grant and policy
	// attributes, by helper type that replaces them: in AWS provider v4+
	// they are computed from the bucket's live state, and a planned
	// aws_s3_bucket_acl or _policy resource decides instead (replaced).
	own      map[string][]asset.Exposure
	replaced map[string]bool
	pab      *asset.PublicAccessBlock
	pap      string
	unknown  bool
	// judged is false when the bucket is in the plan unchanged: then the
	// helpers that change stand for it (stand), each an asset of its own.
	judged bool
	stand  []*asset.Asset
	// lost are the bucket's public access blocks the plan deletes, with
	// what they blocked.
	lost []lostBlock
}

type lostBlock struct {
	r   *tfResource
	pab *asset.PublicAccessBlock
}

func family(typ string) string {
	f, _, _ := strings.Cut(typ, "_")
	return f
}

// newBucket starts the state of a bucket asset (a planned bucket, or a
// helper standing for a bucket not in the plan).
func (m *tfMapper) newBucket(r *tfResource, a *asset.Asset) *bucketState {
	b := &bucketState{r: r, a: a, judged: true, family: family(a.Type)}
	if r != nil {
		b.judged = r.judged
		b.provider = providerKey(r)
	}
	m.buckets[a.ID] = b
	if a.Name != "" {
		m.bucketsByName[a.Name] = append(m.bucketsByName[a.Name], b)
	}
	return b
}

// bucketTarget finds the one bucket instance a helper applies to: by its
// bucket name when the plan knows it, else by the instance its
// configuration references. nil when the bucket is not in the plan, or
// when vigil cannot tell which instance it is: then nothing is merged.
func (m *tfMapper) bucketTarget(r *tfResource) *bucketState {
	if name := str(r.after, "bucket"); name != "" {
		var found []*bucketState
		for _, b := range m.bucketsByName[name] {
			if b.family == family(r.typ) {
				found = append(found, b)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if len(found) > 1 {
			return nil
		}
	}
	var found []*bucketState
	for _, t := range m.targets(r, "bucket") {
		if b := m.buckets[t.addr]; b != nil && b.r == t {
			found = append(found, b)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return nil
}

// cannedPublicACLs are the S3 canned ACLs that open a bucket.
var cannedPublicACLs = map[string]string{"public-read": "AllUsers", "public-read-write": "AllUsers", "authenticated-read": "AuthenticatedUsers"}

func (m *tfMapper) awsBucket(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindBucket
	a.Name = firstNonEmpty(str(r.after, "bucket"), r.name)
	b := m.newBucket(r, a)
	// acl, grant and policy are Optional+Computed in AWS provider v4+:
	// unknown on every new bucket. Unset, the bucket is private and has no
	// policy (tfDefaults); the aws_s3_bucket_acl and _policy resources that
	// set them are judged themselves.
	var acl []asset.Exposure
	if who, ok := cannedPublicACLs[str(r.after, "acl")]; ok {
		acl = append(acl, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("canned ACL %s grants %s", str(r.after, "acl"), who)})
	} else if r.unknownMatters("acl") {
		b.unknown = true
	}
	for i, g := range blocks(r.after, "grant") {
		if who := publicGrantee(json.RawMessage(str(g, "uri"))); who != "" {
			acl = append(acl, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("grant of %s to %s", strings.Join(strs(g, "permissions"), ", "), who)})
		} else if st := subtree(r.unknown, "grant", i); isUnknown(st, "uri") {
			b.unknown = true
		}
	}
	if len(blocks(r.after, "grant")) == 0 && m.blockUnknownMatters(r, "grant") {
		b.unknown = true
	}
	n := len(b.exposures)
	m.awsPolicy(b, r, "policy")
	policy := b.exposures[n:]
	b.exposures = b.exposures[:n]
	b.own = map[string][]asset.Exposure{"aws_s3_bucket_acl": acl, "aws_s3_bucket_policy": policy}
}

// awsPolicy judges a bucket policy document. When the document is known
// only after apply, the statements the plan or the .tf source know decide:
// those of an aws_iam_policy_document data source it is the json of, or
// those of the jsonencode() or JSON text the .tf source writes, where only
// what the principals and conditions are matters (a bucket ARN known after
// apply in Resource does not).
func (m *tfMapper) awsPolicy(b *bucketState, r *tfResource, key string) {
	if isUnknown(r.unknown, key) {
		if !r.unknownMatters(key) {
			return
		}
		public, from := m.policyFromData(r, key)
		if public == tUnknown {
			public, from = m.policyFromSource(r, key)
		}
		switch public {
		case tYes:
			b.exposures = append(b.exposures, asset.Exposure{Via: "policy", Detail: fmt.Sprintf(`bucket policy (%s, from %s) allows Principal "*"`, r.addr, from)})
		case tUnknown:
			b.unknown = true
		}
		return
	}
	doc := str(r.after, key)
	if doc == "" {
		return
	}
	public, err := PolicyIsPublic([]byte(doc))
	if err != nil {
		b.unknown = true
		return
	}
	if public {
		b.exposures = append(b.exposures, asset.Exposure{Via: "policy", Detail: fmt.Sprintf(`bucket policy (%s) allows Principal "*"`, r.addr)})
	}
}

// policyFromData judges a policy argument that references the json of
// aws_iam_policy_document data sources: public when an Allow statement
// names every principal without a restricting condition; not public when
// every statement's principals are known and none is; unknown otherwise.
func (m *tfMapper) policyFromData(r *tfResource, key string) (tristate, string) {
	refs := m.dataRefs(r, key)
	if len(refs) == 0 || len(m.refs(r, key)) > 0 {
		return tUnknown, ""
	}
	verdict := tNo
	for _, ref := range refs {
		ds := m.p.data[ref]
		if len(ds) == 0 || !strings.Contains(ref, "aws_iam_policy_document.") {
			return tUnknown, ""
		}
		// With count or for_each, which instance a reference picks is not
		// in the plan: the instances must agree.
		v := policyDocumentPublic(ds[0])
		for _, d := range ds[1:] {
			if policyDocumentPublic(d) != v {
				v = tUnknown
			}
		}
		switch v {
		case tYes:
			return tYes, ref
		case tUnknown:
			verdict = tUnknown
		}
	}
	return verdict, refs[0]
}

// policyDocumentPublic reads an aws_iam_policy_document's statement blocks.
func policyDocumentPublic(d *tfData) tristate {
	if isUnknown(d.unknown, "statement") || isUnknown(d.unknown, "source_policy_documents") || isUnknown(d.unknown, "override_policy_documents") ||
		len(strs(d.after, "source_policy_documents")) > 0 || len(strs(d.after, "override_policy_documents")) > 0 {
		return tUnknown
	}
	verdict := tNo
	for i, st := range blocks(d.after, "statement") {
		su := subtree(d.unknown, "statement", i)
		effect := firstNonEmpty(str(st, "effect"), "Allow")
		if isUnknown(su, "effect") {
			effect = ""
		}
		if strings.EqualFold(effect, "Deny") {
			continue
		}
		if isUnknown(su, "principals") || anyUnknown(su, "principals") {
			verdict = tUnknown
			continue
		}
		everyoneHere := false
		for j, p := range blocks(st, "principals") {
			pu := subtree(su, "principals", j)
			if isUnknown(pu, "type") || isUnknown(pu, "identifiers") || anyUnknown(pu, "identifiers") {
				verdict = tUnknown
				continue
			}
			t := str(p, "type")
			if t == "*" || (t == "AWS" && slices.Contains(strs(p, "identifiers"), "*")) {
				everyoneHere = true
			}
		}
		if !everyoneHere {
			continue
		}
		if isUnknown(su, "condition") || anyUnknown(su, "condition") {
			verdict = tUnknown
			continue
		}
		restricted := false
		for _, c := range blocks(st, "condition") {
			if slices.Contains(restrictingConditions, strings.ToLower(str(c, "variable"))) {
				restricted = true
			}
		}
		if effect == "" {
			verdict = tUnknown
		} else if !restricted {
			return tYes
		}
	}
	return verdict
}

// bucketHelper merges an ACL, policy, public access block or IAM resource
// into the bucket instance it applies to. When that bucket is not in the
// plan (or vigil cannot tell which instance it is), a helper that changes
// stands for it as an asset of its own.
func (m *tfMapper) bucketHelper(r *tfResource) (*asset.Asset, error) {
	if r.typ == "aws_s3_account_public_access_block" {
		return nil, nil // deleted: applied to the account's buckets in settleBucket
	}
	b := m.bucketTarget(r)
	name := str(r.after, "bucket")
	var own *asset.Asset
	switch {
	case r.deleted && b == nil && m.p.deletedBuckets[name]:
		return nil, nil // deleted with its bucket: nothing left to expose
	case r.deleted:
		// Only public access blocks arrive deleted: the bucket loses what
		// the block stopped.
		m.judgedDeletion[r] = true
		if b == nil {
			// The bucket is not in the plan, and so neither is what the
			// block kept closed (its policy, its ACL).
			own = r.asset
			own.Kind = asset.KindBucket
			own.Name = firstNonEmpty(name, r.name)
			b = m.newBucket(nil, own)
			b.unknown = true
			return own, nil
		}
		b.lost = append(b.lost, lostBlock{r: r, pab: publicAccessBlock(r)})
		if b.r != nil && !b.judged {
			m.forced[b.r] = true
		}
		return nil, nil
	case b == nil && !r.judged:
		return nil, nil // an unchanged helper of a bucket not in the plan
	case b == nil:
		own = r.asset
		own.Kind = asset.KindBucket
		own.Name = firstNonEmpty(name, r.name)
		b = m.newBucket(nil, own)
		b.provider = providerKey(r)
	case !b.judged && r.judged:
		// The bucket is unchanged; what this helper changes is judged on
		// the helper, with the bucket's name and labels.
		own = r.asset
		own.Kind = asset.KindBucket
		own.Name = b.a.Name
		own.Labels = b.a.Labels
		own.Region = firstNonEmpty(own.Region, b.a.Region)
		own.Scope = firstNonEmpty(own.Scope, b.a.Scope)
		b.stand = append(b.stand, own)
	}
	if !r.judged {
		own = nil
	}
	if b.replaced == nil {
		b.replaced = map[string]bool{}
	}
	b.replaced[r.typ] = true
	switch r.typ {
	case "aws_s3_bucket_public_access_block":
		b.pab = publicAccessBlock(r)
	case "aws_s3_bucket_policy":
		m.awsPolicy(b, r, "policy")
	case "aws_s3_bucket_acl":
		if who, ok := cannedPublicACLs[str(r.after, "acl")]; ok {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s sets canned ACL %s (%s)", r.addr, str(r.after, "acl"), who)})
		}
		for _, acp := range blocks(r.after, "access_control_policy") {
			for _, g := range blocks(acp, "grant") {
				for _, gr := range blocks(g, "grantee") {
					if who := publicGrantee(json.RawMessage(str(gr, "uri"))); who != "" {
						b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, str(g, "permission"), who)})
					}
				}
			}
		}
		// access_control_policy is computed from acl when only acl is
		// set (and the other way round): only a configured one counts.
		if r.unknownMatters("acl") || (!r.configured("acl") && m.blockUnknownMatters(r, "access_control_policy")) {
			b.unknown = true
		}
	case "google_storage_bucket_acl":
		// predefined_acl or role_entity ("READER:allUsers"), not both;
		// role_entity is computed from predefined_acl.
		if who, ok := gcsPublicPredefinedACLs[str(r.after, "predefined_acl")]; ok {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s sets predefined ACL %s (%s)", r.addr, str(r.after, "predefined_acl"), who)})
		}
		for _, re := range strs(r.after, "role_entity") {
			role, entity, _ := strings.Cut(re, ":")
			if everyone(entity) {
				b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, role, entity)})
			}
		}
		// default_acl is the predefined ACL every object written later gets.
		if who, ok := gcsPublicPredefinedObjectACLs[str(r.after, "default_acl")]; ok {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s sets default object ACL %s: objects written later are readable by %s", r.addr, str(r.after, "default_acl"), who)})
		} else if r.unknownMatters("default_acl") {
			b.unknown = true
		}
		if r.unknownMatters("predefined_acl") || ((r.unknownMatters("role_entity") || anyUnknown(r.unknown, "role_entity")) && r.configured("role_entity")) {
			b.unknown = true
		}
	case "google_storage_default_object_acl":
		// The ACL new objects get: an allUsers entry makes every object
		// uploaded later world-readable.
		for _, re := range strs(r.after, "role_entity") {
			role, entity, _ := strings.Cut(re, ":")
			if everyone(entity) {
				b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s gives objects written later %s for %s", r.addr, role, entity)})
			}
		}
		if r.configured("role_entity") && (r.unknownMatters("role_entity") || anyUnknown(r.unknown, "role_entity")) {
			b.unknown = true
		}
	case "google_storage_default_object_access_control":
		if e := str(r.after, "entity"); everyone(e) {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s gives objects written later %s for %s", r.addr, str(r.after, "role"), e)})
		} else if r.unknownMatters("entity") {
			b.unknown = true
		}
	case "google_storage_bucket_access_control":
		if e := str(r.after, "entity"); everyone(e) {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, str(r.after, "role"), e)})
		} else if r.unknownMatters("entity") {
			b.unknown = true
		}
	case "google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy":
		role := str(r.after, "role")
		members := strs(r.after, "members")
		if mbr := str(r.after, "member"); mbr != "" {
			members = append(members, mbr)
		}
		if doc := str(r.after, "policy_data"); doc != "" {
			var pol GCPIAMPolicy
			if err := json.Unmarshal([]byte(doc), &pol); err == nil {
				for _, bd := range pol.Bindings {
					for _, mbr := range bd.Members {
						if everyone(mbr) {
							b.exposures = append(b.exposures, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, bd.Role, mbr)})
						}
					}
				}
			}
		}
		for _, mbr := range members {
			if everyone(mbr) {
				b.exposures = append(b.exposures, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, role, mbr)})
			}
		}
		if r.unknownMatters("member") || (r.configured("members") && (isUnknown(r.unknown, "members") || anyUnknown(r.unknown, "members"))) {
			b.unknown = true
		}
		if r.unknownMatters("policy_data") {
			switch v, from := m.iamPolicyFromData(r); v {
			case tYes:
				b.exposures = append(b.exposures, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("%s (policy from %s) grants a role to allUsers or allAuthenticatedUsers", r.addr, from)})
			case tUnknown:
				b.unknown = true
			}
		}
	}
	return own, nil
}

// gcsPublicPredefinedACLs are the predefined bucket ACLs that open a
// bucket to everyone (https://cloud.google.com/storage/docs/access-control/lists#predefined-acl).
var gcsPublicPredefinedACLs = map[string]string{"publicRead": "allUsers", "publicReadWrite": "allUsers", "authenticatedRead": "allAuthenticatedUsers"}

// gcsPublicPredefinedObjectACLs are the predefined object ACLs (a bucket
// ACL's default_acl) that let everyone read the objects
// (https://cloud.google.com/storage/docs/access-control/lists#predefined-acl).
var gcsPublicPredefinedObjectACLs = map[string]string{"publicRead": "allUsers", "authenticatedRead": "allAuthenticatedUsers"}

// iamPolicyFromData judges a policy_data that is the policy_data of a
// google_iam_policy data source, from the bindings the plan knows.
func (m *tfMapper) iamPolicyFromData(r *tfResource) (tristate, string) {
	refs := m.dataRefs(r, "policy_data")
	if len(refs) != 1 || len(m.refs(r, "policy_data")) > 0 || !strings.Contains(refs[0], "google_iam_policy.") {
		return tUnknown, ""
	}
	ds := m.p.data[refs[0]]
	if len(ds) != 1 || isUnknown(ds[0].unknown, "binding") {
		return tUnknown, "" // none, or instances a reference cannot tell apart
	}
	d := ds[0]
	verdict := tNo
	for i, bd := range blocks(d.after, "binding") {
		if bu := subtree(d.unknown, "binding", i); isUnknown(bu, "members") || anyUnknown(bu, "members") {
			verdict = tUnknown
		}
		if slices.ContainsFunc(strs(bd, "members"), everyone) {
			return tYes, refs[0]
		}
	}
	return verdict, refs[0]
}

// publicAccessBlock reads an S3 public access block (a bucket's or the
// account's); an attribute known only after apply does not block.
func publicAccessBlock(r *tfResource) *asset.PublicAccessBlock {
	return &asset.PublicAccessBlock{
		BlockPublicACLs: r.after["block_public_acls"] == true, IgnorePublicACLs: r.after["ignore_public_acls"] == true,
		BlockPublicPolicy: r.after["block_public_policy"] == true, RestrictPublicBuckets: r.after["restrict_public_buckets"] == true,
	}
}

// blocks reports whether a public access block stops an exposure.
func blocksExposure(pab *asset.PublicAccessBlock, e asset.Exposure) bool {
	return pab != nil && ((e.Via == "acl" && pab.IgnorePublicACLs) || (e.Via == "policy" && pab.RestrictPublicBuckets))
}

// settleBucket decides public from what the plan says, applying the
// bucket's own public access block, the account's (when the plan has one
// for the same provider configuration), or public access prevention. A
// block the plan deletes no longer stops anything: the exposures it
// stopped say so, and the bucket is judged even when unchanged.
func (m *tfMapper) settleBucket(b *bucketState) {
	var account *asset.PublicAccessBlock
	var lost []lostBlock
	lost = append(lost, b.lost...)
	if b.family == "aws" && b.provider != "" {
		if r := m.accountBlocks[b.provider]; r != nil {
			account = publicAccessBlock(r)
			if r.judged && b.r != nil && !b.judged {
				m.forced[b.r] = true // the account's block changes: so may the bucket's exposure
			}
		}
		if r := m.lostAccountBlocks[b.provider]; r != nil && account == nil {
			lost = append(lost, lostBlock{r: r, pab: publicAccessBlock(r)})
			m.judgedDeletion[r] = true
			if b.r != nil && !b.judged {
				m.forced[b.r] = true
			}
		}
	}
	if b.r != nil && m.forced[b.r] && len(b.stand) > 0 {
		delete(m.forced, b.r) // the helpers that change stand for it
	}
	var via []asset.Exposure
	var exposures []asset.Exposure
	for _, typ := range []string{"aws_s3_bucket_acl", "aws_s3_bucket_policy"} {
		if !b.replaced[typ] {
			exposures = append(exposures, b.own[typ]...)
		}
	}
	for _, e := range append(exposures, b.exposures...) {
		if blocksExposure(b.pab, e) || blocksExposure(account, e) {
			continue
		}
		var gone []string
		for _, l := range lost {
			if blocksExposure(l.pab, e) {
				gone = append(gone, l.r.addr)
			}
		}
		if len(gone) > 0 {
			e.Detail += fmt.Sprintf(" (no longer blocked: %s %s deleted)", strings.Join(gone, ", "), pluralWord(len(gone), "is", "are"))
		}
		via = append(via, e)
	}
	if strings.EqualFold(b.pap, "enforced") {
		via = nil
	}
	full := func(p *asset.PublicAccessBlock) bool {
		return p != nil && p.IgnorePublicACLs && p.RestrictPublicBuckets
	}
	blocked := strings.EqualFold(b.pap, "enforced") || full(b.pab) || full(account)
	for _, a := range append([]*asset.Asset{b.a}, b.stand...) {
		a.Facets.PublicAccessBlock = b.pab
		a.Facets.PublicVia = via
		a.Facets.Public = asset.Bool(len(via) > 0)
		if b.unknown && len(via) == 0 && !blocked {
			a.Facets.Public = nil
			a.Facets.Unknown = appendUnique(a.Facets.Unknown, "public")
		}
	}
}
