// Package triage answers the responder's first questions about an asset
// from the inventory, the organization settings and the posture findings:
// who owns it, what it is for, whether it is production, what it can reach
// in other projects or accounts and on the corporate network, what data it
// holds, and where it is (with the residency verdict for its data). A
// question the inventory cannot answer says what to collect to answer it.
package triage

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Answer is the answer to one question.
type Answer struct {
	Question string `json:"question"`
	Known    bool   `json:"known"`
	// Value is the answer in a line ("web-team", "prod", "none found").
	Value string `json:"value"`
	// Details are the facts behind it, each with where it came from.
	Details []string `json:"details,omitempty"`
	// Collect says what to collect when the inventory cannot answer.
	Collect string `json:"collect,omitempty"`
}

// Ref names an asset on the card.
type Ref struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Scope    string `json:"scope"`
	Region   string `json:"region,omitempty"`
}

// Finding is an open posture finding on the asset or around it.
type Finding struct {
	PolicyID string `json:"policy_id"`
	Severity string `json:"severity"`
	AssetID  string `json:"asset_id"`
	Message  string `json:"message"`
	// On says how the finding's asset relates: asset, network, firewall,
	// project or account.
	On string `json:"on"`
}

// Suggestion is a runbook that fits, with the command to plan it.
type Suggestion struct {
	Runbook string `json:"runbook"`
	Title   string `json:"title"`
	// Rehearse plans it against the simulated cloud; Command against the
	// real providers.
	Rehearse string `json:"rehearse"`
	Command  string `json:"command"`
}

// Card is the triage card of one asset.
type Card struct {
	Asset     Ref          `json:"asset"`
	InScope   *Ref         `json:"scope_asset,omitempty"`
	Alert     *alert.Alert `json:"alert,omitempty"`
	Found     bool         `json:"in_inventory"`
	Questions []Answer     `json:"questions"`
	Findings  []Finding    `json:"findings"`
	Runbooks  []Suggestion `json:"runbooks"`
}

// Question returns the answer to a question by key.
func (c *Card) Question(key string) *Answer {
	for i := range c.Questions {
		if c.Questions[i].Question == key {
			return &c.Questions[i]
		}
	}
	return nil
}

// The questions, in the order a card shows them.
const (
	QOwner          = "owner"
	QPurpose        = "purpose"
	QEnvironment    = "environment"
	QReachProjects  = "reach_projects"
	QReachCorporate = "reach_corporate"
	QData           = "data"
	QLocation       = "location"
	QEmergency      = "emergency_access"
)

// Titles are the questions as a card asks them.
var Titles = map[string]string{
	QOwner:          "Who owns it?",
	QPurpose:        "What is it for?",
	QEnvironment:    "Is it production?",
	QReachProjects:  "Can it reach other projects or accounts?",
	QReachCorporate: "Can it reach the corporate network?",
	QData:           "What data does it hold?",
	QLocation:       "Where is it?",
	QEmergency:      "Can the IR team get in?",
}

// RunbookInfo is what suggestions need of a runbook.
type RunbookInfo struct {
	Name, Title string
	Tags        []string
	// Required are the variables without a default; Variables all of them.
	Required  []string
	Variables []string
	FromAlert bool
}

// Options are the inputs of a triage.
type Options struct {
	Inventory *inventory.Inventory
	Config    *config.Config
	// Findings are the unwaived findings of a scan of the inventory.
	Findings []policy.Finding
	Runbooks []RunbookInfo
	// InventoryArgs and ConfigArg are repeated in suggested commands
	// (-i examples/inventory -c examples/vigil.hcl).
	InventoryArgs []string
	ConfigArg     string
	// AlertFile is the alert's path, for --from-alert in commands.
	AlertFile string
	// LiveArgs replace the inventory in the real command when the card was
	// made from a live collection (--aws-live, --gcp-live --gcp-scope S).
	LiveArgs []string

	idx *index // built on first use and shared by every card
}

// ForAlert builds a card for each resource of an alert.
func ForAlert(o *Options, a *alert.Alert) []*Card {
	var cards []*Card
	for _, r := range a.Resources {
		c := Build(o, o.alertAssetID(r))
		c.Alert = a
		c.Runbooks = suggest(o, c, a)
		cards = append(cards, c)
	}
	return cards
}

// alertAssetID is the id of the inventory's asset an alert's resource is
// about: its own id, else (some ids differ in form: an access key's user
// may be missing from the alert) the first asset of its kind and name; the
// resource's id when neither is in the inventory.
func (o *Options) alertAssetID(r alert.Resource) string {
	if o.Inventory.Get(r.ID) != nil || r.Name == "" {
		return r.ID
	}
	for _, x := range o.Inventory.Assets() {
		if x.Kind == r.Kind && x.Name == r.Name {
			return x.ID
		}
	}
	return r.ID
}

// Judged returns the ids of the assets whose findings the cards of ids and
// of alerts' resources can show (each card's asset and what is around it:
// see findings). A triage needs the posture findings of these only: the
// policies judge them, with the whole inventory as their cross-asset
// context, and the cards are the same as with a scan of every asset.
func (o *Options) Judged(ids []string, alerts []*alert.Alert) map[string]bool {
	out := map[string]bool{}
	add := func(id string) {
		a := o.Inventory.Get(id)
		if a == nil {
			return
		}
		t := &triager{o: o, inv: o.Inventory, index: o.index()}
		for x := range t.related(a, t.scopeOf(a)) {
			out[x] = true
		}
	}
	for _, id := range ids {
		add(id)
	}
	for _, al := range alerts {
		for _, r := range al.Resources {
			add(o.alertAssetID(r))
		}
	}
	return out
}

// Build makes the card of one asset.
func Build(o *Options, id string) *Card {
	t := &triager{o: o, inv: o.Inventory, index: o.index()}
	a := o.Inventory.Get(id)
	c := &Card{Asset: Ref{ID: id}}
	if a == nil {
		c.Questions = unknownAll(id)
		return c
	}
	c.Found = true
	c.Asset = ref(a)
	scope := t.scopeOf(a)
	if scope != nil {
		r := ref(scope)
		c.InScope = &r
	}
	t.context = t.contextOf(a, scope)
	c.Questions = []Answer{
		t.owner(a, scope), t.purpose(a, scope), t.environment(a, scope),
		t.reachProjects(a, scope), t.reachCorporate(a, scope), t.data(a, scope),
	}
	c.Questions = append(c.Questions, t.location(a, c.Question(QData)), t.emergency(a, scope))
	c.Findings = t.findings(a, scope)
	c.Runbooks = suggest(o, c, nil)
	return c
}

func ref(a *asset.Asset) Ref {
	return Ref{ID: a.ID, Kind: a.Kind, Name: a.Name, Provider: a.Provider, Scope: a.Scope, Region: a.Region}
}

func unknownAll(id string) []Answer {
	var out []Answer
	for _, q := range []string{QOwner, QPurpose, QEnvironment, QReachProjects, QReachCorporate, QData, QLocation, QEmergency} {
		out = append(out, Answer{Question: q, Value: "unknown",
			Collect: fmt.Sprintf("%s is not in the inventory: collect its project or account (vigil inventory collect, or a CAI export / AWS Config snapshot that includes it)", id)})
	}
	return out
}

// index is what every card of one inventory looks things up in.
type index struct {
	byKind  map[string][]*asset.Asset
	kindsOf map[string]map[string]bool // provider -> kinds present
	// grants are the GCP roles each member (serviceAccount:E, ...) holds,
	// by the asset that grants them.
	grants map[string][]grant
}

type grant struct {
	on   *asset.Asset
	role string
}

// Prepare builds what every card of the inventory looks things up in, so
// that its time can be told apart from the cards' (Build does it on first
// use otherwise).
func (o *Options) Prepare() { o.index() }

func (o *Options) index() *index {
	if o.idx != nil {
		return o.idx
	}
	x := &index{byKind: map[string][]*asset.Asset{}, kindsOf: map[string]map[string]bool{}, grants: map[string][]grant{}}
	for _, a := range o.Inventory.Assets() {
		x.byKind[a.Kind] = append(x.byKind[a.Kind], a)
		if x.kindsOf[a.Provider] == nil {
			x.kindsOf[a.Provider] = map[string]bool{}
		}
		x.kindsOf[a.Provider][a.Kind] = true
		if a.Provider == asset.GCP {
			for _, b := range a.Facets.Bindings {
				for _, m := range b.Members {
					x.grants[m] = append(x.grants[m], grant{a, b.Role})
				}
			}
		}
	}
	o.idx = x
	return x
}

// triager builds one card.
type triager struct {
	*index
	// context are the assets whose labels speak for the asset, nearest
	// first: itself, an access key's user, its networks, its project.
	context []*asset.Asset
	o       *Options
	inv     *inventory.Inventory
}

// scopeOf finds the asset's project or account.
func (t *triager) scopeOf(a *asset.Asset) *asset.Asset {
	if a.Kind == asset.KindProject || a.Kind == asset.KindAccount {
		return a
	}
	if a.Provider == asset.AWS {
		return t.inv.Get(asset.AccountID(a.Scope))
	}
	for _, p := range t.byKind[asset.KindProject] {
		if p.Name == a.Scope || p.Facets.ProjectNumber == a.Scope || p.ID == asset.ProjectID(a.Scope) {
			return p
		}
	}
	return nil
}

func (t *triager) contextOf(a, scope *asset.Asset) []*asset.Asset {
	out := []*asset.Asset{a}
	if a.Kind == asset.KindAccessKey && a.Facets.User != "" {
		if u := t.inv.Get(fmt.Sprintf("arn:aws:iam::%s:user/%s", a.Scope, a.Facets.User)); u != nil {
			out = append(out, u)
		}
	}
	if a.Kind != asset.KindNetwork {
		for _, n := range t.networksOf(a) {
			var na *asset.Asset
			if a.Provider == asset.GCP {
				na = t.gcpNetwork(n)
			} else {
				for _, x := range t.byKind[asset.KindNetwork] {
					if x.Facets.Network == n && x.Scope == a.Scope {
						na = x
					}
				}
			}
			if na != nil {
				out = append(out, na)
			}
		}
	}
	if scope != nil {
		out = append(out, scope)
	}
	return nonNil(out...)
}

// label returns the first non-empty label of keys (case-insensitive).
func label(labels map[string]string, keys ...string) (string, string) {
	for _, k := range keys {
		for lk, v := range labels {
			if strings.EqualFold(lk, k) && strings.TrimSpace(v) != "" {
				return v, lk
			}
		}
	}
	return "", ""
}

func where(a *asset.Asset, self *asset.Asset) string {
	if a == self {
		return "the asset"
	}
	return fmt.Sprintf("%s %s", a.Kind, a.Name)
}

var (
	ownerKeys   = []string{"owner", "team", "owner-email", "owner_email", "owners", "maintainer", "managed-by", "managed_by"}
	contactKeys = []string{"contact", "contacts", "oncall", "on-call", "email", "slack", "escalation"}
	purposeKeys = []string{"purpose", "app", "application", "service", "component", "workload", "role", "description"}
	envKeys     = []string{"env", "environment", "stage", "tier"}
	dataKeys    = []string{"data-class", "data_class", "dataclass", "data-classification", "data_classification", "classification", "sensitivity"}
)

func (t *triager) owner(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QOwner}
	for _, x := range t.context {
		if v, k := label(x.Labels, ownerKeys...); v != "" {
			ans.Details = append(ans.Details, fmt.Sprintf("%s (label %s on %s)", v, k, where(x, a)))
			if ans.Value == "" {
				ans.Value = v
			}
		}
		if v, k := label(x.Labels, contactKeys...); v != "" {
			ans.Details = append(ans.Details, fmt.Sprintf("contact %s (label %s on %s)", v, k, where(x, a)))
		}
	}
	if scope != nil {
		for _, b := range scope.Facets.Bindings {
			if b.Role == "roles/owner" {
				ans.Details = append(ans.Details, fmt.Sprintf("IAM owners of %s: %s", scope.Name, strings.Join(b.Members, ", ")))
				if ans.Value == "" {
					ans.Value = strings.Join(b.Members, ", ")
				}
			}
		}
	}
	if a.Kind == asset.KindAccessKey && a.Facets.User != "" {
		ans.Details = append(ans.Details, "the key belongs to IAM user "+a.Facets.User)
		if ans.Value == "" {
			ans.Value = "IAM user " + a.Facets.User + " (no owner tag on the user or the account)"
		}
	}
	ans.Known = ans.Value != ""
	if !ans.Known {
		ans.Value = "unknown"
		ans.Collect = "no owner label or tag on the asset or its project/account: add one (required_labels in vigil.hcl makes VGL-OWN-001 ask for it); for GCP, collect the project's IAM policy (CAI content type IAM_POLICY) to see its owners"
	}
	return ans
}

func (t *triager) purpose(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QPurpose}
	for _, x := range t.context {
		if v, k := label(x.Labels, purposeKeys...); v != "" {
			ans.Details = append(ans.Details, fmt.Sprintf("%s (label %s on %s)", v, k, where(x, a)))
			if ans.Value == "" {
				ans.Value = v
			}
		}
	}
	ans.Known = ans.Value != ""
	if !ans.Known {
		ans.Value = "unknown"
		ans.Collect = "no purpose, app or service label on the asset or its project/account: ask the owner and add one (VGL-OWN-002 asks projects and accounts for it)"
	}
	return ans
}

var (
	prodName    = regexp.MustCompile(`(?i)(^|[^a-z])(prod|production|prd|live)([^a-z]|$)`)
	nonProdName = regexp.MustCompile(`(?i)(^|[^a-z])(dev|develop|test|testing|staging|stage|stg|sandbox|qa|lab|labs|demo|tmp)([^a-z0-9]|[0-9]|$)`)
)

func (t *triager) environment(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QEnvironment}
	for _, x := range t.context {
		if v, k := label(x.Labels, envKeys...); v != "" {
			ans.Known, ans.Value = true, classifyEnv(v)
			ans.Details = append(ans.Details, fmt.Sprintf("%s=%s on %s", k, v, where(x, a)))
			return ans
		}
	}
	for _, name := range []string{a.Name, a.Scope} {
		if scope != nil && name == a.Scope {
			name = scope.Name
		}
		switch {
		case prodName.MatchString(name):
			ans.Known, ans.Value = true, "prod (by name)"
		case nonProdName.MatchString(name):
			ans.Known, ans.Value = true, "not prod (by name)"
		default:
			continue
		}
		ans.Details = append(ans.Details, fmt.Sprintf("guessed from the name %q: add an env label to be sure", name))
		return ans
	}
	ans.Value = "unknown"
	ans.Collect = "no env label on the asset or its project/account and nothing in the names: add env=prod|staging|dev"
	return ans
}

func classifyEnv(v string) string {
	switch {
	case prodName.MatchString(v):
		return "prod"
	case nonProdName.MatchString(v):
		return "not prod (" + v + ")"
	}
	return v
}

// dataLabels are the labels that name a data class: the residency rules'
// labels first, then the usual names.
func dataLabels(cfg *config.Config) []string {
	keys := dataKeys
	if cfg != nil {
		for _, r := range cfg.Residency {
			keys = append([]string{r.Label}, keys...)
		}
	}
	return keys
}

// DataClass is the data class an asset's own labels name, or "".
func DataClass(cfg *config.Config, labels map[string]string) string {
	v, _ := label(labels, dataLabels(cfg)...)
	return v
}

func (t *triager) data(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QData}
	keys := dataLabels(t.o.Config)
	sources := []*asset.Asset{a}
	// An instance holds what its disks hold.
	for _, d := range a.Facets.Disks {
		for _, disk := range t.byKind[asset.KindDisk] {
			if disk.Name == d || disk.ID == d || strings.HasSuffix(disk.ID, "/"+d) {
				sources = append(sources, disk)
			}
		}
	}
	if scope != nil && scope != a {
		sources = append(sources, scope)
	}
	for _, x := range sources {
		if v, k := label(x.Labels, keys...); v != "" {
			ans.Details = append(ans.Details, fmt.Sprintf("%s (label %s on %s)", v, k, where(x, a)))
			if ans.Value == "" {
				ans.Value = v
				if x == scope && scope != a {
					ans.Details[len(ans.Details)-1] += "; the asset has no label of its own, so its project's class applies"
				}
			}
		}
	}
	// The residency rules' reading wins: the asset's own label, else its
	// project's or account's, else its folders' (config.ClassOf), the one
	// VGL-DATA-001 uses, so the card and the scan agree.
	if cfg := t.o.Config; cfg != nil {
		if cl, ok := cfg.ClassOf(a); ok {
			ans.Value = cl.Value
			if cl.From != "" {
				ans.Details = append(ans.Details, fmt.Sprintf("%s (label %s inherited from %s, as residency reads it)", cl.Value, cl.Label, cl.From))
			}
		}
	}
	ans.Known = ans.Value != ""
	if !ans.Known {
		ans.Value = "unknown"
		ans.Collect = "no data-class label on the asset, its disks or its project/account: ask the owner and label it (residency rules in vigil.hcl read that label)"
	}
	return ans
}

func (t *triager) location(a *asset.Asset, data *Answer) Answer {
	ans := Answer{Question: QLocation, Known: a.Region != "", Value: a.Region}
	if a.Facets.Zone != "" {
		ans.Details = append(ans.Details, "zone "+a.Facets.Zone)
	}
	if !ans.Known {
		ans.Value = "unknown"
		ans.Collect = "the inventory records no location for it"
		return ans
	}
	if a.Region == "global" {
		ans.Details = append(ans.Details, "a global resource: its data location is where its project or account keeps it; residency is not judged")
		return ans
	}
	if t.o.Config != nil {
		if v := t.o.Config.ResidencyOf(a); v.Judged {
			if v.Allowed {
				ans.Details = append(ans.Details, fmt.Sprintf("residency: allowed, %s data may be in %s", v.Rule.Class, strings.Join(v.Rule.Regions, ", ")))
			} else {
				ans.Details = append(ans.Details, fmt.Sprintf("residency: VIOLATION, %s data must be in %s", v.Rule.Class, strings.Join(v.Rule.Regions, ", ")))
			}
			return ans
		}
	}
	if data == nil || !data.Known {
		ans.Details = append(ans.Details, "residency: unknown, the data class is unknown")
		return ans
	}
	ans.Details = append(ans.Details, fmt.Sprintf("residency: no rule for %s data on this asset in vigil.hcl", data.Value))
	return ans
}

func nonNil(xs ...*asset.Asset) []*asset.Asset {
	var out []*asset.Asset
	seen := map[*asset.Asset]bool{}
	for _, x := range xs {
		if x != nil && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// rawData decodes an asset's native payload, unwrapping a CAI resource's
// data and an AWS Config item's configuration.
func rawData(a *asset.Asset) map[string]any {
	var m map[string]any
	if json.Unmarshal(a.Data, &m) != nil {
		return nil
	}
	if r, ok := m["resource"].(map[string]any); ok {
		if d, ok := r["data"].(map[string]any); ok {
			return d
		}
	}
	if c, ok := m["configuration"].(map[string]any); ok {
		return c
	}
	if c, ok := m["configuration"].(string); ok {
		var x map[string]any
		if json.Unmarshal([]byte(c), &x) == nil {
			return x
		}
	}
	return m
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// networkPath turns a network URL or id into projects/P/global/networks/N
// (GCP) or leaves a VPC id.
func networkPath(s string) string { return asset.NetworkID(s) }

func projectOfPath(p string) string {
	parts := strings.Split(p, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "projects" {
			return parts[i+1]
		}
	}
	return ""
}

// decodePolicy reads an IAM policy document that AWS Config may give
// URL-encoded.
func decodePolicy(s string) map[string]any {
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

func sortedUnique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func globMatch(pattern, s string) bool {
	g, err := asset.CompileGlob(pattern)
	return err == nil && g.Match(s)
}
