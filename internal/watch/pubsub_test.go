package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/internal/provider/gcp"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	vtest "github.com/vigil-ir/vigil/internal/testutil"
)

const (
	psProject = "vigil-test"
	openFW    = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-anywhere"
)

// pubsubWorld starts the emulator with a topic, a subscription and a
// dead-letter topic (with a subscription to read it).
func pubsubWorld(t *testing.T) (*PubSub, *pubsub.Client, *pubsub.Publisher, string) {
	t.Helper()
	t.Setenv("PUBSUB_EMULATOR_HOST", vtest.PubSubEmulator(t))
	ctx := context.Background()
	client, err := pubsub.NewClient(ctx, psProject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	for _, topic := range []string{"vigil-events", "vigil-dead-letter"} {
		name := "projects/" + psProject + "/topics/" + topic
		if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/" + psProject + "/subscriptions/" + topic,
			Topic: name, AckDeadlineSeconds: 10}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := NewPubSub(ctx, &config.PubSub{Subscription: "projects/" + psProject + "/subscriptions/vigil-events",
		DeadLetterTopic: "projects/" + psProject + "/topics/vigil-dead-letter"}, MaxOutstanding(4), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	pub := client.Publisher("projects/" + psProject + "/topics/vigil-events")
	t.Cleanup(pub.Stop)
	return src, client, pub, "projects/" + psProject + "/subscriptions/vigil-dead-letter"
}

func publish(t *testing.T, pub *pubsub.Publisher, body []byte) {
	t.Helper()
	if _, err := pub.Publish(context.Background(), &pubsub.Message{Data: body}).Get(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// gcpWorld serves the fake Google Cloud, collects it as the last recorded
// inventory, and returns a reader.
func gcpWorld(t *testing.T) (*gcpfake.Servers, *inventory.Inventory, *gcp.Reader) {
	t.Helper()
	_, srv, inv, r := gcpWorldWith(t, nil)
	return srv, inv, r
}

// gcpWorldWith is gcpWorld with the fake changed before it is collected.
func gcpWorldWith(t *testing.T, setup func(f *gcpfake.Fake)) (*gcpfake.Fake, *gcpfake.Servers, *inventory.Inventory, *gcp.Reader) {
	t.Helper()
	f := gcpfake.Scenario()
	f.SetClock(time.Now)
	if setup != nil {
		f.With(setup)
	}
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	opts := gcp.Options{Scope: "organizations/684315297612", Endpoint: srv.REST, AssetEndpoint: srv.Asset, RetryInitial: time.Millisecond}
	inv, _, err := gcp.Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gcp.NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return f, srv, inv, r
}

// insertFirewall makes, through the Compute API, the rule the audit log
// entry records.
func insertFirewall(t *testing.T, rest string) {
	t.Helper()
	body := `{"name":"allow-ssh-anywhere","network":"https://www.googleapis.com/compute/v1/projects/acme-prod/global/networks/prod-vpc",` +
		`"direction":"INGRESS","priority":1000,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`
	resp, err := http.Post(rest+"/compute/v1/projects/acme-prod/global/firewalls", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("firewalls.insert: %s", resp.Status)
	}
	if err := gcpfake.AwaitOperation(rest, resp.Body); err != nil {
		t.Fatalf("firewalls.insert: %v", err)
	}
}

// The second check: the compute.firewalls.insert audit-log entry,
// published through the emulator, produces a VGL-NET-001 notification;
// publishing it again (a new Pub/Sub message, the same log entry) sends
// nothing more.
func TestPubSubAuditLogNotifiesOnce(t *testing.T) {
	srv, inv, reader := gcpWorld(t)
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	insertFirewall(t, srv.REST)
	r.start(t)
	body := sample(t, "engine", "event", "testdata", "gcp", "compute-firewalls-insert.json")
	publish(t, pub, body)
	waitFor(t, "the VGL-NET-001 notification", 30*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+openFW) })
	// The rule is world-open (VGL-NET-001) and logs nothing (VGL-NET-007):
	// each finding is notified once.
	if got := r.hook.findings(); !slices.Equal(got, []string{"VGL-NET-001 " + openFW, "VGL-NET-007 " + openFW}) {
		t.Errorf("notified %v", got)
	}
	publish(t, pub, body)
	waitFor(t, "the replay to be skipped", 30*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "duplicate") == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := len(r.hook.posts()); n != 1 {
		t.Errorf("%d posts after the replay", n)
	}
	scans, _ := r.hist.Scans(context.Background(), "watch/gcp", 0)
	if len(scans) != 1 || scans[0].BySeverity["high"] != 1 {
		t.Errorf("event scans: %+v", scans)
	}
}

// A poison message is published to the dead-letter topic with the reason
// and acknowledged.
func TestPubSubPoisonToDeadLetter(t *testing.T) {
	_, inv, reader := gcpWorld(t)
	src, client, pub, dlqSub := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	r.start(t)
	publish(t, pub, []byte("not json at all"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan *pubsub.Message, 1)
	go client.Subscriber(dlqSub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- m:
		default:
		}
		cancel()
	})
	select {
	case m := <-got:
		if string(m.Data) != "not json at all" || m.Attributes["vigil-error"] == "" {
			t.Errorf("dead letter: %q %v", m.Data, m.Attributes)
		}
	case <-ctx.Done():
		t.Fatal("nothing on the dead-letter topic")
	}
	waitFor(t, "the dead letter to be counted", 10*time.Second, func() bool { return r.count(r.w.Metrics.DeadLettered, "queue") == 1 })
}

// A firewall deleted (compute.firewalls.delete, watched) is read as gone
// and its announcement forgotten: made again with the same name, it is
// announced again.
func TestPubSubDeletedFirewallInsertedAgainNotified(t *testing.T) {
	srv, inv, reader := gcpWorld(t)
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	insertFirewall(t, srv.REST)
	r.start(t)
	body := string(sample(t, "engine", "event", "testdata", "gcp", "compute-firewalls-insert.json"))
	notified := func() int {
		n := 0
		for _, f := range r.hook.findings() {
			if f == "VGL-NET-001 "+openFW {
				n++
			}
		}
		return n
	}
	publish(t, pub, []byte(body))
	waitFor(t, "the first notification", 60*time.Second, func() bool { return notified() == 1 })
	req, _ := http.NewRequest(http.MethodDelete, srv.REST+"/compute/v1/projects/acme-prod/global/firewalls/allow-ssh-anywhere", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete the firewall: %s", resp.Status)
	}
	err = gcpfake.AwaitOperation(srv.REST, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "compute-firewalls-delete.json"))
	waitFor(t, "the delete handled", 60*time.Second, func() bool {
		return r.count(r.w.Metrics.Processed, "config")+r.count(r.w.Metrics.Processed, "ignored") == 2
	})
	if n := r.count(r.w.Metrics.Processed, "ignored"); n != 0 {
		t.Errorf("%v events ignored, want 0 (the delete is watched)", n)
	}
	insertFirewall(t, srv.REST)
	publish(t, pub, []byte(strings.Replace(body, `"insertId": "`, `"insertId": "again`, 1)))
	waitFor(t, "the notification of the firewall made again", 60*time.Second, func() bool { return notified() == 2 })
}

// vigil's reason on a dead letter is its own: a publisher that sets
// vigil-error or vigil-source on a poison message cannot hide why it was
// dead-lettered or where it came from. Its other attributes are kept.
func TestPubSubDeadLetterReasonNotSpoofed(t *testing.T) {
	_, inv, reader := gcpWorld(t)
	src, client, pub, dlqSub := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	r.start(t)
	spoofed := map[string]string{"vigil-error": "benign: replayed by ops", "vigil-source": "projects/x/subscriptions/elsewhere", "origin": "ci"}
	if _, err := pub.Publish(context.Background(), &pubsub.Message{Data: []byte("not json at all"), Attributes: spoofed}).Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan *pubsub.Message, 1)
	go client.Subscriber(dlqSub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- m:
		default:
		}
		cancel()
	})
	select {
	case m := <-got:
		a := m.Attributes
		// The body is not JSON: the reason is the parser's.
		if !strings.Contains(a["vigil-error"], "invalid JSON") || a["vigil-source"] != src.Subscription || a["origin"] != "ci" {
			t.Errorf("dead letter attributes %v: want vigil's reason (invalid JSON), vigil-source %s, origin kept", a, src.Subscription)
		}
	case <-ctx.Done():
		t.Fatal("nothing on the dead-letter topic")
	}
}

// An SCC notification on the same subscription becomes a triage card.
func TestPubSubSCCCard(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, nil)
	r.start(t)
	publish(t, pub, sample(t, "examples", "alerts", "scc-pubsub-notification.json"))
	waitFor(t, "the card", 30*time.Second, func() bool { return len(r.hook.posts()) == 1 })
	if p := r.hook.posts()[0]; p["event"] != "triage_card" || len(p["cards"].([]any)) != 1 {
		t.Errorf("post: %v", p)
	}
}

// A project made after the inventory was recorded (CreateProject names it
// by its id; Cloud Asset by a number no one knows yet) is read and judged:
// the event scan judges it, and its findings are notified.
func TestPubSubNewProjectJudged(t *testing.T) {
	f, _, inv, reader := gcpWorldWith(t, nil)
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	f.With(func(f *gcpfake.Fake) {
		f.AddProject(&gcpfake.Project{ID: "shadow-project-7", Number: "771234567890", Ancestors: []string{"folders/511904211743", "organizations/684315297612"}})
	})
	r.start(t)
	publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "projects-create.json"))
	const project = "//cloudresourcemanager.googleapis.com/projects/771234567890"
	// Unlabelled, the new project lacks the owner and purpose labels
	// (VGL-OWN-002) and exports no audit logs (VGL-LOG-006).
	waitFor(t, "the new project's findings", 30*time.Second, func() bool {
		return slices.Contains(r.hook.findings(), "VGL-OWN-002 "+project) && slices.Contains(r.hook.findings(), "VGL-LOG-006 "+project)
	})
	scans, _ := r.hist.Scans(context.Background(), "watch/gcp", 0)
	if len(scans) != 1 || scans[0].Assets < 1 {
		t.Errorf("event scans: %+v", scans)
	}
	if r.w.state.projectName("shadow-project-7") != project {
		t.Error("the watcher's inventory lacks the new project")
	}
}

// An organization sink exporting the audit logs has its filter changed so
// that it no longer takes them: the UpdateSink entry, logged at the organization, is read at the
// organization, and every project under it is judged again: each now
// exports no audit logs (VGL-LOG-006), which is notified.
func TestPubSubOrgSinkTampering(t *testing.T) {
	const sink = "//logging.googleapis.com/organizations/684315297612/sinks/vigil-events"
	orgSink := func(filter string) func(f *gcpfake.Fake) {
		return func(f *gcpfake.Fake) {
			f.AddNodeResource([]string{"organizations/684315297612"}, sink, "logging.googleapis.com/LogSink", "global", map[string]any{
				"name": "vigil-events", "destination": "pubsub.googleapis.com/projects/acme-sec-forensics/topics/vigil-events",
				"filter": filter, "includeChildren": true})
		}
	}
	// All audit logs (VGL-LOG-006 wants every audit log exported, not the
	// admin activity alone).
	f, _, inv, reader := gcpWorldWith(t, orgSink(`logName:"cloudaudit.googleapis.com"`))
	if inv.Get(sink) == nil {
		t.Fatal("the organization sink is not in the inventory")
	}
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	const prod = "//cloudresourcemanager.googleapis.com/projects/402398720121"
	r.start(t)
	waitFor(t, "the start", 10*time.Second, func() bool { return strings.Contains(r.logBuf.String(), "watch: consuming") })
	r.w.state.withInventory(func(_ *inventory.Inventory, fs []policy.Finding) error {
		if has(fs, "VGL-LOG-006", prod) {
			t.Fatal("acme-prod lacks an audit log export before the change")
		}
		return nil
	})
	f.With(orgSink("severity>=ERROR"))
	publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "logging-update-org-sink.json"))
	waitFor(t, "VGL-LOG-006 on the projects", 30*time.Second, func() bool {
		return slices.Contains(r.hook.findings(), "VGL-LOG-006 "+prod) &&
			slices.Contains(r.hook.findings(), "VGL-LOG-006 //cloudresourcemanager.googleapis.com/projects/218745590023")
	})
	if r.count(r.w.Metrics.DeadLettered, "queue") != 0 || r.count(r.w.Metrics.Failed, "parse") != 0 {
		t.Error("the organization's sink event was taken for a malformed one")
	}
}

const web1 = "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"

// computeCall makes a Compute call on the fake and waits for its operation.
func computeCall(t *testing.T, rest, path, body string) {
	t.Helper()
	resp, err := http.Post(rest+"/compute/v1/projects/acme-prod/zones/europe-west1-b/instances/web-1"+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s %s", path, resp.Status, raw)
	}
	if err := gcpfake.AwaitOperation(rest, resp.Body); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// compute.instances.deleteAccessConfig through the emulator: web-1 is read
// again without its external IP, and the event scan no longer finds it
// public (VGL-NET-004), which the recorded inventory did.
func TestPubSubDeleteAccessConfigJudgesTheInstance(t *testing.T) {
	srv, inv, reader := gcpWorld(t)
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	r.start(t)
	waitFor(t, "the inventory loaded", 30*time.Second, func() bool { return strings.Contains(r.logBuf.String(), "watch: consuming") })
	r.w.state.mu.RLock()
	public := false
	for _, f := range r.w.state.findings[web1] {
		public = public || f.PolicyID == "VGL-NET-004"
	}
	r.w.state.mu.RUnlock()
	if !public {
		t.Fatal("web-1 is not public in the recorded inventory: the test would show nothing")
	}
	computeCall(t, srv.REST, "/deleteAccessConfig?accessConfig=External%20NAT&networkInterface=nic0", "")
	publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "compute-instances-delete-access-config.json"))
	waitFor(t, "the event scan", 60*time.Second, func() bool {
		return r.count(r.w.Metrics.Processed, "config")+r.count(r.w.Metrics.Processed, "ignored") == 1
	})
	scans, _ := r.hist.Scans(context.Background(), "watch/gcp", 0)
	if len(scans) != 1 || !strings.Contains(scans[0].Sources[0], "deleteAccessConfig") {
		t.Fatalf("event scans: %+v", scans)
	}
	fs, _ := r.hist.Findings(context.Background(), scans[0].ID)
	judged := false
	for _, f := range fs {
		judged = judged || f.AssetID == web1
		if f.AssetID == web1 && f.PolicyID == "VGL-NET-004" {
			t.Errorf("web-1 still public after deleteAccessConfig: %+v", f)
		}
	}
	if !judged {
		t.Errorf("web-1 not judged by the event scan (findings %+v)", fs)
	}
}

// compute.instances.setMetadata through the emulator: web-1 turns OS Login
// off in its own metadata; the event scan finds it (VGL-SSH-002) and the
// webhook is told.
func TestPubSubSetMetadataNotifies(t *testing.T) {
	srv, inv, reader := gcpWorld(t)
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	r.start(t)
	resp, err := http.Get(srv.REST + "/compute/v1/projects/acme-prod/zones/europe-west1-b/instances/web-1")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Metadata struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"metadata"`
	}
	json.NewDecoder(resp.Body).Decode(&in)
	resp.Body.Close()
	computeCall(t, srv.REST, "/setMetadata", `{"fingerprint":"`+in.Metadata.Fingerprint+`","items":[{"key":"enable-oslogin","value":"FALSE"}]}`)
	publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "compute-instances-set-metadata.json"))
	waitFor(t, "the VGL-SSH-002 notification", 60*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-SSH-002 "+web1) })
	if n := r.count(r.w.Metrics.Processed, "config"); n != 1 {
		t.Errorf("%v config events, want 1", n)
	}
}

// An audit log entry from a project neither the recorded inventory knows
// nor the credentials may read is reported once, counted, acknowledged
// and dropped. Cloud Asset answers PERMISSION_DENIED for a project the
// caller has no access to; the fake denies every Cloud Asset call once the
// inventory is collected (its faults are not per project).
func TestPubSubOtherProjectReportedOnceAndDropped(t *testing.T) {
	f, _, inv, reader := gcpWorldWith(t, nil)
	f.Inject(gcpfake.Fault{API: "asset", Kind: "denied", Times: -1})
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	r.start(t)
	body := strings.ReplaceAll(string(sample(t, "engine", "event", "testdata", "gcp", "compute-firewalls-insert.json")), "acme-prod", "someone-elses")
	publish(t, pub, []byte(body))
	publish(t, pub, []byte(strings.Replace(body, `"insertId": "`, `"insertId": "again`, 1)))
	waitFor(t, "both dropped", 30*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "out_of_scope") == 2 })
	if n := r.count(r.w.Metrics.DeadLettered, "queue") + r.count(r.w.Metrics.Failed, "read"); n != 0 {
		t.Errorf("%v failures or dead letters, want none", n)
	}
	if n := strings.Count(r.logBuf.String(), "not configured to read"); n != 1 || !strings.Contains(r.logBuf.String(), "scope=someone-elses") {
		t.Errorf("the project reported %d times, want once, by name:\n%s", n, r.logBuf.String())
	}
}

// A project the inventory knows, denied, is a grant missing where vigil
// should read: retried and dead-lettered (to be replayed once fixed), not
// dropped as out of scope.
func TestPubSubKnownProjectDeniedIsNotDropped(t *testing.T) {
	f, _, inv, reader := gcpWorldWith(t, nil)
	f.Inject(gcpfake.Fault{API: "asset", Kind: "denied", Times: -1})
	src, _, pub, _ := pubsubWorld(t)
	r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = reader })
	r.start(t)
	publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "compute-firewalls-insert.json"))
	waitFor(t, "the dead letter", 60*time.Second, func() bool { return r.count(r.w.Metrics.DeadLettered, "queue") == 1 })
	if n := r.count(r.w.Metrics.Processed, "out_of_scope"); n != 0 {
		t.Errorf("%v dropped as out of scope, want 0", n)
	}
}
