package config

import (
	"strings"
	"testing"
	"time"
)

func TestWatchBlocks(t *testing.T) {
	src := `
notify "secops" {
  url = "http://127.0.0.1:9/hook"
}
notify "audit" {
  url = "http://127.0.0.1:9/audit"
}
watch "aws-events" {
  sqs {
    queue_url             = "https://sqs.eu-west-1.amazonaws.com/111111111111/vigil-events"
    dead_letter_queue_url = "https://sqs.eu-west-1.amazonaws.com/111111111111/vigil-events-dlq"
    wait_time             = "5s"
  }
  inventory = ["aws", "/var/lib/vigil/inventory/"]
  notify    = ["secops"]
}
watch "gcp-events" {
  pubsub {
    subscription = "projects/acme-sec/subscriptions/vigil-events"
  }
  concurrency  = 4
  max_attempts = 3
  settle       = "30s"
}
respond "ec2" {
  source       = "guardduty"
  types        = ["UnauthorizedAccess:EC2/*", "Backdoor:EC2/*"]
  min_severity = "medium"
  runbook      = "compromised-ec2"
  provider     = "sim"
}
`
	cfg, _, diags := Parse([]byte(src), "vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(cfg.Watches) != 2 || len(cfg.Responses) != 1 {
		t.Fatalf("watches %d responds %d", len(cfg.Watches), len(cfg.Responses))
	}
	a, g := cfg.Watches[0], cfg.Watches[1]
	if a.SQS == nil || a.SQS.Protocol != "json" || a.SQS.WaitTime != 5*time.Second || a.SQS.VisibilityTimeout != time.Minute ||
		a.Concurrency != 8 || a.MaxAttempts != 5 || a.Settle != 2*time.Minute || len(a.Inventory) != 2 {
		t.Errorf("aws watch: %+v %+v", a, a.SQS)
	}
	if g.PubSub == nil || g.Concurrency != 4 || g.MaxAttempts != 3 || g.Settle != 30*time.Second {
		t.Errorf("gcp watch: %+v", g)
	}
	if n := cfg.NotifyFor(a); len(n) != 1 || n[0].Name != "secops" {
		t.Errorf("notify for aws: %+v", n)
	}
	if n := cfg.NotifyFor(g); len(n) != 2 {
		t.Errorf("notify for gcp (all): %+v", n)
	}
	rank := func(s string) int { return map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}[s] }
	r := cfg.Responses[0]
	for _, tc := range []struct {
		source, typ, sev string
		want             bool
	}{
		{"guardduty", "UnauthorizedAccess:EC2/SSHBruteForce", "high", true},
		{"guardduty", "Backdoor:EC2/C&CActivity.B!DNS", "medium", true},
		{"guardduty", "UnauthorizedAccess:EC2/SSHBruteForce", "low", false},
		{"guardduty", "Recon:IAMUser/MaliciousIPCaller", "high", false},
		{"scc", "UnauthorizedAccess:EC2/SSHBruteForce", "high", false},
	} {
		if got := r.Matches(tc.source, tc.typ, tc.sev, rank); got != tc.want {
			t.Errorf("%+v: %v", tc, got)
		}
	}
}

func TestWatchMistakes(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`watch "w" {}`, "exactly one sqs"},
		{`watch "w" {
  sqs { queue_url = "sqs://x" }
}`, "Invalid queue_url"},
		{`watch "w" {
  pubsub { subscription = "vigil-events" }
}`, "projects/PROJECT/subscriptions/NAME"},
		{`watch "w" {
  sqs {
    queue_url = "https://q"
    protocol  = "xml"
  }
}`, "Invalid protocol"},
		{`watch "w" {
  sqs { queue_url = "https://q" }
  notify = ["nobody"]
}`, "Unknown notify block"},
		{`watch "w" {
  sqs { queue_url = "https://q" }
  settle = "soon"
}`, "Invalid duration"},
		{`watch "w" {
  sqs { queue_url = "https://q" }
}
watch "w" {
  sqs { queue_url = "https://q" }
}`, "Duplicate watch"},
		{`respond "r" {
  source  = "cloudtrail"
  runbook = "x"
}`, "Invalid alert source"},
		{`respond "r" {
  types = ["["]
  runbook = "x"
}`, "Invalid glob"},
		{`respond "r" {}`, "runbook"},
	} {
		_, _, diags := Parse([]byte(tc.src), "vigil.hcl")
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%s\n=> %v, want %q", tc.src, diags, tc.want)
		}
		for _, d := range diags {
			if d.Subject == nil {
				t.Errorf("%s: diagnostic without a range: %s", tc.src, d.Summary)
			}
		}
	}
}

// The example a user copies is valid.
func TestWatchExample(t *testing.T) {
	cfg, _, diags := Load("../../examples/watch/vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(cfg.Watches) != 2 || len(cfg.Responses) != 1 || cfg.Watches[0].SQS == nil || cfg.Watches[1].PubSub == nil {
		t.Errorf("example: %+v", cfg)
	}
}
