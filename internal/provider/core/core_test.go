package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

func get(t *testing.T, name string) action.Action {
	for _, a := range Provider().Actions() {
		if a.Spec().Name == name {
			return a
		}
	}
	t.Fatalf("no action %s", name)
	return nil
}

func TestNotify(t *testing.T) {
	var bodies []map[string]any
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Token") != "t" {
			t.Errorf("request: %s %v", r.Method, r.Header)
		}
		var b map[string]any
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &b)
		bodies = append(bodies, b)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	a := get(t, "core.notify")
	req := &action.Request{RunID: "run-1", Step: "notify", Incident: "INC-1", Args: map[string]cty.Value{
		"url": cty.StringVal(srv.URL), "message": cty.StringVal("contained"), "format": cty.NullVal(cty.String),
		"headers": cty.MapVal(map[string]cty.Value{"X-Token": cty.StringVal("t")}),
		"data":    cty.ObjectVal(map[string]cty.Value{"severity": cty.StringVal("high")}),
	}}
	if _, err := a.Plan(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 0 {
		t.Fatal("Plan must not send anything")
	}
	res, err := a.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if bodies[0]["message"] != "contained" || bodies[0]["incident"] != "INC-1" || bodies[0]["severity"] != "high" || bodies[0]["run_id"] != "run-1" {
		t.Errorf("json body: %v", bodies[0])
	}
	if v := res.Outputs["status"]; !v.RawEquals(cty.NumberIntVal(200)) {
		t.Errorf("status output %v", v)
	}
	req.Args["format"] = cty.StringVal("slack")
	if _, err := a.Apply(context.Background(), req); err != nil || bodies[1]["text"] != "contained" {
		t.Errorf("slack body: %v %v", bodies[1], err)
	}
	status = http.StatusServiceUnavailable
	if _, err := a.Apply(context.Background(), req); !action.IsRetryable(err) {
		t.Errorf("503 should be retryable: %v", err)
	}
	status = http.StatusBadRequest
	if _, err := a.Apply(context.Background(), req); err == nil || action.IsRetryable(err) {
		t.Errorf("400 is a plain error: %v", err)
	}
	req.Args["url"] = cty.StringVal("ftp://example.com")
	if _, err := a.Plan(context.Background(), req); err == nil {
		t.Error("non-http URL accepted")
	}
}

// A webhook URL's path and query are its secret (Slack's are): neither an
// error nor a summary shows them.
func TestNotifyNeverShowsTheWebhookPath(t *testing.T) {
	const secret = "T0001/B0002/XyZsecretToken"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("invalid_token"))
	}))
	// Express answers an unknown route with "Cannot POST /path"; others
	// echo the query or the whole URL.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "<pre>Cannot POST %s</pre>\nquery %s\nescaped %s\nlast segment %s\nurl %s",
			r.URL.Path, r.URL.RawQuery, url.PathEscape(r.URL.Path), path.Base(r.URL.Path), r.URL.String())
	}))
	defer echo.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	a := get(t, "core.notify")
	for _, base := range []string{srv.URL, echo.URL, deadURL, "ftp://hooks.example.com", "http://[::1"} {
		req := &action.Request{RunID: "run-1", Step: "notify", Args: map[string]cty.Value{
			"url": cty.StringVal(base + "/services/" + secret + "?token=" + secret), "message": cty.StringVal("m"), "format": cty.StringVal("slack"),
			"headers": cty.NullVal(cty.Map(cty.String)), "data": cty.NullVal(cty.DynamicPseudoType),
		}}
		var texts []string
		if ch, err := a.Plan(context.Background(), req); err != nil {
			texts = append(texts, err.Error())
		} else {
			texts = append(texts, ch.Summary)
		}
		if _, err := a.Apply(context.Background(), req); err != nil {
			texts = append(texts, err.Error())
		}
		for _, s := range texts {
			if strings.Contains(s, "XyZsecretToken") || strings.Contains(s, "/services") || strings.Contains(s, "B0002") {
				t.Errorf("%s: shows the webhook path: %s", base, s)
			}
		}
		if base == srv.URL && !strings.Contains(texts[1], "answered 403: invalid_token") {
			t.Errorf("the 403: %v", texts)
		}
		if base == echo.URL && !strings.Contains(texts[1], "answered 404: <pre>Cannot POST …</pre>") {
			t.Errorf("the 404: %v", texts)
		}
	}
}

func TestEvidence(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "memory.lime")
	os.WriteFile(f, []byte("memory image"), 0o600)
	inv := inventory.New(&asset.Asset{ID: "vm-1", Kind: "instance", Name: "vm"})
	env := &action.Env{Inventory: func() *inventory.Inventory { return inv }}
	a := get(t, "core.evidence")
	req := &action.Request{Env: env, Args: map[string]cty.Value{
		"files":  cty.ListVal([]cty.Value{cty.StringVal(f)}),
		"assets": cty.ListVal([]cty.Value{cty.StringVal("vm-1")}),
		"values": cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("b")}),
		"note":   cty.StringVal("n"),
	}}
	res, err := a.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("memory image"))
	if h := res.Outputs["hashes"].Index(cty.StringVal(f)).AsString(); h != hex.EncodeToString(sum[:]) {
		t.Errorf("file hash %s", h)
	}
	if len(res.Evidence) != 3 || strings.Join(res.Targets, ",") != "vm-1" {
		t.Errorf("evidence %v targets %v", res.Evidence, res.Targets)
	}
	req.Args["assets"] = cty.ListVal([]cty.Value{cty.StringVal("vm-2")})
	if _, err := a.Plan(context.Background(), req); err == nil {
		t.Error("unknown asset accepted")
	}
}

func TestAssertAndWait(t *testing.T) {
	a := get(t, "core.assert")
	req := &action.Request{Args: map[string]cty.Value{"condition": cty.False, "message": cty.StringVal("key found")}}
	if _, err := a.Apply(context.Background(), req); err == nil || !strings.Contains(err.Error(), "assertion failed: key found") {
		t.Errorf("assert: %v", err)
	}
	w := get(t, "core.wait")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Apply(ctx, &action.Request{Args: map[string]cty.Value{"duration": cty.StringVal("1h")}}); err == nil {
		t.Error("wait ignores cancellation")
	}
	if _, err := w.Plan(context.Background(), &action.Request{Args: map[string]cty.Value{"duration": cty.StringVal("soon")}}); err == nil {
		t.Error("bad duration accepted")
	}
}
