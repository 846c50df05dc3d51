package scan

import (
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/logfilter"
)

// scopeMore are the per-scope facts the policies of issue 19 read, a
// handful per project or account: the regions that hold assets (and
// instances), the principals its roles trust, which resources have flow
// logs, the alerting chain (metric filters, alarms, EventBridge rules,
// log-based metrics, alert policies), enabled services, log sinks and the
// project's compute metadata.
type scopeMore struct {
	regions map[string]*regionCount
	roles   int64 // IAM roles read (trusts is judged only with some)
	// instances whose own metadata sets enable-osconfig true or false:
	// it overrides the project's
	osconfigOn, osconfigOff int64
	trusts                  map[string][]string // principal -> roles (not read-only ones)
	denies                  map[string][]string // principal -> roles whose trust denies it
	// role -> the principals each Deny with NotPrincipal of its trust
	// spares (every other principal is denied)
	deniesAllBut  map[string][][]string
	flowLogs      map[string]bool // resource id -> an active flow log
	metricFilters []map[string]any
	alarms        []map[string]any
	eventRules    []map[string]any
	logMetrics    []map[string]any
	alertPolicies []map[string]any
	services      map[string]bool
	sinks         []map[string]any
	metadata      map[string]string
}

type regionCount struct{ assets, instances int64 }

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}

func (m *scopeMore) observe(a *asset.Asset) {
	f := &a.Facets
	// Detectors are what the detection policies look for, not what they
	// protect: a region whose only record is an Inspector or GuardDuty
	// status holds no asset.
	if !asset.ScopeKinds[a.Kind] && a.Kind != asset.KindDetector && a.Region != "" && a.Region != "global" {
		if m.regions == nil {
			m.regions = map[string]*regionCount{}
		}
		rc := m.regions[a.Region]
		if rc == nil {
			rc = &regionCount{}
			m.regions[strings.Clone(a.Region)] = rc
		}
		rc.assets++
		if a.Kind == asset.KindInstance && f.Status != "terminated" {
			rc.instances++
		}
	}
	if a.Kind == asset.KindInstance && f.Status != "terminated" {
		if v, ok := f.Metadata["enable-osconfig"]; ok {
			switch strings.ToLower(v) {
			case "true", "1", "yes", "y", "on":
				m.osconfigOn++
			default:
				m.osconfigOff++
			}
		}
	}
	enabled := f.Enabled == nil || *f.Enabled
	switch a.Kind {
	case asset.KindRole:
		m.roles++
		for _, b := range f.Bindings {
			var to *map[string][]string
			switch {
			case b.Role == "sts:AssumeRole" && (f.ReadOnly == nil || !*f.ReadOnly):
				// a read-only role lets the IR team look, not act: no
				// emergency access (as VGL-IAM-001 on GCP)
				to = &m.trusts
			case b.Role == inventory.DeniedAssumeRole:
				to = &m.denies
			case b.Role == inventory.DeniedAllButAssumeRole:
				if m.deniesAllBut == nil {
					m.deniesAllBut = map[string][][]string{}
				}
				name := strings.Clone(a.Name)
				but := make([]string, len(b.Members))
				for i, p := range b.Members {
					but[i] = strings.Clone(p)
				}
				m.deniesAllBut[name] = append(m.deniesAllBut[name], but)
				continue
			default:
				continue
			}
			for _, p := range b.Members {
				if *to == nil {
					*to = map[string][]string{}
				}
				(*to)[strings.Clone(p)] = append((*to)[p], strings.Clone(a.Name))
			}
		}
	case asset.KindFlowLog:
		// CIS AWS 3.7 asks for rejected traffic at least: a flow log of
		// ACCEPT only (the traffic type is in Filter) does not count.
		if enabled && f.Resource != "" && !strings.EqualFold(f.Filter, "ACCEPT") {
			if m.flowLogs == nil {
				m.flowLogs = map[string]bool{}
			}
			m.flowLogs[strings.Clone(f.Resource)] = true
		}
	case asset.KindMetricFilter:
		mf := map[string]any{"log_group": strings.Clone(f.LogGroup), "filter": strings.Clone(f.Filter), "metrics": strs(f.Metrics)}
		// The CIS calls the pattern matches, parsed (a pattern that does
		// not parse covers nothing; its text stays in "filter").
		calls, catchAll := []string(nil), false
		if p, err := logfilter.ParseCloudWatch(f.Filter); err == nil {
			calls, catchAll = p.Covers()
		}
		mf["calls"], mf["catch_all"] = strs(calls), catchAll
		m.metricFilters = append(m.metricFilters, mf)
	case asset.KindAlarm:
		m.alarms = append(m.alarms, map[string]any{"name": strings.Clone(a.Name), "metrics": strs(f.Metrics), "targets": strs(f.Targets), "enabled": enabled})
	case asset.KindEventRule:
		// EventBridge is regional: the rule sees the events of its region
		// (and, in us-east-1, those of IAM): VGL-LOG-003 reads where it is.
		m.eventRules = append(m.eventRules, map[string]any{"name": strings.Clone(a.Name), "filter": strings.Clone(f.Filter), "targets": strs(f.Targets), "enabled": enabled, "region": strings.Clone(a.Region)})
	case asset.KindLogMetric:
		lm := map[string]any{"name": strings.Clone(a.Name), "filter": strings.Clone(f.Filter), "metrics": strs(f.Metrics), "enabled": enabled}
		// The CIS GCP changes the query matches, parsed (Logging query
		// language: whitespace, order and value lists do not matter); a
		// query that does not parse covers nothing.
		changes, catchAll := []string(nil), false
		if q, err := logfilter.ParseGCP(f.Filter); err == nil {
			changes, catchAll = q.Covers()
		}
		lm["changes"], lm["catch_all"] = strs(changes), catchAll
		m.logMetrics = append(m.logMetrics, lm)
	case asset.KindAlertPolicy:
		m.alertPolicies = append(m.alertPolicies, map[string]any{"name": strings.Clone(a.Name), "metrics": strs(f.Metrics), "targets": strs(f.Targets), "enabled": enabled})
	case asset.KindService:
		if m.services == nil {
			m.services = map[string]bool{}
		}
		m.services[strings.Clone(a.Name)] = enabled
	case asset.KindLogSink:
		if a.Provider == asset.GCP {
			sink := map[string]any{"id": strings.Clone(a.ID), "name": strings.Clone(a.Name), "filter": strings.Clone(f.Filter),
				"destination": strings.Clone(f.Destination), "enabled": enabled}
			putBool(sink, "include_children", f.IncludeChildren)
			m.sinks = append(m.sinks, sink)
		}
	case asset.KindProjectMetadata:
		m.metadata = map[string]string{}
		for k, v := range f.Metadata {
			m.metadata[strings.Clone(k)] = strings.Clone(v)
		}
	}
}

// data adds the facts to a scope's entry of the index document. Lists are
// sorted, so the document does not depend on the order assets came in.
func (m *scopeMore) data(out map[string]any) {
	if m.regions != nil {
		regions := make(map[string]any, len(m.regions))
		for r, c := range m.regions {
			regions[r] = map[string]any{"assets": c.assets, "instances": c.instances}
		}
		out["regions"] = regions
	}
	if m.roles > 0 {
		out["roles"] = m.roles
	}
	if m.osconfigOn+m.osconfigOff > 0 {
		out["instance_osconfig"] = map[string]any{"on": m.osconfigOn, "off": m.osconfigOff}
	}
	for key, byRole := range map[string]map[string][]string{"trusts": m.trusts, "trust_denies": m.denies} {
		if byRole == nil {
			continue
		}
		byP := make(map[string]any, len(byRole))
		for p, roles := range byRole {
			sort.Strings(roles)
			byP[p] = strs(roles)
		}
		out[key] = byP
	}
	if m.deniesAllBut != nil {
		byRole := make(map[string]any, len(m.deniesAllBut))
		for r, lists := range m.deniesAllBut {
			items := make([]any, len(lists))
			for i, l := range lists {
				items[i] = strs(l)
			}
			byRole[r] = items
		}
		out["trust_denies_all_but"] = byRole
	}
	if m.flowLogs != nil {
		fl := make(map[string]any, len(m.flowLogs))
		for r := range m.flowLogs {
			fl[r] = true
		}
		out["flow_logs"] = fl
	}
	put := func(k string, list []map[string]any) {
		if list == nil {
			return
		}
		sort.Slice(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
		items := make([]any, len(list))
		for i, v := range list {
			items[i] = v
		}
		out[k] = items
	}
	put("metric_filters", m.metricFilters)
	put("alarms", m.alarms)
	put("event_rules", m.eventRules)
	put("log_metrics", m.logMetrics)
	put("alert_policies", m.alertPolicies)
	put("sinks", m.sinks)
	if m.services != nil {
		sv := make(map[string]any, len(m.services))
		for k, v := range m.services {
			sv[k] = v
		}
		out["services"] = sv
	}
	if m.metadata != nil {
		md := make(map[string]any, len(m.metadata))
		for k, v := range m.metadata {
			md[k] = v
		}
		out["project_metadata"] = md
	}
}

// key orders list entries by their identifying strings.
func key(m map[string]any) string {
	var b strings.Builder
	for _, k := range []string{"id", "name", "log_group", "filter"} {
		if s, ok := m[k].(string); ok {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	return b.String()
}
