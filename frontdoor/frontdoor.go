// Package frontdoor runs what a proxy pod (or standalone mode) serves: the launch API over HTTPS
// with /healthz, /readyz and /metrics, and the RDP proxy, on one certificate, one Session store and
// one catalog.
package frontdoor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/launch"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/recorder/player"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/sessionstore"
)

// Config of a front door.
type Config struct {
	// Name of this instance (the pod name) in Sessions.
	Name string
	// Cluster, when set, is the only RDSCluster served.
	Cluster string
	Store   sessionstore.Store
	Catalog catalog.Catalog

	// CertFile and KeyFile serve both TLS listeners (reloaded by the proxy on change).
	CertFile, KeyFile string
	// APIListen is the launch API's address.
	APIListen string
	// RDPListen is the RDP proxy's address; empty runs no proxy.
	RDPListen string
	// RDPAddress is where .rdp files point when a cluster names no external address; the bound
	// RDPListen address by default.
	RDPAddress string
	// SpoolDir holds recordings until S3 has them.
	SpoolDir string
	// SpoolLimit bounds the recordings waiting in the spool (proxy.Config.SpoolLimit).
	SpoolLimit int64
	// RecordingFlushInterval is proxy.Config.RecordingFlushInterval.
	RecordingFlushInterval time.Duration
	// PlayerDir holds the recording player's player.wasm and wasm_exec.js (recorder/player);
	// "" serves /recordings/ pages that say the player is not installed.
	PlayerDir string
	// RecordingURLLifetime is how long the presigned URLs of a recording listing work;
	// launch.DefaultRecordingURLLifetime when zero.
	RecordingURLLifetime time.Duration

	// Proxy limits; zero values take the proxy's defaults.
	HandshakeTimeout, IdleTimeout time.Duration
	MaxHandshakes, MaxSessions    int
	// ShutdownGrace is how long Close lets live sessions run. Default 30 s.
	ShutdownGrace time.Duration

	Now    func() time.Time
	Logger logr.Logger
}

// Server is a running front door.
type Server struct {
	// APIURL is the launch API's base URL.
	APIURL string
	// RDPAddr is the RDP proxy's bound address ("" without one).
	RDPAddr string
	// Proxy is the RDP proxy (nil without one).
	Proxy *proxy.Server

	http  *http.Server
	grace time.Duration
	done  chan error
}

// Start listens and serves.
func Start(cfg Config) (srv *Server, err error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 30 * time.Second
	}
	log := cfg.Logger
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clients := &secretserver.Clients{Logger: log.WithName("secretserver"), Now: cfg.Now}

	var closers []func()
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
		}
	}()
	s := &Server{grace: cfg.ShutdownGrace, done: make(chan error, 2)}
	rdpAddress := cfg.RDPAddress
	var rdpLn net.Listener
	if cfg.RDPListen != "" {
		s.Proxy, err = proxy.New(proxy.Config{
			Name: cfg.Name, Cluster: cfg.Cluster, Store: cfg.Store, Catalog: cfg.Catalog, SecretServers: clients,
			CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, SpoolDir: cfg.SpoolDir, SpoolLimit: cfg.SpoolLimit, RecordingFlushInterval: cfg.RecordingFlushInterval,
			HandshakeTimeout: cfg.HandshakeTimeout, IdleTimeout: cfg.IdleTimeout,
			MaxHandshakes: cfg.MaxHandshakes, MaxSessions: cfg.MaxSessions,
			Now: cfg.Now, Logger: log.WithName("proxy"), Registerer: registry,
		})
		if err != nil {
			return nil, err
		}
		if rdpLn, err = net.Listen("tcp", cfg.RDPListen); err != nil {
			return nil, fmt.Errorf("listen for RDP: %w", err)
		}
		closers = append(closers, func() { _ = rdpLn.Close() })
		s.RDPAddr = rdpLn.Addr().String()
		if rdpAddress == "" {
			rdpAddress = s.RDPAddr
		}
	}
	page, err := player.New(player.Config{Dir: cfg.PlayerDir, Logger: log.WithName("player")})
	if err != nil {
		return nil, err
	}
	handler, err := launch.New(launch.Config{
		Catalog: cfg.Catalog,
		Store:   cfg.Store,
		SecretServer: func(_ context.Context, c *v1alpha1.RDSCluster) (*secretserver.Client, error) {
			return clients.Client(c.Spec.SecretServer.URL, []byte(c.Spec.SecretServer.CABundle))
		},
		Application: func(ctx context.Context, c *v1alpha1.RDSCluster) (*secretserver.Session, error) {
			account, err := cfg.Catalog.ApplicationAccount(ctx, c)
			if err != nil {
				return nil, err
			}
			return clients.Application(c.Spec.SecretServer.URL, []byte(c.Spec.SecretServer.CABundle), account)
		},
		Cluster:              cfg.Cluster,
		DefaultAddress:       rdpAddress,
		Now:                  cfg.Now,
		Logger:               log.WithName("launch"),
		Registerer:           registry,
		Player:               page,
		RecordingURLLifetime: cfg.RecordingURLLifetime,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	mux.Handle("/", handler)
	apiLn, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return nil, fmt.Errorf("listen for the launch API: %w", err)
	}
	s.APIURL = "https://" + apiLn.Addr().String()
	s.http = &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	go func() { s.done <- s.http.ServeTLS(apiLn, "", "") }()
	if s.Proxy != nil {
		go func() { s.done <- s.Proxy.Serve(rdpLn) }()
	}
	log.Info("front door started", "launchAPI", s.APIURL, "rdpListen", s.RDPAddr, "rdpAddress", rdpAddress, "playerDir", cfg.PlayerDir)
	return s, nil
}

// Wait blocks until a listener fails (then it closes everything) or ctx ends (then it shuts down).
func (s *Server) Wait(ctx context.Context) error {
	select {
	case err := <-s.done:
		return errors.Join(fmt.Errorf("front door stopped: %w", err), s.Close())
	case <-ctx.Done():
		return s.Close()
	}
}

// Close stops accepting, lets requests in flight finish (10 s) and live RDP sessions run for the
// shutdown grace, then ends them.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if s.Proxy != nil {
		pctx, pcancel := context.WithTimeout(context.Background(), s.grace)
		defer pcancel()
		if perr := s.Proxy.Shutdown(pctx); perr != nil && !errors.Is(perr, context.DeadlineExceeded) {
			err = errors.Join(err, perr)
		}
	}
	return err
}
