package history

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/triage"
	"github.com/vigil-ir/vigil/internal/store"
)

// Page is what the HTML report and the dashboard show.
type Page struct {
	Title     string
	Generated time.Time
	Scans     []*store.ScanRecord // oldest first
	Latest    *store.ScanRecord
	Findings  []store.StoredFinding
	Diff      *Diff
	// Compliance are the per-control tables of the latest scan, when
	// asked for (see ComplianceTables).
	Compliance []*compliance.Table
	// Nav is the dashboard's navigation bar, and Served makes each
	// finding's runbook a link that starts it (vigil serve); the file
	// report has neither.
	Nav    template.HTML
	Served bool
	// Skipped counts the scans the trend and the diff passed over: of
	// another schedule or policy set than the latest.
	Skipped int
	// Offset is the first finding row shown (the dashboard pages by
	// MaxRows; the file report shows the first MaxRows); PageQuery is
	// the dashboard's query without page=, for its page links.
	Offset    int
	PageQuery string
	// Paged says the page links work (the dashboard's).
	Paged bool
	// RunbookVars are the variables without a default of each runbook
	// (by name): the remediation commands set each of them.
	RunbookVars map[string][]string
}

// MaxRows is how many finding rows a page holds: 19,000 rows made a
// 6 MB page no browser filters quickly.
const MaxRows = 2000

// ComplianceTables judges benchmarks with the latest scan's findings.
// History keeps the findings, not the assets a scan read, so a covered
// control without an open finding is "not assessed", never "pass": only
// vigil scan --compliance, which sees the assets, can say a control passes.
func (p *Page) ComplianceTables(ids []string, policies []*policy.Policy) error {
	for _, id := range ids {
		b, err := compliance.Get(id)
		if err != nil {
			return err
		}
		t, err := b.Evaluate(policies, b.Open(policies, p.findings), nil)
		if err != nil {
			return err
		}
		p.Compliance = append(p.Compliance, t)
	}
	return nil
}

// findings yields the page's findings as policy findings (what
// compliance counts: policy, provider, waived, and the controls the
// finding breaks as details.controls, which history keeps: a finding of a
// policy of several controls counts for those it names, as in vigil scan
// --compliance, not as "not assessed" for all of them).
func (p *Page) findings(yield func(policy.Finding) bool) {
	for _, f := range p.Findings {
		pf := policy.Finding{PolicyID: f.PolicyID, Provider: f.Provider, Waived: f.Waived}
		if f.Controls != nil {
			pf.Details, _ = json.Marshal(map[string]any{"controls": f.Controls})
		}
		if !yield(pf) {
			return
		}
	}
}

// Load builds the page from history: the latest scan (of the schedule,
// when given), its findings, the diff with the previous scan of the same
// schedule and policy set, and the trend over the last n such scans.
// Scans of other schedules, policy sets or inputs are left out, and counted.
func Load(ctx context.Context, h store.History, schedule string, n int) (*Page, error) {
	scans, skipped, err := comparableScans(ctx, h, schedule, n)
	if err != nil {
		return nil, err
	}
	if len(scans) == 0 {
		return nil, store.ErrNoScans
	}
	p := &Page{Title: "vigil posture", Generated: time.Now().UTC(), Latest: scans[0], Skipped: len(skipped)}
	for i := len(scans) - 1; i >= 0; i-- {
		p.Scans = append(p.Scans, scans[i])
	}
	if p.Findings, err = h.Findings(ctx, p.Latest.ID); err != nil {
		return nil, err
	}
	if len(scans) > 1 {
		prev, err := h.Findings(ctx, scans[1].ID)
		if err != nil {
			return nil, err
		}
		p.Diff = Compare(prev, p.Findings)
		p.Diff.From, p.Diff.To, p.Diff.FromID, p.Diff.ToID = scans[1], scans[0], scans[1].ID, scans[0].ID
		_, p.Diff.Why = Comparable(scans[0], scans[1])
	}
	return p, nil
}

// FindingID is the anchor of a finding's row.
func FindingID(f store.StoredFinding) string {
	h := sha256.Sum256([]byte(f.Key()))
	return "f-" + hex.EncodeToString(h[:6])
}

type count struct {
	Name string
	N    int
}

func (p *Page) open() []store.StoredFinding {
	var out []store.StoredFinding
	for _, f := range p.Findings {
		if !f.Waived {
			out = append(out, f)
		}
	}
	return out
}

func top(fs []store.StoredFinding, key func(store.StoredFinding) string, n int) []count {
	m := map[string]int{}
	for _, f := range fs {
		m[key(f)]++
	}
	var out []count
	for k, v := range m {
		out = append(out, count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// phases are the IR lifecycle's, in order.
var phases = []string{"preparation", "identification", "triage", "investigation", "containment", "recovery", "lessons_learned"}

// sevColors are the trend's colours, most severe first.
var sevColors = map[string]string{"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825", "low": "#1e88e5", "info": "#90a4ae"}

// The trend chart's geometry.
const (
	chartW, chartH                    = 720.0, 250.0
	padL, padR, padT, padB            = 48.0, 12.0, 12.0, 46.0
	plotW, plotH                      = chartW - padL - padR, chartH - padT - padB
	maxXLabels                        = 8
	expiredPerWaiver, maxExpiredGroup = 20, 200
)

type segment struct {
	Severity string
	N        int
	Y, H     float64
	Color    string
}

type bar struct {
	Scan     int64
	Findings int
	When     string
	X, W     float64
	Segments []segment
	// Label is the dated x-axis label, on every k-th bar; Day and Time its
	// two lines.
	Label     bool
	Day, Time string
	LabelX    float64
}

type tick struct {
	N int
	Y float64
}

// niceStep is the y axis's step: 1, 2 or 5 times a power of ten, so that
// about four steps reach max.
func niceStep(max int) int {
	for mag := 1; ; mag *= 10 {
		for _, m := range []int{1, 2, 5} {
			if 4*m*mag >= max {
				return m * mag
			}
		}
	}
}

// trend is the chart: one bar per scan, stacked by severity, a dated x
// axis and a y axis with ticks.
func (p *Page) trend() (bars []bar, ticks []tick) {
	maxN := 1
	for _, s := range p.Scans {
		maxN = max(maxN, s.Findings)
	}
	step := niceStep(maxN)
	top := (maxN + step - 1) / step * step
	for v := 0; v <= top; v += step {
		ticks = append(ticks, tick{N: v, Y: padT + plotH - float64(v)*plotH/float64(top)})
	}
	n := len(p.Scans)
	slot := plotW / float64(max(n, 1))
	w := min(28, slot*0.7)
	every := (n + maxXLabels - 1) / maxXLabels
	// Scans over less than two days are told apart by the hour.
	short := n > 0 && p.Scans[n-1].StartedAt.Sub(p.Scans[0].StartedAt) < 48*time.Hour
	for i, s := range p.Scans {
		cx := padL + (float64(i)+0.5)*slot
		b := bar{Scan: s.ID, Findings: s.Findings, When: s.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), X: cx - w/2, W: w,
			Label: i%every == 0 || i == n-1 && n <= maxXLabels, Day: s.StartedAt.UTC().Format("2006-01-02"), LabelX: cx}
		if short {
			b.Time = s.StartedAt.UTC().Format("15:04")
		}
		y := padT + plotH
		// Stacked from the least severe up, so critical sits on top.
		for k := len(policy.Severities) - 1; k >= 0; k-- {
			sev := policy.Severities[k]
			c := s.BySeverity[sev]
			if c == 0 {
				continue
			}
			h := float64(c) * plotH / float64(top)
			y -= h
			b.Segments = append(b.Segments, segment{Severity: sev, N: c, Y: y, H: h, Color: sevColors[sev]})
		}
		bars = append(bars, b)
	}
	return bars, ticks
}

// thousands writes n with commas: 19,112.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Command is a remediation command as printed, and what it lacks to run.
type Command struct {
	ID, Runbook, Text string
	// Missing are the required variables the finding cannot fill, and
	// NoInventory says the scan's sources are not files here.
	Missing     []string
	NoInventory bool
	Findings    int
}

// inventoryArgs are the -i arguments of a remediation command: the files
// the latest scan read, when they are here.
func (p *Page) inventoryArgs() []string {
	var out []string
	for _, src := range p.Latest.Sources {
		names := []string{src}
		if _, list, ok := strings.Cut(src, " files: "); ok {
			names = strings.Split(list, ", ")
		}
		for _, n := range names {
			if _, err := os.Stat(n); err != nil {
				return nil // a live source, or a file not on this machine
			}
			out = append(out, "-i", n)
		}
	}
	return out
}

// varFor fills a runbook variable from a finding, as triage fills it from
// an asset ("" when the finding does not say).
func (p *Page) varFor(name string, f store.StoredFinding) string {
	switch name {
	case "instance":
		if f.Kind == "instance" {
			return f.AssetID
		}
		return f.Instance // a vulnerability report's VM
	case "access_key_id":
		if f.Kind == "access_key" {
			return f.AssetID[strings.LastIndex(f.AssetID, "/")+1:]
		}
	case "project":
		if f.Provider == "gcp" {
			return f.Scope
		}
	case "incident":
		return "INC-" + p.Latest.StartedAt.UTC().Format("20060102")
	}
	return ""
}

// command is the rehearsal (--provider sim) of the finding's runbook, with
// every variable without a default set.
func (p *Page) command(f store.StoredFinding, inv []string) Command {
	c := Command{Runbook: f.Runbook, NoInventory: inv == nil}
	args := []string{"vigil", "runbook", "plan", f.Runbook, "--provider", "sim"}
	if inv == nil {
		args = append(args, "-i", "INVENTORY")
	}
	args = append(args, inv...)
	for _, v := range p.RunbookVars[f.Runbook] {
		val := p.varFor(v, f)
		if val == "" {
			// No placeholder: "-var project=PROJECT" would plan against a
			// project named PROJECT. Without the variable the command
			// refuses to run, and the note says what to add.
			c.Missing = append(c.Missing, v)
			continue
		}
		args = append(args, "-var", v+"="+val)
	}
	c.Text = triage.ShellJoin(args)
	h := sha256.Sum256([]byte(c.Text))
	c.ID = "cmd-" + hex.EncodeToString(h[:6])
	return c
}

// waiverGroup is an expired waiver and the open findings it used to cover.
type waiverGroup struct {
	Reason, Expires string
	Findings        []store.StoredFinding
	More            int
}

func (p *Page) data() map[string]any {
	open := p.open()
	sev := []count{}
	for _, s := range policy.Severities {
		sev = append(sev, count{s, p.Latest.BySeverity[s]})
	}
	byPhase := map[string]int{}
	for _, f := range open {
		ph := f.Phase
		if ph == "" {
			ph = "preparation"
		}
		byPhase[ph]++
	}
	var ph []count
	for _, name := range phases {
		ph = append(ph, count{name, byPhase[name]})
	}
	bars, ticks := p.trend()
	sorted := append([]store.StoredFinding(nil), p.Findings...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ri, rj := policy.SeverityRank(sorted[i].Severity), policy.SeverityRank(sorted[j].Severity)
		if ri != rj {
			return ri > rj
		}
		return sorted[i].Key() < sorted[j].Key()
	})
	// Every finding counts above; the table holds one page of rows.
	offset := min(max(p.Offset, 0), len(sorted))
	rows := sorted[offset:min(offset+MaxRows, len(sorted))]
	// One command per distinct command line, in the order of the rows
	// (the most severe first), for the runbooks of every finding.
	inv := p.inventoryArgs()
	var cmds []*Command
	byText := map[string]*Command{}
	cmdOf := make(map[int]string, len(rows))
	for i, f := range sorted {
		if f.Runbook == "" || f.Waived {
			continue
		}
		c := p.command(f, inv)
		have := byText[c.Text]
		if have == nil {
			have = &c
			byText[c.Text] = have
			cmds = append(cmds, have)
		}
		have.Findings++
		if i >= offset && i < offset+MaxRows {
			cmdOf[i-offset] = have.ID
		}
	}
	// Expired waivers, by waiver (its reason and date), with what they
	// used to cover.
	var expired []*waiverGroup
	byWaiver := map[[2]string]*waiverGroup{}
	nExpired := 0
	for _, f := range sorted {
		if !f.WaiverExpired {
			continue
		}
		nExpired++
		k := [2]string{f.WaiverReason, f.WaiverExpires}
		g := byWaiver[k]
		if g == nil {
			if len(expired) == maxExpiredGroup {
				continue
			}
			g = &waiverGroup{Reason: f.WaiverReason, Expires: f.WaiverExpires}
			byWaiver[k] = g
			expired = append(expired, g)
		}
		if len(g.Findings) < expiredPerWaiver {
			g.Findings = append(g.Findings, f)
		} else {
			g.More++
		}
	}
	sort.SliceStable(expired, func(i, j int) bool { return expired[i].Expires < expired[j].Expires })
	pages := (len(sorted) + MaxRows - 1) / MaxRows
	// PageQuery is the dashboard's own encoded query.
	link := func(n int) template.URL { return template.URL("?" + p.PageQuery + "page=" + strconv.Itoa(n)) }
	return map[string]any{"P": p, "Severities": sev, "Phases": ph, "Bars": bars, "Ticks": ticks, "Colors": sevColors, "SevOrder": policy.Severities,
		"W": chartW, "H": chartH, "PadL": padL, "TickX": padL - 6, "PlotR": chartW - padR, "Base": padT + plotH, "PadT": padT,
		"TopPolicies": top(open, func(f store.StoredFinding) string { return f.PolicyID }, 8),
		"TopScopes":   top(open, func(f store.StoredFinding) string { return f.Scope }, 8),
		"Rows":        rows, "Total": len(sorted), "First": offset + 1, "Last": offset + len(rows), "Truncated": len(rows) < len(sorted),
		"Page": offset/MaxRows + 1, "Pages": pages, "Prev": link(offset / MaxRows), "Next": link(offset/MaxRows + 2), "Open": len(open), "Commands": cmds, "CmdOf": cmdOf,
		"Expired": expired, "ExpiredN": nExpired, "MaxRows": MaxRows}
}

var funcs = template.FuncMap{"fid": FindingID, "thousands": thousands,
	"f1": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }}

// HTML writes the page as one self-contained file: inline style and
// script, an SVG chart, no network needed to open it.
func (p *Page) HTML(w io.Writer) error { return page.Execute(w, p.data()) }

var page = template.Must(template.New("page").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.P.Title}}: scan {{.P.Latest.ID}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
main{padding:16px 24px;max-width:1200px}section{background:#fff;border-radius:8px;padding:12px 16px;margin:12px 0;box-shadow:0 1px 2px #0002}
h2{font-size:16px;margin:4px 0 10px}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{padding:10px 14px;border-radius:6px;min-width:90px;background:#eef0f4}
.card b{display:block;font-size:22px}.critical{background:#fde2e1}.high{background:#fdebd7}.medium{background:#fdf6d3}.low{background:#e3f1fd}.info{background:#eef0f4}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #e3e5ea;vertical-align:top}
td.pid,td.sev,.nowrap{white-space:nowrap}tr[hidden]{display:none}
tr.waived td{color:#888}tr.targeted,tr:target,p:target{outline:2px solid #f0a500;background:#fff8e1}code{font-size:12px}.cols{display:flex;gap:12px;flex-wrap:wrap}.cols section{flex:1;min-width:260px}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
#filters{display:flex;gap:8px;align-items:center;margin-bottom:8px}.note{color:#555}
</style></head>
<body>{{.P.Nav}}<header><h1>{{.P.Title}}</h1>
<div>scan {{.P.Latest.ID}}{{with .P.Latest.Schedule}} ({{.}}){{end}}, {{.P.Latest.StartedAt.Format "2006-01-02 15:04 MST"}}: {{.P.Latest.Assets}} assets, {{.Open}} open findings, {{.P.Latest.Waived}} waived; {{.P.Latest.PolicySet}}</div></header>
<main>
<section id="severity"><h2>Open findings by severity</h2><div class="cards">{{range .Severities}}<div class="card {{.Name}}" data-severity="{{.Name}}"><b>{{.N}}</b>{{.Name}}</div>{{end}}</div></section>
<section id="phases"><h2>By phase of the incident-response lifecycle</h2><div class="cards">{{range .Phases}}<div class="card" data-phase="{{.Name}}"><b>{{.N}}</b>{{.Name}}</div>{{end}}</div></section>
<section id="trend"><h2>Trend: open findings by severity over the last {{len .Bars}} scans</h2>
<p class="note" id="comparable">Only scans of {{with .P.Latest.Schedule}}schedule {{.}}{{else}}no schedule (ad hoc){{end}} with the policy set {{.P.Latest.PolicySet}} and the same inputs are compared{{if .P.Skipped}}; {{.P.Skipped}} scans of other schedules, policy sets or inputs are left out{{end}}.</p>
<svg id="trend-chart" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="open findings per scan, by severity" data-points="{{len .Bars}}">
{{range .Ticks}}<g class="ytick" data-value="{{.N}}"><line x1="{{f1 $.PadL}}" y1="{{f1 .Y}}" x2="{{f1 $.PlotR}}" y2="{{f1 .Y}}" stroke="#e3e5ea"/><text x="{{f1 $.TickX}}" y="{{f1 .Y}}" font-size="11" text-anchor="end" dominant-baseline="middle">{{thousands .N}}</text></g>
{{end}}<line x1="{{f1 .PadL}}" y1="{{f1 .Base}}" x2="{{f1 .PlotR}}" y2="{{f1 .Base}}" stroke="#aab"/><line x1="{{f1 .PadL}}" y1="{{f1 .PadT}}" x2="{{f1 .PadL}}" y2="{{f1 .Base}}" stroke="#aab"/>
{{range .Bars}}<g class="point" data-scan="{{.Scan}}" data-findings="{{.Findings}}"><title>scan {{.Scan}}, {{.When}}: {{.Findings}} open{{range .Segments}}, {{.N}} {{.Severity}}{{end}}</title>{{$b := .}}{{range .Segments}}<rect class="seg" data-severity="{{.Severity}}" data-n="{{.N}}" x="{{f1 $b.X}}" y="{{f1 .Y}}" width="{{f1 $b.W}}" height="{{f1 .H}}" fill="{{.Color}}"/>{{end}}</g>
{{if .Label}}<text class="xlabel" x="{{f1 .LabelX}}" y="{{f1 $.Base}}" font-size="11" text-anchor="middle"><tspan x="{{f1 .LabelX}}" dy="14">{{.Day}}</tspan>{{with .Time}}<tspan x="{{f1 $b.LabelX}}" dy="13">{{.}}</tspan>{{end}}</text>
{{end}}{{end}}</svg>
<div class="legend">{{range .SevOrder}}<span><i style="background:{{index $.Colors .}}"></i>{{.}}</span>{{end}}</div></section>
<div class="cols"><section id="top-policies"><h2>Top policies</h2><table>{{range .TopPolicies}}<tr><td class="pid">{{.Name}}</td><td>{{.N}}</td></tr>{{end}}</table></section>
<section id="top-scopes"><h2>Top projects and accounts</h2><table>{{range .TopScopes}}<tr><td class="nowrap">{{.Name}}</td><td>{{.N}}</td></tr>{{end}}</table></section></div>
{{with .P.Diff}}<p class="note" id="diff-why">Compared with scan {{.FromID}}: {{.Why}}.</p><div class="cols"><section id="new"><h2>New since scan {{.FromID}} ({{len .New}})</h2><ul>{{range .New}}<li><a href="#{{fid .}}">{{.PolicyID}} {{.AssetID}}</a></li>{{end}}</ul></section>
<section id="resolved"><h2>Resolved since scan {{.FromID}} ({{len .Resolved}})</h2><ul>{{range .Resolved}}<li>{{.PolicyID}} {{.AssetID}}</li>{{end}}</ul></section></div>{{end}}
{{range .P.Compliance}}<section class="compliance" id="compliance-{{.Benchmark}}"><h2>{{.Title}}: {{.Fail}} fail, {{.NotAssessed}} not assessed, {{.Partial}} partial, {{.NotCovered}} not covered</h2><p>The history keeps a scan's findings, not the assets it read: a control without open findings is not assessed here. <code>vigil scan --compliance</code> says which pass.</p><table><thead><tr><th>status</th><th>control</th><th>title</th><th>policies</th><th>open findings</th><th>note</th></tr></thead><tbody>
{{range .Rows}}<tr class="control {{.Status}}" data-control="{{.Control}}" data-status="{{.Status}}"><td>{{.Status}}</td><td>{{.Control}}</td><td>{{.Title}}{{if .Manual}} (manual){{end}}</td><td>{{range $i, $p := .Policies}}{{if $i}}, {{end}}{{$p}}{{end}}</td><td>{{if .Policies}}{{.Findings}}{{end}}</td><td>{{.Note}}</td></tr>
{{end}}</tbody></table></section>
{{end}}<section id="expired-waivers"><h2>Expired waivers ({{len .Expired}}, covering {{.ExpiredN}} findings now open)</h2>{{if .Expired}}<table><thead><tr><th>expired on</th><th>reason</th><th>findings it used to cover</th></tr></thead><tbody>
{{range .Expired}}<tr class="expired-waiver" data-expires="{{.Expires}}"><td class="nowrap">{{.Expires}}</td><td>{{.Reason}}</td><td>{{range .Findings}}<a href="#{{fid .}}" class="nowrap">{{.PolicyID}}</a> <code>{{.AssetID}}</code><br>{{end}}{{if .More}}and {{.More}} more{{end}}</td></tr>
{{end}}</tbody></table>{{else}}<p>none</p>{{end}}</section>
<section id="findings"><h2>Findings ({{thousands .Total}})</h2>
<div id="filters"><label>Filter <input type="search" id="filter-text" placeholder="policy, asset, message..."></label>
<label>Severity <select id="filter-severity"><option value="">any</option>{{range .SevOrder}}<option value="{{.}}">{{.}}</option>{{end}}</select></label>
<span id="filter-count" data-total="{{.Total}}" data-shown="{{len .Rows}}">{{if .Truncated}}showing {{if gt .First 1}}{{thousands .First}}–{{end}}{{thousands .Last}} of {{thousands .Total}}{{else}}showing {{thousands .Total}} of {{thousands .Total}}{{end}}</span></div>
{{if .Truncated}}<p class="note" id="truncated">The table holds {{thousands .MaxRows}} rows, the most severe first; the filter searches these rows. {{if .P.Paged}}{{if gt .Page 1}}<a href="{{.Prev}}">previous {{thousands .MaxRows}}</a> {{end}}page {{.Page}} of {{.Pages}}{{if lt .Page .Pages}} <a href="{{.Next}}">next {{thousands .MaxRows}}</a>{{end}}; every finding: <a href="/api/findings?scan={{.P.Latest.ID}}">/api/findings?scan={{.P.Latest.ID}}</a>{{else}}Every finding: <code>vigil serve</code> pages through them, and <code>vigil scan --format json</code> lists them.{{end}}</p>{{end}}
<table><thead><tr><th>severity</th><th>policy</th><th>asset</th><th>message</th><th>waiver</th><th>runbook</th></tr></thead><tbody id="finding-rows">
{{range $i, $f := .Rows}}<tr id="{{fid .}}" class="{{.Severity}}{{if .Waived}} waived{{end}}" data-severity="{{.Severity}}"><td class="sev">{{.Severity}}</td><td class="pid">{{.PolicyID}}</td><td><code>{{.AssetID}}</code></td><td>{{.Message}}</td><td>{{if .Waived}}waived: {{.WaiverReason}}{{else if .WaiverExpired}}expired {{.WaiverExpires}} (was: {{.WaiverReason}}){{end}}</td><td class="nowrap">{{with index $.CmdOf $i}}<a href="#{{.}}">{{$f.Runbook}}</a>{{else}}{{.Runbook}}{{end}}{{if and $.P.Served .Runbook}} <a href="/runs/new?runbook={{.Runbook}}&amp;asset={{.AssetID}}&amp;kind={{.Kind}}">start</a>{{end}}</td></tr>
{{end}}</tbody></table></section>
<section id="runbooks"><h2>Remediation runbooks</h2><p class="note">Each command rehearses the runbook against the simulated cloud, every variable without a default set from the finding; drop <code>--provider sim</code> to plan against the real one.</p>{{range .Commands}}<p id="{{.ID}}" class="command" data-runbook="{{.Runbook}}"><b>{{.Runbook}}</b> ({{.Findings}} findings): <code class="cmd">{{.Text}}</code>{{if .Missing}} <span class="missing">not runnable as printed: add {{range $i, $m := .Missing}}{{if $i}} {{end}}-var {{$m}}=…{{end}} by hand (the finding does not say it)</span>{{end}}{{if .NoInventory}} <span class="missing">INVENTORY: the scan's sources are not files here</span>{{end}}</p>{{else}}<p>none</p>{{end}}</section>
<p>generated {{.P.Generated.Format "2006-01-02 15:04 MST"}} by vigil</p>
</main>
<script>
// Mark the row a link points at, so it stands out (and tests can see it).
function mark(){document.querySelectorAll('.targeted').forEach(function(e){e.classList.remove('targeted')});var id=location.hash.slice(1);var el=id&&document.getElementById(id);if(el){el.classList.add('targeted');document.body.setAttribute('data-target',id)}}
window.addEventListener('hashchange',mark);mark();
// The findings filter: words of the text box all appear in a row (any
// case), and the severity is the one chosen. ?q=...&severity=... in the
// address sets it, so a filtered view can be linked.
(function(){
var text=document.getElementById('filter-text'),sev=document.getElementById('filter-severity'),out=document.getElementById('filter-count');
var rows=Array.prototype.slice.call(document.querySelectorAll('#finding-rows tr'));
var base=out.textContent,total=out.getAttribute('data-total');
function apply(){
var words=text.value.toLowerCase().split(/\s+/).filter(Boolean),s=sev.value,n=0;
rows.forEach(function(r){var t=r.textContent.toLowerCase();var ok=(!s||r.getAttribute('data-severity')===s)&&words.every(function(w){return t.indexOf(w)>=0});r.hidden=!ok;if(ok)n++});
var on=words.length>0||s!=='';out.setAttribute('data-matching',n);
out.textContent=on?n.toLocaleString('en-US')+' of '+rows.length.toLocaleString('en-US')+' rows match ('+base+')':base;
document.body.setAttribute('data-filtered',on?'yes':'no');
}
var q=new URLSearchParams(location.search);
if(q.get('q'))text.value=q.get('q');
if(q.get('severity'))sev.value=q.get('severity');
text.addEventListener('input',apply);sev.addEventListener('change',apply);apply();
})();
</script></body></html>
`))
