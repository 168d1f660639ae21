package standalone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/launch"
	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/secretserver"
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
	Logger                  logr.Logger
	Now                     func() time.Time
}

// Server is a running standalone instance.
type Server struct {
	// APIURL is the launch API's base URL, e.g. https://127.0.0.1:8443.
	APIURL string
	// CAFile signs the launch API's certificate when it was generated ("" otherwise).
	CAFile    string
	Manifests *Manifests
	Store     *embedded.Store

	// RDPAddr is the bound address of the RDP front door ("" without one).
	RDPAddr string

	http          *http.Server
	proxy         *proxy.Server
	shutdownGrace time.Duration
	done          chan error
}

// Start loads the manifests, opens the store and serves the launch API.
func Start(opts Options) (srv *Server, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	log := opts.Logger
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
			return nil, fmt.Errorf("launch API certificate: %w", err)
		}
		certFile, keyFile, caFile = files.Cert, files.Key, files.CA
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load launch API certificate: %w", err)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clients := &secretserver.Clients{Logger: log.WithName("secretserver"), Now: opts.Now}

	var rdpLn net.Listener
	var front *proxy.Server
	rdpAddress := opts.RDPAddress
	if opts.RDPListen != "" {
		front, err = proxy.New(proxy.Config{
			Name: "standalone", Store: store, Catalog: manifests, SecretServers: clients,
			CertFile: certFile, KeyFile: keyFile, IdleTimeout: opts.IdleTimeout,
			Now: opts.Now, Logger: log.WithName("proxy"), Registerer: registry,
		})
		if err != nil {
			return nil, err
		}
		if rdpLn, err = net.Listen("tcp", opts.RDPListen); err != nil {
			return nil, fmt.Errorf("listen for RDP: %w", err)
		}
		defer func() {
			if err != nil {
				_ = rdpLn.Close()
			}
		}()
		if rdpAddress == "" {
			rdpAddress = rdpLn.Addr().String()
		}
	}
	handler, err := launch.New(launch.Config{
		Catalog: manifests,
		Store:   store,
		SecretServer: func(_ context.Context, c *v1alpha1.RDSCluster) (*secretserver.Client, error) {
			return clients.Client(c.Spec.SecretServer.URL, []byte(c.Spec.SecretServer.CABundle))
		},
		DefaultAddress: rdpAddress,
		Now:            opts.Now,
		Logger:         log.WithName("launch"),
		Registerer:     registry,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	mux.Handle("/", handler)

	ln, err := net.Listen("tcp", opts.APIListen)
	if err != nil {
		return nil, fmt.Errorf("listen for the launch API: %w", err)
	}
	s := &Server{
		APIURL:        "https://" + ln.Addr().String(),
		CAFile:        caFile,
		Manifests:     manifests,
		Store:         store,
		proxy:         front,
		shutdownGrace: opts.ShutdownGrace,
		done:          make(chan error, 2),
		http: &http.Server{
			Handler:           mux,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          nil,
		},
	}
	go func() { s.done <- s.http.ServeTLS(ln, "", "") }()
	if front != nil {
		s.RDPAddr = rdpLn.Addr().String()
		go func() { s.done <- front.Serve(rdpLn) }()
	}
	log.Info("standalone mode started", "launchAPI", s.APIURL, "rdpListen", s.RDPAddr, "rdpAddress", rdpAddress,
		"clusters", len(manifests.Clusters), "launchers", len(manifests.Launchers), "state", opts.StateDir)
	return s, nil
}

func tlsHosts(host string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "localhost" && host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	return hosts
}

// Wait blocks until the server stops by itself (an error) or ctx ends (then it shuts down).
func (s *Server) Wait(ctx context.Context) error {
	select {
	case err := <-s.done:
		return errors.Join(fmt.Errorf("standalone mode stopped: %w", err), s.Close())
	case <-ctx.Done():
		return s.Close()
	}
}

// Close stops accepting, lets requests in flight finish (10 s) and live RDP sessions run for
// the shutdown grace, then closes the store.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if s.proxy != nil {
		pctx, pcancel := context.WithTimeout(context.Background(), s.shutdownGrace)
		defer pcancel()
		if perr := s.proxy.Shutdown(pctx); perr != nil && !errors.Is(perr, context.DeadlineExceeded) {
			err = errors.Join(err, perr)
		}
	}
	return errors.Join(err, s.Store.Close())
}
