// Command secretserver-emulator serves a local Secret Server emulator over
// HTTPS for the demo and for manual tests:
//
//	go run ./hack/secretserver-emulator --seed hack/secretserver-emulator/seed.example.yaml \
//	    --listen 127.0.0.1:8443 --cert-dir /tmp/ss-emulator
//
// Clients trust the CA written to <cert-dir>/ca.crt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "secretserver-emulator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		seedPath  = flag.String("seed", "", "YAML seed file with users and secrets (required)")
		listen    = flag.String("listen", "127.0.0.1:8443", "address to listen on")
		certDir   = flag.String("cert-dir", filepath.Join(os.TempDir(), "secretserver-emulator"), "directory with tls.crt/tls.key; a CA and certificate are created when missing")
		lifetime  = flag.Duration("token-lifetime", 20*time.Minute, "access token lifetime")
		basePath  = flag.String("base-path", "/SecretServer", "application path of the API")
		verbosity = flag.Int("v", 0, "log verbosity (1 logs every request)")
	)
	flag.Parse()
	if *seedPath == "" {
		flag.Usage()
		return errors.New("--seed is required")
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-*verbosity)}))

	seed, err := emulator.LoadSeed(*seedPath)
	if err != nil {
		return err
	}
	srv, err := emulator.Start(seed, emulator.Options{TokenLifetime: *lifetime, Logger: log, BasePath: *basePath}, *certDir, *listen)
	if err != nil {
		return err
	}
	log.Info("secret server emulator listening", "url", srv.URL, "caFile", srv.CAFile,
		"users", len(seed.Users), "secrets", len(seed.Secrets), "tokenLifetime", *lifetime)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("shutting down")
	return srv.Close()
}
