package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// APIModel is an AWS API model in botocore's JSON form (service-2.json),
// which has no JSON Schema: Validate checks a document against one of its
// shapes directly. Structures check their members (no unknown one, every
// required one), strings their enum, pattern and lengths, lists and maps
// their item counts. Security Hub keeps most length limits in the members'
// documentation ("Length Constraints: Minimum length of 1. Maximum length
// of 256.", "Maximum number of 50 items"), so they are read from there too.
type APIModel struct {
	Shapes map[string]*apiShape `json:"shapes"`
}

type apiShape struct {
	Type     string                `json:"type"`
	Required []string              `json:"required"`
	Members  map[string]*apiMember `json:"members"`
	Member   *apiMember            `json:"member"`
	Key      *apiMember            `json:"key"`
	Value    *apiMember            `json:"value"`
	Enum     []string              `json:"enum"`
	Pattern  string                `json:"pattern"`
	Min      *float64              `json:"min"`
	Max      *float64              `json:"max"`
}

type apiMember struct {
	Shape         string `json:"shape"`
	Documentation string `json:"documentation"`
}

// LoadAPIModel reads a botocore service model.
func LoadAPIModel(file string) (*APIModel, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m APIModel
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(m.Shapes) == 0 {
		return nil, fmt.Errorf("%s: no shapes", file)
	}
	return &m, nil
}

// limits are a member's documented length or count limits.
type limits struct{ min, max int }

var (
	docLength = regexp.MustCompile(`Length Constraints?: (?:Minimum (?:length )?of (\d+)(?: length)?\. ?)?(?:Maximum (?:length )?of (\d+)(?: length)?|(\d+)\.)`)
	docCount  = regexp.MustCompile(`Maximum number of (\d+) items`)
)

func docLimits(doc string) (length, count limits) {
	if m := docLength.FindStringSubmatch(doc); m != nil {
		length.min, _ = strconv.Atoi(m[1])
		if m[3] != "" { // "Length Constraints: 12." is an exact length
			length.min, _ = strconv.Atoi(m[3])
			length.max = length.min
		} else {
			length.max, _ = strconv.Atoi(m[2])
		}
	}
	if m := docCount.FindStringSubmatch(doc); m != nil {
		count.max, _ = strconv.Atoi(m[1])
	}
	return
}

// Validate checks a JSON document against a shape and returns every
// violation, each with its path.
func (m *APIModel) Validate(shape string, document []byte) error {
	dec := json.NewDecoder(bytes.NewReader(document))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("read document: %w", err)
	}
	var errs []error
	m.check(&errs, "$", shape, "", v)
	return errors.Join(errs...)
}

func (m *APIModel) check(errs *[]error, path, name, doc string, v any) {
	fail := func(format string, a ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	s := m.Shapes[name]
	if s == nil {
		fail("shape %s is not in the model", name)
		return
	}
	length, count := docLimits(doc)
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want an object (%s), got %T", name, v)
			return
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				fail("%s is required (%s)", r, name)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			mem, ok := s.Members[k]
			if !ok {
				fail("%s is not a member of %s", k, name)
				continue
			}
			m.check(errs, path+"."+k, mem.Shape, mem.Documentation, obj[k])
		}
	case "list":
		arr, ok := v.([]any)
		if !ok {
			fail("want an array (%s), got %T", name, v)
			return
		}
		if s.Min != nil && float64(len(arr)) < *s.Min {
			fail("%d items, at least %g", len(arr), *s.Min)
		}
		if s.Max != nil && float64(len(arr)) > *s.Max {
			fail("%d items, at most %g", len(arr), *s.Max)
		}
		if count.max > 0 && len(arr) > count.max {
			fail("%d items, at most %d (documented)", len(arr), count.max)
		}
		for i, e := range arr {
			m.check(errs, fmt.Sprintf("%s[%d]", path, i), s.Member.Shape, s.Member.Documentation, e)
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want an object (%s), got %T", name, v)
			return
		}
		if count.max > 0 && len(obj) > count.max {
			fail("%d entries, at most %d (documented)", len(obj), count.max)
		}
		for k, e := range obj {
			m.check(errs, path+"{key "+k+"}", s.Key.Shape, s.Key.Documentation, k)
			m.check(errs, path+"."+k, s.Value.Shape, s.Value.Documentation, e)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string (%s), got %T", name, v)
			return
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			fail("%q is not one of %s", str, strings.Join(s.Enum, ", "))
		}
		if s.Pattern != "" {
			// Smithy's patterns are not anchored: ".*\S.*" is "has a
			// non-space character"
			re, err := regexp.Compile(s.Pattern)
			if err == nil && !re.MatchString(str) {
				fail("%q does not match %s", str, s.Pattern)
			}
		}
		n := utf8.RuneCountInString(str)
		if s.Min != nil && float64(n) < *s.Min || length.min > 0 && n < length.min {
			fail("%d characters, too short", n)
		}
		if s.Max != nil && float64(n) > *s.Max || length.max > 0 && n > length.max {
			fail("%d characters, longer than the limit", n)
		}
	case "integer", "long":
		num, ok := v.(json.Number)
		if !ok {
			fail("want an integer (%s), got %T", name, v)
			return
		}
		i, err := num.Int64()
		if err != nil {
			fail("%s is not an integer", num)
			return
		}
		if s.Min != nil && float64(i) < *s.Min || s.Max != nil && float64(i) > *s.Max {
			fail("%d out of range", i)
		}
	case "double", "float":
		if _, ok := v.(json.Number); !ok {
			fail("want a number (%s), got %T", name, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want a boolean (%s), got %T", name, v)
		}
	case "timestamp":
		if _, ok := v.(string); !ok {
			fail("want a timestamp string (%s), got %T", name, v)
		}
	default:
		fail("shape %s has type %s, which this checker does not know", name, s.Type)
	}
}
