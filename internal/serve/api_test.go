package serve

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/store"
)

// A scan id that is not one is answered 400, one the history does not
// hold 404 (issue 20: ?scan=abc returned the latest scan and ?scan=999 an
// empty list with 200), on every endpoint that takes one.
func TestAPIScanParameters(t *testing.T) {
	ctx := context.Background()
	h, err := store.OpenHistory(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var ids []int64
	for i := range 2 {
		id, err := h.RecordScan(ctx, &store.ScanRecord{Schedule: "nightly", StartedAt: time.Date(2026, 11, 27, 9+i, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 11, 27, 9+i, 1, 0, 0, time.UTC)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	srv := &Server{History: h, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	first, second := itoa(ids[0]), itoa(ids[1])
	for _, tt := range []struct {
		query string
		code  int
		want  string
	}{
		{"/api/findings", 200, `"scan": ` + second},
		{"/api/findings?scan=" + first, 200, `"scan": ` + first},
		{"/api/findings?scan=abc", 400, `scan=abc is not a scan id`},
		{"/api/findings?scan=-1", 400, `scan=-1 is not a scan id`},
		{"/api/findings?scan=0", 400, `scan=0 is not a scan id`},
		{"/api/findings?scan=999", 404, `scan=999: no scan 999 in the history`},
		{"/api/diff?a=" + first + "&b=" + second, 200, `"new": []`},
		{"/api/diff?a=x", 400, `a=x is not a scan id`},
		{"/api/diff?a=" + first + "&b=1.5", 400, `b=1.5 is not a scan id`},
		{"/api/diff?a=999", 404, `a=999: no scan 999`},
		{"/api/diff?a=" + first + "&b=999", 404, `b=999: no scan 999`},
	} {
		resp, err := http.Get(web.URL + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %s, want %d with %q", tt.query, resp.StatusCode, body, tt.code, tt.want)
		}
		if tt.code != 200 {
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s: the error is not JSON {\"error\": ...}: %s", tt.query, body)
			}
		}
	}
}
