// Command sessionconnector is the one binary of Session Connector; its subcommands are the
// operator's manager, the RDP proxy, the RDS-node agent, the recorder tools and standalone mode.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type logFlags struct {
	level  string
	format string
}

func (f *logFlags) logger() (logr.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return logr.Discard(), fmt.Errorf("--log-level %q: %w", f.level, err)
	}
	opts := []zap.Opts{zap.Level(lvl), zap.WriteTo(os.Stderr), zap.RawZapOpts(uzap.WithCaller(false))}
	switch f.format {
	case "json":
		opts = append(opts, zap.JSONEncoder())
	case "console":
		opts = append(opts, zap.ConsoleEncoder())
	default:
		return logr.Discard(), fmt.Errorf("--log-format %q: want json or console", f.format)
	}
	return zap.New(opts...), nil
}

func newRootCommand() *cobra.Command {
	logs := &logFlags{}
	root := &cobra.Command{
		Use:           "sessionconnector",
		Short:         "Recorded RDP sessions with credentials from Secret Server, on Kubernetes or one machine",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logs.level, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logs.format, "log-format", "json", "log format: json or console")
	root.AddCommand(newStandaloneCommand(logs), newProxyCommand(logs), newRecorderCommand(), newManagerCommand(logs))
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sessionconnector:", err)
		os.Exit(1)
	}
}
