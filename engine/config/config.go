package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/limits"
)

// DefaultAdminPorts are the ports VGL-NET-001 treats as administrative when
// vigil.hcl does not say otherwise: SSH and RDP.
var DefaultAdminPorts = []int{22, 3389}

// Config is the content of vigil.hcl.
type Config struct {
	// ApprovedNetworks are network ids or globs (GCP
	// "projects/P/global/networks/N", AWS VPC ids).
	ApprovedNetworks []string
	RequiredLabels   []string
	// ScopeLabels are the labels (tags) every project and account must
	// carry, so responders know whom to call and what it is for.
	ScopeLabels  []string
	IRPrincipals []string
	AdminPorts   []int
	// MaxKeyAge and MaxKeyIdle are the days an access key may live and stay
	// unused (VGL-KEY-001, VGL-KEY-002; CIS AWS 1.14 and 1.12).
	MaxKeyAge  int
	MaxKeyIdle int
	Residency  []Residency
	// CorporateNetworks name networks (ids or globs) that belong to the
	// corporate network, for triage's reach question.
	CorporateNetworks []string
	// PolicyLibraries are directories of Config Validator constraint
	// templates and constraints to load with every scan.
	PolicyLibraries []string
	Schedules       []Schedule
	Notify          []Notify
	// Watches and Responses are the event queues vigil watches and the
	// runbooks it plans for matching alerts (watch.go).
	Watches   []*Watch
	Responses []*Respond
	// Anchor is where runbook journals copy their heads: "" for the file
	// beside the state, a path, "s3://bucket/prefix" or "gs://bucket/prefix".
	Anchor string
	// Store is the scan history's default ("store" in vigil.hcl): a SQLite
	// file (relative to vigil.hcl) or postgres://...; "" for the state file.
	Store string
	// ServePublicKey is vigil serve's public signing key (a PEM file,
	// relative to vigil.hcl), pinned: runs with a step that needs a second
	// person take only starters and decisions it signed.
	ServePublicKey string
	// Server is the server block: sign-in, Host names, runbooks run by
	// `vigil serve` (server.go); nil when absent.
	Server *Server

	// File is where the config was read from ("" for the defaults).
	File string
}

// Residency says where assets of a data class may live.
type Residency struct {
	Class   string
	Label   string
	Regions []string
	Range   hcl.Range
}

// Schedule is a scan `vigil serve` runs on a cron schedule.
type Schedule struct {
	Name    string
	Cron    string
	Sources []string
	// Policies are policy ids or globs ("VGL-NET-*"); empty runs all.
	Policies []string
	// Timeout is how long one run may take; 0 means until the next run
	// is due.
	Timeout time.Duration
	Range   hcl.Range
}

// Notify sends new findings to a webhook.
type Notify struct {
	Name        string
	URL         string
	Format      string // "json" (default) or "slack"
	MinSeverity string
	// Timeout bounds one post (DefaultNotifyTimeout when 0).
	Timeout time.Duration
	Range   hcl.Range
}

// DefaultNotifyTimeout is how long a webhook post may take when the
// notify block does not say.
const DefaultNotifyTimeout = 10 * time.Second

// Default returns the settings used when there is no vigil.hcl.
func Default() *Config {
	return &Config{AdminPorts: append([]int(nil), DefaultAdminPorts...), ScopeLabels: append([]string(nil), DefaultScopeLabels...),
		MaxKeyAge: DefaultMaxKeyAge, MaxKeyIdle: DefaultMaxKeyIdle}
}

// DefaultScopeLabels are the labels VGL-OWN-002 asks of projects and
// accounts when vigil.hcl does not say otherwise.
var DefaultScopeLabels = []string{"owner", "purpose"}

// DefaultMaxKeyAge and DefaultMaxKeyIdle follow CIS AWS Foundations 3.0
// (1.14: rotate every 90 days; 1.12: disable what is unused for 45 days).
const (
	DefaultMaxKeyAge  = 90
	DefaultMaxKeyIdle = 45
)

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "approved_networks"},
		{Name: "required_labels"},
		{Name: "scope_labels"},
		{Name: "ir_principals"},
		{Name: "admin_ports"},
		{Name: "corporate_networks"},
		{Name: "policy_libraries"},
		{Name: "max_key_age"},
		{Name: "max_key_idle"},
		{Name: "anchor"},
		{Name: "store"},
		{Name: "serve_public_key"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "residency", LabelNames: []string{"class"}},
		{Type: "schedule", LabelNames: []string{"name"}},
		{Type: "notify", LabelNames: []string{"name"}},
		{Type: "watch", LabelNames: []string{"name"}},
		{Type: "respond", LabelNames: []string{"name"}},
		{Type: "server"},
	},
}

type residencyBody struct {
	Label   string   `hcl:"label"`
	Regions []string `hcl:"regions"`
}

type scheduleBody struct {
	Cron     string         `hcl:"cron"`
	Sources  []string       `hcl:"sources"`
	Policies []string       `hcl:"policies,optional"`
	Timeout  hcl.Expression `hcl:"timeout,optional"`
}

type notifyBody struct {
	URL         string         `hcl:"url"`
	Format      string         `hcl:"format,optional"`
	MinSeverity string         `hcl:"min_severity,optional"`
	Timeout     hcl.Expression `hcl:"timeout,optional"`
}

// duration reads an optional timeout attribute ("90s", "30m"), which
// must be positive.
func duration(expr hcl.Expression) (time.Duration, hcl.Diagnostics) {
	if expr == nil {
		return 0, nil
	}
	if v, d := expr.Value(nil); d.HasErrors() || v.IsNull() {
		return 0, d
	}
	var s string
	if d := gohcl.DecodeExpression(expr, nil, &s); d.HasErrors() {
		return 0, d
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid timeout",
		Detail: fmt.Sprintf("timeout is %q; write a positive duration such as \"90s\" or \"30m\".", s), Subject: expr.Range().Ptr()}}
}

// Load reads and validates a vigil.hcl file.
func Load(path string) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	src, diags := limits.ReadHCLFile(path, "config file")
	if diags.HasErrors() {
		return nil, nil, diags
	}
	cfg, file, diags := Parse(src, path)
	return cfg, map[string]*hcl.File{path: file}, diags
}

// Parse parses vigil.hcl content. It reports every problem it finds, not
// only the first.
func Parse(src []byte, filename string) (*Config, *hcl.File, hcl.Diagnostics) {
	file, diags := limits.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, file, diags
	}
	content, d := file.Body.Content(rootSchema)
	diags = append(diags, d...)
	cfg := Default()
	cfg.File = filename

	strList := func(name string, dst *[]string) {
		if attr, ok := content.Attributes[name]; ok {
			diags = append(diags, gohcl.DecodeExpression(attr.Expr, nil, dst)...)
		}
	}
	strList("approved_networks", &cfg.ApprovedNetworks)
	strList("required_labels", &cfg.RequiredLabels)
	strList("scope_labels", &cfg.ScopeLabels)
	strList("ir_principals", &cfg.IRPrincipals)
	strList("corporate_networks", &cfg.CorporateNetworks)
	strList("policy_libraries", &cfg.PolicyLibraries)
	if attr, ok := content.Attributes["anchor"]; ok {
		d := gohcl.DecodeExpression(attr.Expr, EvalContext(), &cfg.Anchor)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if err := checkAnchor(cfg.Anchor); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid anchor", Detail: err.Error(), Subject: attr.Expr.Range().Ptr()})
			}
		}
	}
	if attr, ok := content.Attributes["serve_public_key"]; ok {
		d := gohcl.DecodeExpression(attr.Expr, EvalContext(), &cfg.ServePublicKey)
		diags = append(diags, d...)
		if !d.HasErrors() && strings.TrimSpace(cfg.ServePublicKey) == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid serve_public_key",
				Detail:  "serve_public_key is empty: give the PEM file of vigil serve's public signing key (vigil serve --show-signing-key prints it).",
				Subject: attr.Expr.Range().Ptr()})
		}
		cfg.ServePublicKey = rel(filename, cfg.ServePublicKey)
	}
	if attr, ok := content.Attributes["store"]; ok {
		d := gohcl.DecodeExpression(attr.Expr, nil, &cfg.Store)
		diags = append(diags, d...)
		if !d.HasErrors() && strings.TrimSpace(cfg.Store) == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid store",
				Detail:  "store is empty: leave it out for the state file, or give a SQLite file (\"history.db\") or \"postgres://USER@HOST/DB\".",
				Subject: attr.Expr.Range().Ptr()})
		}
		if !d.HasErrors() && cfg.Store != "" && !strings.Contains(cfg.Store, "://") && !filepath.IsAbs(cfg.Store) {
			// relative to vigil.hcl, like policy_libraries
			cfg.Store = filepath.Join(filepath.Dir(filename), cfg.Store)
		}
	}
	if attr, ok := content.Attributes["admin_ports"]; ok {
		var ports []int
		d := gohcl.DecodeExpression(attr.Expr, nil, &ports)
		diags = append(diags, d...)
		if !d.HasErrors() {
			for _, p := range ports {
				if p < 1 || p > 65535 {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError, Summary: "Invalid admin port",
						Detail:  fmt.Sprintf("Port %d is not between 1 and 65535.", p),
						Subject: attr.Expr.Range().Ptr(),
					})
				}
			}
			cfg.AdminPorts = ports
		}
	}
	for _, name := range []string{"max_key_age", "max_key_idle"} {
		attr, ok := content.Attributes[name]
		if !ok {
			continue
		}
		var days int
		d := gohcl.DecodeExpression(attr.Expr, nil, &days)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if days < 1 || days > 3650 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid number of days",
				Detail: fmt.Sprintf("%s is %d; give a number of days between 1 and 3650.", name, days), Subject: attr.Expr.Range().Ptr()})
			continue
		}
		if name == "max_key_age" {
			cfg.MaxKeyAge = days
		} else {
			cfg.MaxKeyIdle = days
		}
	}
	for _, name := range []string{"approved_networks", "corporate_networks"} {
		if attr, ok := content.Attributes[name]; ok {
			list := cfg.ApprovedNetworks
			if name == "corporate_networks" {
				list = cfg.CorporateNetworks
			}
			for i, n := range list {
				if _, err := asset.CompileGlob(n); err != nil {
					diags = append(diags, globDiag(err, attr.Expr.Range()))
				}
				list[i] = asset.NetworkID(n)
			}
		}
	}
	for _, attr := range []string{"required_labels", "ir_principals", "scope_labels"} {
		a, ok := content.Attributes[attr]
		if !ok {
			continue
		}
		list := cfg.RequiredLabels
		switch attr {
		case "ir_principals":
			list = cfg.IRPrincipals
		case "scope_labels":
			list = cfg.ScopeLabels
		}
		for _, v := range list {
			if strings.TrimSpace(v) == "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty value", Detail: fmt.Sprintf("%s must not contain empty strings.", attr), Subject: a.Expr.Range().Ptr()})
			}
			if attr == "ir_principals" && !strings.Contains(v, ":") {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Invalid principal",
					Detail:  fmt.Sprintf("%q has no type prefix; write it as IAM does, e.g. \"group:ir-team@example.com\", \"user:alice@example.com\" or an AWS role ARN as \"arn:aws:iam::123456789012:role/IR\".", v),
					Subject: a.Expr.Range().Ptr(),
				})
			}
		}
	}

	classes := map[string]hcl.Range{}
	watches := map[string]hcl.Range{}
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "watch":
			w, d := parseWatch(blk, watches)
			diags = append(diags, d...)
			if w != nil {
				cfg.Watches = append(cfg.Watches, w)
			}
		case "server":
			if cfg.Server != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate server block",
					Detail: fmt.Sprintf("vigil.hcl has one server block; the first is at %s.", cfg.Server.Range), Subject: blk.DefRange.Ptr()})
				continue
			}
			s, d := parseServer(blk, filename)
			diags = append(diags, d...)
			cfg.Server = s
		case "respond":
			r, d := parseRespond(blk)
			diags = append(diags, d...)
			if r != nil {
				cfg.Responses = append(cfg.Responses, r)
			}
		case "residency":
			var rb residencyBody
			d := gohcl.DecodeBody(blk.Body, EvalContext(), &rb)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			class := blk.Labels[0]
			if prev, dup := classes[class]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Duplicate residency class",
					Detail:  fmt.Sprintf("Residency class %q was already declared at %s.", class, prev),
					Subject: blk.DefRange.Ptr(),
				})
				continue
			}
			classes[class] = blk.DefRange
			if rb.Label == "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty residency label", Detail: "label names the asset label that carries the data class, e.g. \"data-class\".", Subject: blk.DefRange.Ptr()})
			}
			if len(rb.Regions) == 0 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No regions", Detail: fmt.Sprintf("Residency class %q allows no region at all; list the regions (globs) its data may live in.", class), Subject: blk.DefRange.Ptr()})
			}
			for i, r := range rb.Regions {
				if _, err := asset.CompileGlob(r); err != nil {
					diags = append(diags, globDiag(err, blk.DefRange))
				}
				rb.Regions[i] = strings.ToLower(r)
			}
			cfg.Residency = append(cfg.Residency, Residency{Class: class, Label: rb.Label, Regions: rb.Regions, Range: blk.DefRange})
		case "schedule":
			var sb scheduleBody
			d := gohcl.DecodeBody(blk.Body, EvalContext(), &sb)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			timeout, d := duration(sb.Timeout)
			diags = append(diags, d...)
			for _, p := range sb.Policies {
				if _, err := asset.CompileGlob(p); err != nil {
					diags = append(diags, globDiag(err, blk.DefRange))
				}
			}
			cfg.Schedules = append(cfg.Schedules, Schedule{Name: blk.Labels[0], Cron: sb.Cron, Sources: sb.Sources, Policies: sb.Policies, Timeout: timeout, Range: blk.DefRange})
		case "notify":
			var nb notifyBody
			d := gohcl.DecodeBody(blk.Body, EvalContext(), &nb)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			timeout, d := duration(nb.Timeout)
			diags = append(diags, d...)
			n := Notify{Name: blk.Labels[0], URL: nb.URL, Format: nb.Format, MinSeverity: nb.MinSeverity, Timeout: timeout, Range: blk.DefRange}
			// The URL is a secret (a Slack webhook's path is its key): the
			// message does not repeat it.
			if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid notify URL",
					Detail: fmt.Sprintf("notify %q: url must be an http:// or https:// URL with a host.", n.Name), Subject: blk.DefRange.Ptr()})
			}
			if n.Format == "" {
				n.Format = "json"
			}
			if n.Format != "json" && n.Format != "slack" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid notify format", Detail: fmt.Sprintf("format is %q; use \"json\" or \"slack\".", n.Format), Subject: blk.DefRange.Ptr()})
			}
			cfg.Notify = append(cfg.Notify, n)
		}
	}
	diags = append(diags, cfg.checkWatches()...)
	return cfg, file, diags
}

// checkAnchor accepts a path, file://PATH, s3://BUCKET[/PREFIX] or
// gs://BUCKET[/PREFIX].
func checkAnchor(a string) error {
	scheme, rest, ok := strings.Cut(a, "://")
	if !ok {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("anchor is empty: leave it out for the file beside the state, or give a path, \"s3://bucket/prefix\" or \"gs://bucket/prefix\"")
		}
		return nil
	}
	switch scheme {
	case "file", "s3", "gs":
	default:
		return fmt.Errorf("anchor %q: use a path, file://PATH, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX", a)
	}
	if bucket, _, _ := strings.Cut(rest, "/"); bucket == "" {
		return fmt.Errorf("anchor %q names no bucket (or path)", a)
	}
	return nil
}

func globDiag(err error, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid glob", Detail: err.Error(), Subject: rng.Ptr()}
}

// Data is the value policies see as data.vigil.config. Every key is present,
// with an empty list or object when unset, so policies need no defaults.
func (c *Config) Data() map[string]any {
	residency := map[string]any{}
	for _, r := range c.Residency {
		residency[r.Class] = map[string]any{"label": r.Label, "regions": toAny(r.Regions)}
	}
	ports := make([]any, len(c.AdminPorts))
	for i, p := range c.AdminPorts {
		ports[i] = p
	}
	return map[string]any{
		"approved_networks":  toAny(c.ApprovedNetworks),
		"required_labels":    toAny(c.RequiredLabels),
		"scope_labels":       toAny(c.ScopeLabels),
		"ir_principals":      toAny(c.IRPrincipals),
		"admin_ports":        ports,
		"residency":          residency,
		"corporate_networks": toAny(c.CorporateNetworks),
		"max_key_age":        c.MaxKeyAge,
		"max_key_idle":       c.MaxKeyIdle,
	}
}

// ResidencyClasses lists the declared classes in order.
func (c *Config) ResidencyClasses() []string {
	var out []string
	for _, r := range c.Residency {
		out = append(out, r.Class)
	}
	sort.Strings(out)
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
