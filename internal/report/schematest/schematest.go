package schematest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Compile reads a JSON schema file (draft 4 to 2020-12, as its $schema
// says), with format assertions on: "uri-reference" and "date-time" are
// checked, as code scanning checks them.
func Compile(schemaFile string) (*jsonschema.Schema, error) {
	f, err := os.Open(schemaFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("read schema %s: %w", schemaFile, err)
	}
	abs, err := filepath.Abs(schemaFile)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "file://" + filepath.ToSlash(abs)
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("add schema %s: %w", schemaFile, err)
	}
	return c.Compile(url)
}

// Validate checks a JSON document against a schema file and fails the test
// with every violation, each with its JSON pointer.
func Validate(t testing.TB, schemaFile string, document []byte) {
	t.Helper()
	sch, err := Compile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateWith(sch, document); err != nil {
		t.Errorf("document does not follow %s:\n%v", filepath.Base(schemaFile), err)
	}
}

// ValidateWith checks a JSON document against a compiled schema.
func ValidateWith(sch *jsonschema.Schema, document []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return fmt.Errorf("read document: %w", err)
	}
	return sch.Validate(inst)
}
