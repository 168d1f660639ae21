// Package s3peer starts a real MinIO server on loopback for tests that store recordings in
// S3. The binary is built from MinIO's Go module by hack/minio/build.sh (run by
// hack/install-deps.sh) and cached outside the work tree; this repository never links MinIO.
//
// A missing binary skips the test, unless SC_REQUIRE_PEERS is "1" (as in CI), in which case
// the test fails. Every server started here is stopped by the test's cleanup.
package s3peer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sessionconnector/sessionconnector/test/peers"
)

// BinaryEnv names the environment variable that points at a MinIO binary, overriding the
// cached build.
const BinaryEnv = "SC_MINIO"

// Peer is a running MinIO server with one empty bucket.
type Peer struct {
	// Endpoint is host:port, plain HTTP.
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string

	t       testing.TB
	bin     string
	dataDir string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
}

// Binary returns the MinIO binary's path, or skips (fails when peers are required).
func Binary(t testing.TB) string {
	t.Helper()
	if p := Lookup(); p != "" {
		return p
	}
	msg := "minio not found; build it with hack/minio/build.sh (or set " + BinaryEnv + ")"
	if peers.Required() {
		t.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
	}
	t.Skip(msg)
	return ""
}

// Lookup returns the MinIO binary's path as Binary finds it, or "" when there is none. It never
// skips or fails: for benchmarks that measure something else too and leave out only what
// needs S3.
func Lookup() string {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	cache := os.Getenv("SESSIONCONNECTOR_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "sessionconnector")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "minio-*", "minio"))
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

// Start starts MinIO on a free loopback port with a temporary data folder and random
// credentials, and creates a bucket. The test's cleanup stops the server.
func Start(t testing.TB) *Peer {
	t.Helper()
	p := &Peer{
		t: t, bin: Binary(t), dataDir: t.TempDir(),
		AccessKey: "sc" + randomHex(t, 8), SecretKey: randomHex(t, 20), Bucket: "recordings-" + randomHex(t, 4),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3peer: pick a port: %v", err)
	}
	p.Endpoint = l.Addr().String()
	_ = l.Close()
	t.Cleanup(p.Stop)
	p.Restart()
	c := p.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// "ready" can come before the object layer is initialised: retry until the bucket is made.
	for {
		err := c.MakeBucket(ctx, p.Bucket, minio.MakeBucketOptions{})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("s3peer: make bucket: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return p
}

// Client returns a minio-go client of the peer.
func (p *Peer) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(p.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(p.AccessKey, p.SecretKey, ""), Secure: false,
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatalf("s3peer: client: %v", err)
	}
	return c
}

// Restart starts the server (again) on the same port and data folder and waits until it is
// ready. It does nothing while the server runs.
func (p *Peer) Restart() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		cmd := exec.Command(p.bin, "server", p.dataDir, "--quiet", "--address", p.Endpoint,
			"--console-address", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+p.AccessKey, "MINIO_ROOT_PASSWORD="+p.SecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			p.t.Fatalf("s3peer: start minio: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if err := waitReady(p.Endpoint, done, 30*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-done
			lastErr = fmt.Errorf("%w; output: %s", err, out.String())
			time.Sleep(500 * time.Millisecond) // the port may still be held
			continue
		}
		p.cmd, p.done = cmd, done
		return
	}
	p.t.Fatalf("s3peer: minio not ready: %v", lastErr)
}

// Stop kills the server (as a crash would) and waits for it to exit. Restart brings it back.
func (p *Peer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd, p.done = nil, nil
}

func waitReady(endpoint string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("minio exited")
		default:
		}
		resp, err := client.Get("http://" + endpoint + "/minio/health/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", timeout)
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("s3peer: random: %v", err)
	}
	return hex.EncodeToString(b)
}
