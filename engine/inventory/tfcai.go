package inventory

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// PlanCAI converts a planned Google resource (an asset read from a
// Terraform plan) to the Cloud Asset Inventory record the API would hold
// after apply, the shape Config Validator templates read (as `gcloud beta
// terraform vet` does): asset name, asset_type, ancestors and
// resource.data with the API's field names. Values known only after apply
// are left out. ok is false for types without a conversion.
func PlanCAI(a *asset.Asset) (rec map[string]any, ok bool) {
	if a.Source != asset.SourceTerraformPlan || a.Provider != asset.GCP {
		return nil, false
	}
	var plan struct {
		Type  string         `json:"type"`
		After map[string]any `json:"after"`
	}
	if json.Unmarshal(a.Data, &plan) != nil || plan.After == nil {
		return nil, false
	}
	project := a.Scope
	if project == "" {
		project = "unknown-project"
	}
	v := planAttrs(plan.After)
	var (
		name, assetType, service string
		data                     map[string]any
	)
	switch plan.Type {
	case "google_compute_firewall":
		name = fmt.Sprintf("//compute.googleapis.com/projects/%s/global/firewalls/%s", project, v.str("name"))
		assetType, service, data = "compute.googleapis.com/Firewall", "compute", caiFirewall(v, project)
	case "google_compute_network":
		name = fmt.Sprintf("//compute.googleapis.com/projects/%s/global/networks/%s", project, v.str("name"))
		assetType, service, data = "compute.googleapis.com/Network", "compute", caiNetwork(v)
	case "google_compute_subnetwork":
		region := v.str("region")
		name = fmt.Sprintf("//compute.googleapis.com/projects/%s/regions/%s/subnetworks/%s", project, region, v.str("name"))
		assetType, service, data = "compute.googleapis.com/Subnetwork", "compute", caiSubnetwork(v, project)
	case "google_compute_instance":
		name = fmt.Sprintf("//compute.googleapis.com/projects/%s/zones/%s/instances/%s", project, v.str("zone"), v.str("name"))
		assetType, service, data = "compute.googleapis.com/Instance", "compute", caiInstance(v, project)
	case "google_storage_bucket":
		name = "//storage.googleapis.com/" + v.str("name")
		assetType, service, data = "storage.googleapis.com/Bucket", "storage", caiBucket(v, project)
	case "google_project":
		id := firstNonEmpty(v.str("project_id"), project)
		name = "//cloudresourcemanager.googleapis.com/projects/" + id
		assetType, service = "cloudresourcemanager.googleapis.com/Project", "cloudresourcemanager"
		data = map[string]any{"projectId": id}
		put(data, "name", v.get("name"))
		put(data, "labels", v.get("labels"))
	default:
		return nil, false
	}
	kind := assetType[strings.IndexByte(assetType, '/')+1:]
	version := "v1"
	if service == "cloudresourcemanager" {
		version = "v3"
	}
	return map[string]any{
		"name":       name,
		"asset_type": assetType,
		"ancestors":  []any{"projects/" + project},
		"resource": map[string]any{
			"version":                version,
			"discovery_document_uri": fmt.Sprintf("https://www.googleapis.com/discovery/v1/apis/%s/%s/rest", service, version),
			"discovery_name":         kind,
			"parent":                 "//cloudresourcemanager.googleapis.com/projects/" + project,
			"data":                   data,
		},
	}, true
}

// planAttrs reads planned attributes; null and missing are alike.
type planAttrs map[string]any

func (v planAttrs) get(k string) any { return v[k] }

func (v planAttrs) str(k string) string {
	s, _ := v[k].(string)
	return s
}

// block returns the first element of a nested block (Terraform writes
// single blocks as one-element lists).
func (v planAttrs) block(k string) planAttrs {
	if list, ok := v[k].([]any); ok && len(list) > 0 {
		if m, ok := list[0].(map[string]any); ok {
			return m
		}
	}
	return nil
}

// blocks returns every element of a repeated nested block.
func (v planAttrs) blocks(k string) []planAttrs {
	list, _ := v[k].([]any)
	out := make([]planAttrs, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// put sets k unless the value is null or an empty string, list or map:
// the API leaves such fields out.
func put(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case []any:
		if len(x) == 0 {
			return
		}
	case map[string]any:
		if len(x) == 0 {
			return
		}
	}
	m[k] = v
}

// caiNetworkRef writes a network reference the way the API does:
// projects/P/global/networks/N, from a name, a self link or a path.
func caiNetworkRef(project, ref string) string {
	if ref == "" {
		return ""
	}
	if i := strings.Index(ref, "projects/"); i >= 0 {
		return ref[i:]
	}
	return fmt.Sprintf("projects/%s/global/networks/%s", project, ref)
}

func caiRegional(project, region, collection, ref string) string {
	if ref == "" {
		return ""
	}
	if i := strings.Index(ref, "projects/"); i >= 0 {
		return ref[i:]
	}
	return fmt.Sprintf("projects/%s/regions/%s/%s/%s", project, region, collection, ref)
}

func caiZonal(project, zone, collection, ref string) string {
	if ref == "" {
		return ""
	}
	if i := strings.Index(ref, "projects/"); i >= 0 {
		return ref[i:]
	}
	return fmt.Sprintf("projects/%s/zones/%s/%s/%s", project, zone, collection, ref)
}

func caiFirewall(v planAttrs, project string) map[string]any {
	d := map[string]any{"name": v.str("name")}
	put(d, "description", v.get("description"))
	put(d, "network", caiNetworkRef(project, v.str("network")))
	put(d, "direction", v.get("direction"))
	put(d, "priority", v.get("priority"))
	d["disabled"] = v.get("disabled") == true
	enabled := len(v.blocks("log_config")) > 0 || v.get("enable_logging") == true
	d["logConfig"] = map[string]any{"enable": enabled}
	for _, f := range [][2]string{
		{"source_ranges", "sourceRanges"}, {"destination_ranges", "destinationRanges"},
		{"source_tags", "sourceTags"}, {"target_tags", "targetTags"},
		{"source_service_accounts", "sourceServiceAccounts"}, {"target_service_accounts", "targetServiceAccounts"},
	} {
		put(d, f[1], v.get(f[0]))
	}
	rules := func(block string) []any {
		var out []any
		for _, r := range v.blocks(block) {
			m := map[string]any{"IPProtocol": r.str("protocol")}
			put(m, "ports", r.get("ports"))
			out = append(out, m)
		}
		// the API orders rules by protocol
		sort.SliceStable(out, func(i, j int) bool {
			return out[i].(map[string]any)["IPProtocol"].(string) < out[j].(map[string]any)["IPProtocol"].(string)
		})
		return out
	}
	if a := rules("allow"); len(a) > 0 {
		d["allowed"] = a
	}
	if dn := rules("deny"); len(dn) > 0 {
		d["denied"] = dn
	}
	return d
}

func caiNetwork(v planAttrs) map[string]any {
	d := map[string]any{"name": v.str("name"), "autoCreateSubnetworks": v.get("auto_create_subnetworks") != false}
	put(d, "description", v.get("description"))
	if mode := v.str("routing_mode"); mode != "" {
		d["routingConfig"] = map[string]any{"routingMode": mode}
	}
	put(d, "mtu", v.get("mtu"))
	return d
}

func caiSubnetwork(v planAttrs, project string) map[string]any {
	d := map[string]any{"name": v.str("name")}
	put(d, "description", v.get("description"))
	put(d, "network", caiNetworkRef(project, v.str("network")))
	put(d, "ipCidrRange", v.get("ip_cidr_range"))
	put(d, "region", v.get("region"))
	if p, ok := v.get("private_ip_google_access").(bool); ok {
		d["privateIpGoogleAccess"] = p
	}
	var ranges []any
	for _, r := range v.blocks("secondary_ip_range") {
		ranges = append(ranges, map[string]any{"rangeName": r.str("range_name"), "ipCidrRange": r.str("ip_cidr_range")})
	}
	put(d, "secondaryIpRanges", ranges)
	if lc := v.block("log_config"); lc != nil {
		m := map[string]any{"enable": true}
		put(m, "aggregationInterval", lc.get("aggregation_interval"))
		put(m, "flowSampling", lc.get("flow_sampling"))
		put(m, "metadata", lc.get("metadata"))
		d["logConfig"] = m
	}
	return d
}

func caiInstance(v planAttrs, project string) map[string]any {
	zone := v.str("zone")
	d := map[string]any{
		"name":               v.str("name"),
		"canIpForward":       v.get("can_ip_forward") == true,
		"deletionProtection": v.get("deletion_protection") == true,
	}
	put(d, "zone", zone)
	put(d, "description", v.get("description"))
	put(d, "hostname", v.get("hostname"))
	put(d, "minCpuPlatform", v.get("min_cpu_platform"))
	put(d, "machineType", caiZonal(project, zone, "machineTypes", v.str("machine_type")))
	put(d, "labels", v.get("labels"))
	var items []any
	if md, ok := v.get("metadata").(map[string]any); ok {
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			items = append(items, map[string]any{"key": k, "value": md[k]})
		}
	}
	if s := v.str("metadata_startup_script"); s != "" {
		items = append(items, map[string]any{"key": "startup-script", "value": s})
	}
	md := map[string]any{}
	put(md, "items", items)
	d["metadata"] = md
	tags := map[string]any{}
	if t, ok := v.get("tags").([]any); ok && len(t) > 0 {
		sorted := append([]any(nil), t...)
		sort.Slice(sorted, func(i, j int) bool { return fmt.Sprint(sorted[i]) < fmt.Sprint(sorted[j]) })
		tags["items"] = sorted
	}
	d["tags"] = tags

	var nics []any
	for _, n := range v.blocks("network_interface") {
		m := map[string]any{}
		put(m, "network", caiNetworkRef(project, n.str("network")))
		sub := n.str("subnetwork")
		if sub != "" && !strings.Contains(sub, "projects/") {
			region := zone
			if i := strings.LastIndexByte(zone, '-'); i > 0 {
				region = zone[:i]
			}
			sub = caiRegional(firstNonEmpty(n.str("subnetwork_project"), project), region, "subnetworks", sub)
		}
		put(m, "subnetwork", sub)
		put(m, "networkIP", n.get("network_ip"))
		var acs []any
		for _, ac := range n.blocks("access_config") {
			c := map[string]any{"type": "ONE_TO_ONE_NAT"}
			put(c, "natIP", ac.get("nat_ip"))
			put(c, "networkTier", ac.get("network_tier"))
			if p := ac.str("public_ptr_domain_name"); p != "" {
				c["publicPtrDomainName"] = p
				c["setPublicPtr"] = true
			}
			acs = append(acs, c)
		}
		put(m, "accessConfigs", acs)
		var aliases []any
		for _, r := range n.blocks("alias_ip_range") {
			al := map[string]any{}
			put(al, "ipCidrRange", r.get("ip_cidr_range"))
			put(al, "subnetworkRangeName", r.get("subnetwork_range_name"))
			aliases = append(aliases, al)
		}
		put(m, "aliasIpRanges", aliases)
		nics = append(nics, m)
	}
	put(d, "networkInterfaces", nics)

	var sas []any
	for _, sa := range v.blocks("service_account") {
		m := map[string]any{}
		put(m, "email", sa.get("email"))
		put(m, "scopes", sa.get("scopes"))
		sas = append(sas, m)
	}
	put(d, "serviceAccounts", sas)

	var disks []any
	if b := v.block("boot_disk"); b != nil {
		m := map[string]any{"boot": true, "autoDelete": b.get("auto_delete") != false}
		put(m, "deviceName", b.get("device_name"))
		put(m, "mode", b.get("mode"))
		put(m, "source", caiZonal(project, zone, "disks", b.str("source")))
		key := map[string]any{}
		put(key, "rawKey", b.get("disk_encryption_key_raw"))
		put(key, "kmsKeyName", b.get("kms_key_self_link"))
		put(m, "diskEncryptionKey", key)
		if ip := b.block("initialize_params"); ip != nil {
			p := map[string]any{}
			put(p, "sourceImage", ip.get("image"))
			if size, ok := ip.get("size").(float64); ok {
				p["diskSizeGb"] = fmt.Sprint(int64(size))
			}
			put(p, "diskType", caiZonal(project, zone, "diskTypes", ip.str("type")))
			put(m, "initializeParams", p)
		}
		disks = append(disks, m)
	}
	for _, s := range v.blocks("scratch_disk") {
		m := map[string]any{"autoDelete": true, "type": "SCRATCH",
			"initializeParams": map[string]any{"diskType": caiZonal(project, zone, "diskTypes", "local-ssd")}}
		put(m, "interface", s.get("interface"))
		disks = append(disks, m)
	}
	for _, at := range v.blocks("attached_disk") {
		m := map[string]any{}
		put(m, "deviceName", at.get("device_name"))
		put(m, "mode", at.get("mode"))
		put(m, "source", caiZonal(project, zone, "disks", at.str("source")))
		key := map[string]any{}
		put(key, "rawKey", at.get("disk_encryption_key_raw"))
		put(key, "kmsKeyName", at.get("kms_key_self_link"))
		put(m, "diskEncryptionKey", key)
		disks = append(disks, m)
	}
	put(d, "disks", disks)

	sched := map[string]any{"automaticRestart": true}
	if s := v.block("scheduling"); s != nil {
		if ar, ok := s.get("automatic_restart").(bool); ok {
			sched["automaticRestart"] = ar
		}
		put(sched, "onHostMaintenance", s.get("on_host_maintenance"))
		if p, ok := s.get("preemptible").(bool); ok && p {
			sched["preemptible"] = true
		}
	}
	d["scheduling"] = sched
	if s := v.block("shielded_instance_config"); s != nil {
		d["shieldedInstanceConfig"] = map[string]any{
			"enableIntegrityMonitoring": s.get("enable_integrity_monitoring") != false,
			"enableSecureBoot":          s.get("enable_secure_boot") == true,
			"enableVtpm":                s.get("enable_vtpm") != false,
		}
	}
	return d
}

func caiBucket(v planAttrs, project string) map[string]any {
	d := map[string]any{"name": v.str("name"), "project": project}
	put(d, "location", strings.ToUpper(v.str("location")))
	put(d, "storageClass", v.get("storage_class"))
	put(d, "labels", v.get("labels"))
	if v.get("requester_pays") == true {
		d["billing"] = map[string]any{"requesterPays": true}
	}
	if v.get("uniform_bucket_level_access") == true || v.get("bucket_policy_only") == true {
		d["iamConfiguration"] = map[string]any{"uniformBucketLevelAccess": map[string]any{"enabled": true}}
	}
	if pap := v.str("public_access_prevention"); pap != "" {
		iam, _ := d["iamConfiguration"].(map[string]any)
		if iam == nil {
			iam = map[string]any{}
			d["iamConfiguration"] = iam
		}
		iam["publicAccessPrevention"] = pap
	}
	if b := v.block("versioning"); b != nil {
		d["versioning"] = map[string]any{"enabled": b.get("enabled") == true}
	}
	if b := v.block("logging"); b != nil {
		m := map[string]any{}
		put(m, "logBucket", b.get("log_bucket"))
		put(m, "logObjectPrefix", b.get("log_object_prefix"))
		d["logging"] = m
	}
	if b := v.block("encryption"); b != nil {
		m := map[string]any{}
		put(m, "defaultKmsKeyName", b.get("default_kms_key_name"))
		d["encryption"] = m
	}
	if b := v.block("retention_policy"); b != nil {
		if p, ok := b.get("retention_period").(float64); ok {
			d["retentionPolicy"] = map[string]any{"retentionPeriod": fmt.Sprint(int64(p))}
		}
	}
	if b := v.block("website"); b != nil {
		m := map[string]any{}
		put(m, "mainPageSuffix", b.get("main_page_suffix"))
		put(m, "notFoundPage", b.get("not_found_page"))
		d["website"] = m
	}
	var cors []any
	for _, c := range v.blocks("cors") {
		m := map[string]any{}
		put(m, "maxAgeSeconds", c.get("max_age_seconds"))
		put(m, "method", c.get("method"))
		put(m, "origin", c.get("origin"))
		put(m, "responseHeader", c.get("response_header"))
		cors = append(cors, m)
	}
	put(d, "cors", cors)
	var rules []any
	for _, r := range v.blocks("lifecycle_rule") {
		act, cond := map[string]any{}, map[string]any{}
		if a := r.block("action"); a != nil {
			put(act, "type", a.get("type"))
			put(act, "storageClass", a.get("storage_class"))
		}
		if c := r.block("condition"); c != nil {
			put(cond, "age", c.get("age"))
			put(cond, "createdBefore", c.get("created_before"))
			put(cond, "matchesStorageClass", c.get("matches_storage_class"))
			put(cond, "numNewerVersions", c.get("num_newer_versions"))
		}
		rules = append(rules, map[string]any{"action": act, "condition": cond})
	}
	if len(rules) > 0 {
		d["lifecycle"] = map[string]any{"rule": rules}
	}
	return d
}
