package asset

import (
	"encoding/json"
	"sort"
)

// Providers.
const (
	AWS = "aws"
	GCP = "gcp"
)

// Sources: where an asset came from.
const (
	SourceAWS           = "aws"
	SourceGCP           = "gcp"
	SourceCAIExport     = "cai-export"
	SourceAWSConfig     = "aws-config"
	SourceTerraformPlan = "terraform-plan"
	SourceVigil         = "vigil"
	SourceInspector     = "aws-inspector" // an `aws inspector2 list-findings` export
)

// Normalized kinds. Policies name these in their `kinds` metadata; a type the
// loaders do not understand is kept with KindOther and counted, never dropped.
const (
	KindNetwork           = "network"
	KindSubnet            = "subnet"
	KindFirewall          = "firewall"
	KindInstance          = "instance"
	KindDisk              = "disk"
	KindSnapshot          = "snapshot"
	KindImage             = "image"
	KindBucket            = "bucket"
	KindAccessKey         = "access_key"
	KindServiceAccount    = "service_account"
	KindServiceAccountKey = "service_account_key"
	KindUser              = "user"
	KindRole              = "role"
	KindIAMPolicy         = "iam_policy"
	KindProject           = "project"
	KindFolder            = "folder"
	KindOrganization      = "organization"
	KindAccount           = "account"
	KindProjectMetadata   = "project_metadata"
	KindTrail             = "trail"
	KindDetector          = "detector"
	KindLogSink           = "log_sink"
	KindNetworkInterface  = "network_interface"
	KindVPNTunnel         = "vpn_tunnel"
	KindInterconnect      = "interconnect"
	KindPeering           = "peering"
	KindTransitGateway    = "transit_gateway"
	KindDatabase          = "database"
	KindDataset           = "dataset"
	KindCluster           = "cluster"
	KindKey               = "kms_key"
	// Kinds of issue 19: network ACLs, flow logs, the alerting chain (CloudWatch
	// metric filters and alarms, EventBridge rules, GCP log-based metrics and
	// alert policies), enabled services (APIs) and vulnerability scanner results.
	KindNetworkACL          = "network_acl"
	KindFlowLog             = "flow_log"
	KindMetricFilter        = "metric_filter"
	KindAlarm               = "alarm"
	KindEventRule           = "event_rule"
	KindLogMetric           = "log_metric"
	KindAlertPolicy         = "alert_policy"
	KindService             = "service"
	KindVulnerabilityReport = "vulnerability_report"
	KindOther               = "other"
)

// ScopeKinds are the kinds that stand for a whole project, account or node of
// the resource hierarchy.
var ScopeKinds = map[string]bool{
	KindProject: true, KindFolder: true, KindOrganization: true, KindAccount: true,
}

// Asset is the one value every source produces and every policy reads.
// Field names and JSON keys are a contract (DESIGN.md "The asset").
type Asset struct {
	ID       string            `json:"id"`
	Provider string            `json:"provider"`
	Type     string            `json:"type"`
	Kind     string            `json:"kind"`
	Name     string            `json:"name,omitempty"`
	Scope    string            `json:"scope,omitempty"`
	Region   string            `json:"region,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Facets   Facets            `json:"facets"`
	Data     json.RawMessage   `json:"data,omitempty"`
	Source   string            `json:"source"`
	Change   *Change           `json:"change,omitempty"`

	// Origin says where in which file the asset was read; it is not part of
	// the serialized asset.
	Origin Origin `json:"-"`
}

// Origin locates an asset in its input: the file and either the line (line
// oriented formats) or the byte offset of the record (JSON documents), which
// inventory.ResolveLines turns into a line only when a report needs it.
type Origin struct {
	File   string
	Line   int
	Offset int64
	// Seq orders assets of one file in input order.
	Seq int64
}

// Change records what a Terraform plan will do to the asset.
type Change struct {
	// Action is create, update, delete, replace, read or no-op.
	Action string `json:"action"`
	// Address is the full resource address in the plan.
	Address string `json:"address,omitempty"`
	// Unknown lists attribute paths whose values are known only after apply.
	Unknown []string `json:"unknown,omitempty"`
}

// Label returns the label value and whether it is set.
func (a *Asset) Label(k string) (string, bool) {
	v, ok := a.Labels[k]
	return v, ok
}

// LabelKeys returns the label names in order.
func (a *Asset) LabelKeys() []string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Clone returns a deep copy, so a simulated cloud can change assets without
// touching the inventory they were read from.
func (a *Asset) Clone() *Asset {
	b := *a
	if a.Labels != nil {
		b.Labels = make(map[string]string, len(a.Labels))
		for k, v := range a.Labels {
			b.Labels[k] = v
		}
	}
	b.Facets = a.Facets.Clone()
	if a.Data != nil {
		b.Data = append(json.RawMessage(nil), a.Data...)
	}
	if a.Change != nil {
		c := *a.Change
		c.Unknown = append([]string(nil), a.Change.Unknown...)
		b.Change = &c
	}
	return &b
}

// AccountID is the asset id vigil gives an AWS account: the account root ARN.
func AccountID(account string) string { return "arn:aws:iam::" + account + ":root" }

// ProjectID is the asset id of a GCP project in Cloud Asset Inventory form.
// CAI names projects by number; when only the id is known it is used instead.
func ProjectID(numberOrID string) string {
	return "//cloudresourcemanager.googleapis.com/projects/" + numberOrID
}
