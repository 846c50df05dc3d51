package testutil

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// GoawsVersion is the SQS emulator the AWS watch tests run against: goaws,
// which the project does not write, built from the Go module proxy.
const GoawsVersion = "v0.4.5"

var goawsOnce struct {
	sync.Mutex
	path string
}

// goawsBinary builds goaws once per machine (in the temporary directory),
// from the module proxy with `go install`, outside this module: it never
// becomes a dependency of vigil.
func goawsBinary(t testing.TB) string {
	t.Helper()
	goawsOnce.Lock()
	defer goawsOnce.Unlock()
	if goawsOnce.path != "" {
		return goawsOnce.path
	}
	dir := filepath.Join(os.TempDir(), "vigil-goaws-"+GoawsVersion)
	bin := filepath.Join(dir, "goaws")
	if _, err := os.Stat(bin); err == nil {
		goawsOnce.path = bin
		return bin
	}
	gobin, err := os.MkdirTemp(os.TempDir(), "vigil-goaws-build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(gobin)
	cmd := exec.Command("go", "install", "github.com/Admiral-Piett/goaws/app/cmd@"+GoawsVersion)
	cmd.Dir = gobin
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot build goaws %s from the module proxy: %v\n%s", GoawsVersion, err, out)
		if os.Getenv("VIGIL_REQUIRE_GOAWS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	os.MkdirAll(dir, 0o755)
	tmp := bin + fmt.Sprintf(".%d", os.Getpid())
	if err := os.Rename(filepath.Join(gobin, "cmd"), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	goawsOnce.path = bin
	return bin
}

// Goaws starts goaws on a free loopback port and returns its endpoint
// (http://127.0.0.1:PORT). It speaks SQS's query protocol. The server
// stops with the test.
func Goaws(t testing.TB) string {
	t.Helper()
	bin := goawsBinary(t)
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "goaws.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: %d
  Region: eu-west-1
  AccountId: "111111111111"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
`, port)), 0o644)
	logs := &LockedBuffer{}
	cmd := exec.Command(bin, "-config", conf)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, url+"/health", logs)
	return url
}

func waitHTTP(t testing.TB, url string, logs *LockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within 60s:\n%s", url, logs.String())
}

// PubSubEmulator starts the Pub/Sub emulator of the Google Cloud CLI
// (Debian's google-cloud-cli-pubsub-emulator; .ci/run installs it) on a
// free loopback port and returns its host:port, for PUBSUB_EMULATOR_HOST.
// Without it the test is skipped, saying so; with VIGIL_REQUIRE_PUBSUB=1
// (as .ci/run sets) it fails instead.
func PubSubEmulator(t testing.TB) string {
	t.Helper()
	gcloud, err := exec.LookPath("gcloud")
	if err == nil {
		if root := sdkRoot(gcloud); root != "" {
			if _, err = os.Stat(filepath.Join(root, "platform", "pubsub-emulator")); err == nil {
				return startPubSub(t, gcloud)
			}
		}
	}
	msg := "no Pub/Sub emulator: install the google-cloud-cli-pubsub-emulator package (Google Cloud CLI) to run this test"
	if os.Getenv("VIGIL_REQUIRE_PUBSUB") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func sdkRoot(gcloud string) string {
	if real, err := filepath.EvalSymlinks(gcloud); err == nil {
		// .../google-cloud-sdk/bin/gcloud
		root := filepath.Dir(filepath.Dir(real))
		if _, err := os.Stat(filepath.Join(root, "platform")); err == nil {
			return root
		}
	}
	out, err := exec.Command(gcloud, "info", "--format=value(installation.sdk_root)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func startPubSub(t testing.TB, gcloud string) string {
	// The free port is free when asked, not always when the emulator
	// binds it (other test binaries pick ports too): an emulator that
	// exits at once is started again on another port.
	var last string
	for try := 1; try <= 3; try++ {
		hostPort, logs, ok := tryPubSub(t, gcloud)
		if ok {
			return hostPort
		}
		last = logs
	}
	t.Fatalf("the Pub/Sub emulator did not start (3 tries):\n%s", last)
	return ""
}

// tryPubSub starts one emulator and waits until it answers (ok) or exits.
func tryPubSub(t testing.TB, gcloud string) (hostPort, logs string, ok bool) {
	port := freePort(t)
	hostPort = fmt.Sprintf("127.0.0.1:%d", port)
	out := &LockedBuffer{}
	cmd := exec.Command(gcloud, "beta", "emulators", "pubsub", "start", "--host-port="+hostPort, "--data-dir="+t.TempDir(), "--project=vigil-test")
	cmd.Stdout, cmd.Stderr = out, out
	// gcloud starts the emulator (java) as a child: its process group is
	// stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			// gcloud's child may still hold the group: stop it too
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			return hostPort, out.String(), false
		default:
		}
		if strings.Contains(out.String(), "BindException") {
			stop()
			return hostPort, out.String(), false
		}
		if c, err := net.DialTimeout("tcp", hostPort, time.Second); err == nil {
			c.Close()
			// The port opens before the server answers, and the answer
			// must be the emulator's ("Ok"), not another program's that
			// took the port first.
			if resp, err := http.Get("http://" + hostPort + "/"); err == nil {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
				resp.Body.Close()
				if strings.TrimSpace(string(body)) == "Ok" {
					t.Cleanup(stop)
					return hostPort, "", true
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	return hostPort, "did not answer within 90s:\n" + out.String(), false
}
