package awsfake

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// The services and operations of issue 19: EC2 network ACLs and flow logs
// (query, XML), the IAM credential report, account summary and roles
// (query, XML), Inspector (REST JSON), CloudWatch Logs metric filters and
// EventBridge rules (JSON 1.1) and CloudWatch alarms (Smithy RPC v2 CBOR,
// which the SDK speaks to CloudWatch). Requests are read from the wire
// (form values, JSON and CBOR documents), never into the SDK's types.

// More is the state of one account for these services.
type More struct {
	FlowLogs map[string][]*FlowLog
	// Roles are the account's roles by name, with their trust policies.
	Roles map[string]*Role
	// Credentials say which users have a console password and MFA; the
	// root user is "<root_account>".
	Credentials map[string]Credential
	// RootKeys is how many access keys the root user has.
	RootKeys      int
	MetricFilters map[string][]*MetricFilter
	Alarms        map[string][]*Alarm
	Rules         map[string][]*EventRule
	// Inspector is EC2 scanning's status by region (ENABLED, DISABLED);
	// Findings are its findings by region.
	Inspector map[string]string
	Findings  map[string][]*Finding
	// FindingsToken, when set, is the nextToken of every ListFindings
	// answer: a server (or proxy) that pages for ever.
	FindingsToken string
	// Policies are the managed policies roles attach, by ARN.
	Policies map[string]*ManagedPolicy
	// report is the credential report's state: "" (none), STARTED,
	// INPROGRESS, COMPLETE; IAM takes two calls to finish one.
	report string
}

// NACLEntry is one numbered rule.
type NACLEntry struct {
	Number   int
	Protocol string // "-1", "6", ...
	Allow    bool
	Egress   bool
	CIDR     string
	From, To int // ignored for protocol -1
}

// FlowLog is a VPC, subnet or ENI flow log.
type FlowLog struct{ ID, ResourceID, Status string }

// Role is an IAM role.
type Role struct {
	Name, TrustPolicy string
	Created           time.Time
	// Attached are the ARNs of its attached managed policies (in
	// More.Policies); its inline policies are Account.RolePolicies.
	Attached []string
}

// Credential is a user's console password and MFA.
type Credential struct{ Password, MFA bool }

// MetricFilter is a CloudWatch Logs metric filter.
type MetricFilter struct{ Name, LogGroup, Pattern, MetricNamespace, MetricName string }

// Alarm is a CloudWatch metric alarm.
type Alarm struct {
	Name, Namespace, MetricName string
	Actions                     []string
	ActionsEnabled              bool
}

// EventRule is an EventBridge rule with its targets' ARNs.
type EventRule struct {
	Name, Pattern, State string
	Targets              []string
}

// Finding is an Inspector package vulnerability finding on an instance.
type Finding struct {
	Instance, CVE, Severity, FixAvailable, Package, Fixed string
}

// More returns an account's state for these services, under With.
func (f *Fake) More(account string) *More {
	if f.more == nil {
		f.more = map[string]*More{}
	}
	m, ok := f.more[account]
	if !ok {
		m = &More{FlowLogs: map[string][]*FlowLog{}, Roles: map[string]*Role{}, Credentials: map[string]Credential{},
			MetricFilters: map[string][]*MetricFilter{}, Alarms: map[string][]*Alarm{}, Rules: map[string][]*EventRule{},
			Inspector: map[string]string{}, Findings: map[string][]*Finding{}, Policies: map[string]*ManagedPolicy{}}
		f.more[account] = m
	}
	return m
}

func (f *Fake) describeFlowLogs(req *request, _ form, _ *Region) {
	m := f.More(req.acctID)
	f.ec2OK(req, func(b *xb) {
		b.open("flowLogSet")
		for _, fl := range m.FlowLogs[req.region] {
			b.open("item")
			b.el("flowLogId", fl.ID)
			b.el("resourceId", fl.ResourceID)
			b.el("flowLogStatus", fl.Status)
			b.el("trafficType", "ALL")
			b.el("logDestinationType", "cloud-watch-logs")
			b.el("deliverLogsStatus", "SUCCESS")
			b.el("creationTime", "2026-01-01T00:00:00.000Z")
			b.close("item")
		}
		b.close("flowLogSet")
	})
}

// reportColumns are the credential report's columns, in IAM's order.
var reportColumns = []string{"user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
	"password_next_rotation", "mfa_active", "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service", "access_key_2_active", "access_key_2_last_rotated",
	"access_key_2_last_used_date", "access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active",
	"cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"}

func (f *Fake) credentialReport(a *Account, m *More) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(reportColumns)
	na := "N/A"
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }
	rootCred := m.Credentials["<root_account>"]
	root := []string{"<root_account>", "arn:aws:iam::" + a.ID + ":root", "2024-01-01T00:00:00+00:00", "not_supported", na, "not_supported", "not_supported",
		strconv.FormatBool(rootCred.MFA), strconv.FormatBool(m.RootKeys > 0), na, na, na, na, strconv.FormatBool(m.RootKeys > 1), na, na, na, na, "false", na, "false", na}
	w.Write(root)
	for _, name := range slices.Sorted(maps.Keys(a.Users)) {
		u := a.Users[name]
		cred := m.Credentials[name]
		var keys []*AccessKey
		for _, id := range slices.Sorted(maps.Keys(a.Keys)) {
			if k := a.Keys[id]; k.User == name {
				keys = append(keys, k)
			}
		}
		row := []string{name, "arn:aws:iam::" + a.ID + ":user/" + name, ts(u.Created), strconv.FormatBool(cred.Password), na, na, na, strconv.FormatBool(cred.MFA)}
		for i := 0; i < 2; i++ {
			if i < len(keys) {
				k := keys[i]
				last := na
				if !k.LastUsed.IsZero() {
					last = ts(k.LastUsed)
				}
				row = append(row, strconv.FormatBool(k.Status == "Active"), ts(k.Created), last, na, na)
			} else {
				row = append(row, "false", na, na, na, na)
			}
		}
		row = append(row, "false", na, "false", na)
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

func (f *Fake) iamMore(req *request, _ form) {
	a := req.account
	m := f.More(a.ID)
	switch req.op {
	case "GenerateCredentialReport":
		switch m.report {
		case "":
			m.report = "STARTED"
		case "STARTED":
			m.report = "INPROGRESS"
		default:
			m.report = "COMPLETE"
		}
		state := m.report
		queryOK(req, iamNS, func(b *xb) {
			b.el("State", state)
			b.el("Description", "No report exists. Starting a new report generation task")
		})
	case "GetCredentialReport":
		switch m.report {
		case "":
			queryError(req, http.StatusGone, "ReportNotPresent", "Credential report not present.")
			return
		case "COMPLETE":
		default:
			queryError(req, http.StatusInternalServerError, "ReportInProgress", "Credential report is being generated.")
			return
		}
		content := base64.StdEncoding.EncodeToString(f.credentialReport(a, m))
		queryOK(req, iamNS, func(b *xb) {
			b.el("Content", content)
			b.el("ReportFormat", "text/csv")
			b.el("GeneratedTime", f.now().Format(time.RFC3339))
		})
	case "GetAccountSummary":
		mfa := 0
		if m.Credentials["<root_account>"].MFA {
			mfa = 1
		}
		summary := map[string]int{"AccountMFAEnabled": mfa, "AccountAccessKeysPresent": min(m.RootKeys, 1), "Users": len(a.Users),
			"Roles": len(m.Roles), "AccessKeysPerUserQuota": 2, "UsersQuota": 5000}
		queryOK(req, iamNS, func(b *xb) {
			b.open("SummaryMap")
			for _, k := range slices.Sorted(maps.Keys(summary)) {
				b.open("entry")
				b.el("key", k)
				b.int("value", summary[k])
				b.close("entry")
			}
			b.close("SummaryMap")
		})
	case "ListRoles":
		queryOK(req, iamNS, func(b *xb) {
			b.open("Roles")
			for _, name := range slices.Sorted(maps.Keys(m.Roles)) {
				r := m.Roles[name]
				b.open("member")
				b.el("Path", "/")
				b.el("RoleName", name)
				b.el("RoleId", "AROAFAKE"+strings.ToUpper(name))
				b.el("Arn", fmt.Sprintf("arn:aws:iam::%s:role/%s", a.ID, name))
				b.el("CreateDate", r.Created.UTC().Format(time.RFC3339))
				// IAM returns trust policies URL-encoded.
				b.el("AssumeRolePolicyDocument", url.QueryEscape(r.TrustPolicy))
				b.close("member")
			}
			b.close("Roles")
			b.bool("IsTruncated", false)
		})
	}
}

// moreService serves Inspector, CloudWatch Logs, EventBridge and CloudWatch.
func (f *Fake) moreService(req *request) {
	m := f.More(req.acctID)
	switch req.service {
	case "logs", "events":
		target := req.r.Header.Get("X-Amz-Target")
		req.op = target[strings.LastIndex(target, ".")+1:]
		if f.jsonFault(req) {
			return
		}
		var in map[string]any
		if err := json.Unmarshal(req.body, &in); err != nil && len(req.body) > 0 {
			jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "SerializationException", "message": err.Error()})
			return
		}
		switch target {
		case "Logs_20140328.DescribeMetricFilters":
			var out []map[string]any
			for _, mf := range m.MetricFilters[req.region] {
				out = append(out, map[string]any{"filterName": mf.Name, "logGroupName": mf.LogGroup, "filterPattern": mf.Pattern, "creationTime": 1767225600000,
					"metricTransformations": []any{map[string]any{"metricName": mf.MetricName, "metricNamespace": mf.MetricNamespace, "metricValue": "1"}}})
			}
			jsonReply(req, 200, map[string]any{"metricFilters": out})
		case "AWSEvents.ListRules":
			var out []map[string]any
			for _, r := range m.Rules[req.region] {
				out = append(out, map[string]any{"Name": r.Name, "Arn": fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", req.region, req.acctID, r.Name),
					"EventPattern": r.Pattern, "State": r.State, "EventBusName": "default"})
			}
			jsonReply(req, 200, map[string]any{"Rules": out})
		case "AWSEvents.ListTargetsByRule":
			name, _ := in["Rule"].(string)
			for _, r := range m.Rules[req.region] {
				if r.Name == name {
					var ts []map[string]string
					for i, arn := range r.Targets {
						ts = append(ts, map[string]string{"Id": strconv.Itoa(i), "Arn": arn})
					}
					jsonReply(req, 200, map[string]any{"Targets": ts})
					return
				}
			}
			jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "ResourceNotFoundException", "message": "Rule " + name + " does not exist on EventBus default."})
		default:
			jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "UnknownOperationException", "message": "unknown operation " + target})
		}
	case "inspector2":
		req.op = map[string]string{"/status/batch/get": "BatchGetAccountStatus", "/findings/list": "ListFindings"}[req.r.URL.Path]
		if f.restFault(req) {
			return
		}
		var in map[string]any
		_ = json.Unmarshal(req.body, &in)
		w := req.w
		w.Header().Set("Content-Type", "application/json")
		switch req.op {
		case "BatchGetAccountStatus":
			st := m.Inspector[req.region]
			if st == "" {
				st = "DISABLED"
			}
			json.NewEncoder(w).Encode(map[string]any{"accounts": []any{map[string]any{"accountId": req.acctID, "state": map[string]string{"status": st},
				"resourceState": map[string]any{"ec2": map[string]string{"status": st}, "ecr": map[string]string{"status": "DISABLED"}, "lambda": map[string]string{"status": "DISABLED"}}}},
				"failedAccounts": []any{}})
		case "ListFindings":
			// The filter vigil sends: EC2 instances, active, package
			// vulnerabilities; the fake holds nothing else.
			var out []map[string]any
			for i, fd := range m.Findings[req.region] {
				out = append(out, map[string]any{
					"findingArn": fmt.Sprintf("arn:aws:inspector2:%s:%s:finding/%032x", req.region, req.acctID, i+1), "awsAccountId": req.acctID,
					"type": "PACKAGE_VULNERABILITY", "status": "ACTIVE", "severity": fd.Severity, "fixAvailable": fd.FixAvailable, "title": fd.CVE + " - " + fd.Package,
					"firstObservedAt": 1767225600, "lastObservedAt": 1767225600, "description": fd.CVE,
					"packageVulnerabilityDetails": map[string]any{"vulnerabilityId": fd.CVE, "source": "NVD",
						"vulnerablePackages": []any{map[string]any{"name": fd.Package, "version": "0", "fixedInVersion": fd.Fixed, "packageManager": "OS"}}},
					"resources":   []any{map[string]any{"type": "AWS_EC2_INSTANCE", "id": fd.Instance, "region": req.region, "partition": "aws"}},
					"remediation": map[string]any{"recommendation": map[string]string{"text": "update " + fd.Package}},
				})
			}
			if out == nil {
				out = []map[string]any{}
			}
			page := map[string]any{"findings": out}
			if m.FindingsToken != "" {
				page["nextToken"] = m.FindingsToken
			}
			json.NewEncoder(w).Encode(page)
		default:
			req.status = http.StatusNotFound
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"no such path"}`))
		}
	case "monitoring":
		f.cloudwatch(req, m)
	}
}

// jsonFault answers an injected fault in JSON 1.1.
func (f *Fake) jsonFault(req *request) bool {
	switch f.fault(req) {
	case "throttle":
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "ThrottlingException", "message": "Rate exceeded"})
		return true
	case "denied":
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "AccessDeniedException",
			"message": fmt.Sprintf("User: arn:aws:iam::%s:user/vigil is not authorized to perform: %s:%s", req.acctID, req.service, req.op)})
		return true
	}
	return false
}

// restFault answers an injected fault in REST JSON.
func (f *Fake) restFault(req *request) bool {
	kind := f.fault(req)
	if kind == "" {
		return false
	}
	status, typ := http.StatusTooManyRequests, "ThrottlingException"
	if kind == "denied" {
		status, typ = http.StatusForbidden, "AccessDeniedException"
	}
	req.status = status
	req.w.Header().Set("X-Amzn-ErrorType", typ)
	req.w.Header().Set("Content-Type", "application/json")
	req.w.WriteHeader(status)
	json.NewEncoder(req.w).Encode(map[string]string{"message": "not authorized to perform: " + req.service + ":" + req.op})
	return true
}

// cloudwatch serves DescribeAlarms in Smithy RPC v2 CBOR:
// POST /service/GraniteServiceVersion20100801/operation/NAME with a CBOR
// map body, answered with a CBOR map ("__type" for errors).
func (f *Fake) cloudwatch(req *request, m *More) {
	const prefix = "/service/GraniteServiceVersion20100801/operation/"
	req.op = strings.TrimPrefix(req.r.URL.Path, prefix)
	reply := func(status int, v cbor.Value) {
		req.status = status
		req.w.Header().Set("Content-Type", "application/cbor")
		req.w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		req.w.WriteHeader(status)
		req.w.Write(cbor.Encode(v))
	}
	fail := func(status int, typ, msg string) {
		reply(status, cbor.Map{"__type": cbor.String(typ), "message": cbor.String(msg)})
	}
	if req.r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || !strings.HasPrefix(req.r.URL.Path, prefix) {
		fail(http.StatusBadRequest, "UnknownOperationException", "expected an rpc-v2-cbor request")
		return
	}
	switch f.fault(req) {
	case "throttle":
		fail(http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	case "denied":
		fail(http.StatusForbidden, "AccessDenied", "not authorized to perform: cloudwatch:"+req.op)
		return
	}
	if len(bytes.TrimSpace(req.body)) > 0 {
		if _, err := cbor.Decode(req.body); err != nil {
			fail(http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
	}
	if req.op != "DescribeAlarms" {
		fail(http.StatusBadRequest, "UnknownOperationException", "the fake serves DescribeAlarms only")
		return
	}
	var alarms cbor.List
	for _, a := range m.Alarms[req.region] {
		actions := cbor.List{}
		for _, x := range a.Actions {
			actions = append(actions, cbor.String(x))
		}
		alarms = append(alarms, cbor.Map{
			"AlarmName": cbor.String(a.Name), "AlarmArn": cbor.String(fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", req.region, req.acctID, a.Name)),
			"MetricName": cbor.String(a.MetricName), "Namespace": cbor.String(a.Namespace), "ActionsEnabled": cbor.Bool(a.ActionsEnabled),
			"AlarmActions": actions, "Statistic": cbor.String("Sum"), "ComparisonOperator": cbor.String("GreaterThanOrEqualToThreshold"),
			"StateValue": cbor.String("OK"),
		})
	}
	if alarms == nil {
		alarms = cbor.List{}
	}
	reply(http.StatusOK, cbor.Map{"MetricAlarms": alarms, "CompositeAlarms": cbor.List{}})
}
