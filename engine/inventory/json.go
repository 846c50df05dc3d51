package inventory

import (
	"encoding/json"

	gojson "github.com/goccy/go-json"
)

// decodeJSON decodes one record into v. The hot path uses goccy/go-json,
// which decodes our typed records several times faster than encoding/json
// (see BenchmarkDecodeCAI) and is already in the module graph through OPA;
// FuzzDecodeJSON holds it to encoding/json's results. Input it rejects is
// decoded again with encoding/json, so that every error reads the same and
// carries the offsets jsonError and syntaxOffset understand; v must be
// freshly made by the caller.
func decodeJSON(raw []byte, v any) error {
	if gojson.Unmarshal(raw, v) == nil {
		return nil
	}
	return json.Unmarshal(raw, v)
}
