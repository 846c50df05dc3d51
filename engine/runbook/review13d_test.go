package runbook

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// A journal cut to its first entry with its anchor deleted: the anchor
// records a run's first entry before it commits, so no heads at all of a
// stored run means the anchor lost them. Before, a one-entry journal with
// no heads verified intact and resume re-ran the incident without
// --reanchor.
func TestOneEntryJournalWithoutAnchorIsUnanchored(t *testing.T) {
	h := plannedWith(t, pipeline, nil, nil, "token=abcd1234")
	an := &memAnchor{}
	x := h.executor()
	x.Anchor = an
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunAwaitingApproval {
		t.Fatalf("%v %v", res, err)
	}
	id := res.Run.ID
	h.cut(id, 1)
	an.heads = nil
	if v := h.verify(id, an, "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperUnanchored {
		t.Fatalf("verify of a one-entry journal with no heads: %v", v.Tamper)
	}
	x = h.executor("gate")
	x.Anchor = an
	before := h.w.count("a")
	if _, err := x.Resume(context.Background(), id, h.rb, h.vars); err == nil || !strings.Contains(err.Error(), "--reanchor") {
		t.Fatalf("resume without --reanchor: %v", err)
	}
	if len(an.heads) != 0 || h.w.count("a") != before {
		t.Fatalf("the refused resume anchored %d heads, applied a %d times more", len(an.heads), h.w.count("a")-before)
	}
}

// peekCreate is a store that looks at the anchor when a run is created:
// the first entry's head must already be there.
type peekCreate struct {
	Store
	an   *memAnchor
	seen []Head
}

func (f *peekCreate) CreateRun(ctx context.Context, r *Run, l *Lease, first *Entry) error {
	f.seen, _ = f.an.Heads(ctx, r.ID)
	return f.Store.CreateRun(ctx, r, l, first)
}

func TestFirstEntryIsAnchoredBeforeItCommits(t *testing.T) {
	h := plannedWith(t, pipeline, nil, nil, "token=abcd1234")
	an := &memAnchor{}
	x := h.executor()
	fc := &peekCreate{Store: x.Store, an: an}
	x.Store, x.Anchor = fc, an
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	first := h.entries(res.Run.ID)[0]
	if len(fc.seen) != 1 || fc.seen[0].Seq != 1 || fc.seen[0].Hash != first.Hash || !fc.seen[0].Intent {
		t.Fatalf("heads when the run was created: %+v (first entry %.12s)", fc.seen, first.Hash)
	}
}

// A webhook that refuses a payload and echoes it back spells <, > and & as
// json.Marshal does (\u003c, \u003e, \u0026): the redactor knows that
// spelling too.
func TestRedactorCatchesHTMLEscapedJSON(t *testing.T) {
	r := newRedactor(map[string]*VarValue{"s": {Value: cty.StringVal("Hunter<2&pass>"), Sensitive: true}})
	text := `answered 400: bad payload: {"message":"token Hunter\u003c2\u0026pass\u003e"}`
	want := `answered 400: bad payload: {"message":"token (sensitive)"}`
	if got := r.text(text); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// A variables file's lines holding a sensitive value are masked where
// diagnostics quote them (an unclosed quote, a bad expression), byte for
// byte, from the = to the next attribute; other lines are left alone.
func TestVarFileSensitiveLinesAreMasked(t *testing.T) {
	rb, _, diags := Parse([]byte(`runbook "lv" {
  variable "secret" {
    type      = string
    sensitive = true
  }
  variable "region" {
    type    = string
    default = "x"
  }
  phase "triage" {
    step "a" {
      action = "core.log"
      args   = { message = var.region }
    }
  }
}`), "lv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tests := []struct{ src, want string }{
		{"secret = \"Hunter2pass\nregion = \"eu\"\n", "secret =*************\nregion = \"eu\"\n"},
		{"region = \"eu\"\nsecret = <<EOT\nHunter2pass\nEOT\n", "region = \"eu\"\nsecret =******\n***********\n***\n"},
		{`{"region": "eu", "secret": "Hunter2pass"}`, `{"region": "eu", "secret"****************`},
		{"  secret=\"a\" + 1\n", "  secret=*******\n"},
	}
	for _, tt := range tests {
		if got := string(maskSensitiveLines([]byte(tt.src), rb)); got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
	// A bad variables file reports its error with the line masked.
	dir := t.TempDir()
	path := dir + "/bad.vars"
	os.WriteFile(path, []byte("secret = \"Hunter2pass\" + 1\n"), 0o644)
	_, files, diags := rb.ResolveVariables(Inputs{VarFiles: []string{path}})
	if !diags.HasErrors() {
		t.Fatal("a bad variables file should fail")
	}
	if f := files[path]; f == nil || strings.Contains(string(f.Bytes), "Hunter") {
		t.Errorf("the file diagnostics quote: %v", f)
	}
}
