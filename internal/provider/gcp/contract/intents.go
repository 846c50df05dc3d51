package contract

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/quarantine"
	"github.com/vigil-ir/vigil/internal/provider/gcp/worker"
)

// An intent is vigil's side of the contract for one method: what vigil
// means to send, whatever the Go client makes of it. The Go clients drop
// a zero value unless it is in ForceSendFields, and the API then applies
// its default (priority 1000 instead of 0); a value sent as null is not a
// value. Intents are written from the actions' semantics, and check the
// values, not only that a field is there.
type intent func(c *checker, r gcpfake.Request, body map[string]any)

var intents = map[string][]intent{
	"compute.firewalls.insert":                   {computeWrite, firewallInsert},
	"compute.firewalls.patch":                    {computeWrite, firewallPatch},
	"compute.firewalls.delete":                   {computeWrite},
	"compute.instances.setTags":                  {computeWrite, fingerprinted("items")},
	"compute.instances.setMetadata":              {computeWrite, fingerprinted("items")},
	"compute.projects.setCommonInstanceMetadata": {computeWrite, fingerprinted("items")},
	"compute.instances.deleteAccessConfig":       {computeWrite},
	"compute.instances.stop":                     {computeWrite},
	"compute.instances.suspend":                  {computeWrite},
	"compute.instances.resume":                   {computeWrite},
	"compute.instances.delete":                   {computeWrite},
	"compute.instances.insert":                   {computeWrite, instanceInsert},
	"compute.snapshots.insert":                   {computeWrite, labelled("sourceDisk")},
	"compute.images.insert":                      {computeWrite, labelled("sourceSnapshot")},
	"compute.disks.insert":                       {computeWrite, labelled("sourceSnapshot")},
	"compute.disks.delete":                       {computeWrite},
}

// computeWrite: every mutating Compute call carries a requestId, so that a
// retry of a call the server completed is ignored, not done twice.
func computeWrite(c *checker, r gcpfake.Request, _ map[string]any) {
	if !r.Query.Has("requestId") {
		c.add("vigil means to send query parameter requestId, but the URL has none (mutating Compute calls carry one so that their retries are safe)")
	}
}

// has reports a field that is there with a value: null is no value.
func has(body map[string]any, k string) bool {
	v, ok := body[k]
	return ok && v != nil
}

func require(c *checker, body map[string]any, why string, fields ...string) {
	for _, f := range fields {
		v, ok := body[f]
		switch {
		case !ok:
			c.add("vigil means to set %s, but the JSON has no %q: the Go client dropped a zero value (add it to ForceSendFields; %s)", f, f, why)
		case v == nil:
			c.add("vigil means to set %s, but the JSON has it as null (%s)", f, why)
		}
	}
}

func strList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// nonEmptyList checks a field is a list with elements.
func nonEmptyList(c *checker, body map[string]any, k, why string) []string {
	l, ok := strList(body[k])
	if !ok || len(l) == 0 {
		c.add("%s is %s, want a non-empty list (%s)", k, describeValue(body, k), why)
	}
	return l
}

// describeValue shows a field for a problem: missing, null or its JSON.
func describeValue(body map[string]any, k string) string {
	v, ok := body[k]
	switch {
	case !ok:
		return "missing"
	case v == nil:
		return "null"
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

func number(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// quarantineRule reports whether a firewall name is one of the
// quarantine's (quarantine.Name: vigil-quarantine-KIND-NET, or the hashed
// vigil-q-KIND-... form).
func quarantineRule(name string) bool {
	return strings.HasPrefix(name, "vigil-quarantine-") || strings.HasPrefix(name, "vigil-q-")
}

// allProtocols checks that a rule allows or denies all protocols, as a
// quarantine rule does, in the field it should and no other.
func allProtocols(c *checker, body map[string]any, want, other string) {
	if has(body, other) {
		c.add("a quarantine rule that should %s sends %s", map[string]string{"allowed": "allow", "denied": "deny"}[want], other)
	}
	l, ok := body[want].([]any)
	if !ok || len(l) != 1 {
		c.add("%s is %s, want [{\"IPProtocol\":\"all\"}]", want, describeValue(body, want))
		return
	}
	e, _ := l[0].(map[string]any)
	if e["IPProtocol"] != "all" || e["ports"] != nil {
		c.add("%s is %s, want [{\"IPProtocol\":\"all\"}]", want, describeValue(body, want))
	}
}

// quarantineValues checks the values every quarantine rule carries:
// priority 0 (a deny there beats every allow), enabled, and targets the
// quarantine tag only.
func quarantineValues(c *checker, body map[string]any) {
	if p, ok := number(body["priority"]); has(body, "priority") && (!ok || p != quarantine.Priority) {
		c.add("a quarantine rule has priority %s, want %d", describeValue(body, "priority"), quarantine.Priority)
	}
	if d, ok := body["disabled"].(bool); has(body, "disabled") && (!ok || d) {
		c.add("a quarantine rule is sent with disabled %v", body["disabled"])
	}
	if has(body, "targetTags") {
		if l, _ := strList(body["targetTags"]); !slices.Equal(l, []string{quarantine.Tag}) {
			c.add("a quarantine rule targets %s, want only the tag %s", describeValue(body, "targetTags"), quarantine.Tag)
		}
	}
	if has(body, "targetServiceAccounts") {
		c.add("a quarantine rule targets service accounts: they exclude target tags")
	}
}

const rangesWhy = "a quarantine rule's ranges decide what it matches; an ingress rule with no source is open to 0.0.0.0/0"

func firewallInsert(c *checker, _ gcpfake.Request, body map[string]any) {
	require(c, body, "a quarantine rule's priority (0) and state decide what it beats; without them the API applies priority 1000",
		"name", "network", "direction", "priority", "targetTags", "description", "disabled")
	name, _ := body["name"].(string)
	if !quarantineRule(name) {
		c.add("vigil inserts only quarantine rules, not %q", name)
		return
	}
	quarantineValues(c, body)
	switch body["direction"] {
	case "INGRESS":
		nonEmptyList(c, body, "sourceRanges", rangesWhy)
		for _, k := range []string{"destinationRanges", "sourceTags", "sourceServiceAccounts"} {
			if has(body, k) {
				c.add("quarantine ingress rule %s sends %s, which narrows a deny or widens the forensics allow", name, k)
			}
		}
	case "EGRESS":
		nonEmptyList(c, body, "destinationRanges", rangesWhy)
		if has(body, "sourceRanges") {
			c.add("quarantine egress rule %s sends sourceRanges, which narrows the deny", name)
		}
	default:
		c.add("direction is %v, want INGRESS or EGRESS", body["direction"])
	}
	if strings.Contains(name, "-allow-forensics-") {
		allProtocols(c, body, "allowed", "denied")
		if l, ok := strList(body["sourceRanges"]); ok && asset.OpenToInternet(l) {
			c.add("the forensics allow %s lets the whole internet in: %s", name, strings.Join(l, ", "))
		}
	} else {
		allProtocols(c, body, "denied", "allowed")
	}
}

// firewallPatch: vigil patches a quarantine rule back into shape (every
// field it needs, and null for those that must go), or a world-open rule
// to narrower sources (restrict_firewall: sourceRanges only).
func firewallPatch(c *checker, r gcpfake.Request, body map[string]any) {
	name := r.Path[strings.LastIndex(r.Path, "/")+1:]
	if !quarantineRule(name) {
		for k := range body {
			if k != "sourceRanges" {
				c.add("restrict_firewall patches only sourceRanges, not %s", k)
			}
		}
		l := nonEmptyList(c, body, "sourceRanges", "a patch without sources changes nothing, and an ingress rule patched to no source is open to 0.0.0.0/0")
		if asset.OpenToInternet(l) {
			c.add("the restricted sources %s still cover the whole internet", strings.Join(l, ", "))
		}
		return
	}
	require(c, body, "a quarantine rule's priority (0) and state decide what it beats", "priority", "disabled", "targetTags")
	quarantineValues(c, body)
	if !(has(body, "sourceRanges") || has(body, "destinationRanges")) {
		c.add("vigil means to set one of sourceRanges, destinationRanges, but the JSON has none (%s)", rangesWhy)
	}
	for _, k := range []string{"sourceRanges", "destinationRanges"} {
		if has(body, k) {
			nonEmptyList(c, body, k, rangesWhy)
		}
	}
	// null clears a field (JSON merge patch): only those that would
	// change what the rule matches.
	for k, v := range body {
		if v == nil && !slices.Contains([]string{"sourceRanges", "destinationRanges", "sourceTags", "sourceServiceAccounts", "targetServiceAccounts"}, k) {
			c.add("the patch clears %s", k)
		}
	}
	switch {
	case has(body, "allowed"):
		allProtocols(c, body, "allowed", "denied")
	case has(body, "denied"):
		allProtocols(c, body, "denied", "allowed")
	default:
		c.add("the patch of quarantine rule %s sets neither allowed nor denied", name)
	}
}

// fingerprinted: a list that replaces the current one, with the
// fingerprint that guards the update. An empty list is a value and must
// be sent; null is not.
func fingerprinted(list string) intent {
	return func(c *checker, _ gcpfake.Request, body map[string]any) {
		require(c, body, "an empty list is a value; the fingerprint guards the update", list, "fingerprint")
		if has(body, list) {
			if _, ok := body[list].([]any); !ok {
				c.add("%s is %s, want a list", list, describeValue(body, list))
			}
		}
		if f, _ := body["fingerprint"].(string); has(body, "fingerprint") && f == "" {
			c.add("fingerprint is empty")
		}
	}
}

// stepLabels checks the labels that let a re-run find what a step made.
func stepLabels(c *checker, body map[string]any) {
	labels, _ := body["labels"].(map[string]any)
	for _, k := range []string{"vigil-run", "vigil-step"} {
		if v, _ := labels[k].(string); v == "" {
			c.add("labels have no %s: a re-run could not find what the step made", k)
		}
	}
}

func labelled(source string) intent {
	return func(c *checker, _ gcpfake.Request, body map[string]any) {
		require(c, body, "evidence is labelled with the incident, run and step so a re-run finds it", "name", source, "labels", "description")
		stepLabels(c, body)
	}
}

func instanceInsert(c *checker, r gcpfake.Request, body map[string]any) {
	if isHashWorker(body) {
		workerInsert(c, body)
		return
	}
	require(c, body, "a recovered instance is labelled with the incident, run and step so a re-run finds it",
		"name", "machineType", "disks", "networkInterfaces", "labels")
	stepLabels(c, body)
	nis, _ := body["networkInterfaces"].([]any)
	for i, v := range nis {
		ni, _ := v.(map[string]any)
		if !has(ni, "network") && !has(ni, "subnetwork") {
			c.add("networkInterfaces[%d] names neither a network nor a subnetwork: the project's default network would be used", i)
		}
	}
	disks, _ := body["disks"].([]any)
	if len(disks) == 0 {
		c.add("disks is empty")
	}
	for i, v := range disks {
		d, _ := v.(map[string]any)
		ip, _ := d["initializeParams"].(map[string]any)
		if s, _ := ip["sourceSnapshot"].(string); s == "" {
			c.add("disks[%d] has no initializeParams.sourceSnapshot: a recovered instance starts from the snapshot", i)
		}
	}
}

func metadataItems(body map[string]any) map[string]string {
	out := map[string]string{}
	md, _ := body["metadata"].(map[string]any)
	items, _ := md["items"].([]any)
	for _, v := range items {
		it, _ := v.(map[string]any)
		k, _ := it["key"].(string)
		val, _ := it["value"].(string)
		out[k] = val
	}
	return out
}

func isHashWorker(body map[string]any) bool {
	return strings.Contains(metadataItems(body)["startup-script"], worker.Marker)
}

// workerInsert: gcp.compute.hash_snapshot's worker has no external IP, a
// boot disk from an image, the evidence disk attached read-only as device
// "evidence", one service account, and the metadata its script reads.
func workerInsert(c *checker, body map[string]any) {
	require(c, body, "the hash worker is labelled with the incident, run and step so a re-run finds it",
		"name", "machineType", "disks", "networkInterfaces", "labels", "serviceAccounts", "metadata")
	stepLabels(c, body)
	nis, _ := body["networkInterfaces"].([]any)
	for i, v := range nis {
		ni, _ := v.(map[string]any)
		if has(ni, "accessConfigs") || has(ni, "ipv6AccessConfigs") {
			c.add("networkInterfaces[%d] of the hash worker has access configs: the worker must have no external IP", i)
		}
	}
	disks, _ := body["disks"].([]any)
	evidence := 0
	for i, v := range disks {
		d, _ := v.(map[string]any)
		ip, _ := d["initializeParams"].(map[string]any)
		switch {
		case d["boot"] == true:
			if s, _ := ip["sourceImage"].(string); s == "" {
				c.add("disks[%d], the worker's boot disk, has no initializeParams.sourceImage", i)
			}
		case d["deviceName"] == "evidence":
			evidence++
			if d["mode"] != "READ_ONLY" {
				c.add("disks[%d], the evidence disk, is attached %v: it must be READ_ONLY", i, d["mode"])
			}
			if s, _ := d["source"].(string); s == "" {
				c.add("disks[%d], the evidence disk, names no source disk", i)
			}
		default:
			c.add("disks[%d] is neither the worker's boot disk nor the evidence disk", i)
		}
	}
	if evidence != 1 {
		c.add("the hash worker has %d evidence disks, want 1", evidence)
	}
	sas, _ := body["serviceAccounts"].([]any)
	if len(sas) != 1 {
		c.add("the hash worker has %d service accounts, want the one that may write the result", len(sas))
	}
	md := metadataItems(body)
	if !strings.HasPrefix(md["vigil-result"], "gs://") || md["vigil-device"] != "/dev/disk/by-id/google-evidence" {
		c.add("the hash worker's metadata has no gs:// vigil-result or not the evidence device (%q, %q)", md["vigil-result"], md["vigil-device"])
	}
}
