package inventory

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// The AWS types of issue 19: network ACLs, flow logs, the alerting chain
// (metric filters, alarms, EventBridge rules), IAM roles' trust, users'
// and the root user's credentials, and Inspector findings. Field names
// follow AWS Config's configuration items; the live collector writes the
// same shape (encoding/json matches keys without regard to case, so the
// API's PascalCase names decode too).

// awsNetworkACL is an EC2 network ACL with its numbered entries.
type awsNetworkACL struct {
	VpcID     string `json:"vpcId"`
	IsDefault bool   `json:"isDefault"`
	Entries   []struct {
		RuleNumber    int    `json:"ruleNumber"`
		Protocol      string `json:"protocol"`
		RuleAction    string `json:"ruleAction"`
		Egress        bool   `json:"egress"`
		CidrBlock     string `json:"cidrBlock"`
		IPv6CidrBlock string `json:"ipv6CidrBlock"`
		PortRange     *struct {
			From *int `json:"from"`
			To   *int `json:"to"`
		} `json:"portRange"`
	} `json:"entries"`
	Associations []struct {
		SubnetID string `json:"subnetId"`
	} `json:"associations"`
	Tags tagList `json:"tags"`
}

func (n *awsNetworkACL) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Network = n.VpcID
	a.Facets.Default = asset.Bool(n.IsDefault)
	for _, s := range n.Associations {
		if s.SubnetID != "" {
			a.Facets.Subnets = appendUnique(a.Facets.Subnets, s.SubnetID)
		}
	}
	for _, e := range n.Entries {
		r := asset.Rule{Protocol: asset.Protocol(e.Protocol), Action: strings.ToLower(e.RuleAction), Enabled: true, Priority: e.RuleNumber, Sources: []string{}}
		for _, c := range []string{e.CidrBlock, e.IPv6CidrBlock} {
			if c != "" {
				r.Sources = append(r.Sources, c)
			}
		}
		var from, to *int
		if e.PortRange != nil {
			from, to = e.PortRange.From, e.PortRange.To
		}
		r.Ports = AWSPorts(r.Protocol, from, to)
		if e.Egress {
			a.Facets.Egress = append(a.Facets.Egress, r)
		} else {
			a.Facets.Ingress = append(a.Facets.Ingress, r)
		}
	}
	// Entries are evaluated in rule-number order: keep them so.
	sort.SliceStable(a.Facets.Ingress, func(i, j int) bool { return a.Facets.Ingress[i].Priority < a.Facets.Ingress[j].Priority })
	sort.SliceStable(a.Facets.Egress, func(i, j int) bool { return a.Facets.Egress[i].Priority < a.Facets.Egress[j].Priority })
	return mergeTags(l, n.Tags), nil
}

type awsFlowLog struct {
	FlowLogID     string  `json:"flowLogId"`
	ResourceID    string  `json:"resourceId"`
	FlowLogStatus string  `json:"flowLogStatus"`
	TrafficType   string  `json:"trafficType"`
	Tags          tagList `json:"tags"`
}

func (f *awsFlowLog) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Resource = f.ResourceID
	a.Facets.Enabled = asset.Bool(f.FlowLogStatus == "" || strings.EqualFold(f.FlowLogStatus, "ACTIVE"))
	a.Facets.Filter = f.TrafficType
	return mergeTags(l, f.Tags), nil
}

// awsAlarm is a CloudWatch metric alarm.
type awsAlarm struct {
	AlarmName      string   `json:"alarmName"`
	MetricName     string   `json:"metricName"`
	Namespace      string   `json:"namespace"`
	ActionsEnabled *bool    `json:"actionsEnabled"`
	AlarmActions   []string `json:"alarmActions"`
	Metrics        []struct {
		MetricStat *struct {
			Metric struct {
				MetricName string `json:"metricName"`
				Namespace  string `json:"namespace"`
			} `json:"metric"`
		} `json:"metricStat"`
	} `json:"metrics"`
}

func (m *awsAlarm) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Name = firstNonEmpty(m.AlarmName, a.Name)
	if m.MetricName != "" {
		a.Facets.Metrics = append(a.Facets.Metrics, m.Namespace+"/"+m.MetricName)
	}
	for _, q := range m.Metrics {
		if q.MetricStat != nil && q.MetricStat.Metric.MetricName != "" {
			a.Facets.Metrics = appendUnique(a.Facets.Metrics, q.MetricStat.Metric.Namespace+"/"+q.MetricStat.Metric.MetricName)
		}
	}
	a.Facets.Targets = m.AlarmActions
	a.Facets.Enabled = asset.Bool(m.ActionsEnabled == nil || *m.ActionsEnabled)
	return l, nil
}

// awsMetricFilter is a CloudWatch Logs metric filter.
type awsMetricFilter struct {
	FilterName            string `json:"filterName"`
	FilterPattern         string `json:"filterPattern"`
	LogGroupName          string `json:"logGroupName"`
	MetricTransformations []struct {
		MetricName      string `json:"metricName"`
		MetricNamespace string `json:"metricNamespace"`
	} `json:"metricTransformations"`
}

func (m *awsMetricFilter) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Name = firstNonEmpty(m.FilterName, a.Name)
	a.Facets.Filter = m.FilterPattern
	a.Facets.LogGroup = m.LogGroupName
	for _, t := range m.MetricTransformations {
		a.Facets.Metrics = append(a.Facets.Metrics, t.MetricNamespace+"/"+t.MetricName)
	}
	return l, nil
}

// awsEventRule is an EventBridge rule; its event pattern is a JSON string.
type awsEventRule struct {
	Name         string          `json:"name"`
	EventPattern json.RawMessage `json:"eventPattern"`
	State        string          `json:"state"`
	Targets      []struct {
		Arn string `json:"arn"`
	} `json:"targets"`
}

func (r *awsEventRule) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Name = firstNonEmpty(r.Name, a.Name)
	a.Facets.Filter = rawText(r.EventPattern)
	a.Facets.Enabled = asset.Bool(r.State == "" || strings.EqualFold(r.State, "ENABLED"))
	for _, t := range r.Targets {
		if t.Arn != "" {
			a.Facets.Targets = append(a.Facets.Targets, t.Arn)
		}
	}
	return l, nil
}

// rawText is a JSON value as text: a string's content, else the JSON.
func rawText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// awsRole is an IAM role: who may assume it is what matters (its trust
// policy, URL-encoded in AWS Config and the IAM API), kept as a binding of
// "sts:AssumeRole" to the trusted principals, and one of DeniedAssumeRole
// to those an explicit Deny shuts out; and whether its permissions only
// read (Facets.ReadOnly).
type awsRole struct {
	RoleName                 string  `json:"roleName"`
	AssumeRolePolicyDocument string  `json:"assumeRolePolicyDocument"`
	Tags                     tagList `json:"tags"`
	// AWS Config's lists; vigil's collector fills them from IAM and adds
	// each attached policy's default document (AWS Config keeps that on
	// the policy's own item, and records no AWS managed policy).
	AttachedManagedPolicies []struct {
		PolicyName     string `json:"policyName"`
		PolicyArn      string `json:"policyArn"`
		PolicyDocument string `json:"policyDocument"`
	} `json:"attachedManagedPolicies"`
	RolePolicyList []struct {
		PolicyName     string `json:"policyName"`
		PolicyDocument string `json:"policyDocument"`
	} `json:"rolePolicyList"`
}

// DeniedAssumeRole is the binding role of the principals a trust policy's
// explicit Deny of sts:AssumeRole names: a Deny wins over any Allow.
const DeniedAssumeRole = "sts:AssumeRole (denied)"

func (r *awsRole) apply(a *asset.Asset, _ *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Name = firstNonEmpty(r.RoleName, a.Name)
	if r.AssumeRolePolicyDocument != "" {
		b, err := TrustBindings(r.AssumeRolePolicyDocument)
		if err != nil {
			return nil, fmt.Errorf("assumeRolePolicyDocument: %w", err)
		}
		a.Facets.Bindings = b
	}
	// Read-only when every policy only reads: an inline policy by its
	// document (without one, as AWS Config gives none, it may write); an
	// attached policy by its document when the collector read it, else by
	// name; an AWS managed policy whose name says it reads (ReadOnlyAccess)
	// reads whatever its document lists, as AWS curates it.
	n, ro := 0, true
	for _, p := range r.RolePolicyList {
		n++
		ro = ro && p.PolicyDocument != "" && ReadOnlyDocument(p.PolicyDocument)
	}
	for _, p := range r.AttachedManagedPolicies {
		n++
		byName := readOnlyPolicy(firstNonEmpty(lastSegment(p.PolicyArn), p.PolicyName))
		switch {
		case strings.HasPrefix(p.PolicyArn, "arn:aws:iam::aws:policy/") && byName:
		case p.PolicyDocument != "":
			ro = ro && ReadOnlyDocument(p.PolicyDocument)
		default:
			ro = ro && byName
		}
	}
	if n > 0 && ro {
		a.Facets.ReadOnly = asset.Bool(true)
	}
	return mergeTags(l, r.Tags), nil
}

// readActionVerbs are the verbs of the actions that only read (the access
// level List or Read of most services).
var readActionVerbs = []string{"get", "list", "describe", "batchget", "batchdescribe", "view", "search", "lookup", "read", "query", "scan", "select", "head"}

// ReadOnlyDocument says whether a permissions policy (URL-encoded or not)
// only reads: no Allow statement grants an action outside readActionVerbs.
// An Allow with NotAction grants everything but what it lists, writes
// included, so it is not read-only; "*" and "service:*" are not either. A
// Deny only takes away and changes nothing here. An unreadable document is
// not read-only.
func ReadOnlyDocument(doc string) bool {
	stmts, err := policyStatements(doc)
	if err != nil {
		return false
	}
	for _, s := range stmts {
		var effect string
		_ = json.Unmarshal(s["Effect"], &effect)
		if !strings.EqualFold(effect, "Allow") {
			continue
		}
		if _, ok := s["NotAction"]; ok {
			return false
		}
		for _, act := range stringOrList(s["Action"]) {
			_, verb, ok := strings.Cut(strings.ToLower(act), ":")
			if !ok {
				return false // "*"
			}
			read := false
			for _, v := range readActionVerbs {
				read = read || strings.HasPrefix(verb, v)
			}
			if !read {
				return false
			}
		}
	}
	return true
}

// policyStatements decodes a policy document (URL-encoded, as IAM and AWS
// Config give it, or not) into its statements; Statement may be one
// object or a list.
func policyStatements(doc string) ([]map[string]json.RawMessage, error) {
	if d := strings.TrimSpace(doc); strings.HasPrefix(d, "%7B") || strings.HasPrefix(d, "%7b") {
		if u, err := url.QueryUnescape(d); err == nil {
			doc = u
		}
	}
	var p struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, jsonError(err)
	}
	var stmts []map[string]json.RawMessage
	if st := strings.TrimSpace(string(p.Statement)); strings.HasPrefix(st, "{") {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return nil, jsonError(err)
		}
		stmts = append(stmts, one)
	} else if st != "" && st != "null" {
		if err := json.Unmarshal(p.Statement, &stmts); err != nil {
			return nil, jsonError(err)
		}
	}
	return stmts, nil
}

// readOnlyPolicy says whether a managed policy, by name, only reads: the
// AWS managed ReadOnlyAccess, ViewOnlyAccess and SecurityAudit, and the
// per-service *ReadOnlyAccess / *ReadOnly ones (AmazonS3ReadOnlyAccess).
func readOnlyPolicy(name string) bool {
	n := strings.ToLower(name)
	return n == "viewonlyaccess" || n == "securityaudit" || strings.HasSuffix(n, "readonlyaccess") || strings.HasSuffix(n, "readonly")
}

// TrustedPrincipals lists the AWS principals (ARNs, account ids, "*") an
// Allow statement of a trust policy lets call sts:AssumeRole. The document
// may be URL-encoded, as IAM returns it.
func TrustedPrincipals(doc string) ([]string, error) {
	allowed, _, err := TrustPolicy(doc)
	return allowed, err
}

// TrustPolicy reads a trust policy: the AWS principals its Allow statements
// let call sts:AssumeRole, and those an unconditional Deny of it names (a
// Deny with a Condition applies only sometimes, and is left out). An
// action matches as IAM matches it, case-insensitively with * and ?
// wildcards (sts:Assume*, sts:*, *); a statement with NotAction covers
// sts:AssumeRole unless one of its NotAction patterns matches it. The
// NotPrincipal statements are in TrustBindings.
func TrustPolicy(doc string) (allowed, denied []string, err error) {
	t, err := readTrust(doc)
	return t.allowed, t.denied, err
}

// DeniedAllButAssumeRole is the binding role of one trust statement that
// denies sts:AssumeRole to every principal but its members (Deny with
// NotPrincipal): a principal none of them covers is denied.
const DeniedAllButAssumeRole = "sts:AssumeRole (denied to all but)"

// TrustBindings are a role's bindings from its trust policy:
// "sts:AssumeRole" to the principals allowed, DeniedAssumeRole to those
// denied, and a DeniedAllButAssumeRole per Deny with NotPrincipal. An Allow
// with NotPrincipal lets everyone but its principals assume the role: it
// allows "*" and denies the roles and users it names (unless another Allow
// names them as they are); an account it names loses only its root user,
// which is no IR principal.
func TrustBindings(doc string) ([]asset.Binding, error) {
	t, err := readTrust(doc)
	if err != nil {
		return nil, err
	}
	var out []asset.Binding
	if len(t.allowed) > 0 {
		out = append(out, asset.Binding{Role: "sts:AssumeRole", Members: t.allowed})
	}
	if len(t.denied) > 0 {
		out = append(out, asset.Binding{Role: DeniedAssumeRole, Members: t.denied})
	}
	for _, but := range t.deniedAllBut {
		out = append(out, asset.Binding{Role: DeniedAllButAssumeRole, Members: but})
	}
	return out, nil
}

type trust struct {
	allowed, denied []string
	deniedAllBut    [][]string
}

func readTrust(doc string) (trust, error) {
	var t trust
	stmts, err := policyStatements(doc)
	if err != nil {
		return t, err
	}
	var explicit, notAllowed []string
	for _, s := range stmts {
		var effect string
		_ = json.Unmarshal(s["Effect"], &effect)
		if !coversAssumeRole(s) {
			continue
		}
		_, notPrincipal := s["NotPrincipal"]
		switch {
		case strings.EqualFold(effect, "Allow") && notPrincipal:
			t.allowed = appendUnique(t.allowed, "*")
			for _, pr := range awsPrincipals(s["NotPrincipal"]) {
				notAllowed = appendUnique(notAllowed, pr)
			}
		case strings.EqualFold(effect, "Allow"):
			for _, pr := range awsPrincipals(s["Principal"]) {
				t.allowed = appendUnique(t.allowed, pr)
				explicit = appendUnique(explicit, pr)
			}
		case strings.EqualFold(effect, "Deny") && len(s["Condition"]) == 0 && notPrincipal:
			but := awsPrincipals(s["NotPrincipal"])
			sort.Strings(but)
			if but == nil {
				but = []string{} // a NotPrincipal of services only: every AWS principal is denied
			}
			t.deniedAllBut = append(t.deniedAllBut, but)
		case strings.EqualFold(effect, "Deny") && len(s["Condition"]) == 0:
			for _, pr := range awsPrincipals(s["Principal"]) {
				t.denied = appendUnique(t.denied, pr)
			}
		}
	}
	// IAM matches NotPrincipal by principal: naming an account (its id or
	// root) leaves out its root user, not its roles, so only the named
	// roles and users are denied here.
	for _, pr := range notAllowed {
		if !slices.Contains(explicit, pr) && pr != "*" && !isAccountPrincipal(pr) {
			t.denied = appendUnique(t.denied, pr)
		}
	}
	sort.Strings(t.allowed)
	sort.Strings(t.denied)
	return t, nil
}

// isAccountPrincipal says whether a principal names a whole account: an
// account id or arn:aws:iam::ACCOUNT:root.
func isAccountPrincipal(p string) bool {
	if len(p) == 12 && strings.Trim(p, "0123456789") == "" {
		return true
	}
	return strings.HasPrefix(p, "arn:aws") && strings.HasSuffix(p, ":root")
}

// coversAssumeRole says whether a statement's Action, or NotAction, takes
// in sts:AssumeRole.
func coversAssumeRole(s map[string]json.RawMessage) bool {
	if raw, ok := s["NotAction"]; ok {
		return !mentionsAssumeRole(raw)
	}
	return mentionsAssumeRole(s["Action"])
}

// mentionsAssumeRole says whether an Action (string or list) matches
// sts:AssumeRole.
func mentionsAssumeRole(raw json.RawMessage) bool {
	for _, a := range stringOrList(raw) {
		if ok, _ := path.Match(strings.ToLower(a), "sts:assumerole"); ok {
			return true
		}
	}
	return false
}

// awsPrincipals reads the AWS principals of a statement ("*" or {"AWS": ...}).
func awsPrincipals(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return stringOrList(m["AWS"])
}

func stringOrList(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var list []string
	_ = json.Unmarshal(raw, &list)
	return list
}

// awsUser reads the credential report row that vigil's collector adds as
// supplementaryConfiguration.CredentialReport (AWS Config records none).
type awsUser struct {
	UserName string  `json:"userName"`
	Tags     tagList `json:"tags"`
}

func (u *awsUser) apply(a *asset.Asset, ci *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Name = firstNonEmpty(u.UserName, a.Name)
	if _, err := credentialFacets(ci, &a.Facets); err != nil {
		return nil, err
	}
	return mergeTags(l, u.Tags), nil
}

// awsAccount reads the account summary (GetAccountSummary's SummaryMap) and
// the root user's credential report row.
type awsAccount struct {
	SummaryMap map[string]int `json:"summaryMap"`
}

func (s *awsAccount) apply(a *asset.Asset, ci *ConfigItem, l map[string]string) (map[string]string, error) {
	keys, err := credentialFacets(ci, &a.Facets)
	if err != nil {
		return nil, err
	}
	// facets.keys is the root user's keys, active or not (VGL-KEY-003);
	// users need only their active ones.
	if keys >= 0 {
		a.Facets.Keys = asset.Int(keys)
	}
	if v, ok := s.SummaryMap["AccountMFAEnabled"]; ok {
		a.Facets.MFA = asset.Bool(v > 0)
	}
	if v, ok := s.SummaryMap["AccountAccessKeysPresent"]; ok {
		// the summary counts the root user's keys, active or not (CIS
		// 1.4 audits it): it says more than the report's active ones
		if a.Facets.Keys == nil || v > *a.Facets.Keys {
			a.Facets.Keys = asset.Int(v)
		}
		if a.Facets.ActiveKeys == nil {
			a.Facets.ActiveKeys = asset.Int(v)
		}
	}
	return l, nil
}

// credentialFacets reads a credential report row (the CSV's columns by
// name): password_enabled, mfa_active, access_key_N_active. It returns how
// many keys exist, active or not (-1: no report).
func credentialFacets(ci *ConfigItem, f *asset.Facets) (int, error) {
	raw, ok := ci.SupplementaryConfiguration["CredentialReport"]
	if !ok {
		return -1, nil
	}
	var row map[string]string
	if err := unmarshalMaybeString(raw, &row); err != nil {
		return -1, fmt.Errorf("CredentialReport: %w", err)
	}
	if v, ok := row["password_enabled"]; ok && v != "not_supported" {
		f.Console = asset.Bool(v == "true")
	}
	if v, ok := row["mfa_active"]; ok {
		f.MFA = asset.Bool(v == "true")
	}
	n, keys := 0, 0
	for _, k := range []string{"access_key_1", "access_key_2"} {
		if row[k+"_active"] == "true" {
			n++
		}
		// a key exists, active or not, once it has a rotation date
		if r := row[k+"_last_rotated"]; row[k+"_active"] == "true" || r != "" && r != "N/A" && r != "not_supported" {
			keys++
		}
	}
	f.ActiveKeys = asset.Int(n)
	return keys, nil
}

// awsInspectorFindings are the Inspector (v2) findings of one resource, as
// ListFindings returns them, grouped by vigil's collector.
type awsInspectorFindings struct {
	ResourceID  string `json:"resourceId"`
	ResourceArn string `json:"resourceArn"`
	Findings    []struct {
		Type         string `json:"type"`
		Status       string `json:"status"`
		Severity     string `json:"severity"`
		FixAvailable string `json:"fixAvailable"`
		Title        string `json:"title"`
		Details      *struct {
			VulnerabilityID    string `json:"vulnerabilityId"`
			VulnerablePackages []struct {
				Name           string `json:"name"`
				FixedInVersion string `json:"fixedInVersion"`
			} `json:"vulnerablePackages"`
		} `json:"packageVulnerabilityDetails"`
	} `json:"findings"`
}

func (r *awsInspectorFindings) apply(a *asset.Asset, ci *ConfigItem, l map[string]string) (map[string]string, error) {
	a.Facets.Resource = firstNonEmpty(r.ResourceArn, r.ResourceID)
	if !strings.HasPrefix(a.Facets.Resource, "arn:") && strings.HasPrefix(a.Facets.Resource, "i-") {
		a.Facets.Resource = fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", ci.AWSRegion, ci.Account(), a.Facets.Resource)
	}
	a.Facets.Vulnerabilities = []asset.Vulnerability{}
	for _, f := range r.Findings {
		if f.Details == nil || (f.Status != "" && !strings.EqualFold(f.Status, "ACTIVE")) {
			continue
		}
		v := asset.Vulnerability{ID: f.Details.VulnerabilityID, Severity: strings.ToLower(f.Severity),
			Fixable: strings.EqualFold(f.FixAvailable, "YES") || strings.EqualFold(f.FixAvailable, "PARTIAL")}
		if len(f.Details.VulnerablePackages) > 0 {
			v.Package, v.Fixed = f.Details.VulnerablePackages[0].Name, f.Details.VulnerablePackages[0].FixedInVersion
		}
		a.Facets.Vulnerabilities = append(a.Facets.Vulnerabilities, v)
	}
	return l, nil
}

// logGroupName extracts the log group of a CloudWatch Logs ARN
// (arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*).
func logGroupName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":log-group:")
	if !ok {
		return arn
	}
	return strings.TrimSuffix(rest, ":*")
}
