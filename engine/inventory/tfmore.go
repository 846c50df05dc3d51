package inventory

import (
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// The Terraform types of issue 19, mapped into the same facets the AWS
// Config and CAI loaders set (a separate file so that tfmap.go's table
// stays as it is).

// mapMore maps the new resource types; false for a type it does not know.
func (m *tfMapper) mapMore(r *tfResource, a *asset.Asset) bool {
	switch r.typ {
	case "aws_network_acl", "aws_default_network_acl":
		a.Kind = asset.KindNetworkACL
		a.Facets.Network = str(r.after, "vpc_id")
		a.Facets.Default = asset.Bool(r.typ == "aws_default_network_acl")
		a.Facets.Subnets = strs(r.after, "subnet_ids")
		for dir, dst := range map[string]*[]asset.Rule{"ingress": &a.Facets.Ingress, "egress": &a.Facets.Egress} {
			for i, b := range blocks(r.after, dir) {
				rule := awsTFRule(b, subtree(r.unknown, dir, i), "cidr_block", "ipv6_cidr_block", "protocol", "from_port", "to_port")
				rule.Action = strings.ToLower(str(b, "action"))
				if n := intPtr(b, "rule_no"); n != nil {
					rule.Priority = *n
				}
				*dst = append(*dst, rule)
			}
			sort.SliceStable(*dst, func(i, j int) bool { return (*dst)[i].Priority < (*dst)[j].Priority })
		}
	case "aws_network_acl_rule":
		// One entry of an ACL: merged into the plan's aws_network_acl when
		// it names one (settleMore), else judged alone.
		a.Kind = asset.KindNetworkACL
		rule := awsTFRule(r.after, r.unknown, "cidr_block", "ipv6_cidr_block", "protocol", "from_port", "to_port")
		rule.Action = strings.ToLower(str(r.after, "rule_action"))
		if n := intPtr(r.after, "rule_number"); n != nil {
			rule.Priority = *n
		}
		if r.after["egress"] == true {
			a.Facets.Egress = []asset.Rule{rule}
		} else {
			a.Facets.Ingress = []asset.Rule{rule}
		}
	case "google_compute_project_metadata_item":
		// One key of the project's metadata; the others are set elsewhere
		// (VGL-SSH-002 judges an item only for enable-oslogin).
		a.Kind = asset.KindProjectMetadata
		if k := str(r.after, "key"); k != "" {
			a.Facets.Metadata = map[string]string{k: str(r.after, "value")}
		}
	case "google_service_account_key":
		// Keys Terraform makes are user-managed; a new key's valid_after is
		// known only after apply, when it is new.
		a.Kind = asset.KindServiceAccountKey
		a.Facets.KeyType = "user_managed"
		a.Facets.Enabled = asset.Bool(true)
		a.Facets.CreatedAt = str(r.after, "valid_after")
		a.Facets.User = m.serviceAccountOfKey(r)
	case "aws_flow_log":
		a.Kind = asset.KindFlowLog
		a.Facets.Resource = firstNonEmpty(str(r.after, "vpc_id"), str(r.after, "subnet_id"), str(r.after, "eni_id"))
		a.Facets.Enabled = asset.Bool(true)
	case "aws_cloudwatch_log_metric_filter":
		a.Kind = asset.KindMetricFilter
		a.Facets.Filter = str(r.after, "pattern")
		a.Facets.LogGroup = str(r.after, "log_group_name")
		for _, t := range blocks(r.after, "metric_transformation") {
			a.Facets.Metrics = append(a.Facets.Metrics, str(t, "namespace")+"/"+str(t, "name"))
		}
	case "aws_cloudwatch_metric_alarm":
		a.Kind = asset.KindAlarm
		a.Name = firstNonEmpty(str(r.after, "alarm_name"), a.Name)
		if n := str(r.after, "metric_name"); n != "" {
			a.Facets.Metrics = []string{str(r.after, "namespace") + "/" + n}
		}
		a.Facets.Targets = strs(r.after, "alarm_actions")
		a.Facets.Enabled = asset.Bool(r.after["actions_enabled"] != false)
	case "aws_cloudwatch_event_rule":
		a.Kind = asset.KindEventRule
		a.Facets.Filter = str(r.after, "event_pattern")
		a.Facets.Enabled = asset.Bool(str(r.after, "state") != "DISABLED" && r.after["is_enabled"] != false)
		// Targets are separate aws_cloudwatch_event_target resources; a
		// planned rule is taken to have one.
		a.Facets.Targets = []string{"(aws_cloudwatch_event_target)"}
	case "aws_iam_role":
		a.Kind = asset.KindRole
		if doc := str(r.after, "assume_role_policy"); doc != "" {
			if b, err := TrustBindings(doc); err == nil {
				a.Facets.Bindings = b
			}
		}
	case "google_logging_metric":
		a.Kind = asset.KindLogMetric
		a.Facets.Filter = str(r.after, "filter")
		a.Facets.Enabled = asset.Bool(r.after["disabled"] != true)
		a.Facets.Metrics = []string{"logging.googleapis.com/user/" + a.Name}
	case "google_monitoring_alert_policy":
		a.Kind = asset.KindAlertPolicy
		a.Name = firstNonEmpty(str(r.after, "display_name"), a.Name)
		a.Facets.Enabled = asset.Bool(r.after["enabled"] != false)
		for _, c := range blocks(r.after, "conditions") {
			for _, k := range []string{"condition_threshold", "condition_absent"} {
				for _, t := range blocks(c, k) {
					for _, mt := range metricTypeRe.FindAllStringSubmatch(str(t, "filter"), -1) {
						a.Facets.Metrics = appendUnique(a.Facets.Metrics, mt[1])
					}
				}
			}
		}
		a.Facets.Targets = strs(r.after, "notification_channels")
	case "google_logging_project_sink", "google_logging_folder_sink", "google_logging_organization_sink":
		a.Kind = asset.KindLogSink
		a.Facets.Filter = str(r.after, "filter")
		a.Facets.Destination = str(r.after, "destination")
		a.Facets.Enabled = asset.Bool(r.after["disabled"] != true)
		a.Facets.IncludeChildren = asset.Bool(r.after["include_children"] == true)
		if f := str(r.after, "folder"); f != "" {
			a.Scope = "folders/" + strings.TrimPrefix(f, "folders/")
		}
		if o := str(r.after, "org_id"); o != "" {
			a.Scope = "organizations/" + o
		}
	case "google_compute_project_metadata":
		a.Kind = asset.KindProjectMetadata
		a.Facets.Metadata = tfMetadata(r.after)
	case "google_project_service":
		a.Kind = asset.KindService
		a.Name = str(r.after, "service")
		a.Facets.Enabled = asset.Bool(true)
	default:
		return false
	}
	return true
}

// serviceAccountOfKey is the email of a google_service_account_key's
// account: service_account_id is "projects/P/serviceAccounts/EMAIL", the
// email or the unique id; when it is known only after apply (a
// google_service_account of the plan), the account's email, or its
// account_id in its project.
func (m *tfMapper) serviceAccountOfKey(r *tfResource) string {
	if id := str(r.after, "service_account_id"); id != "" {
		if sa := saOfKey(id); sa != "" {
			return sa
		}
		return id
	}
	for _, t := range m.targetsOfType(r, "service_account_id", "", "google_service_account") {
		if e := str(t.after, "email"); e != "" {
			return e
		}
		if id, p := str(t.after, "account_id"), firstNonEmpty(str(t.after, "project"), t.project); id != "" && p != "" {
			return id + "@" + p + ".iam.gserviceaccount.com"
		}
	}
	return ""
}

// settleMore joins what one resource of issue 19 says of another: a
// standalone aws_network_acl_rule is an entry of the plan's ACL it names
// (the ACL, with every entry, is judged, in rule-number order: the first
// match decides), and the plan's project metadata (google_compute_project_
// metadata, or _item keys) is what its instances inherit, as Compute
// Engine resolves metadata. It returns the rules merged into an ACL,
// which are judged there and not on their own.
func (m *tfMapper) settleMore(mapped []*tfResource) map[*tfResource]bool {
	merged := map[*tfResource]bool{}
	projectMD := map[string]map[string]string{}
	for _, r := range mapped {
		switch r.typ {
		case "aws_network_acl_rule":
			acls := m.targetsOfType(r, "network_acl_id", "", "aws_network_acl", "aws_default_network_acl")
			if len(acls) == 0 || r.deleted {
				continue
			}
			for _, t := range acls {
				f := &t.asset.Facets
				f.Ingress = append(f.Ingress, r.asset.Facets.Ingress...)
				f.Egress = append(f.Egress, r.asset.Facets.Egress...)
				sort.SliceStable(f.Ingress, func(i, j int) bool { return f.Ingress[i].Priority < f.Ingress[j].Priority })
				sort.SliceStable(f.Egress, func(i, j int) bool { return f.Egress[i].Priority < f.Egress[j].Priority })
				if r.judged && !t.judged {
					m.forced[t] = true
				}
			}
			merged[r] = true
		case "google_compute_project_metadata", "google_compute_project_metadata_item":
			if r.deleted || r.asset.Scope == "" {
				continue
			}
			md := projectMD[r.asset.Scope]
			if md == nil {
				md = map[string]string{}
				projectMD[r.asset.Scope] = md
			}
			for k, v := range r.asset.Facets.Metadata {
				md[k] = v
			}
		}
	}
	if len(projectMD) > 0 {
		for _, r := range mapped {
			if r.typ != "google_compute_instance" {
				continue
			}
			if md := projectMD[r.asset.Scope]; len(md) > 0 {
				r.asset.Facets.Inherited = append(r.asset.Facets.Inherited, asset.Inherited{Node: "projects/" + r.asset.Scope, Metadata: md})
			}
		}
	}
	return merged
}

// moreFacets adds to the types tfmap.go maps what the policies of issue 19
// read: trails' log file validation and log group, firewall and subnet
// logging, instance metadata.
func (m *tfMapper) moreFacets(r *tfResource, a *asset.Asset) {
	switch r.typ {
	case "aws_cloudtrail":
		a.Facets.Validation = asset.Bool(r.after["enable_log_file_validation"] == true)
		a.Facets.LogGroup = logGroupName(str(r.after, "cloud_watch_logs_group_arn"))
	case "google_compute_firewall":
		a.Facets.Logging = asset.Bool(len(blocks(r.after, "log_config")) > 0)
	case "google_compute_subnetwork":
		if p := str(r.after, "purpose"); p == "" || p == "PRIVATE" {
			a.Facets.Logging = asset.Bool(len(blocks(r.after, "log_config")) > 0)
		}
	case "google_compute_instance":
		a.Facets.Metadata = tfMetadata(r.after)
	}
}

// tfMetadata reads a metadata map argument, keeping the keys policies read.
func tfMetadata(after map[string]any) map[string]string {
	var md gcpMetadata
	for k, v := range strMap(after, "metadata") {
		md.Items = append(md.Items, struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}{k, v})
	}
	return md.facet()
}
