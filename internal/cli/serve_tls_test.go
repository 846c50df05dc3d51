package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serve --tls-cert/--tls-key serves HTTPS only: a client that trusts the
// certificate signs in with a token, and plain HTTP gets no page.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := filepath.Join(dir, "vigil.hcl")
	os.WriteFile(cfg, []byte(`schedule "x" {
  cron    = "0 0 1 1 *"
  sources = ["`+testutil.Path(t, "examples/inventory/gcp-resources.ndjson")+`"]
}
`), 0o644)
	token := strings.Repeat("b2", 20)
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("ops viewer "+token+"\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testutil.LockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--config", cfg, "--store", filepath.Join(dir, "h.db"), "--listen", "127.0.0.1:0",
			"--tls-cert", certFile, "--tls-key", keyFile, "--tokens-file", tokens}, nil, io.Discard, &stderr)
	}()
	defer func() { cancel(); <-done }()
	addr := regexp.MustCompile(`serving on https://(\S+)`)
	eventually(t, "serve to listen on https", 30*time.Second, func() bool { return addr.MatchString(stderr.String()) })
	host := addr.FindStringSubmatch(stderr.String())[1]

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+host+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ops") {
		t.Errorf("whoami over TLS: %d %s", resp.StatusCode, body)
	}
	if resp, err := client.Get("https://" + host + "/api/whoami"); err != nil || resp.StatusCode != 401 {
		t.Errorf("no token over TLS: %v %v", err, resp)
	}
	if resp, err := http.Get("http://" + host + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP served a page")
	}
}
