package inventory

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/limits"
)

// A Terraform plan (`terraform show -json`, format versions 0.1 to 1.x) is
// turned into assets of the same model as live inventories: every planned
// resource becomes an asset whose id is its full address, with the kind and
// facets the built-in policies read, the planned action, and the attribute
// paths that are unknown until apply.

type tfPlan struct {
	FormatVersion    string                `json:"format_version"`
	TerraformVersion string                `json:"terraform_version"`
	Variables        map[string]tfVariable `json:"variables"`
	PlannedValues    *tfValues             `json:"planned_values"`
	PriorState       *struct {
		Values *tfValues `json:"values"`
	} `json:"prior_state"`
	Configuration *tfConfiguration `json:"configuration"`
	// hasValues marks `terraform show -json` of a state (values, no plan).
	hasValues bool
	changes   []tfResourceChange // with their byte offsets
	// deferred are the changes Terraform put off to a later plan
	// (deferred_changes, Terraform 1.9+ with deferral enabled).
	deferred int64
	// deletedBuckets are the names of the buckets the plan deletes: their
	// deleted public access blocks expose nothing.
	deletedBuckets  map[string]bool
	configByAddr    map[string]*tfConfigResource   // "module.a.type.name" -> config
	outputsByModule map[string]map[string][]string // module path -> output -> references
	// data are the data sources the plan read or will read, by address
	// without instance keys (every instance of a count or for_each): their
	// values stand in for references.
	data map[string][]*tfData
}

// tfData is what the plan knows of a data source.
type tfData struct {
	after   map[string]any
	unknown any
}

type tfVariable struct {
	Value json.RawMessage `json:"value"`
}

type tfValues struct {
	RootModule tfValuesModule `json:"root_module"`
}

type tfValuesModule struct {
	Address      string             `json:"address"`
	Resources    []tfValuesResource `json:"resources"`
	ChildModules []tfValuesModule   `json:"child_modules"`
}

type tfValuesResource struct {
	Address      string          `json:"address"`
	Mode         string          `json:"mode"`
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	ProviderName string          `json:"provider_name"`
	Values       json.RawMessage `json:"values"`
}

type tfResourceChange struct {
	Address       string          `json:"address"`
	ModuleAddress string          `json:"module_address"`
	Mode          string          `json:"mode"`
	Type          string          `json:"type"`
	Name          string          `json:"name"`
	Index         json.RawMessage `json:"index"`
	ProviderName  string          `json:"provider_name"`
	// PreviousAddress is set on a moved resource (Terraform 1.1+).
	PreviousAddress string `json:"previous_address"`
	// Deposed names a deposed object of a create_before_destroy replace.
	Deposed string `json:"deposed"`
	Change  struct {
		Actions      []string        `json:"actions"`
		Before       json.RawMessage `json:"before"`
		After        json.RawMessage `json:"after"`
		AfterUnknown json.RawMessage `json:"after_unknown"`
		// Importing is set when the plan imports the resource (1.5+).
		Importing json.RawMessage `json:"importing"`
	} `json:"change"`
	offset int64
}

type tfConfiguration struct {
	ProviderConfig map[string]tfProviderConfig `json:"provider_config"`
	RootModule     tfConfigModule              `json:"root_module"`
}

type tfProviderConfig struct {
	Name          string `json:"name"`
	Alias         string `json:"alias"`
	ModuleAddress string `json:"module_address"`
	// Expressions holds an expression object per argument, and for each
	// nested block (assume_role {}, default_tags {}, helm's kubernetes {})
	// an array of such maps: they are read one by one.
	Expressions       map[string]json.RawMessage `json:"expressions"`
	VersionConstraint string                     `json:"version_constraint"`
}

type tfConfigModule struct {
	Resources   []tfConfigResource `json:"resources"`
	ModuleCalls map[string]struct {
		Module tfConfigModule `json:"module"`
	} `json:"module_calls"`
	Outputs map[string]struct {
		Expression tfExpression `json:"expression"`
	} `json:"outputs"`
}

type tfConfigResource struct {
	Address           string                     `json:"address"`
	Mode              string                     `json:"mode"`
	Type              string                     `json:"type"`
	Name              string                     `json:"name"`
	ProviderConfigKey string                     `json:"provider_config_key"`
	Expressions       map[string]json.RawMessage `json:"expressions"`
	CountExpression   *tfExpression              `json:"count_expression"`
	ForEachExpression *tfExpression              `json:"for_each_expression"`
	module            string
}

type tfExpression struct {
	ConstantValue json.RawMessage `json:"constant_value"`
	References    []string        `json:"references"`
}

// PlanStats says what a plan held beyond its assets.
type PlanStats struct {
	// Actions counts judged resources by planned action.
	Actions map[string]int64
	// Unmapped counts judged resources of types vigil has no mapping for;
	// they are kept as kind "other" (residency still applies) and listed.
	Unmapped map[string]int64
	// Deleted counts resources planned for deletion (not judged).
	Deleted int64
	// Unchanged counts no-op resources, including those that are only
	// moved or imported: the plan does not change them, so there is
	// nothing to stop (they still inform the resources that change).
	Unchanged int64
	// Forgotten counts resources removed from the state but not destroyed
	// (`removed` blocks with destroy = false, Terraform 1.7+).
	Forgotten int64
	// Deferred counts changes Terraform put off to a later plan; they are
	// judged when that plan makes them.
	Deferred int64
	// DataSources counts data sources (read, not judged).
	DataSources int64
	// Notes say what vigil assumed where the plan alone could not tell
	// (see PlanNote); each is also a warning to the user.
	Notes []PlanNote
}

// PlanNote is an assumption vigil made about a planned resource that the
// plan cannot confirm: a rule list or grant list that is unknown until
// apply and absent from the plan's configuration section is either unset
// (the provider computes it: no rules, no grants) or written as a dynamic
// block, which that section leaves out. Only the .tf source tells; without
// it vigil judges the list as unset, and says so in a note.
type PlanNote struct {
	// File is the plan, Offset the byte offset of the resource change.
	File    string
	Offset  int64
	Address string
	// Attrs are the attributes assumed unset.
	Attrs []string
	// Why says why the source was not seen.
	Why string
}

// Message is the note as a sentence.
func (n PlanNote) Message() string {
	return fmt.Sprintf("%s: %s %s known only after apply and absent from the plan's configuration section, which leaves dynamic blocks out; without the block's .tf source vigil judged %s as unset (%s)",
		n.Address, strings.Join(n.Attrs, " and "), pluralWord(len(n.Attrs), "is", "are"), pluralWord(len(n.Attrs), "it", "them"), n.Why)
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// readPlan parses a plan, keeping the byte offset of every resource change
// so findings can point at their line.
func readPlan(path string) (*tfPlan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	if head, _ := br.Peek(len(zipMagic)); string(head) == zipMagic {
		return nil, binaryPlanError(path)
	}
	if err := encodingError(path, br); err != nil {
		return nil, err
	}
	if bom, _ := br.Peek(3); string(bom) == "\xef\xbb\xbf" {
		br.Discard(3) // Windows tools write a UTF-8 byte order mark
	}
	dec := json.NewDecoder(limits.JSONReader(br))
	p := &tfPlan{}
	if t, err := dec.Token(); err != nil {
		return nil, parseErrAt(path, err)
	} else if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, &ParseError{File: path, Line: 1, Err: errors.New("a Terraform plan is a JSON object; is this `terraform show -json` output?")}
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, parseErrAt(path, err)
		}
		var dst any
		switch key, _ := t.(string); key {
		case "format_version":
			dst = &p.FormatVersion
		case "terraform_version":
			dst = &p.TerraformVersion
		case "variables":
			dst = &p.Variables
		case "planned_values":
			dst = &p.PlannedValues
		case "configuration":
			dst = &p.Configuration
		case "prior_state":
			dst = &p.PriorState
		case "values":
			p.hasValues = true
			var skip json.RawMessage
			dst = &skip
		case "deferred_changes":
			var deferred []json.RawMessage
			if err := dec.Decode(&deferred); err != nil {
				return nil, parseErrAt(path, err)
			}
			p.deferred = int64(len(deferred))
			continue
		case "resource_changes":
			t, err := dec.Token()
			if err != nil {
				return nil, parseErrAt(path, err)
			}
			if t == nil {
				continue // "resource_changes": null, as some tools write an empty plan
			}
			if d, ok := t.(json.Delim); !ok || d != '[' {
				return nil, &ParseError{File: path, Line: LineAt(path, dec.InputOffset()), Err: errors.New("resource_changes is not a list; is this `terraform show -json` output?")}
			}
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil, parseErrAt(path, err)
				}
				var rc tfResourceChange
				if err := json.Unmarshal(raw, &rc); err != nil {
					return nil, &ParseError{File: path, Line: LineAt(path, dec.InputOffset()-int64(len(raw))), Err: jsonError(err)}
				}
				rc.offset = dec.InputOffset() - int64(len(raw))
				if rc.Address == "" || rc.Type == "" {
					return nil, &ParseError{File: path, Line: LineAt(path, rc.offset), Err: errors.New("resource change has no address or type; is this `terraform show -json` output?")}
				}
				p.changes = append(p.changes, rc)
			}
			if _, err := dec.Token(); err != nil {
				return nil, parseErrAt(path, err)
			}
			continue
		default:
			var skip json.RawMessage
			dst = &skip
		}
		if err := dec.Decode(dst); err != nil {
			return nil, parseErrAt(path, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, parseErrAt(path, err)
	}
	major, _, _ := strings.Cut(p.FormatVersion, ".")
	if major != "0" && major != "1" {
		return nil, &ParseError{File: path, Err: fmt.Errorf("plan format_version %q is not supported (0.x and 1.x are)", p.FormatVersion)}
	}
	if p.hasValues && p.PlannedValues == nil && len(p.changes) == 0 {
		return nil, &ParseError{File: path, Err: errors.New("this is the JSON form of a state, not of a plan: run `terraform plan -out plan.out` and `terraform show -json plan.out`")}
	}
	p.index()
	return p, nil
}

// zipMagic starts a binary plan file (`terraform plan -out`), a zip archive.
const zipMagic = "PK\x03\x04"

// encodingError reports a UTF-16 file, as PowerShell's > writes
// `terraform show -json` output.
func encodingError(path string, br *bufio.Reader) error {
	if bom, _ := br.Peek(2); string(bom) == "\xff\xfe" || string(bom) == "\xfe\xff" {
		return &ParseError{File: path, Line: 1, Err: errors.New("the file is UTF-16 (PowerShell's > writes it): write the plan as UTF-8, e.g. `terraform show -json plan.out | Out-File -Encoding utf8 plan.json`")}
	}
	return nil
}

// ErrBinaryPlan is wrapped by the error for a binary plan file given
// where its JSON form was expected.
var ErrBinaryPlan = errors.New("this is a binary plan")

// binaryPlanError is the error for a binary plan file given where its
// JSON form was expected.
func binaryPlanError(path string) error {
	return &ParseError{File: path, Err: fmt.Errorf("%w: run `terraform show -json %s > plan.json` (or `tofu show -json`) and check plan.json", ErrBinaryPlan, path)}
}

// index maps configuration resources by address and module outputs by
// module, to resolve providers and references.
func (p *tfPlan) index() {
	p.configByAddr = map[string]*tfConfigResource{}
	p.outputsByModule = map[string]map[string][]string{}
	if p.Configuration == nil {
		return
	}
	var walk func(m *tfConfigModule, prefix string)
	walk = func(m *tfConfigModule, prefix string) {
		for i := range m.Resources {
			r := &m.Resources[i]
			r.module = prefix
			p.configByAddr[joinAddr(prefix, r.Address)] = r
		}
		outs := map[string][]string{}
		for name, o := range m.Outputs {
			outs[name] = o.Expression.References
		}
		p.outputsByModule[prefix] = outs
		for name, call := range m.ModuleCalls {
			c := call.Module
			walk(&c, joinAddr(prefix, "module."+name))
		}
	}
	walk(&p.Configuration.RootModule, "")
}

// indexData keeps what the plan says of data sources: values read during
// the plan (prior_state) and reads put off to apply (resource_changes,
// which replace any older value of the same data source).
func (p *tfPlan) indexData() error {
	p.data = map[string][]*tfData{}
	if p.PriorState != nil && p.PriorState.Values != nil {
		var walk func(m tfValuesModule)
		walk = func(m tfValuesModule) {
			for _, r := range m.Resources {
				if r.Mode != "data" {
					continue
				}
				d := &tfData{after: map[string]any{}}
				if json.Unmarshal(r.Values, &d.after) == nil {
					k := stripIndex(r.Address)
					p.data[k] = append(p.data[k], d)
				}
			}
			for _, c := range m.ChildModules {
				walk(c)
			}
		}
		walk(p.PriorState.Values.RootModule)
	}
	fresh := map[string]bool{}
	for _, rc := range p.changes {
		if rc.Mode != "data" {
			continue
		}
		d := &tfData{after: map[string]any{}}
		if len(rc.Change.After) > 0 && string(rc.Change.After) != "null" {
			if err := json.Unmarshal(rc.Change.After, &d.after); err != nil {
				return fmt.Errorf("%s: %w", rc.Address, jsonError(err))
			}
		}
		if len(rc.Change.AfterUnknown) > 0 {
			if err := json.Unmarshal(rc.Change.AfterUnknown, &d.unknown); err != nil {
				return fmt.Errorf("%s: %w", rc.Address, jsonError(err))
			}
		}
		k := stripIndex(rc.Address)
		if !fresh[k] {
			fresh[k] = true
			p.data[k] = nil
		}
		p.data[k] = append(p.data[k], d)
	}
	return nil
}

func joinAddr(prefix, addr string) string {
	if prefix == "" {
		return addr
	}
	return prefix + "." + addr
}

// stripIndex removes instance keys: `aws_instance.web[0]` -> `aws_instance.web`,
// `module.a["x"].aws_vpc.v` -> `module.a.aws_vpc.v`.
func stripIndex(addr string) string {
	var b strings.Builder
	depth := 0
	inString := false
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"' && depth > 0:
			inString = true
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// resolveRefs turns configuration references (in module scope) into the
// addresses of resources they name, following module outputs.
func (p *tfPlan) resolveRefs(module string, refs []string) []string {
	var out []string
	seen := map[string]bool{}
	var resolve func(module, ref string, depth int)
	resolve = func(module, ref string, depth int) {
		if depth > 8 {
			return
		}
		parts := strings.Split(stripIndex(ref), ".")
		switch {
		case len(parts) >= 3 && parts[0] == "module":
			// module.NAME.OUTPUT
			child := joinAddr(module, "module."+parts[1])
			for _, r := range p.outputsByModule[child][parts[2]] {
				resolve(child, r, depth+1)
			}
		case len(parts) >= 3 && parts[0] == "data":
			addr := joinAddr(module, "data."+parts[1]+"."+parts[2])
			if !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		case len(parts) >= 2 && parts[0] != "var" && parts[0] != "local" && parts[0] != "each" && parts[0] != "count" && parts[0] != "path" && parts[0] != "self" && parts[0] != "terraform":
			addr := joinAddr(module, parts[0]+"."+parts[1])
			if !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	for _, r := range refs {
		resolve(module, r, 0)
	}
	return out
}

// providerSetting returns a provider configuration value (region, project)
// for a resource, following aliases and module inheritance, and resolving a
// reference to a root variable.
func (p *tfPlan) providerSetting(cfg *tfConfigResource, key string) string {
	if p.Configuration == nil {
		return ""
	}
	pk := ""
	if cfg != nil {
		pk = cfg.ProviderConfigKey
	}
	var candidates []string
	if pk != "" {
		candidates = append(candidates, pk)
		if i := strings.LastIndexByte(pk, ':'); i >= 0 { // "mysg:aws": a module's provider
			candidates = append(candidates, pk[i+1:])
		}
	}
	if cfg != nil {
		candidates = append(candidates, strings.SplitN(cfg.Type, "_", 2)[0])
	}
	for _, c := range candidates {
		pc, ok := p.Configuration.ProviderConfig[c]
		if !ok {
			continue
		}
		raw, ok := pc.Expressions[key]
		if !ok {
			continue
		}
		var e tfExpression
		if json.Unmarshal(raw, &e) != nil {
			continue // a nested block, not an argument
		}
		if s := jsonString(e.ConstantValue); s != "" {
			return s
		}
		for _, r := range e.References {
			if name, ok := strings.CutPrefix(r, "var."); ok {
				if v, ok := p.Variables[name]; ok {
					return jsonString(v.Value)
				}
			}
		}
	}
	return ""
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// planAction names the change: create, update, delete, replace, no-op,
// read or forget.
func planAction(actions []string) string {
	switch {
	case len(actions) == 2 && slices.Contains(actions, "create"):
		return "replace"
	case len(actions) == 1:
		return actions[0]
	}
	return strings.Join(actions, "+")
}

// scanPlan reads a plan file and emits its assets.
func (s *FileSet) scanPlan(in *inputFile, t *scopeTracker, emit func(*asset.Asset) error) error {
	var src *TFSource
	if s.PlanSource != nil {
		src = s.PlanSource(in.path)
	}
	assets, stats, err := LoadPlanWith(in.path, src)
	if err != nil {
		return err
	}
	s.addPlanStats(stats)
	for _, a := range assets {
		t.observe(a)
	}
	// The planned resources are judged on every worker, as the records of
	// an inventory are (emit may be called concurrently; the findings are
	// ordered once all are in): a plan of thousands of resources is judged
	// on both cores, not one.
	n := min(s.workers(), len(assets))
	if n <= 1 {
		for _, a := range assets {
			if err := emit(a); err != nil {
				return err
			}
		}
		return nil
	}
	// The error returned is the first resource's in plan order, as judged
	// one after the other: a resource after a failed one is not started,
	// every one before it is judged.
	var (
		next  atomic.Int64
		stop  atomic.Int64 // the lowest index that failed
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	stop.Store(int64(len(assets)))
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= stop.Load() {
					return
				}
				if err := emit(assets[i]); err != nil {
					mu.Lock()
					if i < stop.Load() {
						stop.Store(i)
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// LoadPlan reads a Terraform plan into assets.
func LoadPlan(path string) ([]*asset.Asset, *PlanStats, error) {
	return LoadPlanWith(path, nil)
}

// LoadPlanWith is LoadPlan with the plan's configuration read from its .tf
// files (src may be nil): it tells dynamic blocks, which the plan's
// configuration section leaves out, from unset arguments.
//
// Resources the plan creates, updates or replaces are judged. Resources it
// leaves as they are (no-op, including moves and imports that change
// nothing), deletes, forgets or defers are counted and not judged; they
// still inform the judged ones (a new bucket policy on an unchanged
// bucket, a rule added to an unchanged group).
func LoadPlanWith(path string, src *TFSource) ([]*asset.Asset, *PlanStats, error) {
	p, err := readPlan(path)
	if err != nil {
		return nil, nil, err
	}
	if err := p.indexData(); err != nil {
		return nil, nil, &ParseError{File: path, Err: err}
	}
	stats := &PlanStats{Actions: map[string]int64{}, Unmapped: map[string]int64{}, Deferred: p.deferred}
	var rs []*tfResource
	changes := p.changes
	if len(changes) == 0 && p.PlannedValues != nil {
		changes = p.plannedAsChanges()
	}
	for _, rc := range changes {
		if rc.Mode == "data" {
			stats.DataSources++
			continue
		}
		action := planAction(rc.Change.Actions)
		judged, deleted := true, false
		switch action {
		case "delete":
			if rc.Deposed != "" || !protective[rc.Type] {
				stats.Deleted++
				p.noteDeletedBucket(rc)
				continue
			}
			// Deleting a public access block opens what it blocked: it
			// informs the buckets it protected (and is counted there).
			judged, deleted = false, true
		case "forget":
			stats.Forgotten++
			continue
		case "no-op", "":
			stats.Unchanged++
			judged = false
		}
		if rc.Deposed != "" {
			// the old object of a create_before_destroy replace
			continue
		}
		r, err := p.resource(rc, action)
		if err != nil {
			return nil, nil, &ParseError{File: path, Line: LineAt(path, rc.offset), Err: fmt.Errorf("%s: %w", rc.Address, err)}
		}
		r.judged, r.deleted = judged, deleted
		r.src = src
		r.origin = asset.Origin{File: path, Offset: rc.offset, Seq: int64(len(rs))}
		rs = append(rs, r)
	}
	assets, err := mapResources(p, rs, stats)
	if err != nil {
		return nil, nil, &ParseError{File: path, Err: err}
	}
	for i := range stats.Notes {
		stats.Notes[i].File = path
	}
	return assets, stats, nil
}

// noteDeletedBucket remembers the name of a bucket the plan deletes.
func (p *tfPlan) noteDeletedBucket(rc tfResourceChange) {
	if rc.Type != "aws_s3_bucket" {
		return
	}
	var before struct {
		Bucket string `json:"bucket"`
	}
	if json.Unmarshal(rc.Change.Before, &before) == nil && before.Bucket != "" {
		if p.deletedBuckets == nil {
			p.deletedBuckets = map[string]bool{}
		}
		p.deletedBuckets[before.Bucket] = true
	}
}

// protective are the resource types whose deletion can expose something:
// their planned deletion is judged on what they protected.
var protective = map[string]bool{
	"aws_s3_bucket_public_access_block":  true,
	"aws_s3_account_public_access_block": true,
}

// plannedAsChanges covers plans without resource_changes: every planned
// resource is taken as it will be.
func (p *tfPlan) plannedAsChanges() []tfResourceChange {
	var out []tfResourceChange
	var walk func(m tfValuesModule)
	walk = func(m tfValuesModule) {
		for _, r := range m.Resources {
			if r.Address == "" || r.Type == "" {
				continue
			}
			rc := tfResourceChange{Address: r.Address, ModuleAddress: m.Address, Mode: r.Mode, Type: r.Type, Name: r.Name, ProviderName: r.ProviderName}
			rc.Change.Actions = []string{"create"}
			rc.Change.After = r.Values
			out = append(out, rc)
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(p.PlannedValues.RootModule)
	return out
}

// tfResource is one planned resource, with its planned values and the
// matching configuration.
type tfResource struct {
	addr, typ, name, module, action string
	inst                            instAddr // addr taken apart
	// judged is false for resources the plan does not change, and for
	// deletions (deleted) until what they protected is judged.
	judged, deleted bool
	// after holds the planned values; for a deletion, the values before.
	after           map[string]any
	unknown         any // the after_unknown tree
	cfg             *tfConfigResource
	src             *TFSource // the .tf files, when read
	region, project string
	origin          asset.Origin
	asset           *asset.Asset
}

func (p *tfPlan) resource(rc tfResourceChange, action string) (*tfResource, error) {
	r := &tfResource{addr: rc.Address, typ: rc.Type, name: rc.Name, module: rc.ModuleAddress, action: action, after: map[string]any{}, inst: parseInstAddr(rc.Address)}
	values := rc.Change.After
	if action == "delete" {
		values = rc.Change.Before
	}
	if len(values) > 0 && string(values) != "null" {
		if err := json.Unmarshal(values, &r.after); err != nil {
			return nil, jsonError(err)
		}
	}
	if len(rc.Change.AfterUnknown) > 0 {
		if err := json.Unmarshal(rc.Change.AfterUnknown, &r.unknown); err != nil {
			return nil, jsonError(err)
		}
	}
	r.cfg = p.configByAddr[stripIndex(rc.Address)]
	r.region = p.providerSetting(r.cfg, "region")
	r.project = p.providerSetting(r.cfg, "project")
	return r, nil
}

// unknownPaths flattens an after_unknown tree into attribute paths.
func unknownPaths(tree any, prefix string, out *[]string) {
	switch v := tree.(type) {
	case bool:
		if v {
			*out = append(*out, prefix)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			unknownPaths(v[k], p, out)
		}
	case []any:
		for i, x := range v {
			unknownPaths(x, fmt.Sprintf("%s[%d]", prefix, i), out)
		}
	}
}

// isUnknown reports whether the attribute at path (keys and indexes) is
// unknown, or inside something unknown.
func isUnknown(tree any, path ...any) bool {
	cur := tree
	for _, p := range path {
		if b, ok := cur.(bool); ok {
			return b
		}
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return false
			}
			cur = l[k]
		}
	}
	b, ok := cur.(bool)
	return ok && b
}

// attribute helpers over planned values

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func boolPtr(m map[string]any, k string) *bool {
	if b, ok := m[k].(bool); ok {
		return &b
	}
	return nil
}

func intPtr(m map[string]any, k string) *int {
	switch v := m[k].(type) {
	case float64:
		i := int(v)
		return &i
	case string: // older providers render some numbers as strings
		if i, err := strconv.Atoi(v); err == nil {
			return &i
		}
	}
	return nil
}

func strs(m map[string]any, k string) []string {
	l, _ := m[k].([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func blocks(m map[string]any, k string) []map[string]any {
	l, _ := m[k].([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if b, ok := x.(map[string]any); ok {
			out = append(out, b)
		}
	}
	return out
}

func strMap(m map[string]any, k string) map[string]string {
	raw, _ := m[k].(map[string]any)
	if len(raw) == 0 {
		return nil
	}
	out := make(map[string]string, len(raw))
	for key, v := range raw {
		if s, ok := v.(string); ok {
			out[key] = s
		}
	}
	return out
}
