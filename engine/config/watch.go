package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Watch is a queue of cloud events `vigil watch` and `vigil serve`
// consume: an SQS queue fed by EventBridge, or a Pub/Sub subscription fed
// by a log sink and Security Command Center.
type Watch struct {
	Name   string
	SQS    *SQS
	PubSub *PubSub
	// Inventory is where the last recorded inventory comes from: files or
	// directories, "aws", "gcp:SCOPE" (as schedule sources).
	Inventory []string
	Policies  []string
	// Notify names the notify blocks that hear of new findings and triage
	// cards (default: all of them).
	Notify      []string
	Concurrency int
	// MaxAttempts is how often a message is tried before it is
	// dead-lettered (or reported and dropped).
	MaxAttempts int
	// Settle bounds the wait for a re-read to show the change an event
	// announced (the providers' APIs are eventually consistent).
	Settle time.Duration
	Range  hcl.Range
}

// SQS is an Amazon SQS queue.
type SQS struct {
	QueueURL string
	Region   string
	// Endpoint overrides the SQS endpoint (an emulator).
	Endpoint string
	// Protocol is "json" (the default, what SQS speaks today) or "query",
	// for emulators that predate SQS's JSON protocol.
	Protocol string
	// DeadLetterQueueURL receives poison messages; without it they are
	// reported and dropped (or left to the queue's own redrive policy).
	DeadLetterQueueURL string
	// VisibilityTimeout is how long a received message stays hidden; vigil
	// extends it while it works on the message, so it only decides how
	// soon a message comes back after a crash (default 1m).
	VisibilityTimeout time.Duration
	// WaitTime is the long-polling wait (default and at most 20s).
	WaitTime time.Duration
}

// PubSub is a Google Cloud Pub/Sub subscription.
type PubSub struct {
	// Subscription is projects/P/subscriptions/S.
	Subscription string
	// DeadLetterTopic receives poison messages (projects/P/topics/T).
	DeadLetterTopic string
	// Endpoint overrides the Pub/Sub endpoint (PUBSUB_EMULATOR_HOST works
	// too).
	Endpoint string
}

// Respond plans a runbook when an alert matches. It only plans: applying
// the plan is a person's decision (vigil runbook apply PLAN).
type Respond struct {
	Name string
	// Source is guardduty, securityhub or scc; empty matches any.
	Source string
	// Types are globs on the alert type (UnauthorizedAccess:EC2/*).
	Types       []string
	MinSeverity string
	Runbook     string
	// Provider plans against the real clouds ("cloud", the default) or
	// the simulated one ("sim", built from the watcher's inventory).
	Provider string
	// Vars are extra runbook variables.
	Vars  map[string]string
	Range hcl.Range

	types []asset.Glob
}

// Matches reports whether the rule applies to an alert.
func (r *Respond) Matches(source, typ, severity string, rank func(string) int) bool {
	if r.Source != "" && r.Source != source {
		return false
	}
	if r.MinSeverity != "" && rank(severity) < rank(r.MinSeverity) {
		return false
	}
	if len(r.types) == 0 {
		return true
	}
	for _, g := range r.types {
		if g.Match(typ) {
			return true
		}
	}
	return false
}

type watchBody struct {
	Inventory   []string `hcl:"inventory,optional"`
	Policies    []string `hcl:"policies,optional"`
	Notify      []string `hcl:"notify,optional"`
	Concurrency int      `hcl:"concurrency,optional"`
	MaxAttempts int      `hcl:"max_attempts,optional"`
	Settle      string   `hcl:"settle,optional"`
	SQS         *struct {
		QueueURL           string `hcl:"queue_url"`
		Region             string `hcl:"region,optional"`
		Endpoint           string `hcl:"endpoint,optional"`
		Protocol           string `hcl:"protocol,optional"`
		DeadLetterQueueURL string `hcl:"dead_letter_queue_url,optional"`
		VisibilityTimeout  string `hcl:"visibility_timeout,optional"`
		WaitTime           string `hcl:"wait_time,optional"`
	} `hcl:"sqs,block"`
	PubSub *struct {
		Subscription    string `hcl:"subscription"`
		DeadLetterTopic string `hcl:"dead_letter_topic,optional"`
		Endpoint        string `hcl:"endpoint,optional"`
	} `hcl:"pubsub,block"`
}

type respondBody struct {
	Source      string            `hcl:"source,optional"`
	Types       []string          `hcl:"types,optional"`
	MinSeverity string            `hcl:"min_severity,optional"`
	Runbook     string            `hcl:"runbook"`
	Provider    string            `hcl:"provider,optional"`
	Vars        map[string]string `hcl:"vars,optional"`
}

var severities = []string{"critical", "high", "medium", "low", "info"}

func parseWatch(blk *hcl.Block, seen map[string]hcl.Range) (*Watch, hcl.Diagnostics) {
	var wb watchBody
	diags := gohcl.DecodeBody(blk.Body, EvalContext(), &wb)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: blk.DefRange.Ptr()})
	}
	w := &Watch{Name: blk.Labels[0], Inventory: wb.Inventory, Policies: wb.Policies, Notify: wb.Notify, Concurrency: wb.Concurrency,
		MaxAttempts: wb.MaxAttempts, Range: blk.DefRange}
	if prev, dup := seen[w.Name]; dup {
		bad("Duplicate watch", fmt.Sprintf("watch %q was already declared at %s.", w.Name, prev))
	}
	seen[w.Name] = blk.DefRange
	dur := func(name, v string, def time.Duration) time.Duration {
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("Invalid duration", fmt.Sprintf("%s = %q: use a duration such as \"30s\" or \"5m\".", name, v))
			return def
		}
		return d
	}
	w.Settle = dur("settle", wb.Settle, 2*time.Minute)
	if w.Concurrency == 0 {
		w.Concurrency = 8
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 5
	}
	if w.Concurrency < 1 || w.Concurrency > 1024 {
		bad("Invalid concurrency", fmt.Sprintf("concurrency = %d: use 1 to 1024 events processed at once.", w.Concurrency))
	}
	if w.MaxAttempts < 1 {
		bad("Invalid max_attempts", "max_attempts must be at least 1.")
	}
	switch {
	case (wb.SQS == nil) == (wb.PubSub == nil):
		bad("One queue per watch", fmt.Sprintf("watch %q needs exactly one sqs { queue_url = ... } or pubsub { subscription = ... } block.", w.Name))
	case wb.SQS != nil:
		s := wb.SQS
		w.SQS = &SQS{QueueURL: s.QueueURL, Region: s.Region, Endpoint: s.Endpoint, Protocol: s.Protocol, DeadLetterQueueURL: s.DeadLetterQueueURL,
			VisibilityTimeout: dur("visibility_timeout", s.VisibilityTimeout, time.Minute), WaitTime: dur("wait_time", s.WaitTime, 20*time.Second)}
		if !strings.HasPrefix(s.QueueURL, "https://") && !strings.HasPrefix(s.QueueURL, "http://") {
			bad("Invalid queue_url", fmt.Sprintf("queue_url = %q: use the queue's URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.", s.QueueURL))
		}
		if w.SQS.Protocol == "" {
			w.SQS.Protocol = "json"
		}
		if w.SQS.Protocol != "json" && w.SQS.Protocol != "query" {
			bad("Invalid protocol", fmt.Sprintf("protocol = %q: use \"json\" (SQS) or \"query\" (emulators that predate its JSON protocol).", s.Protocol))
		}
		if w.SQS.WaitTime > 20*time.Second {
			bad("Invalid wait_time", "SQS long polling waits at most 20s.")
		}
	case wb.PubSub != nil:
		p := wb.PubSub
		w.PubSub = &PubSub{Subscription: p.Subscription, DeadLetterTopic: p.DeadLetterTopic, Endpoint: p.Endpoint}
		if parts := strings.Split(p.Subscription, "/"); len(parts) != 4 || parts[0] != "projects" || parts[2] != "subscriptions" {
			bad("Invalid subscription", fmt.Sprintf("subscription = %q: use projects/PROJECT/subscriptions/NAME.", p.Subscription))
		}
		if parts := strings.Split(p.DeadLetterTopic, "/"); p.DeadLetterTopic != "" && (len(parts) != 4 || parts[0] != "projects" || parts[2] != "topics") {
			bad("Invalid dead_letter_topic", fmt.Sprintf("dead_letter_topic = %q: use projects/PROJECT/topics/NAME.", p.DeadLetterTopic))
		}
	}
	return w, diags
}

func parseRespond(blk *hcl.Block) (*Respond, hcl.Diagnostics) {
	var rb respondBody
	diags := gohcl.DecodeBody(blk.Body, EvalContext(), &rb)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: blk.DefRange.Ptr()})
	}
	r := &Respond{Name: blk.Labels[0], Source: rb.Source, Types: rb.Types, MinSeverity: rb.MinSeverity, Runbook: rb.Runbook,
		Provider: rb.Provider, Vars: rb.Vars, Range: blk.DefRange}
	switch r.Source {
	case "", "guardduty", "securityhub", "scc":
	default:
		bad("Invalid alert source", fmt.Sprintf("source = %q: use guardduty, securityhub or scc.", r.Source))
	}
	if r.MinSeverity != "" && !contains(severities, r.MinSeverity) {
		bad("Invalid min_severity", fmt.Sprintf("min_severity = %q: use %s.", r.MinSeverity, strings.Join(severities, ", ")))
	}
	switch r.Provider {
	case "", "cloud", "sim":
	default:
		bad("Invalid provider", fmt.Sprintf("provider = %q: use \"cloud\" (the real providers; plans only read) or \"sim\".", r.Provider))
	}
	if strings.TrimSpace(r.Runbook) == "" {
		bad("No runbook", "runbook names the runbook to plan, e.g. \"compromised-ec2\".")
	}
	for _, t := range r.Types {
		g, err := asset.CompileGlob(t)
		if err != nil {
			bad("Invalid glob", fmt.Sprintf("types: %q: %v", t, err))
			continue
		}
		r.types = append(r.types, g)
	}
	return r, diags
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkWatches checks what needs the whole file: notify names.
func (c *Config) checkWatches() hcl.Diagnostics {
	var diags hcl.Diagnostics
	names := map[string]bool{}
	for _, n := range c.Notify {
		names[n.Name] = true
	}
	for _, w := range c.Watches {
		for _, n := range w.Notify {
			if !names[n] {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown notify block",
					Detail: fmt.Sprintf("watch %q notifies %q, which is not declared: add notify %q { url = ... }.", w.Name, n, n), Subject: w.Range.Ptr()})
			}
		}
	}
	return diags
}

// NotifyFor returns the notify blocks a watch tells.
func (c *Config) NotifyFor(w *Watch) []Notify {
	if len(w.Notify) == 0 {
		return c.Notify
	}
	var out []Notify
	for _, n := range c.Notify {
		if contains(w.Notify, n.Name) {
			out = append(out, n)
		}
	}
	return out
}
