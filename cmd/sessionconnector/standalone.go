package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionconnector/sessionconnector/launch"
	"github.com/sessionconnector/sessionconnector/recorder/player"
	"github.com/sessionconnector/sessionconnector/standalone"
)

func newStandaloneCommand(logs *logFlags) *cobra.Command {
	opts := standalone.Options{}
	cmd := &cobra.Command{
		Use:   "standalone --config DIR",
		Short: "Run the whole product on one machine from manifest files, without a cluster",
		Long: `standalone reads RDSCluster, SessionLauncher and Secret manifests from --config,
keeps Sessions in a journal under --state and serves the launch API on --api-listen.
.rdp files point at --rdp-listen unless the RDSCluster names an external address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			opts.Logger = log
			if opts.PlayerDir == "" {
				opts.PlayerDir = player.DefaultDir()
			}
			srv, err := standalone.Start(opts)
			if err != nil {
				return err
			}
			return srv.Wait(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigDir, "config", "", "folder with the RDSCluster, SessionLauncher and Secret manifests (required)")
	f.StringVar(&opts.StateDir, "state", ".state/standalone", "folder for the session journal and generated certificates")
	f.StringVar(&opts.APIListen, "api-listen", "127.0.0.1:8443", "address of the launch API (HTTPS)")
	f.StringVar(&opts.RDPListen, "rdp-listen", "127.0.0.1:3389", "address of the RDP front door (empty: launch API only)")
	f.StringVar(&opts.RDPAddress, "rdp-address", "", "host:port that .rdp files point at when a cluster names no external address (default: the --rdp-listen address)")
	f.DurationVar(&opts.ShutdownGrace, "shutdown-grace", 30*time.Second, "how long a stop lets live sessions run")
	f.DurationVar(&opts.IdleTimeout, "idle-timeout", 0, "end sessions without traffic for this long (0: never)")
	f.StringVar(&opts.TLSCertFile, "tls-cert", "", "certificate of the launch API (PEM); self-signed when empty")
	f.StringVar(&opts.TLSKeyFile, "tls-key", "", "key of the launch API certificate (PEM)")
	f.StringVar(&opts.PlayerDir, "player-dir", "", "folder with the recording player (player.wasm and wasm_exec.js, built by make player) (default: \"player\" beside the binary, else "+player.SystemDir+")")
	f.DurationVar(&opts.RecordingURLLifetime, "recording-url-lifetime", launch.DefaultRecordingURLLifetime, "how long the presigned S3 URLs the recording player gets work")
	_ = cmd.MarkFlagRequired("config")
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	return cmd
}
