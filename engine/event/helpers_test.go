package event

import (
	"encoding/base64"
	"encoding/json"
)

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
