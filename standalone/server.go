package standalone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/frontdoor"
	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/sessionstore/embedded"
)

// Options of a standalone instance.
type Options struct {
	// ConfigDir holds the manifests.
	ConfigDir string
	// StateDir holds the session journal and generated certificates.
	StateDir string
	// APIListen is the launch API's address (HTTPS).
	APIListen string
	// RDPListen is the RDP front door's address; empty runs no proxy (launch API only).
	RDPListen string
	// RDPAddress is where .rdp files point when a cluster names no external address; the
	// bound RDPListen address by default.
	RDPAddress string
	// ShutdownGrace is how long Close lets live sessions run. Default 30 s.
	ShutdownGrace time.Duration
	// IdleTimeout ends sessions without traffic; 0 never.
	IdleTimeout time.Duration
	// TLSCertFile and TLSKeyFile serve the launch API; a self-signed pair in StateDir/tls when empty.
	TLSCertFile, TLSKeyFile string
	// PlayerDir holds the recording player (player.wasm, wasm_exec.js: `make player`); ""
	// serves /recordings/ pages that say the player is not installed.
	PlayerDir string
	// RecordingURLLifetime is how long the presigned URLs of a recording listing work; 5 min
	// when zero.
	RecordingURLLifetime time.Duration
	Logger               logr.Logger
	Now                  func() time.Time
}

// Server is a running standalone instance.
type Server struct {
	*frontdoor.Server
	// CAFile signs the generated certificate ("" when one was given).
	CAFile    string
	Manifests *Manifests
	Store     *embedded.Store
}

// Start loads the manifests, opens the store and serves the launch API and the RDP proxy.
func Start(opts Options) (srv *Server, err error) {
	manifests, err := Load(opts.ConfigDir)
	if err != nil {
		return nil, err
	}
	store, err := embedded.Open(filepath.Join(opts.StateDir, "sessions"), embedded.Options{Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("open session store: %w", err)
	}
	defer func() {
		if err != nil {
			_ = store.Close()
		}
	}()
	certFile, keyFile, caFile := opts.TLSCertFile, opts.TLSKeyFile, ""
	if certFile == "" {
		host, _, _ := net.SplitHostPort(opts.APIListen)
		files, err := pki.EnsureServerFiles(filepath.Join(opts.StateDir, "tls"), tlsHosts(host))
		if err != nil {
			return nil, fmt.Errorf("generate a certificate: %w", err)
		}
		certFile, keyFile, caFile = files.Cert, files.Key, files.CA
	}
	front, err := frontdoor.Start(frontdoor.Config{
		Name: "standalone", Store: store, Catalog: manifests,
		CertFile: certFile, KeyFile: keyFile,
		APIListen: opts.APIListen, RDPListen: opts.RDPListen, RDPAddress: opts.RDPAddress,
		SpoolDir:  filepath.Join(opts.StateDir, "spool"),
		PlayerDir: opts.PlayerDir, RecordingURLLifetime: opts.RecordingURLLifetime,
		IdleTimeout: opts.IdleTimeout, ShutdownGrace: opts.ShutdownGrace,
		Now: opts.Now, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	opts.Logger.Info("standalone mode started", "clusters", len(manifests.Clusters), "launchers", len(manifests.Launchers), "state", opts.StateDir)
	return &Server{Server: front, CAFile: caFile, Manifests: manifests, Store: store}, nil
}

func tlsHosts(host string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "localhost" && host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	return hosts
}

// Wait serves until ctx ends or a listener fails, then closes everything.
func (s *Server) Wait(ctx context.Context) error {
	return errors.Join(s.Server.Wait(ctx), s.Store.Close())
}

// Close stops the front door and closes the store.
func (s *Server) Close() error {
	return errors.Join(s.Server.Close(), s.Store.Close())
}
