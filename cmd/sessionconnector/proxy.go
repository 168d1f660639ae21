package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	catalogkube "github.com/sessionconnector/sessionconnector/catalog/kube"
	"github.com/sessionconnector/sessionconnector/controllers/proxyconfig"
	"github.com/sessionconnector/sessionconnector/frontdoor"
	"github.com/sessionconnector/sessionconnector/kubescheme"
	"github.com/sessionconnector/sessionconnector/launch"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/recorder/player"
	storekube "github.com/sessionconnector/sessionconnector/sessionstore/kube"
)

// inClusterNamespaceFile holds the pod's namespace inside a cluster.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

type proxyFlags struct {
	cluster, namespace, name string
	listen, apiListen        string
	certFile, keyFile        string
	spoolDir                 string
	spoolLimit               string
	recordingFlush           time.Duration
	configFile               string
	playerDir                string
	recordingURLLifetime     time.Duration
}

func newProxyCommand(logs *logFlags) *cobra.Command {
	f := &proxyFlags{}
	cmd := &cobra.Command{
		Use:   "proxy --cluster NAME",
		Short: "Run the RDP front door and the launch API of one RDSCluster (what the proxy pods run)",
		Long: `proxy serves one RDSCluster: RDP on --listen and the launch API on --api-listen, with
Sessions, launchers and the application account read from the API server in its namespace.
Limits (handshake timeout, sessions, idle timeout, shutdown grace) come from the --config file
the operator renders from the RDSCluster (its ConfigMap); what the file leaves out, or all of
them without --config, come from the RDSCluster itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			ns, err := namespace(f.namespace)
			if err != nil {
				return err
			}
			restConfig, err := ctrlconfig.GetConfig()
			if err != nil {
				return fmt.Errorf("kubernetes configuration: %w", err)
			}
			c, err := client.New(restConfig, client.Options{Scheme: kubescheme.New()})
			if err != nil {
				return fmt.Errorf("kubernetes client: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			var cluster v1alpha1.RDSCluster
			err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: f.cluster}, &cluster)
			cancel()
			if err != nil {
				return fmt.Errorf("read RDSCluster %s/%s: %w", ns, f.cluster, err)
			}
			limits := proxyconfig.LimitsOf(cluster.Spec.Proxy)
			if f.configFile != "" {
				file, err := proxyconfig.Load(f.configFile)
				if err != nil {
					return err
				}
				limits = file.Overlay(limits)
			}
			if f.playerDir == "" {
				f.playerDir = player.DefaultDir()
			}
			spoolLimit, err := parseSpoolLimit(f.spoolLimit)
			if err != nil {
				return err
			}
			front, err := frontdoor.Start(frontdoor.Config{
				Name: f.name, Cluster: f.cluster,
				Store:    storekube.New(c, ns, storekube.Options{}),
				Catalog:  &catalogkube.Catalog{Client: c, Namespace: ns},
				CertFile: f.certFile, KeyFile: f.keyFile, SpoolDir: f.spoolDir, SpoolLimit: spoolLimit, RecordingFlushInterval: f.recordingFlush,
				PlayerDir: f.playerDir, RecordingURLLifetime: f.recordingURLLifetime,
				APIListen: f.apiListen, RDPListen: f.listen,
				HandshakeTimeout: limits.HandshakeTimeout, IdleTimeout: limits.IdleTimeout,
				MaxHandshakes: limits.MaxHandshakes, MaxSessions: limits.MaxSessions,
				ShutdownGrace: limits.ShutdownGrace,
				Logger:        log.WithValues("cluster", f.cluster, "namespace", ns),
			})
			if err != nil {
				return err
			}
			return front.Wait(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cluster, "cluster", "", "name of the RDSCluster to serve (required)")
	fl.StringVar(&f.namespace, "namespace", "", "namespace of the RDSCluster (default: the pod's namespace, or $POD_NAMESPACE)")
	fl.StringVar(&f.name, "name", os.Getenv("POD_NAME"), "name of this proxy in Sessions (default $POD_NAME)")
	fl.StringVar(&f.listen, "listen", ":3389", "RDP address")
	fl.StringVar(&f.apiListen, "api-listen", ":8443", "launch API address (HTTPS; also /healthz, /readyz, /metrics)")
	fl.StringVar(&f.certFile, "tls-cert", "/etc/sessionconnector/tls/tls.crt", "certificate for RDP clients and the launch API")
	fl.StringVar(&f.keyFile, "tls-key", "/etc/sessionconnector/tls/tls.key", "key of the certificate")
	fl.StringVar(&f.spoolDir, "spool-dir", "/tmp/sessionconnector-spool", "folder that holds recordings until S3 has them (uploaded after a restart too)")
	fl.StringVar(&f.spoolLimit, "spool-limit", "2Gi", "most bytes of recordings that may wait in the spool for S3; past it recordings fail as when storage fails (the launcher's recordingPolicy decides)")
	fl.DurationVar(&f.recordingFlush, "recording-flush-interval", proxy.DefaultRecordingFlushInterval, "a recording's chunk ends at least this often: what a crash of the proxy can lose, and one S3 PUT each (about 1,800 an hour of busy session at 2s)")
	fl.StringVar(&f.playerDir, "player-dir", "", "folder with the recording player (player.wasm and wasm_exec.js, built by make player) (default: \"player\" beside the binary, else "+player.SystemDir+", as in the image)")
	fl.DurationVar(&f.recordingURLLifetime, "recording-url-lifetime", launch.DefaultRecordingURLLifetime, "how long the presigned S3 URLs the recording player gets work")
	fl.StringVar(&f.configFile, "config", "", "proxy configuration file (limits) rendered by the operator; the RDSCluster's values fill what it leaves out")
	_ = cmd.MarkFlagRequired("cluster")
	return cmd
}

func namespace(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	b, err := os.ReadFile(inClusterNamespaceFile)
	if err != nil {
		return "", errors.New("--namespace is required outside a pod")
	}
	return strings.TrimSpace(string(b)), nil
}

// parseSpoolLimit reads a byte quantity such as 2Gi or 500M; 0 or less means no limit.
func parseSpoolLimit(v string) (int64, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, fmt.Errorf("--spool-limit %q: %w", v, err)
	}
	if q.Sign() <= 0 {
		return -1, nil
	}
	return q.Value(), nil
}
