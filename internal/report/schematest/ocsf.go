package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// OCSF is the OCSF schema as its repository (ocsf/ocsf-schema) writes it:
// a dictionary of attributes and types, objects and event classes that
// extend one another and include profiles. There is no JSON Schema export
// in the repository; Validate resolves a class as the OCSF server does
// (extends chains, $include, class attributes over the dictionary's, enum
// values merged) and checks an event against it: no attribute the class
// does not define, every required one (a profile's only when the event's
// metadata.profiles applies it), types (string, integer, timestamp,
// float, boolean, object, array), enum values, the types' regex and
// max_len, objects' at_least_one and just_one constraints, and class_uid
// and type_uid as the server computes them.
type OCSF struct {
	dir        string
	dictionary map[string]ocsfAttr
	types      map[string]ocsfType
	objects    map[string]*ocsfDef
	categories map[string]int
}

type ocsfAttr struct {
	Type        string                     `json:"type"`
	IsArray     bool                       `json:"is_array"`
	Requirement string                     `json:"requirement"`
	Enum        map[string]json.RawMessage `json:"enum"`
	profile     string
}

type ocsfType struct {
	Type   string `json:"type"`
	Regex  string `json:"regex"`
	MaxLen int    `json:"max_len"`
}

type ocsfDef struct {
	Name        string                     `json:"name"`
	UID         int                        `json:"uid"`
	Category    string                     `json:"category"`
	Extends     string                     `json:"extends"`
	Attributes  map[string]json.RawMessage `json:"attributes"`
	Constraints map[string][]string        `json:"constraints"`
}

// LoadOCSF reads the schema tree under dir (dictionary.json,
// categories.json, objects/, events/, profiles/, includes/).
func LoadOCSF(dir string) (*OCSF, error) {
	s := &OCSF{dir: dir, objects: map[string]*ocsfDef{}, categories: map[string]int{}}
	var dict struct {
		Attributes map[string]ocsfAttr `json:"attributes"`
		Types      struct {
			Attributes map[string]ocsfType `json:"attributes"`
		} `json:"types"`
	}
	if err := readJSON(filepath.Join(dir, "dictionary.json"), &dict); err != nil {
		return nil, err
	}
	s.dictionary, s.types = dict.Attributes, dict.Types.Attributes
	var cats struct {
		Attributes map[string]struct {
			UID int `json:"uid"`
		} `json:"attributes"`
	}
	if err := readJSON(filepath.Join(dir, "categories.json"), &cats); err != nil {
		return nil, err
	}
	for name, c := range cats.Attributes {
		s.categories[name] = c.UID
	}
	files, _ := filepath.Glob(filepath.Join(dir, "objects", "*.json"))
	for _, f := range files {
		var d ocsfDef
		if err := readJSON(f, &d); err != nil {
			return nil, err
		}
		s.objects[d.Name] = &d
	}
	if len(s.dictionary) == 0 || len(s.objects) == 0 {
		return nil, fmt.Errorf("%s: no dictionary or objects", dir)
	}
	return s, nil
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// resolved is a class or object with its attributes and constraints
// after extends and $include.
type resolved struct {
	attrs       map[string]ocsfAttr
	constraints map[string][]string
}

// attributes merges a definition's attributes over its parent's, each
// over the dictionary's definition.
func (s *OCSF) attributes(def *ocsfDef, parent func(string) (*ocsfDef, error)) (*resolved, error) {
	out := &resolved{attrs: map[string]ocsfAttr{}, constraints: map[string][]string{}}
	if def.Extends != "" {
		p, err := parent(def.Extends)
		if err != nil {
			return nil, err
		}
		base, err := s.attributes(p, parent)
		if err != nil {
			return nil, err
		}
		out = base
	}
	maps.Copy(out.constraints, def.Constraints)
	return out, s.mergeAttrs(out.attrs, def.Attributes, "")
}

func (s *OCSF) mergeAttrs(into map[string]ocsfAttr, attrs map[string]json.RawMessage, profile string) error {
	if inc, ok := attrs["$include"]; ok {
		var files []string
		if err := json.Unmarshal(inc, &files); err != nil {
			var one string
			if err := json.Unmarshal(inc, &one); err != nil {
				return fmt.Errorf("$include: %s", inc)
			}
			files = []string{one}
		}
		for _, f := range files {
			var d ocsfDef
			if err := readJSON(filepath.Join(s.dir, f), &d); err != nil {
				return err
			}
			p := profile
			if strings.HasPrefix(f, "profiles/") {
				p = d.Name // a profile's attributes count only where it is applied
			}
			if err := s.mergeAttrs(into, d.Attributes, p); err != nil {
				return err
			}
		}
	}
	for name, raw := range attrs {
		if name == "$include" {
			continue
		}
		var over ocsfAttr
		if err := json.Unmarshal(raw, &over); err != nil {
			return fmt.Errorf("attribute %s: %w", name, err)
		}
		a, ok := into[name]
		if !ok {
			d, ok := s.dictionary[name]
			if !ok {
				return fmt.Errorf("attribute %s is not in the dictionary", name)
			}
			a = d
			a.Enum = maps.Clone(d.Enum)
			a.profile = profile
		}
		if over.Requirement != "" {
			a.Requirement = over.Requirement
		}
		if over.Type != "" {
			a.Type = over.Type
		}
		if len(over.Enum) > 0 {
			if a.Enum == nil {
				a.Enum = map[string]json.RawMessage{}
			}
			maps.Copy(a.Enum, over.Enum)
		}
		into[name] = a
	}
	return nil
}

func (s *OCSF) object(name string) (*ocsfDef, error) {
	d, ok := s.objects[name]
	if !ok {
		return nil, fmt.Errorf("object %s is not in the schema", name)
	}
	return d, nil
}

// class reads an event class file (relative to the schema's directory).
func (s *OCSF) class(file string) (*ocsfDef, error) {
	var d ocsfDef
	if err := readJSON(filepath.Join(s.dir, file), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks one event against the class in classFile (such as
// events/findings/compliance_finding.json); its parents are looked up by
// name beside it and in events/.
func (s *OCSF) Validate(classFile string, event []byte) error {
	cls, err := s.class(classFile)
	if err != nil {
		return err
	}
	parent := func(name string) (*ocsfDef, error) {
		for _, f := range []string{filepath.Join(filepath.Dir(classFile), name+".json"), filepath.Join("events", name+".json")} {
			if _, err := os.Stat(filepath.Join(s.dir, f)); err == nil {
				return s.class(f)
			}
		}
		return nil, fmt.Errorf("class %s: not found", name)
	}
	res, err := s.attributes(cls, parent)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	var profiles []string
	if md, ok := v["metadata"].(map[string]any); ok {
		if ps, ok := md["profiles"].([]any); ok {
			for _, p := range ps {
				if p, ok := p.(string); ok {
					profiles = append(profiles, p)
				}
			}
		}
	}
	// the dictionary's class_uid and category_uid enums only hold 0: the
	// server fills them from the classes and categories, checked below
	for _, name := range []string{"class_uid", "category_uid"} {
		a := res.attrs[name]
		a.Enum = nil
		res.attrs[name] = a
	}
	var errs []error
	s.checkObject(&errs, "$", res, v, profiles)
	// class_uid and type_uid are computed, as the OCSF server does
	p := cls
	for p.Category == "" && p.Extends != "" {
		if p, err = parent(p.Extends); err != nil {
			return err
		}
	}
	wantCat := s.categories[p.Category]
	if n, _ := v["category_uid"].(json.Number); n.String() != strconv.Itoa(wantCat) {
		errs = append(errs, fmt.Errorf("$.category_uid: %v, want %d (%s)", v["category_uid"], wantCat, p.Category))
	}
	wantClass := wantCat*1000 + cls.UID
	if n, _ := v["class_uid"].(json.Number); n.String() != strconv.Itoa(wantClass) {
		errs = append(errs, fmt.Errorf("$.class_uid: %v, want %d (%s)", v["class_uid"], wantClass, cls.Name))
	}
	if n, _ := v["type_uid"].(json.Number); n != "" {
		act, _ := v["activity_id"].(json.Number)
		a, _ := act.Int64()
		if n.String() != strconv.FormatInt(int64(wantClass)*100+a, 10) {
			errs = append(errs, fmt.Errorf("$.type_uid: %s, want class_uid*100+activity_id = %d", n, int64(wantClass)*100+a))
		}
	}
	return errors.Join(errs...)
}

func (s *OCSF) checkObject(errs *[]error, path string, res *resolved, obj map[string]any, profiles []string) {
	fail := func(format string, a ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	names := slices.Sorted(maps.Keys(res.attrs))
	for _, name := range names {
		a := res.attrs[name]
		if a.Requirement != "required" {
			continue
		}
		if a.profile != "" && !slices.Contains(profiles, a.profile) {
			continue
		}
		if _, ok := obj[name]; !ok {
			fail("%s is required", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		a, ok := res.attrs[name]
		if !ok {
			fail("%s is not an attribute here", name)
			continue
		}
		if a.profile != "" && !slices.Contains(profiles, a.profile) {
			fail("%s belongs to the %s profile, which metadata.profiles does not apply", name, a.profile)
		}
		v := obj[name]
		if a.IsArray {
			arr, ok := v.([]any)
			if !ok {
				fail("%s: want an array, got %T", name, v)
				continue
			}
			for i, e := range arr {
				s.checkValue(errs, fmt.Sprintf("%s.%s[%d]", path, name, i), a, e, profiles)
			}
			continue
		}
		s.checkValue(errs, path+"."+name, a, v, profiles)
	}
	for kind, set := range res.constraints {
		n := 0
		for _, name := range set {
			if _, ok := obj[name]; ok {
				n++
			}
		}
		switch {
		case kind == "at_least_one" && n == 0:
			fail("needs at least one of %s", strings.Join(set, ", "))
		case kind == "just_one" && n != 1:
			fail("needs just one of %s, has %d", strings.Join(set, ", "), n)
		}
	}
}

// base follows a type to the basic type it derives from (ip_t is a
// string_t), with the most specific regex and max_len on the way.
func (s *OCSF) base(t string) (basic, regex string, maxLen int) {
	for range 10 {
		ty, ok := s.types[t]
		if !ok {
			return t, regex, maxLen
		}
		if regex == "" {
			regex = ty.Regex
		}
		if maxLen == 0 {
			maxLen = ty.MaxLen
		}
		if ty.Type == "" {
			return t, regex, maxLen
		}
		t = ty.Type
	}
	return t, regex, maxLen
}

func (s *OCSF) checkValue(errs *[]error, path string, a ocsfAttr, v any, profiles []string) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if _, isObject := s.objects[a.Type]; isObject {
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want a %s object, got %T", a.Type, v)
			return
		}
		def, _ := s.object(a.Type)
		res, err := s.attributes(def, s.object)
		if err != nil {
			fail("%v", err)
			return
		}
		s.checkObject(errs, path, res, obj, profiles)
		return
	}
	basic, regex, maxLen := s.base(a.Type)
	switch basic {
	case "string_t":
		str, ok := v.(string)
		if !ok {
			fail("want a string (%s), got %T", a.Type, v)
			return
		}
		if maxLen > 0 && len(str) > maxLen {
			fail("%d characters, %s allows %d", len(str), a.Type, maxLen)
		}
		if regex != "" {
			if re, err := regexp.Compile(regex); err == nil && !re.MatchString(str) {
				fail("%q is not a %s", str, a.Type)
			}
		}
	case "integer_t", "long_t":
		n, ok := v.(json.Number)
		if !ok {
			fail("want an integer (%s), got %T", a.Type, v)
			return
		}
		if _, err := n.Int64(); err != nil {
			fail("%s is not an integer", n)
		}
	case "float_t":
		if _, ok := v.(json.Number); !ok {
			fail("want a number (%s), got %T", a.Type, v)
		}
	case "boolean_t":
		if _, ok := v.(bool); !ok {
			fail("want a boolean, got %T", v)
		}
	case "json_t":
	default:
		fail("type %s is not known", a.Type)
	}
	if len(a.Enum) > 0 {
		key := fmt.Sprint(v)
		if _, ok := a.Enum[key]; !ok {
			fail("%s is not one of the enum's values %s", key, strings.Join(slices.Sorted(maps.Keys(a.Enum)), ", "))
		}
	}
}
