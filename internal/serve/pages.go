package serve

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/auth"
)

const style = `<style>body{font:14px system-ui,sans-serif;margin:0;color:#222}main{padding:1em 2em}nav{background:#1f2937;color:#eee;padding:.6em 2em}
nav a{color:#fff;margin-right:1.2em;text-decoration:none}nav span{float:right}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
code{font-size:12px}.waiting{background:#fff7e0;padding:.6em;border:1px solid #e0c060;margin:.6em 0}.err{color:#b00}button{padding:.3em .9em;margin-right:.5em}
input[type=text]{width:28em}</style>`

var navTmpl = template.Must(template.New("nav").Parse(`<nav><a href="/">Posture</a>{{if .Runs}}<a href="/runs">Runs</a>{{if .Start}}<a href="/runs/new">Start a runbook</a>{{end}}{{end}}{{if .Admin}}<a href="/audit">Audit</a>{{end}}
{{with .Who}}<span>{{.}} ({{$.Role}}) · <a href="/auth/logout">sign out</a></span>{{end}}</nav>`))

// nav is the navigation bar, with who is signed in.
func (s *Server) nav(r *http.Request) template.HTML {
	p := auth.From(r.Context())
	d := map[string]any{"Runs": s.Runs != nil, "Start": p.Can(auth.Responder), "Admin": p.Can(auth.Admin)}
	if p != nil {
		d["Who"], d["Role"] = p.String(), p.Role
	}
	var b bytes.Buffer
	navTmpl.Execute(&b, d)
	return template.HTML(b.String())
}

// post is the script the pages' buttons use: JSON to the API, same
// origin, the session cookie; errors are shown, success reloads.
const post = `<script>
async function post(url, body, then) {
  const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const j = await r.json().catch(() => ({}));
  if (!r.ok) { document.getElementById("msg").textContent = (j.error || r.statusText); return; }
  if (then) { then(j); } else { location.reload(); }
}
</script>`

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{"join": strings.Join}).Parse(`
{{define "head"}}<!doctype html><html><head><meta charset="utf-8"><title>vigil: {{.Title}}</title>` + style + `</head><body>{{.Nav}}<main><h1>{{.Title}}</h1><p id="msg" class="err"></p>{{end}}
{{define "runs"}}{{template "head" .}}<table><thead><tr><th>run</th><th>runbook</th><th>status</th><th>started by</th><th>created</th><th>updated</th></tr></thead><tbody>
{{range .Runs}}<tr><td><a href="/runs/{{.ID}}"><code>{{.ID}}</code></a></td><td>{{.Runbook}}</td><td>{{.Status}}</td><td>{{.Actor}}</td><td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td><td>{{.UpdatedAt.Format "2006-01-02 15:04:05"}}</td></tr>
{{else}}<tr><td colspan="6">No run yet.</td></tr>{{end}}</tbody></table></main></body></html>{{end}}
{{define "run"}}{{template "head" .}}` + post + `
<p><b>{{.V.Runbook}}</b> ({{.V.File}}) — <b>{{.V.Status}}</b>; started by {{.V.Starter}} at {{.V.CreatedAt.Format "2006-01-02 15:04:05 MST"}}; plan <code>{{.V.PlanSHA256}}</code>.
{{if .V.Held}}Held by {{.V.Lease.Holder}} until {{.V.Lease.ExpiresAt.Format "15:04:05"}}.{{end}}
Journal: {{if .Verified}}intact ({{.Entries}} entries, key {{.Key}}){{else}}<span class="err">NOT INTACT: {{.Tamper}}</span>{{end}}.</p>
{{range .V.Waiting}}<div class="waiting"><b>step.{{.Address}}</b> ({{.Action}}, {{.Effect}}) waits for a decision{{if .Reason}}: {{.Reason}}{{end}}.
{{if .Summary}}<br>It will: {{.Summary}}{{end}}{{if .Targets}}<br>Targets: {{join .Targets ", "}}{{end}}
{{if .DistinctApprover}}<br><b>Two-person rule:</b> someone other than {{$.V.Starter}} must approve it.{{end}}
{{if .Approvers}}<br>Approvers: {{join .Approvers ", "}}{{end}}
{{if $.CanApprove}}<br><input type="text" id="c-{{.Address}}" placeholder="comment"><button onclick='post("/api/runs/{{$.V.ID}}/approvals", {address: {{.Address}}, plan_sha256: {{$.V.PlanSHA256}}, approve: true, comment: document.getElementById("c-"+{{.Address}}).value})'>Approve</button><button onclick='post("/api/runs/{{$.V.ID}}/approvals", {address: {{.Address}}, plan_sha256: {{$.V.PlanSHA256}}, approve: false, comment: document.getElementById("c-"+{{.Address}}).value})'>Reject</button>{{end}}</div>{{end}}
{{if and .CanResume (not .V.Held) (ne .V.Status "completed")}}<p><button onclick='post("/api/runs/{{.V.ID}}/resume", {})'>Resume the run here</button></p>{{end}}
{{if and .CanUnlock .V.Held}}<p><button onclick='if(confirm("Break the lease of {{.V.Lease.Holder}}?"))post("/api/runs/{{.V.ID}}/unlock", {})'>Unlock</button></p>{{end}}
<h2>Plan</h2><table><thead><tr><th>phase</th><th>step</th><th>action</th><th>effect</th><th>approval</th><th>targets</th></tr></thead><tbody>
{{range .Plan.Steps}}<tr><td>{{.Phase}}</td><td><code>{{.Address}}</code></td><td>{{.Action}}</td><td>{{.Effect}}</td><td>{{if .NeedsApproval}}yes{{if .DistinctApprover}}, a second person{{end}}{{end}}</td><td>{{join .Targets ", "}}</td></tr>{{end}}</tbody></table>
<h2>Timeline</h2><table><thead><tr><th>step</th><th>status</th><th>started</th><th>ended</th><th>actor</th><th>approvals</th><th>summary / error</th></tr></thead><tbody>
{{range .Timeline.Steps}}<tr><td><code>{{.Address}}</code></td><td>{{.Status}}</td><td>{{with .Started}}{{.Format "15:04:05"}}{{end}}</td><td>{{with .Ended}}{{.Format "15:04:05"}}{{end}}</td><td>{{.Actor}}</td><td>{{range .Approvals}}{{.Actor}} ({{.Via}}) {{end}}</td><td>{{.Summary}}{{if .Error}}<span class="err">{{.Error}}</span>{{end}}</td></tr>{{end}}</tbody></table>
<h2>Journal</h2><table><thead><tr><th>#</th><th>at</th><th>kind</th><th>step</th><th>actor</th><th>hash</th></tr></thead><tbody>
{{range .Journal}}<tr><td>{{.Seq}}</td><td>{{.At.Format "15:04:05.000"}}</td><td>{{.Kind}}</td><td><code>{{.Step}}</code></td><td>{{.Actor}}</td><td><code>{{printf "%.12s" .Hash}}</code></td></tr>{{end}}</tbody></table>
</main></body></html>{{end}}
{{define "start"}}{{template "head" .}}` + post + `
<form id="f" onsubmit='event.preventDefault(); const v={}; for (const i of document.querySelectorAll("[data-var]")) if (i.value!=="") v[i.dataset.var]=i.value;
 post("/api/runs", {runbook: document.getElementById("rb").value, provider: document.getElementById("prov").value, vars: v, suggestion: document.getElementById("sg").value}, j => location.href="/runs/"+j.run.id)'>
<p><label>Runbook <select id="rb" onchange='location.href="/runs/new?runbook="+this.value'>{{range .Runbooks}}<option value="{{.Name}}"{{if eq .Name $.Selected}} selected{{end}}>{{.Name}} — {{.Title}}</option>{{end}}</select></label></p>
{{range .Vars}}<p><label><code>{{.Name}}</code> ({{.Type}}{{if .Required}}, required{{end}}) <input type="text" data-var="{{.Name}}" value="{{index $.Values .Name}}"></label> {{.Description}}</p>{{end}}
<p><label>Provider <select id="prov"><option value="">server default</option><option value="sim">sim (rehearsal)</option><option value="cloud">cloud</option></select></label></p>
<p><label>Or a triage card's command <input type="text" id="sg" placeholder="vigil runbook plan compromised-ec2 -var instance=... -var incident=..."></label></p>
<p><button type="submit">Plan and start</button> Steps that need an approval wait for one on the run's page.</p></form></main></body></html>{{end}}
{{define "audit"}}{{template "head" .}}<table><thead><tr><th>at</th><th>who</th><th>role</th><th>action</th><th>target</th><th>outcome</th><th>detail</th><th>from</th></tr></thead><tbody>
{{range .Entries}}<tr><td>{{.At.Format "2006-01-02 15:04:05"}}</td><td>{{.Name}}</td><td>{{.Role}}</td><td>{{.Action}}</td><td><code>{{.Target}}</code></td><td>{{.Outcome}}</td><td>{{.Detail}}</td><td>{{.Remote}}</td></tr>{{end}}</tbody></table></main></body></html>{{end}}
`))

func (s *Server) render(w http.ResponseWriter, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.Log.Error("render page", "page", name, "err", err)
	}
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	runs, err := s.Runs.Store().ListRuns(r.Context())
	if err != nil {
		httpError(w, 500, err)
		return
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	s.render(w, "runs", map[string]any{"Title": "Runs", "Nav": s.nav(r), "Runs": runs})
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	v, entries, plan, err := s.runView(r.Context(), r.PathValue("id"))
	if err != nil {
		httpError(w, statusOf(err), err)
		return
	}
	ver := s.Runs.Verify(r.Context(), v.Run, entries)
	tamper := ""
	if ver.Tamper != nil {
		tamper = ver.Tamper.Error()
	}
	p := auth.From(r.Context())
	s.render(w, "run", map[string]any{"Title": "Run " + v.ID, "Nav": s.nav(r), "V": v, "Plan": plan, "Journal": entries,
		"Timeline": runbook.BuildTimeline(v.Run, entries, ver), "Verified": ver.Tamper == nil, "Tamper": tamper, "Entries": ver.Entries, "Key": ver.Key,
		"CanApprove": s.Guard == nil || p.Can(auth.Approver), "CanResume": s.Guard == nil || p.Can(auth.Responder), "CanUnlock": s.Guard == nil || p.Can(auth.Admin)})
}

// assetVariables are the variables that take a finding's asset, by kind
// (as triage suggests them).
var assetVariables = map[string]string{"instance": "instance", "access_key": "access_key_id", "project": "project"}

func (s *Server) startPage(w http.ResponseWriter, r *http.Request) {
	rbs := s.Runs.Runbooks()
	sel := r.URL.Query().Get("runbook")
	var vars []VarInfo
	for _, rb := range rbs {
		if rb.Name == sel || (sel == "" && len(vars) == 0) {
			sel, vars = rb.Name, rb.Variables
		}
	}
	values := map[string]string{}
	for _, v := range vars {
		values[v.Name] = r.URL.Query().Get("var." + v.Name)
	}
	// From a finding: its asset goes to the variable that takes its kind.
	if a := r.URL.Query().Get("asset"); a != "" {
		if name, ok := assetVariables[r.URL.Query().Get("kind")]; ok {
			if _, has := values[name]; has && values[name] == "" {
				values[name] = a
			}
		}
	}
	s.render(w, "start", map[string]any{"Title": "Start a runbook", "Nav": s.nav(r), "Runbooks": rbs, "Selected": sel, "Vars": vars, "Values": values})
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	var entries any = []any{}
	if s.Audit != nil {
		es, err := s.Audit.AuditEntries(r.Context(), 500)
		if err != nil {
			httpError(w, 500, err)
			return
		}
		entries = es
	}
	s.render(w, "audit", map[string]any{"Title": "Audit log", "Nav": s.nav(r), "Entries": entries})
}
