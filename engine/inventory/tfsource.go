package inventory

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// TFSource is a Terraform configuration read from its .tf files, to put
// findings on the lines a pull request changes: where each resource and
// data block of a plan's addresses is declared, following local module
// sources (./ and ../). A resource in a module from elsewhere (the
// registry, git) is placed on the module block that calls it: that is the
// line the pull request can change. Such modules are still read when
// `terraform init` has downloaded them (.terraform/modules/modules.json),
// to see their dynamic blocks and policy documents.
type TFSource struct {
	// Dir is the root module's directory, as given.
	Dir string
	// Files are the parsed files by name, for printing diagnostics.
	Files map[string]*hcl.File

	blocks  map[string]*tfBlock // address without instance keys -> block
	modules map[string]*tfModuleCall
	// installed are the module directories `terraform init` downloaded,
	// by module key ("vpc", "vpc.sub"), relative to Dir.
	installed map[string]string
}

// tfBlock is a resource or data block.
type tfBlock struct {
	rng     hcl.Range
	body    hcl.Body
	dynamic map[string]bool // names of its dynamic blocks
	// via is the module call a block of a downloaded module is placed on.
	via string
}

// tfModuleCall is a module block: where it is, where it leads.
type tfModuleCall struct {
	rng    hcl.Range
	source string
	local  bool // read into blocks; else findings inside stop here
}

// SourceRange is where an address is declared: a file (as opened, under
// Dir) and a line range.
type SourceRange struct {
	File                  string
	Line, Column, EndLine int
}

// Placed says where a plan address is declared, or why vigil cannot say.
type Placed struct {
	Range SourceRange
	// Via names the module call a finding was placed on, when the
	// resource lives in a module that is not local.
	Via string
	// Unplaced is why the address has no place (Range is empty).
	Unplaced string
}

// HasTerraformFiles reports whether dir holds .tf or .tf.json files.
func HasTerraformFiles(dir string) bool {
	files, _ := tfFiles(dir)
	return len(files) > 0
}

func tfFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		if strings.HasSuffix(n, ".tf") || strings.HasSuffix(n, ".tf.json") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

var tfRootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "module", LabelNames: []string{"name"}},
}}

// maxModuleDepth bounds module nesting (and so cycles of local sources).
const maxModuleDepth = 16

// LoadTFSource reads the configuration in dir and in the local modules it
// calls. It keeps going after errors: what parsed is usable, and the
// diagnostics say what did not.
func LoadTFSource(dir string) (*TFSource, hcl.Diagnostics) {
	s := &TFSource{Dir: dir, Files: map[string]*hcl.File{}, blocks: map[string]*tfBlock{}, modules: map[string]*tfModuleCall{}}
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	files, err := tfFiles(dir)
	if err != nil {
		return s, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the Terraform directory", Detail: err.Error()}}
	}
	if len(files) == 0 {
		return s, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No Terraform configuration",
			Detail: fmt.Sprintf("%s holds no .tf or .tf.json files; --chdir names the directory you run terraform plan in", dir)}}
	}
	s.installed = readModulesManifest(dir)
	diags = append(diags, s.readModule(p, dir, "", "", 0, map[string]bool{})...)
	for name, f := range p.Files() {
		s.Files[name] = f
	}
	return s, diags
}

// readModule reads the module in dir, whose resources have addresses
// under prefix; via is the call that blocks of a downloaded module are
// placed on.
func (s *TFSource) readModule(p *hclparse.Parser, dir, prefix, via string, depth int, onPath map[string]bool) hcl.Diagnostics {
	abs, _ := filepath.Abs(dir)
	if onPath[abs] || depth > maxModuleDepth {
		return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Module sources form a cycle",
			Detail: fmt.Sprintf("%s calls itself through local module sources; not followed", dir)}}
	}
	onPath[abs] = true
	defer delete(onPath, abs)
	files, err := tfFiles(dir)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Cannot read a module directory", Detail: err.Error()}}
	}
	var diags hcl.Diagnostics
	for _, name := range files {
		// Override files change blocks declared elsewhere; the declaration
		// is the place to point at.
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".json"), ".tf")
		if base == "override" || strings.HasSuffix(base, "_override") {
			continue
		}
		var f *hcl.File
		var d hcl.Diagnostics
		if strings.HasSuffix(name, ".json") {
			f, d = p.ParseJSONFile(name)
		} else {
			f, d = p.ParseHCLFile(name)
		}
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		content, _, d := f.Body.PartialContent(tfRootSchema)
		diags = append(diags, d...)
		for _, b := range content.Blocks {
			switch b.Type {
			case "resource", "data":
				addr := b.Labels[0] + "." + b.Labels[1]
				if b.Type == "data" {
					addr = "data." + addr
				}
				s.blocks[joinAddr(prefix, addr)] = &tfBlock{rng: b.DefRange, body: b.Body, dynamic: dynamicBlocks(b.Body), via: via}
			case "module":
				call := &tfModuleCall{rng: b.DefRange}
				attrs, _ := b.Body.JustAttributes()
				if a, ok := attrs["source"]; ok {
					if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type().FriendlyName() == "string" && v.IsKnown() && !v.IsNull() {
						call.source = v.AsString()
					}
				}
				key := joinAddr(prefix, "module."+b.Labels[0])
				if via == "" {
					s.modules[key] = call
				}
				local := strings.HasPrefix(call.source, "./") || strings.HasPrefix(call.source, "../")
				switch inst, ok := s.installed[moduleKey(key)]; {
				case local && via == "":
					call.local = true
					diags = append(diags, s.readModule(p, filepath.Join(dir, filepath.FromSlash(call.source)), key, "", depth+1, onPath)...)
				case ok:
					// downloaded by terraform init (a local source inside a
					// downloaded module is listed there too)
					v := via
					if v == "" {
						v = key
					}
					diags = append(diags, s.readModule(p, filepath.Join(s.Dir, filepath.FromSlash(inst)), key, v, depth+1, onPath)...)
				}
			}
		}
	}
	return diags
}

// dynamicBlocks lists the dynamic blocks of a resource body (native or
// JSON syntax): their content may be known only at apply, and the plan's
// configuration section does not show them.
func dynamicBlocks(body hcl.Body) map[string]bool {
	content, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "dynamic", LabelNames: []string{"type"}}}})
	if content == nil {
		return nil
	}
	var out map[string]bool
	for _, b := range content.Blocks {
		if out == nil {
			out = map[string]bool{}
		}
		out[b.Labels[0]] = true
	}
	return out
}

// modulesManifest is .terraform/modules/modules.json, where `terraform
// init` records the directory of every module it installed.
type modulesManifest struct {
	Modules []struct {
		Key string `json:"Key"`
		Dir string `json:"Dir"`
	} `json:"Modules"`
}

// readModulesManifest reads the installed modules of the configuration in
// dir ($TF_DATA_DIR, relative to dir, moves .terraform); none when
// terraform init has not run there.
func readModulesManifest(dir string) map[string]string {
	data := os.Getenv("TF_DATA_DIR")
	if data == "" {
		data = ".terraform"
	}
	if !filepath.IsAbs(data) {
		data = filepath.Join(dir, data)
	}
	raw, err := os.ReadFile(filepath.Join(data, "modules", "modules.json"))
	if err != nil {
		return nil
	}
	var m modulesManifest
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := map[string]string{}
	for _, e := range m.Modules {
		if e.Key != "" && e.Dir != "" {
			out[e.Key] = e.Dir
		}
	}
	return out
}

// moduleKey turns module.a.module.b into the manifest's key a.b.
func moduleKey(addr string) string {
	parts := strings.Split(addr, ".")
	var names []string
	for i := 1; i < len(parts); i += 2 {
		names = append(names, parts[i])
	}
	return strings.Join(names, ".")
}

// Locate places a plan address (with or without instance keys).
func (s *TFSource) Locate(addr string) Placed {
	if s == nil {
		return Placed{Unplaced: "no Terraform configuration was read (use --chdir)"}
	}
	key := stripIndex(addr)
	if b, ok := s.blocks[key]; ok && b.via == "" {
		return Placed{Range: rangeOf(b.rng)}
	}
	// The module calls on the way, outermost first: module.a, module.a.module.b.
	parts := strings.Split(key, ".")
	var calls []string
	for i := 0; i+2 < len(parts) && parts[i] == "module"; i += 2 {
		calls = append(calls, strings.Join(parts[:i+2], "."))
	}
	for i, c := range calls {
		call, ok := s.modules[c]
		switch {
		case !ok && i == 0:
			return Placed{Unplaced: fmt.Sprintf("%s is in module %s, which %s does not call", addr, c, s.Dir)}
		case !ok:
			return Placed{Unplaced: fmt.Sprintf("%s is in module %s, which %s does not call", addr, c, calls[i-1])}
		case !call.local:
			// Not read: the call is the line a pull request changes.
			return Placed{Range: rangeOf(call.rng), Via: c}
		}
	}
	if len(calls) > 0 {
		c := calls[len(calls)-1]
		return Placed{Unplaced: fmt.Sprintf("%s has no block in module %s (source %q)", addr, c, s.modules[c].source)}
	}
	return Placed{Unplaced: fmt.Sprintf("%s has no block in the .tf files of %s", addr, s.Dir)}
}

// dynamicBlock reports whether the block of addr has a dynamic block name.
func (s *TFSource) dynamicBlock(addr, name string) bool {
	_, dynamic := s.readBlock(addr, name)
	return dynamic
}

// readBlock reports whether vigil read the block of addr (seen), and
// whether it has a dynamic block name.
func (s *TFSource) readBlock(addr, name string) (seen, dynamic bool) {
	if s == nil {
		return false, false
	}
	b, ok := s.blocks[stripIndex(addr)]
	return ok, ok && b.dynamic[name]
}

// body is the body of the block of addr, when vigil read it.
func (s *TFSource) body(addr string) hcl.Body {
	if s == nil {
		return nil
	}
	if b, ok := s.blocks[stripIndex(addr)]; ok {
		return b.body
	}
	return nil
}

// unseenWhy says why vigil did not read the block of addr.
func (s *TFSource) unseenWhy(addr string) string {
	if s == nil {
		return "no .tf files were read: pass --chdir DIR, the directory terraform plan ran in"
	}
	if pl := s.Locate(addr); pl.Via != "" {
		return fmt.Sprintf("it is in module %s (source %q), which is not local and not installed under %s: run terraform init there", pl.Via, s.modules[pl.Via].source, filepath.Join(s.Dir, ".terraform", "modules"))
	} else if pl.Unplaced != "" {
		return pl.Unplaced
	}
	return "its block was not read"
}

func rangeOf(r hcl.Range) SourceRange {
	return SourceRange{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column, EndLine: r.End.Line}
}
