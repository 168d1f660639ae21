package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/pki"
)

// Server is an Emulator served over HTTPS by Start.
type Server struct {
	// URL is the base URL for clients, e.g. https://127.0.0.1:8443/SecretServer.
	URL string
	// CAFile and CAPEM hold the CA that issued the server certificate; both
	// are empty when certDir had a certificate without a ca.crt.
	CAFile   string
	CAPEM    []byte
	Emulator *Emulator

	srv *http.Server
}

// Start validates seed and serves a new Emulator over HTTPS on addr (e.g.
// "127.0.0.1:0"). It uses certDir/tls.crt and tls.key when both exist and
// otherwise creates a CA and a certificate for 127.0.0.1, localhost and ::1
// there (see pki.EnsureServerFiles).
func Start(seed *Seed, opts Options, certDir string, addr string) (*Server, error) {
	if seed == nil {
		seed = &Seed{}
	}
	if err := seed.Validate(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	files, err := pki.EnsureServerFiles(certDir, []string{"127.0.0.1", "localhost", "::1"})
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("emulator: load server certificate: %w", err)
	}
	var caPEM []byte
	if files.CA != "" {
		if caPEM, err = os.ReadFile(files.CA); err != nil {
			return nil, fmt.Errorf("emulator: read CA: %w", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	em := New(seed, opts)
	s := &Server{
		URL:      "https://" + dialAddr(ln.Addr()) + em.basePath,
		CAFile:   files.CA,
		CAPEM:    caPEM,
		Emulator: em,
		srv: &http.Server{
			Handler:           em,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(logWriter{em.log}, "", 0),
		},
	}
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			em.log.Error(err, "serve")
		}
	}()
	return s, nil
}

// Close stops the server, waiting up to five seconds for requests in flight.
// HTTP/2 clients that keep an idle connection open delay it by about a
// second; close their idle connections first.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("emulator: shutdown: %w", err)
	}
	return nil
}

// dialAddr turns a listen address into one clients can dial: an unspecified
// IP (0.0.0.0, ::) becomes 127.0.0.1, which the generated certificate covers.
func dialAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// logWriter sends net/http's server errors (TLS handshake failures …) to
// the logger at V(1).
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info("http server", "message", string(bytes.TrimSpace(p)))
	return len(p), nil
}
