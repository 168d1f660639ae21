package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sessionconnector/sessionconnector/controllers"
	"github.com/sessionconnector/sessionconnector/kubescheme"
)

// imageEnv names the operator's own image; it is the proxy image of clusters that name none.
const imageEnv = "SESSIONCONNECTOR_IMAGE"

type managerFlags struct {
	metricsAddr, probeAddr     string
	secureMetrics, enableHTTP2 bool
	metricsCertDir             string
	leaderElect                bool
	leaderElectionNamespace    string
	leaderElectionID           string
	watchNamespaces            []string
	proxyImage                 string
	sessionRetention           time.Duration
	refreshInterval, checkTTL  time.Duration
	checkTimeout               time.Duration
	maxConcurrentReconciles    int
}

func newManagerCommand(logs *logFlags) *cobra.Command {
	f := &managerFlags{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: RDSClusters become proxy Deployments and Services, Sessions are expired and swept",
		Long: `manager runs the Kubernetes operator (controller-runtime). It reconciles RDSClusters into the
proxy's ServiceAccount, Role, RoleBinding, ConfigMap, Deployment, Service, PodDisruptionBudget
(and the agent DaemonSet), checks Secret Server and the recording bucket, validates
SessionLaunchers, expires unused Session tickets, ends Sessions whose proxy pod is gone and deletes
ended Sessions after --session-retention.

Health probes: /healthz and /readyz on --health-probe-bind-address. Metrics: HTTPS on
--metrics-bind-address, for callers whose token may "get" the non-resource URL /metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			ctrl.SetLogger(log)
			if f.proxyImage == "" {
				return fmt.Errorf("--proxy-image (or $%s) is required: the image of the proxy pods", imageEnv)
			}
			namespaces, err := splitNamespaces(f.watchNamespaces)
			if err != nil {
				return err
			}
			restConfig, err := ctrlconfig.GetConfig()
			if err != nil {
				return fmt.Errorf("kubernetes configuration: %w", err)
			}
			var tlsOpts []func(*tls.Config)
			if !f.enableHTTP2 {
				// HTTP/2 stream resets (CVE-2023-44487, CVE-2023-39325): serve HTTP/1.1 only.
				tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
			}
			metrics := metricsserver.Options{
				BindAddress:   f.metricsAddr,
				SecureServing: f.secureMetrics,
				CertDir:       f.metricsCertDir,
				TLSOpts:       tlsOpts,
			}
			if f.secureMetrics {
				metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
			}
			mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
				Scheme:                        kubescheme.New(),
				Logger:                        log,
				Cache:                         controllers.CacheOptions(namespaces),
				Metrics:                       metrics,
				HealthProbeBindAddress:        f.probeAddr,
				LeaderElection:                f.leaderElect,
				LeaderElectionID:              f.leaderElectionID,
				LeaderElectionNamespace:       f.leaderElectionNamespace,
				LeaderElectionReleaseOnCancel: true,
			})
			if err != nil {
				return fmt.Errorf("create manager: %w", err)
			}
			if err := controllers.Setup(cmd.Context(), mgr, controllers.Options{
				ProxyImage:              f.proxyImage,
				SessionRetention:        f.sessionRetention,
				RefreshInterval:         f.refreshInterval,
				CheckTTL:                f.checkTTL,
				CheckTimeout:            f.checkTimeout,
				MaxConcurrentReconciles: f.maxConcurrentReconciles,
			}); err != nil {
				return err
			}
			if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
				return fmt.Errorf("health check: %w", err)
			}
			if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
				return fmt.Errorf("ready check: %w", err)
			}
			log.Info("starting the manager", "version", version, "proxyImage", f.proxyImage,
				"watchNamespaces", namespaces, "leaderElection", f.leaderElect, "sessionRetention", f.sessionRetention)
			if err := mgr.Start(cmd.Context()); err != nil {
				return fmt.Errorf("manager: %w", err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443", `metrics address ("0" turns metrics off)`)
	fl.BoolVar(&f.secureMetrics, "metrics-secure", true, "serve metrics over HTTPS with authentication and authorization (TokenReview, SubjectAccessReview)")
	fl.StringVar(&f.metricsCertDir, "metrics-cert-dir", "", "folder with tls.crt and tls.key for the metrics endpoint (default: a self-signed certificate)")
	fl.BoolVar(&f.enableHTTP2, "enable-http2", false, "allow HTTP/2 on the metrics endpoint")
	fl.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" turns them off)`)
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "elect one active manager among the replicas (a Lease)")
	fl.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	fl.StringVar(&f.leaderElectionID, "leader-election-id", "sessionconnector-operator.sessionconnector.io", "name of the leader election Lease")
	fl.StringSliceVar(&f.watchNamespaces, "watch-namespaces", nil, "namespaces to watch, comma-separated (default: all)")
	fl.StringVar(&f.proxyImage, "proxy-image", os.Getenv(imageEnv), "image of the proxy pods when an RDSCluster names none (default $"+imageEnv+")")
	fl.DurationVar(&f.sessionRetention, "session-retention", controllers.DefaultSessionRetention, "how long ended, expired and rejected Sessions are kept")
	fl.DurationVar(&f.refreshInterval, "status-refresh", controllers.DefaultRefreshInterval, "how often RDSClusters are reconciled without a change (external checks, counts)")
	fl.DurationVar(&f.checkTTL, "check-cache-ttl", controllers.DefaultCheckTTL, "how long a Secret Server or bucket check result is reused while its inputs are unchanged")
	fl.DurationVar(&f.checkTimeout, "check-timeout", controllers.DefaultCheckTimeout, "timeout of each Secret Server or bucket check")
	fl.IntVar(&f.maxConcurrentReconciles, "max-concurrent-reconciles", 2, "reconciles run at once per controller")
	return cmd
}

// splitNamespaces trims and checks --watch-namespaces.
func splitNamespaces(in []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, ns := range in {
		ns = strings.TrimSpace(ns)
		if ns == "" || seen[ns] {
			continue
		}
		if strings.ContainsAny(ns, " /") {
			return nil, errors.New("--watch-namespaces: " + ns + " is not a namespace name")
		}
		seen[ns] = true
		out = append(out, ns)
	}
	return out, nil
}
