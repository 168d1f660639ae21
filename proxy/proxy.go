// Package proxy is the front door: it accepts RDP clients that present a ticket, claims the
// ticket, fetches the target's credentials from Secret Server with the application account,
// connects to the target with them (TLS, and CredSSP/NLA when the target asks for it), and
// relays the session. The user never sees the password.
//
// Per connection: read the Connection Request (or a Preconnection PDU first) within the
// handshake deadline → ticket from the routing token → claim → secret → dial the target →
// X.224 offering TLS and NLA → TLS (verified per the cluster's targetTLS) → CredSSP when chosen →
// Connection Confirm to the client selecting TLS → TLS with the proxy's certificate → MCS Connect
// Initial/Response relayed with rewrites → Client Info rewritten with the secret's credentials →
// relay both ways. A bad ticket, a malformed PDU or a slow client closes only its own connection,
// with a logged reason and a metric.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/sessionstore"
)

// DefaultSpoolLimit is the default Config.SpoolLimit: 2 GiB (see docs/performance.md for the
// bytes an hour of session takes).
const DefaultSpoolLimit = 2 << 30

// Config of a proxy Server.
type Config struct {
	// Name identifies this proxy (the pod name) in Sessions.
	Name string
	// Cluster, when set, is the only RDSCluster whose Sessions this proxy serves.
	Cluster string

	Store   sessionstore.Store
	Catalog catalog.Catalog
	// SecretServers gives the Secret Server clients and application sessions.
	SecretServers *secretserver.Clients

	// SpoolDir holds recordings until S3 has them; sessions of clusters with recordingStorage
	// cannot be recorded without it.
	SpoolDir string
	// SpoolLimit bounds the bytes of recordings waiting in the spool for S3 (while S3 is
	// away); past it recordings fail as when storage fails (recordingPolicy decides). Default
	// DefaultSpoolLimit; negative means no limit.
	SpoolLimit int64
	// RecordingFlushInterval ends a recording's chunk at least this often, so it bounds what a
	// crash of the proxy loses; each chunk is one S3 PUT. Default DefaultRecordingFlushInterval.
	RecordingFlushInterval time.Duration

	// CertFile and KeyFile are the certificate presented to RDP clients (reloaded on change).
	CertFile, KeyFile string

	// HandshakeTimeout bounds accept → relay. Default 30 s.
	HandshakeTimeout time.Duration
	// DialTimeout bounds the TCP connect to a target. Default 10 s.
	DialTimeout time.Duration
	// IdleTimeout ends a session without traffic either way; 0 never.
	IdleTimeout time.Duration
	// MaxHandshakes caps connections in the handshake; more are closed at once. Default 64.
	MaxHandshakes int
	// MaxSessions caps relayed sessions. Default 200.
	MaxSessions int
	// MaxPDUSize bounds a PDU read during the handshake. Default 64 KiB (TPKT's maximum).
	MaxPDUSize int

	// Dial connects to targets; net.Dialer by default (tests point it elsewhere).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Now  func() time.Time
	// Logger gets one line per connection outcome; never a password or a ticket.
	Logger     logr.Logger
	Registerer prometheus.Registerer
}

func (c *Config) checkAndSetDefaults() error {
	switch {
	case c.Store == nil:
		return errors.New("proxy: Store is required")
	case c.Catalog == nil:
		return errors.New("proxy: Catalog is required")
	case c.SecretServers == nil:
		return errors.New("proxy: SecretServers is required")
	case c.CertFile == "" || c.KeyFile == "":
		return errors.New("proxy: CertFile and KeyFile are required")
	}
	if c.Name == "" {
		c.Name = "proxy"
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 30 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = 64
	}
	if c.RecordingFlushInterval <= 0 {
		c.RecordingFlushInterval = DefaultRecordingFlushInterval
	}
	if c.SpoolLimit == 0 {
		c.SpoolLimit = DefaultSpoolLimit
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 200
	}
	if c.MaxPDUSize <= 0 || c.MaxPDUSize > 0xFFFF {
		c.MaxPDUSize = 0xFFFF
	}
	if c.Dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		c.Dial = d.DialContext
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Server is a running proxy.
type Server struct {
	cfg     Config
	cert    *reloadingCertificate
	metrics *metrics

	rec        *recorders
	stopRec    context.CancelFunc
	recovery   sync.Once
	handshakes chan struct{} // semaphore
	sessions   atomic.Int64
	nextID     atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	draining  bool
	stop      chan struct{} // closed to end live sessions
	wg        sync.WaitGroup
}

// New checks cfg and loads the certificate.
func New(cfg Config) (*Server, error) {
	if err := cfg.checkAndSetDefaults(); err != nil {
		return nil, err
	}
	cert, err := newReloadingCertificate(cfg.CertFile, cfg.KeyFile, cfg.Now, cfg.Logger)
	if err != nil {
		return nil, err
	}
	budget := storage.NewBudget(cfg.SpoolLimit)
	m, err := newMetrics(cfg.Registerer, func() float64 { return float64(budget.Used()) })
	if err != nil {
		return nil, fmt.Errorf("proxy metrics: %w", err)
	}
	recCtx, stopRec := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, cert: cert, metrics: m,
		rec: &recorders{spool: cfg.SpoolDir, log: cfg.Logger.WithName("recorder"), ctx: recCtx,
			budget: budget},
		stopRec:    stopRec,
		handshakes: make(chan struct{}, cfg.MaxHandshakes),
		listeners:  map[net.Listener]struct{}{},
		conns:      map[net.Conn]struct{}{},
		stop:       make(chan struct{}),
	}, nil
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.recovery.Do(func() { go s.recoverRecordings(s.rec.ctx) })
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			draining := s.draining
			s.mu.Unlock()
			if draining {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		backoff = 0
		if !s.track(conn) {
			_ = conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.serveConn(conn)
		}()
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// ActiveSessions is the number of sessions being relayed.
func (s *Server) ActiveSessions() int { return int(s.sessions.Load()) }

// Shutdown stops accepting, lets live sessions run until ctx ends, then ends them and waits.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		for ln := range s.listeners {
			_ = ln.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.stopRec()
		return nil
	case <-ctx.Done():
	}
	defer s.stopRec()
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	for c := range s.conns {
		_ = c.Close() // connections still in the handshake
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
