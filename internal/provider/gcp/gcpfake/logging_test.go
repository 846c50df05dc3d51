package gcpfake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

func listEntries(t *testing.T, rest string, body map[string]any) (int, []string, string) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(rest+"/v2/entries:list", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Entries []struct {
			InsertID string `json:"insertId"`
		}
		NextPageToken string
	}
	json.NewDecoder(resp.Body).Decode(&out)
	var ids []string
	for _, e := range out.Entries {
		ids = append(ids, e.InsertID)
	}
	return resp.StatusCode, ids, out.NextPageToken
}

// entries.list over the scenario's samples, as the wire has it: filters
// in the Logging query language (NOT before OR before AND), time order,
// paging, and the errors of a bad request.
func TestListEntries(t *testing.T) {
	srv, err := Scenario().Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const (
		get, meta, miner, fw, old = "-n4q1t2e9x0kd", "1x7c9r2e5b8m", "-5h2k8w1q3zc", "a9d3f0c2e71b", "q0w8e6r4t2y1"
		web1                      = `protoPayload.resourceName:"projects/acme-prod/zones/europe-west1-b/instances/web-1"`
		sa                        = `protoPayload.authenticationInfo.principalEmail="shop-frontend@acme-prod.iam.gserviceaccount.com"`
		window                    = `timestamp>="2026-11-26T08:30:00Z" AND timestamp<="2026-11-27T14:30:00Z"`
	)
	for _, tc := range []struct {
		name, filter, order string
		want                []string
	}{
		{"everything, oldest first", "", "", []string{old, fw, get, meta, miner}},
		{"newest first", "", "timestamp desc", []string{miner, meta, get, fw, old}},
		{"web-1 in the window", window + " AND " + web1, "", []string{get, meta}},
		{"web-1 or the key, in the window", window + " AND (" + web1 + " OR " + sa + ")", "", []string{get, meta, miner}},
		{"OR binds tighter than AND", web1 + " OR " + sa + " AND " + window, "", []string{get, meta, miner}},
		{"juxtaposition is AND", window + " " + sa, "", []string{get, meta, miner}},
		{"admin activity only", `logName="projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity" AND ` + sa, "", []string{meta, miner}},
		{"NOT", "NOT " + sa, "", []string{old, fw}},
		{"status code", `protoPayload.status.code=7`, "", []string{miner}},
		{"has is case-insensitive", `protoPayload.methodName:"SETMETADATA"`, "", []string{meta}},
		{"a timestamp with a zone offset", `timestamp>"2026-11-27T09:40:00+01:00"`, "", []string{miner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ids, _ := listEntries(t, srv.REST, map[string]any{"resourceNames": []string{"projects/acme-prod"}, "filter": tc.filter, "orderBy": tc.order})
			if code != 200 || !slices.Equal(ids, tc.want) {
				t.Errorf("%d %v, want %v", code, ids, tc.want)
			}
		})
	}

	// Paging: two at a time, the token carries on where the page ended.
	var all []string
	body := map[string]any{"resourceNames": []string{"projects/acme-prod"}, "pageSize": 2}
	for page := 0; ; page++ {
		code, ids, next := listEntries(t, srv.REST, body)
		if code != 200 || len(ids) > 2 || page > 3 {
			t.Fatalf("page %d: %d %v", page, code, ids)
		}
		all = append(all, ids...)
		if next == "" {
			break
		}
		body["pageToken"] = next
	}
	if !slices.Equal(all, []string{old, fw, get, meta, miner}) {
		t.Errorf("pages %v", all)
	}

	// The security project has no entries; bad requests are 400s.
	if code, ids, _ := listEntries(t, srv.REST, map[string]any{"resourceNames": []string{"projects/acme-sec-forensics"}}); code != 200 || len(ids) != 0 {
		t.Errorf("security project: %d %v", code, ids)
	}
	for _, bad := range []map[string]any{
		{},
		{"resourceNames": []string{"projects/acme-prod"}, "filter": `timestamp>="yesterday"`},
		{"resourceNames": []string{"projects/acme-prod"}, "filter": `(protoPayload.methodName="x"`},
		{"resourceNames": []string{"projects/acme-prod"}, "filter": `"free text"`},
		{"resourceNames": []string{"projects/acme-prod"}, "orderBy": "severity"},
		{"resourceNames": []string{"projects/acme-prod"}, "pageSize": 1001},
		{"resourceNames": []string{"projects/acme-prod"}, "pageToken": "garbage!"},
	} {
		if code, _, _ := listEntries(t, srv.REST, bad); code != 400 {
			t.Errorf("%v: %d, want 400", bad, code)
		}
	}
	if code, _, _ := listEntries(t, srv.REST, map[string]any{"resourceNames": []string{"projects/nobody"}}); code != 403 {
		t.Errorf("unknown project: %d, want 403", code)
	}
}
