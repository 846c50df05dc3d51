package deploycheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/internal/cli"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// manifests reads every resource of examples/deploy/kubernetes.
func manifests(t *testing.T) []map[string]any {
	files, _ := filepath.Glob(filepath.Join(testutil.Path(t, "examples/deploy/kubernetes"), "*.yaml"))
	var out []map[string]any
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				doc["_file"] = filepath.Base(f)
				out = append(out, doc)
			}
		}
	}
	return out
}

// at walks a decoded document: at(doc, "spec", "template").
func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func list(v any) []any { l, _ := v.([]any); return l }

// What the manifests run is vigil as it is: every container's arguments
// parse as the CLI's flags (with $(VAR) filled from the container's own
// env, as Kubernetes does), the Secrets and ConfigMap they name exist,
// and the ConfigMap's vigil.hcl loads with the Secrets' values in the
// environment.
func TestManifestsRunVigil(t *testing.T) {
	docs := manifests(t)
	secrets := map[string]map[string]any{}
	var hcl string
	for _, d := range docs {
		name, _ := at(d, "metadata", "name").(string)
		switch d["kind"] {
		case "Secret":
			secrets[name], _ = d["stringData"].(map[string]any)
		case "ConfigMap":
			hcl, _ = at(d, "data", "vigil.hcl").(string)
		}
	}
	if hcl == "" {
		t.Fatal("no ConfigMap with vigil.hcl")
	}
	env := map[string]string{}
	for _, data := range secrets {
		for k, v := range data {
			env[k], _ = v.(string)
		}
	}
	config.LookupEnv = func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	defer func() { config.LookupEnv = os.LookupEnv }()
	cfg, _, diags := config.Parse([]byte(hcl), "/etc/vigil/vigil.hcl")
	if diags.HasErrors() {
		t.Fatalf("the ConfigMap's vigil.hcl: %v", diags)
	}
	if cfg.Server == nil || cfg.Server.OIDC == nil || cfg.Server.OIDC.ClientSecret != "CHANGE-ME" || len(cfg.Notify) == 0 || !strings.HasPrefix(cfg.Notify[0].URL, "https://hooks.slack.com/") {
		t.Errorf("the ConfigMap's vigil.hcl does not take its secrets from the environment: %+v", cfg.Server)
	}

	// Replicas on several machines carry on each other's runs only with an
	// anchor they all reach (review 18, bug 3a): not the default file.
	if !strings.HasPrefix(cfg.Anchor, "gs://") && !strings.HasPrefix(cfg.Anchor, "s3://") {
		t.Errorf("the ConfigMap's vigil.hcl anchors journals in %q, which other replicas cannot read: set anchor = \"gs://...\" or \"s3://...\"", cfg.Anchor)
	}

	varRe := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	containers := 0
	for _, d := range docs {
		var pod any
		switch d["kind"] {
		case "Deployment", "Job":
			pod = at(d, "spec", "template", "spec")
		case "CronJob":
			pod = at(d, "spec", "jobTemplate", "spec", "template", "spec")
		default:
			continue
		}
		where := d["_file"].(string) + " " + d["kind"].(string)
		if at(pod, "serviceAccountName") != "vigil" {
			t.Errorf("%s: runs as %v, not the vigil ServiceAccount", where, at(pod, "serviceAccountName"))
		}
		for _, v := range list(at(pod, "volumes")) {
			if cm, ok := at(v, "configMap", "name").(string); ok && cm != "vigil-config" {
				t.Errorf("%s: ConfigMap %s does not exist", where, cm)
			}
		}
		for _, c := range list(at(pod, "containers")) {
			containers++
			defined := map[string]string{}
			for _, e := range list(at(c, "env")) {
				name := at(e, "name").(string)
				defined[name] = map[string]string{"JOB_COMPLETION_INDEX": "1", "VIGIL_SHARD_GROUP": "5f1c9d2e-uid"}[name]
				if ref := at(e, "valueFrom", "secretKeyRef"); ref != nil {
					s, key := at(ref, "name").(string), at(ref, "key").(string)
					if _, ok := secrets[s][key]; !ok {
						t.Errorf("%s: env %s reads secret %s key %s, which secrets.yaml lacks", where, name, s, key)
					}
					defined[name], _ = secrets[s][key].(string)
				}
			}
			for _, e := range list(at(c, "envFrom")) {
				if s, _ := at(e, "secretRef", "name").(string); secrets[s] == nil {
					t.Errorf("%s: envFrom secret %s is not in secrets.yaml", where, s)
				}
			}
			// A read-only root filesystem (review 18, bug 3b: "mkdir
			// /home/nonroot/.local: read-only file system" on the first
			// run): what vigil writes must go to an emptyDir.
			if ro, _ := at(c, "securityContext", "readOnlyRootFilesystem").(bool); ro {
				empty := map[string]bool{}
				for _, v := range list(at(pod, "volumes")) {
					if at(v, "emptyDir") != nil {
						empty[at(v, "name").(string)] = true
					}
				}
				for _, name := range []string{"XDG_STATE_HOME", "XDG_CONFIG_HOME"} {
					dir := ""
					for _, e := range list(at(c, "env")) {
						if at(e, "name") == name {
							dir, _ = at(e, "value").(string)
						}
					}
					writable := false
					for _, m := range list(at(c, "volumeMounts")) {
						mp, _ := at(m, "mountPath").(string)
						ro, _ := at(m, "readOnly").(bool)
						if empty[at(m, "name").(string)] && !ro && dir != "" && (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) {
							writable = true
						}
					}
					if !writable {
						t.Errorf("%s: the root filesystem is read-only and %s (%q) is not under a writable emptyDir mount", where, name, dir)
					}
				}
			}
			var args []string
			for _, a := range list(at(c, "args")) {
				s := a.(string)
				for _, m := range varRe.FindAllStringSubmatch(s, -1) {
					v, ok := defined[m[1]]
					if !ok {
						t.Errorf("%s: argument %q uses $(%s), which the container's env does not define", where, s, m[1])
					}
					s = strings.ReplaceAll(s, m[0], v)
				}
				args = append(args, s)
			}
			if len(args) == 0 {
				t.Errorf("%s: a container without args", where)
				continue
			}
			var stderr bytes.Buffer
			if code := cli.Run(context.Background(), append(args, "--help"), nil, io.Discard, &stderr); code != 0 {
				t.Errorf("%s: vigil %s: exit %d: %s", where, strings.Join(args, " "), code, stderr.String())
			}
		}
	}
	if containers < 3 {
		t.Errorf("%d vigil containers, want serve, the Job and the CronJob", containers)
	}
}
