package limits

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/vigil-ir/vigil/internal/testutil"
)

func TestHCL(t *testing.T) {
	deep := func(open, close string, n int) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	lines := func(line string, n int) string { return strings.Repeat(line+"\n", n) }
	tests := []struct {
		name string
		src  string
		// want is "" when the input is within the limits, else the
		// error's line:column and the start of its message.
		want string
	}{
		{"runbook shape", `runbook "r" {
  variable "x" { type = string }
  phase "p" {
    step "s" {
      action = "core.notify"
      args   = { url = var.x, labels = { a = "${upper(var.x)}-%{ if var.x != "" }y%{ endif }" } }
      when   = !(var.x == "") && length([for k, v in { a = 1 } : k if v > -1]) > 0 ? true : false
    }
  }
}
`, ""},
		// x = [[[...: the k-th bracket is at column 4+k; the 257th is one
		// too many.
		{"tuples 100000 deep", "x = " + deep("[", "]", 100000), "1:261: blocks, brackets"},
		{"256 brackets", "x = " + deep("[", "]", 256), ""},
		{"parentheses", "x = " + deep("(", ")", 300), "1:261: blocks"},
		{"objects", "x = " + deep("{a=", "}", 300), "1:773: blocks"},
		{"blocks", deep("a {\n", "}\n", 300), "257:3: blocks"},
		// every ! is one more level for the parser
		{"unary chain", "x = " + strings.Repeat("!", 100000) + "true", "1:261: blocks"},
		{"negations", "x = " + strings.Repeat("-", 300) + "1", "1:261: blocks"},
		// 1+1+...: the 257th + (column 5+2*256) is one too many
		{"binary chain", "x = 1" + strings.Repeat("+1", 300), "1:518: blocks"},
		{"binary chain across lines in parentheses", "x = (1" + strings.Repeat(" +\n 1", 300) + ")", "256:4:"},
		{"for object across lines", "x = {for k in y : k => 1" + strings.Repeat(" +\n 1", 300) + "}", "254:4:"},
		{"index chain", "x = a" + strings.Repeat("[b]", 300), "1:771:"},
		{"conditional chain", "x = " + strings.Repeat("a ? b : ", 200) + "c", "1:1031:"},
		{"nested templates", "x = " + deep(`"${`, `}"`, 200), "1:389:"},
		{"template if blocks", `x = "` + strings.Repeat("%{ if a }", 300) + strings.Repeat("%{ endif }", 300) + `"`, "1:2301:"},
		{"heredoc if blocks", "x = <<EOT\n" + strings.Repeat("%{ for a in b }\n", 300) + strings.Repeat("%{ endfor }\n", 300) + "EOT\n", "257:1:"},
		{"balanced if blocks", `x = "` + strings.Repeat("%{ if a }b%{ endif }", 1000) + `"`, ""},
		// lines in a body end their expressions
		{"many attributes", lines("a = -1 + 2", 1000), ""},
		{"long tuple", "x = [" + strings.Repeat("-1, ", MaxItems) + "]", ""},
		// x = [1,1,...: the k-th comma is at column 5+2k
		{"too many items", "x = [" + strings.Repeat("1,", MaxItems+1) + "]", "1:8199: a list, object or argument list with more than 4096 items"},
		{"too many arguments", "x = f(" + strings.Repeat("1,", MaxItems+1) + ")", "1:8200: a list, object"},
		// item k on line k+1, ended by its newline at column 6
		{"too many object items", "x = {\n" + lines("a = 1", MaxItems+1) + "}", "4098:6: a list, object"},
		{"many attributes in a block", "a {\n" + lines("b = 1", 2*MaxItems) + "}\n", ""},
		// 16 lists of 4000 items, then the 1537th comma of the 17th
		{"too many items in the file", lines("x = ["+strings.Repeat("1,", 4000)+"]", 20), "17:3079: more than 65536 list"},
		{"long template", `x = "` + strings.Repeat("${a}", 10000) + `"`, ""},
		// what strings, heredocs and comments hold is text
		{"brackets in a string", `x = "` + strings.Repeat("[{(", 1000) + `"`, ""},
		{"escaped quotes", `x = "\"` + strings.Repeat("[", 1000) + `\""`, ""},
		{"escaped interpolation", `x = "$${` + strings.Repeat("[", 1000) + `"`, ""},
		{"brackets in a heredoc", "x = <<-EOT\n  " + strings.Repeat("[", 1000) + "\n  \"\n  EOT\ny = 1\n", ""},
		{"brackets in comments", "# " + strings.Repeat("[", 1000) + "\n// " + strings.Repeat("(", 1000) + "\n/* " + strings.Repeat("{", 1000) + " */\n", ""},
		// ... and the code after them is code again
		{"after a heredoc", "x = <<EOT\n\"\nEOT\ny = " + deep("[", "]", 300), "4:261:"},
		{"after a string", `x = "[[[" ` + "\ny = " + deep("[", "]", 300), "2:261:"},
		{"after a comment", "/* \" */ y = " + deep("[", "]", 300), "1:269:"},
		// a newline does not end a quoted string for hclsyntax's scanner
		{"newline in a string", "x = \"a\n" + deep("[", "]", 300) + "\"", ""},
		{"heredoc marker not at line start", "x = <<EOT\n${a}EOT\n" + deep("[", "]", 300) + "\nEOT\n", ""},
		{"unicode heredoc marker", "x = <<ÉOT\nÉOT\n", "1:5: heredoc markers"},
		{"long string", "a = 1\nb = \"" + strings.Repeat("x", MaxHCLValue+1) + "\"", "2:5: a string longer than 1 MiB"},
		{"long heredoc", "b = <<EOT\n" + strings.Repeat("xxxxxxx\n", MaxHCLValue/8+1) + "EOT\n", "1:5: a string longer"},
		{"long name", "b = " + strings.Repeat("x", MaxHCLValue+1), "1:5: a name longer"},
		{"long number", "b = " + strings.Repeat("1", MaxHCLValue+1), "1:5: a number longer"},
		{"string at the limit", `b = "` + strings.Repeat("x", MaxHCLValue-2) + `"`, ""},
		{"stray closers", "}}}])) x = " + deep("[", "]", 256), ""},
		{"byte order mark", "\xEF\xBB\xBFx = 1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := HCL([]byte(tt.src), "f.hcl")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("accepted, want %s", tt.want)
			}
			if got := err.Error(); !strings.HasPrefix(got, "f.hcl:"+tt.want) {
				t.Errorf("error %q, want f.hcl:%s...", got, tt.want)
			}
		})
	}
}

// The repository's own HCL is well within the limits.
func TestHCLAcceptsRepositoryFiles(t *testing.T) {
	root := testutil.Root(t)
	n := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "fuzz") {
			if err == nil {
				return filepath.SkipDir
			}
			return err
		}
		if !strings.HasSuffix(p, ".hcl") && !strings.HasSuffix(p, ".tfvars") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if e := HCL(src, p); e != nil {
			t.Errorf("%v", e)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d HCL files", n)
	}
}

func TestParseHCL(t *testing.T) {
	src := []byte("a = 1\nb = " + strings.Repeat("[", 100000))
	f, diags := ParseHCL(src, "deep.hcl")
	if f != nil || len(diags) != 1 {
		t.Fatalf("file %v, diags %v", f, diags)
	}
	d := diags[0]
	if d.Summary != "Input nested too deeply" || d.Subject == nil || d.Subject.Filename != "deep.hcl" || d.Subject.Start.Line != 2 || d.Subject.Start.Column != 261 {
		t.Errorf("diagnostic %+v at %+v", d, d.Subject)
	}
	if f, diags := ParseHCL([]byte("a = [1]\n"), "ok.hcl"); diags.HasErrors() || f == nil {
		t.Errorf("a plain file: %v", diags)
	}
	if _, diags := ParseExpression([]byte(strings.Repeat("(", 100000)), "-var x"); len(diags) != 1 || diags[0].Subject.String() != "-var x:1,257-258" {
		t.Errorf("expression: %v", diags)
	}
	// {"x": [[[...: the first bracket is at column 7 and depth 2
	if _, diags := ParseHCLJSON([]byte(`{"x": `+strings.Repeat("[", 100000)+`}`), "v.json"); len(diags) != 1 || diags[0].Subject.String() != "v.json:1,262-263" {
		t.Errorf("JSON: %v", diags)
	}
	// {"x": [1,1,...: the k-th comma at column 7+2k; the 4096th makes
	// 4097 items
	if _, diags := ParseHCLJSON([]byte(`{"x": [`+strings.Repeat("1,", MaxItems)+`1]}`), "v.json"); len(diags) != 1 || diags[0].Subject.String() != "v.json:1,8199-8200" {
		t.Errorf("JSON items: %v", diags)
	}
	if _, diags := ParseHCLJSON([]byte(`{"x": [`+strings.Repeat("1,", MaxItems-1)+`1]}`), "v.json"); diags.HasErrors() {
		t.Errorf("JSON at the item bound: %v", diags)
	}
}

func TestReadHCLFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.hcl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// a 17 MiB value on line 3, more than the file may hold (the binary's
	// test has 200 MB)
	f.WriteString("a = 1\n\nb = \"")
	chunk := []byte(strings.Repeat("x", 1<<20))
	for range 17 {
		f.Write(chunk)
	}
	f.WriteString("\"\n")
	f.Close()
	_, diags := ReadHCLFile(big, "config file")
	if len(diags) != 1 || diags[0].Subject == nil || diags[0].Subject.Start.Line != 3 || diags[0].Summary != "Value too large" {
		t.Fatalf("17 MiB value: %v", diags)
	}

	// large, but no single value is
	many := filepath.Join(dir, "many.hcl")
	os.WriteFile(many, []byte("a = 1\n"+strings.Repeat("# xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", MaxHCLFile/64+1)), 0o644)
	_, diags = ReadHCLFile(many, "config file")
	if len(diags) != 1 || diags[0].Summary != "File too large" || !strings.Contains(diags[0].Detail, "larger than 16 MiB") || diags[0].Subject.Filename != many {
		t.Fatalf("large file: %v", diags)
	}

	if _, diags := ReadHCLFile(filepath.Join(dir, "none.hcl"), "config file"); !strings.Contains(diags.Error(), "Cannot read config file") {
		t.Errorf("missing file: %v", diags)
	}
	small := filepath.Join(dir, "small.hcl")
	os.WriteFile(small, []byte("a = 1\n"), 0o644)
	if src, diags := ReadHCLFile(small, "config file"); diags != nil || string(src) != "a = 1\n" {
		t.Errorf("small file: %q %v", src, diags)
	}
	if _, err := ReadFile(many, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile over its bound: %v", err)
	}
}

// astDepth is how deeply hclsyntax nests the nodes of a parsed file.
func astDepth(body hcl.Body) int {
	b, ok := body.(*hclsyntax.Body)
	if !ok {
		return 0
	}
	w := &depthWalker{}
	hclsyntax.Walk(b, w)
	return w.max
}

type depthWalker struct{ cur, max int }

func (w *depthWalker) Enter(hclsyntax.Node) hcl.Diagnostics {
	w.cur++
	w.max = max(w.max, w.cur)
	return nil
}

func (w *depthWalker) Exit(hclsyntax.Node) hcl.Diagnostics {
	w.cur--
	return nil
}

// fuzzDepth is the nesting the fuzz test allows, small so that the fuzzer
// finds its way past it; astBound is the deepest syntax tree that may
// come of it. Each level counted (a bracket, a template sequence, an
// operator) makes at most a few nodes: a block is a Block and a Body, an
// object item a key expression and its value, a splat three nodes.
const (
	fuzzDepth = 6
	astBound  = 4*fuzzDepth + 8
)

// What the scan lets through is what hclsyntax parses into a tree no
// deeper than the scan counted: the scan and hclsyntax's scanner agree on
// what is code and what is text.
func FuzzHCL(f *testing.F) {
	for _, s := range []string{
		"a = [[1]]", "a = !!!true", "a = 1+2*3", "a = a[b][c]", `a = "${"${b}"}"`, "a = <<EOT\n[[[\nEOT\n",
		`a = "%{if b}%{for c in d}e%{endfor}%{endif}"`, "a { b { c = 1 } }", "a = {for k, v in x : k => v...}",
		"a = x.*.y[*].z", "a = f(g(h(1)))", "# [[[\na = 1", "/* \" */ a = [1]", "a = <<-EOT\n  ${b}\n  EOT\n",
		"a = \"\\\"[\"", "a = \"$${[[[[\"", "a = (1 +\n 2)", "a = b ? c : d ? e : f",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if scanHCL(src, fuzzDepth, 1<<16, 1<<16) != nil {
			return
		}
		file, _ := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos)
		if file == nil {
			return
		}
		if d := astDepth(file.Body); d > astBound {
			t.Fatalf("the scan let through input that parses %d nodes deep (bound %d):\n%q", d, astBound, src)
		}
		if e := HCL(src, "f.hcl"); e != nil {
			t.Fatalf("within the fuzz bound but refused by HCL: %v", e)
		}
	})
}
