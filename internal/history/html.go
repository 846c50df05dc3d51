package history

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/policy"
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
}

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
// when given), its findings, the diff with the scan before, and the trend
// over the last n scans.
func Load(ctx context.Context, h store.History, schedule string, n int) (*Page, error) {
	scans, err := h.Scans(ctx, schedule, n)
	if err != nil {
		return nil, err
	}
	if len(scans) == 0 {
		return nil, store.ErrNoScans
	}
	p := &Page{Title: "vigil posture", Generated: time.Now().UTC(), Latest: scans[0]}
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

type point struct {
	X, Y     float64
	Scan     int64
	Findings int
	When     string
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
	// The trend chart: one point per scan, open findings on the y axis.
	const w, hgt, pad = 640.0, 200.0, 30.0
	maxN := 1
	for _, s := range p.Scans {
		maxN = max(maxN, s.Findings)
	}
	var pts []point
	for i, s := range p.Scans {
		x := pad
		if len(p.Scans) > 1 {
			x = pad + float64(i)*(w-2*pad)/float64(len(p.Scans)-1)
		}
		y := hgt - pad - float64(s.Findings)*(hgt-2*pad)/float64(maxN)
		pts = append(pts, point{X: x, Y: y, Scan: s.ID, Findings: s.Findings, When: s.StartedAt.Format("2006-01-02 15:04")})
	}
	var line string
	for i, pt := range pts {
		if i > 0 {
			line += " "
		}
		line += fmt.Sprintf("%.1f,%.1f", pt.X, pt.Y)
	}
	sorted := append([]store.StoredFinding(nil), p.Findings...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ri, rj := policy.SeverityRank(sorted[i].Severity), policy.SeverityRank(sorted[j].Severity)
		if ri != rj {
			return ri > rj
		}
		return sorted[i].Key() < sorted[j].Key()
	})
	runbooks := map[string]bool{}
	for _, f := range sorted {
		if f.Runbook != "" {
			runbooks[f.Runbook] = true
		}
	}
	var rbs []string
	for r := range runbooks {
		rbs = append(rbs, r)
	}
	sort.Strings(rbs)
	return map[string]any{"P": p, "Severities": sev, "Phases": ph, "Points": pts, "Line": line, "W": w, "H": hgt, "Max": maxN,
		"TopPolicies": top(open, func(f store.StoredFinding) string { return f.PolicyID }, 8),
		"TopScopes":   top(open, func(f store.StoredFinding) string { return f.Scope }, 8),
		"Findings":    sorted, "Open": len(open), "Runbooks": rbs}
}

var funcs = template.FuncMap{"fid": FindingID, "rbid": func(s string) string { return "rb-" + s }}

// HTML writes the page as one self-contained file: inline style, an SVG
// chart, no network needed to open it.
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
tr.waived td{color:#888}tr.targeted,tr:target{outline:2px solid #f0a500;background:#fff8e1}code{font-size:12px}.cols{display:flex;gap:12px;flex-wrap:wrap}.cols section{flex:1;min-width:260px}
</style></head>
<body>{{.P.Nav}}<header><h1>{{.P.Title}}</h1>
<div>scan {{.P.Latest.ID}}{{with .P.Latest.Schedule}} ({{.}}){{end}}, {{.P.Latest.StartedAt.Format "2006-01-02 15:04 MST"}}: {{.P.Latest.Assets}} assets, {{.Open}} open findings, {{.P.Latest.Waived}} waived; {{.P.Latest.PolicySet}}</div></header>
<main>
<section id="severity"><h2>Open findings by severity</h2><div class="cards">{{range .Severities}}<div class="card {{.Name}}" data-severity="{{.Name}}"><b>{{.N}}</b>{{.Name}}</div>{{end}}</div></section>
<section id="phases"><h2>By phase of the incident-response lifecycle</h2><div class="cards">{{range .Phases}}<div class="card" data-phase="{{.Name}}"><b>{{.N}}</b>{{.Name}}</div>{{end}}</div></section>
<section id="trend"><h2>Trend: open findings over the last {{len .Points}} scans</h2>
<svg id="trend-chart" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="open findings per scan" data-points="{{len .Points}}" data-max="{{.Max}}">
<line x1="30" y1="170" x2="610" y2="170" stroke="#aab"/><line x1="30" y1="30" x2="30" y2="170" stroke="#aab"/>
<text x="4" y="34" font-size="11">{{.Max}}</text><text x="16" y="172" font-size="11">0</text>
<polyline fill="none" stroke="#d9534f" stroke-width="2" points="{{.Line}}"/>
{{range .Points}}<circle class="point" cx="{{printf "%.1f" .X}}" cy="{{printf "%.1f" .Y}}" r="4" fill="#d9534f" data-scan="{{.Scan}}" data-findings="{{.Findings}}"><title>scan {{.Scan}}, {{.When}}: {{.Findings}} open</title></circle>
{{end}}</svg></section>
<div class="cols"><section id="top-policies"><h2>Top policies</h2><table>{{range .TopPolicies}}<tr><td>{{.Name}}</td><td>{{.N}}</td></tr>{{end}}</table></section>
<section id="top-scopes"><h2>Top projects and accounts</h2><table>{{range .TopScopes}}<tr><td>{{.Name}}</td><td>{{.N}}</td></tr>{{end}}</table></section></div>
{{with .P.Diff}}<div class="cols"><section id="new"><h2>New since scan {{.FromID}} ({{len .New}})</h2><ul>{{range .New}}<li><a href="#{{fid .}}">{{.PolicyID}} {{.AssetID}}</a></li>{{end}}</ul></section>
<section id="resolved"><h2>Resolved since scan {{.FromID}} ({{len .Resolved}})</h2><ul>{{range .Resolved}}<li>{{.PolicyID}} {{.AssetID}}</li>{{end}}</ul></section></div>{{end}}
{{range .P.Compliance}}<section class="compliance" id="compliance-{{.Benchmark}}"><h2>{{.Title}}: {{.Fail}} fail, {{.NotAssessed}} not assessed, {{.Partial}} partial, {{.NotCovered}} not covered</h2><p>The history keeps a scan's findings, not the assets it read: a control without open findings is not assessed here. <code>vigil scan --compliance</code> says which pass.</p><table><thead><tr><th>status</th><th>control</th><th>title</th><th>policies</th><th>open findings</th><th>note</th></tr></thead><tbody>
{{range .Rows}}<tr class="control {{.Status}}" data-control="{{.Control}}" data-status="{{.Status}}"><td>{{.Status}}</td><td>{{.Control}}</td><td>{{.Title}}{{if .Manual}} (manual){{end}}</td><td>{{range $i, $p := .Policies}}{{if $i}}, {{end}}{{$p}}{{end}}</td><td>{{if .Policies}}{{.Findings}}{{end}}</td><td>{{.Note}}</td></tr>
{{end}}</tbody></table></section>
{{end}}<section id="findings"><h2>Findings ({{len .Findings}})</h2><table><thead><tr><th>severity</th><th>policy</th><th>asset</th><th>message</th><th>waiver</th><th>runbook</th></tr></thead><tbody>
{{range .Findings}}<tr id="{{fid .}}" class="{{.Severity}}{{if .Waived}} waived{{end}}"><td>{{.Severity}}</td><td>{{.PolicyID}}</td><td><code>{{.AssetID}}</code></td><td>{{.Message}}</td><td>{{if .Waived}}waived: {{.WaiverReason}}{{end}}</td><td>{{with .Runbook}}<a href="#{{rbid .}}">{{.}}</a>{{end}}{{if and $.P.Served .Runbook}} <a href="/runs/new?runbook={{.Runbook}}&amp;asset={{.AssetID}}&amp;kind={{.Kind}}">start</a>{{end}}</td></tr>
{{end}}</tbody></table></section>
<section id="runbooks"><h2>Remediation runbooks</h2>{{range .Runbooks}}<p id="{{rbid .}}"><b>{{.}}</b>: <code>vigil runbook plan {{.}} --provider sim -i INVENTORY</code></p>{{else}}<p>none</p>{{end}}</section>
<p>generated {{.P.Generated.Format "2006-01-02 15:04 MST"}} by vigil</p>
</main>
<script>
// Mark the row a link points at, so it stands out (and tests can see it).
function mark(){document.querySelectorAll('.targeted').forEach(function(e){e.classList.remove('targeted')});var id=location.hash.slice(1);var el=id&&document.getElementById(id);if(el){el.classList.add('targeted');document.body.setAttribute('data-target',id)}}
window.addEventListener('hashchange',mark);mark();
</script></body></html>
`))
