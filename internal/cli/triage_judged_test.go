package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/triage"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// A triage judges only its cards' assets and what is around them (the
// whole inventory stays the cross-asset context): for each card, the
// findings of that narrow scan are those of a scan of every asset filtered
// to the same assets, and the card is the same as one made from the full
// scan. On the examples (every asset, and the alerts) and on a generated
// inventory (bench/gen).
func TestTriageJudgesTheCardsAssetsOnly(t *testing.T) {
	t.Chdir(testutil.Root(t))
	t.Run("examples", func(t *testing.T) {
		inv := load(t, "examples/inventory")
		var alerts []*alert.Alert
		for _, f := range []string{"guardduty-getfindings.json", "scc-list-findings.json", "guardduty-eventbridge-access-key.json", "securityhub-asff.json"} {
			as, err := alert.Load(filepath.Join("examples/alerts", f))
			if err != nil {
				t.Fatal(err)
			}
			alerts = append(alerts, as...)
		}
		var ids []string
		for _, x := range inv.Assets() {
			ids = append(ids, x.ID)
		}
		compareJudged(t, inv, "examples/vigil.hcl", ids, alerts)
	})
	t.Run("generated", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds and runs bench/gen")
		}
		dir := t.TempDir()
		cmd := osexec.Command("go", "run", "./bench/gen", "inventory", "-n", "3000", "-out", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bench/gen: %v\n%s", err, out)
		}
		inv := load(t, filepath.Join(dir, "gcp-resources.ndjson"), filepath.Join(dir, "gcp-iam.ndjson"),
			filepath.Join(dir, "aws-config.json"), filepath.Join(dir, "aws-collected.ndjson"))
		// a spread of kinds: every instance, bucket, network and firewall
		// of a few projects and accounts, and every 40th asset
		var ids []string
		for i, x := range inv.Assets() {
			switch {
			case i%40 == 0:
			case x.Kind == asset.KindInstance || x.Kind == asset.KindNetwork || x.Kind == asset.KindFirewall || x.Kind == asset.KindBucket:
				if !strings.HasSuffix(x.Scope, "0") && !strings.HasSuffix(x.Scope, "00000") {
					continue
				}
			default:
				continue
			}
			ids = append(ids, x.ID)
		}
		compareJudged(t, inv, filepath.Join(dir, "vigil.hcl"), ids, nil)
	})
}

func load(t *testing.T, paths ...string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(context.Background(), paths...)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func compareJudged(t *testing.T, inv *inventory.Inventory, config string, ids []string, alerts []*alert.Alert) {
	t.Helper()
	ctx := context.Background()
	a := &app{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader(""), env: os.Getenv}
	j, err := a.loadJudge(ctx, &judgeFlags{config: config})
	if err != nil {
		t.Fatal(err)
	}
	full, _, err := j.findings(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.loadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	fullOpts := &triage.Options{Inventory: inv, Config: cfg, Findings: full}
	wider, compared := 0, 0
	check := func(name string, judged map[string]bool, cards func(*triage.Options) []*triage.Card) {
		got, _, err := j.findingsOn(ctx, judged, inv)
		if err != nil {
			t.Fatal(err)
		}
		var want []policy.Finding
		for _, f := range full {
			if judged[f.AssetID] {
				want = append(want, f)
			}
		}
		if g, w := findingKeys(got), findingKeys(want); !slices.Equal(g, w) {
			t.Errorf("%s: judged %d assets: findings\n%s\nwant (the full scan's on them)\n%s", name, len(judged), strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		compared += len(want)
		if len(judged) > 1 {
			wider++
		}
		narrow := &triage.Options{Inventory: inv, Config: cfg, Findings: got}
		g, _ := json.Marshal(cards(narrow))
		w, _ := json.Marshal(cards(fullOpts))
		if string(g) != string(w) {
			t.Errorf("%s: card differs from the full scan's:\n%s\nwant\n%s", name, g, w)
		}
	}
	for _, id := range ids {
		check(id, (&triage.Options{Inventory: inv, Config: cfg}).Judged([]string{id}, nil), func(o *triage.Options) []*triage.Card {
			return []*triage.Card{triage.Build(o, id)}
		})
	}
	for _, al := range alerts {
		check("alert "+al.ID, (&triage.Options{Inventory: inv, Config: cfg}).Judged(nil, []*alert.Alert{al}), func(o *triage.Options) []*triage.Card {
			return triage.ForAlert(o, al)
		})
	}
	// the comparison must have had something to compare
	if compared == 0 || wider == 0 {
		t.Fatalf("%d cards, %d findings compared, %d cards judged more than their asset", len(ids)+len(alerts), compared, wider)
	}
	t.Logf("%d cards, %d findings compared, %d cards judged more than their asset", len(ids)+len(alerts), compared, wider)
}

func findingKeys(fs []policy.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s %v %s", f.PolicyID, f.AssetID, f.Severity, f.Waived, f.Message))
	}
	slices.Sort(out)
	return out
}
