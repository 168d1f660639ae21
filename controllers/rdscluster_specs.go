package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/controllers/proxyconfig"
)

// This file holds the pure builders of the objects an RDSCluster owns. They take the cluster and
// what the reconciler found out (image, TLS Secret, checksum) and return server-side apply
// configurations; they never talk to the API server.

// maxClusterNameLength keeps "<name>-proxy" a valid Service name (a DNS-1035 label, 63 characters).
const maxClusterNameLength = validation.DNS1035LabelMaxLength - len("-proxy")

// proxyName is the name of the proxy's Deployment, Service, ConfigMap, ServiceAccount, Role,
// RoleBinding and PodDisruptionBudget.
func proxyName(c *v1alpha1.RDSCluster) string { return c.Name + "-proxy" }

// generatedTLSSecretName is the Secret with the self-signed certificate made when the cluster
// names no TLS Secret.
func generatedTLSSecretName(c *v1alpha1.RDSCluster) string { return c.Name + "-proxy-tls" }

// agentName is the name of the agent DaemonSet.
func agentName(c *v1alpha1.RDSCluster) string { return c.Name + "-agent" }

// tlsSecretName is the Secret the proxies present.
func tlsSecretName(c *v1alpha1.RDSCluster) string {
	if ref := c.Spec.Proxy.TLSSecretRef; ref != nil && ref.Name != "" {
		return ref.Name
	}
	return generatedTLSSecretName(c)
}

// validateClusterName reports why a cluster's name cannot name its children, or nil.
func validateClusterName(c *v1alpha1.RDSCluster) error {
	if errs := validation.IsDNS1035Label(proxyName(c)); len(errs) > 0 {
		return fmt.Errorf("the name %q cannot name the proxy Service %q: %s (use at most %d lowercase letters, digits and '-', starting with a letter)",
			c.Name, proxyName(c), errs[0], maxClusterNameLength)
	}
	return nil
}

// proxySelector selects a cluster's proxy pods; it never changes (a Deployment's selector is immutable).
func proxySelector(c *v1alpha1.RDSCluster) map[string]string {
	return map[string]string{LabelName: ProxyName, LabelInstance: c.Name}
}

func proxyLabels(c *v1alpha1.RDSCluster) map[string]string {
	l := proxySelector(c)
	l[LabelComponent] = ComponentProxy
	l[LabelPartOf] = PartOfValue
	l[LabelManagedBy] = ManagedByValue
	return l
}

func agentSelector(c *v1alpha1.RDSCluster) map[string]string {
	return map[string]string{LabelName: AgentName, LabelInstance: c.Name}
}

func agentLabels(c *v1alpha1.RDSCluster) map[string]string {
	l := agentSelector(c)
	l[LabelComponent] = ComponentAgent
	l[LabelPartOf] = PartOfValue
	l[LabelManagedBy] = ManagedByValue
	return l
}

// ownerReference makes the cluster the controller of a child, so the garbage collector deletes
// the child with it.
func ownerReference(c *v1alpha1.RDSCluster) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(v1alpha1.GroupVersion.String()).
		WithKind("RDSCluster").
		WithName(c.Name).
		WithUID(c.UID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// proxySecretNames are the Secrets the proxies read through the API server (and mount), sorted.
func proxySecretNames(c *v1alpha1.RDSCluster) []string {
	names := []string{c.Spec.SecretServer.ApplicationAccountSecretRef.Name}
	if rs := c.Spec.RecordingStorage; rs != nil {
		names = append(names, rs.CredentialsSecretRef.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func buildServiceAccount(c *v1alpha1.RDSCluster) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c))
}

// buildRole is the least the proxies need: Sessions of their namespace (claim = status update),
// the cluster and launchers (read), and only the Secrets their cluster names.
func buildRole(c *v1alpha1.RDSCluster) *rbacv1ac.RoleApplyConfiguration {
	group := v1alpha1.GroupVersion.Group
	return rbacv1ac.Role(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithRules(
			rbacv1ac.PolicyRule().WithAPIGroups(group).WithResources("sessions").
				WithVerbs("get", "list", "watch", "create", "update", "patch"),
			rbacv1ac.PolicyRule().WithAPIGroups(group).WithResources("sessions/status").
				WithVerbs("update", "patch"),
			rbacv1ac.PolicyRule().WithAPIGroups(group).WithResources("rdsclusters", "sessionlaunchers").
				WithVerbs("get", "list", "watch"),
			rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("secrets").
				WithResourceNames(proxySecretNames(c)...).WithVerbs("get"),
		)
}

func buildRoleBinding(c *v1alpha1.RDSCluster) *rbacv1ac.RoleBindingApplyConfiguration {
	return rbacv1ac.RoleBinding(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(proxyName(c))).
		WithSubjects(rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(proxyName(c)).WithNamespace(c.Namespace))
}

// proxyConfigData is the ConfigMap's data: the proxy's --config file.
func proxyConfigData(c *v1alpha1.RDSCluster) (map[string]string, error) {
	b, err := proxyconfig.FromCluster(c).Marshal()
	if err != nil {
		return nil, err
	}
	return map[string]string{proxyconfig.FileName: string(b)}, nil
}

func buildConfigMap(c *v1alpha1.RDSCluster, data map[string]string) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithData(data)
}

// checksum digests the ConfigMap's data and the Secrets' data into one value for the pod
// template. All inputs go into one SHA-256, the TLS private key among them, so the value tells
// nothing about a weak password in one of the Secrets.
func checksum(config map[string]string, secrets map[string]map[string][]byte) string {
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s;", len(p), p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(config)) {
		write("configmap", k, config[k])
	}
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		data := secrets[name]
		write("secret", name, strconv.Itoa(len(data)))
		for _, k := range slices.Sorted(maps.Keys(data)) {
			write(k, string(data[k]))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// defaultProxyResources apply when spec.proxy.resources is empty.
func defaultProxyResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
}

func resources(r corev1.ResourceRequirements) *corev1ac.ResourceRequirementsApplyConfiguration {
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		r = defaultProxyResources()
	}
	ac := corev1ac.ResourceRequirements()
	if len(r.Requests) > 0 {
		ac.WithRequests(r.Requests)
	}
	if len(r.Limits) > 0 {
		ac.WithLimits(r.Limits)
	}
	return ac
}

// proxyReplicas is spec.proxy.replicas, 2 when unset.
func proxyReplicas(c *v1alpha1.RDSCluster) int32 {
	if r := c.Spec.Proxy.Replicas; r != nil {
		return *r
	}
	return defaultProxyReplicas
}

// terminationGraceSeconds lets a stopping proxy drain: the preStop sleep, the shutdown grace its
// live sessions get, and a margin for the launch API's own shutdown.
func terminationGraceSeconds(c *v1alpha1.RDSCluster) int64 {
	return int64(c.Spec.Proxy.ShutdownGraceSeconds) + preStopSleepSeconds + terminationMarginSeconds
}

// proxyArgs are the arguments after `sessionconnector proxy`.
func proxyArgs(c *v1alpha1.RDSCluster) []string {
	return []string{
		"--cluster", c.Name,
		"--namespace", c.Namespace,
		"--listen", ":" + strconv.Itoa(RDPPort),
		"--api-listen", ":" + strconv.Itoa(HTTPSPort),
		"--tls-cert", tlsDir + "/" + corev1.TLSCertKey,
		"--tls-key", tlsDir + "/" + corev1.TLSPrivateKeyKey,
		"--config", configDir + "/" + proxyconfig.FileName,
		"--spool-dir", spoolDir,
		"--spool-limit", spoolLimit,
	}
}

func fieldEnv(name, path string) *corev1ac.EnvVarApplyConfiguration {
	return corev1ac.EnvVar().WithName(name).
		WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath(path)))
}

func httpsProbe(path string) *corev1ac.ProbeApplyConfiguration {
	return corev1ac.Probe().WithHTTPGet(corev1ac.HTTPGetAction().
		WithPath(path).WithPort(intstr.FromString("https")).WithScheme(corev1.URISchemeHTTPS))
}

func secretVolume(name, secret string, optional bool) *corev1ac.VolumeApplyConfiguration {
	src := corev1ac.SecretVolumeSource().WithSecretName(secret).WithDefaultMode(0o440)
	if optional {
		src.WithOptional(true)
	}
	return corev1ac.Volume().WithName(name).WithSecret(src)
}

func readOnlyMount(name, path string) *corev1ac.VolumeMountApplyConfiguration {
	return corev1ac.VolumeMount().WithName(name).WithMountPath(path).WithReadOnly(true)
}

// buildDeployment is the proxy Deployment. checksum goes on the pod template so a change of the
// configuration or of a Secret rolls the pods out.
func buildDeployment(c *v1alpha1.RDSCluster, image, checksum string) *appsv1ac.DeploymentApplyConfiguration {
	const nonRoot int64 = 65532 // the image's user (distroless nonroot)
	selector := metav1ac.LabelSelector().WithMatchLabels(proxySelector(c))

	volumes := []*corev1ac.VolumeApplyConfiguration{
		secretVolume(volumeTLS, tlsSecretName(c), false),
		corev1ac.Volume().WithName(volumeConfig).WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(proxyName(c))),
		// The proxy reads the application account through the API server (so a rotation needs no
		// restart); the mount is for tools in the pod. Optional: a missing Secret shows in the
		// cluster's status instead of keeping the pods from starting.
		secretVolume(volumeSecretServer, c.Spec.SecretServer.ApplicationAccountSecretRef.Name, true),
		corev1ac.Volume().WithName(volumeTmp).WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse("1Gi"))),
	}
	mounts := []*corev1ac.VolumeMountApplyConfiguration{
		readOnlyMount(volumeTLS, tlsDir),
		readOnlyMount(volumeConfig, configDir),
		readOnlyMount(volumeSecretServer, secretServerDir),
		corev1ac.VolumeMount().WithName(volumeTmp).WithMountPath("/tmp"),
	}
	if rs := c.Spec.RecordingStorage; rs != nil {
		volumes = append(volumes, secretVolume(volumeRecording, rs.CredentialsSecretRef.Name, true),
			// Recordings wait here while S3 is away: it survives container restarts (and is
			// uploaded at the next start), not the pod's deletion.
			corev1ac.Volume().WithName(volumeSpool).WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse(spoolVolumeLimit))))
		mounts = append(mounts, readOnlyMount(volumeRecording, recordingDir),
			corev1ac.VolumeMount().WithName(volumeSpool).WithMountPath(spoolDir))
	}

	container := corev1ac.Container().
		WithName(proxyContainerName).
		WithImage(image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		WithCommand(proxyBinary, "proxy").
		WithArgs(proxyArgs(c)...).
		WithEnv(fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace")).
		WithPorts(
			corev1ac.ContainerPort().WithName("rdp").WithContainerPort(RDPPort).WithProtocol(corev1.ProtocolTCP),
			corev1ac.ContainerPort().WithName("https").WithContainerPort(HTTPSPort).WithProtocol(corev1.ProtocolTCP),
		).
		WithReadinessProbe(httpsProbe("/readyz").WithPeriodSeconds(5).WithTimeoutSeconds(3).WithFailureThreshold(3)).
		WithLivenessProbe(httpsProbe("/healthz").WithInitialDelaySeconds(10).WithPeriodSeconds(10).WithTimeoutSeconds(3).WithFailureThreshold(3)).
		WithResources(resources(c.Spec.Proxy.Resources)).
		WithSecurityContext(corev1ac.SecurityContext().
			WithRunAsNonRoot(true).
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		// The preStop sleep keeps the pod serving while it leaves the Service's endpoints; then
		// SIGTERM stops new connections and live sessions get spec.proxy.shutdownGraceSeconds.
		WithLifecycle(corev1ac.Lifecycle().WithPreStop(corev1ac.LifecycleHandler().
			WithSleep(corev1ac.SleepAction().WithSeconds(preStopSleepSeconds)))).
		WithVolumeMounts(mounts...)

	spread := func(key string) *corev1ac.TopologySpreadConstraintApplyConfiguration {
		return corev1ac.TopologySpreadConstraint().
			WithMaxSkew(1).
			WithTopologyKey(key).
			WithWhenUnsatisfiable(corev1.ScheduleAnyway).
			WithLabelSelector(metav1ac.LabelSelector().WithMatchLabels(proxySelector(c))).
			WithMatchLabelKeys(appsv1.DefaultDeploymentUniqueLabelKey)
	}

	pod := corev1ac.PodTemplateSpec().
		WithLabels(proxyLabels(c)).
		WithAnnotations(map[string]string{
			AnnotationChecksum:                        checksum,
			"kubectl.kubernetes.io/default-container": proxyContainerName,
		}).
		WithSpec(corev1ac.PodSpec().
			WithServiceAccountName(proxyName(c)).
			WithAutomountServiceAccountToken(true).
			WithEnableServiceLinks(false).
			WithNodeSelector(map[string]string{corev1.LabelOSStable: "linux"}).
			WithTerminationGracePeriodSeconds(terminationGraceSeconds(c)).
			WithSecurityContext(corev1ac.PodSecurityContext().
				WithRunAsNonRoot(true).
				WithRunAsUser(nonRoot).
				WithRunAsGroup(nonRoot).
				WithFSGroup(nonRoot).
				WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
			WithTopologySpreadConstraints(spread(corev1.LabelHostname), spread(corev1.LabelTopologyZone)).
			WithContainers(container).
			WithVolumes(volumes...))

	return appsv1ac.Deployment(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(proxyReplicas(c)).
			WithSelector(selector).
			// A new pod is ready before an old one starts draining.
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxSurge(intstr.FromInt32(1)).
					WithMaxUnavailable(intstr.FromInt32(0)))).
			WithTemplate(pod))
}

// buildService is the front door: RDP on 3389 and the launch API on 8443.
func buildService(c *v1alpha1.RDSCluster) *corev1ac.ServiceApplyConfiguration {
	svc := c.Spec.Proxy.Service
	typ := svc.Type
	if typ == "" {
		typ = corev1.ServiceTypeLoadBalancer
	}
	rdp := corev1ac.ServicePort().WithName("rdp").WithProtocol(corev1.ProtocolTCP).
		WithPort(RDPPort).WithTargetPort(intstr.FromString("rdp"))
	external := typ == corev1.ServiceTypeLoadBalancer || typ == corev1.ServiceTypeNodePort
	if external && svc.NodePort != 0 {
		rdp.WithNodePort(svc.NodePort)
	}
	spec := corev1ac.ServiceSpec().
		WithType(typ).
		WithSelector(proxySelector(c)).
		WithPorts(rdp, corev1ac.ServicePort().WithName("https").WithProtocol(corev1.ProtocolTCP).
			WithPort(HTTPSPort).WithTargetPort(intstr.FromString("https")))
	if external {
		// Local keeps the clients' addresses (recorded on Sessions) and skips a second hop.
		spec.WithExternalTrafficPolicy(corev1.ServiceExternalTrafficPolicyLocal)
	}
	if typ == corev1.ServiceTypeLoadBalancer && len(svc.LoadBalancerSourceRanges) > 0 {
		spec.WithLoadBalancerSourceRanges(svc.LoadBalancerSourceRanges...)
	}
	ac := corev1ac.Service(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithSpec(spec)
	if len(svc.Annotations) > 0 {
		ac.WithAnnotations(svc.Annotations)
	}
	return ac
}

func buildPodDisruptionBudget(c *v1alpha1.RDSCluster) *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(proxyName(c), c.Namespace).
		WithLabels(proxyLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMaxUnavailable(intstr.FromInt32(1)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(proxySelector(c))))
}

// buildAgentDaemonSet runs the RDS-node agent as a HostProcess container on every Windows node:
// it manages local users there, which only a process on the host as SYSTEM can.
func buildAgentDaemonSet(c *v1alpha1.RDSCluster, image string) *appsv1ac.DaemonSetApplyConfiguration {
	container := corev1ac.Container().
		WithName(agentContainerName).
		WithImage(image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		WithCommand(proxyBinary, "agent").
		WithArgs("--cluster", c.Name, "--namespace", c.Namespace).
		WithEnv(fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("NODE_NAME", "spec.nodeName"))
	pod := corev1ac.PodTemplateSpec().
		WithLabels(agentLabels(c)).
		WithSpec(corev1ac.PodSpec().
			WithOS(corev1ac.PodOS().WithName(corev1.Windows)).
			WithNodeSelector(map[string]string{corev1.LabelOSStable: "windows"}).
			// Windows node pools are often tainted so that Linux pods stay away.
			WithTolerations(corev1ac.Toleration().WithKey("os").WithOperator(corev1.TolerationOpEqual).
				WithValue("windows").WithEffect(corev1.TaintEffectNoSchedule)).
			WithHostNetwork(true).
			// The agent gets what it needs from the proxies over mTLS, not from the API server.
			WithAutomountServiceAccountToken(false).
			WithSecurityContext(corev1ac.PodSecurityContext().
				WithWindowsOptions(corev1ac.WindowsSecurityContextOptions().
					WithHostProcess(true).
					WithRunAsUserName(`NT AUTHORITY\SYSTEM`))).
			WithContainers(container))
	return appsv1ac.DaemonSet(agentName(c), c.Namespace).
		WithLabels(agentLabels(c)).
		WithOwnerReferences(ownerReference(c)).
		WithSpec(appsv1ac.DaemonSetSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(agentSelector(c))).
			WithUpdateStrategy(appsv1ac.DaemonSetUpdateStrategy().
				WithType(appsv1.RollingUpdateDaemonSetStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDaemonSet().WithMaxUnavailable(intstr.FromInt32(1)))).
			WithTemplate(pod))
}

// tlsSecretObject is the self-signed certificate Secret (created once, not applied).
func tlsSecretObject(c *v1alpha1.RDSCluster, certPEM, keyPEM, caPEM []byte) *corev1.Secret {
	controller, block := true, true
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: generatedTLSSecretName(c), Namespace: c.Namespace, Labels: proxyLabels(c),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "RDSCluster", Name: c.Name, UID: c.UID,
				Controller: &controller, BlockOwnerDeletion: &block,
			}},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, "ca.crt": caPEM},
	}
}

// certificateHosts are the names the self-signed certificate is issued for.
func certificateHosts(c *v1alpha1.RDSCluster) []string {
	svc := proxyName(c)
	hosts := []string{svc, svc + "." + c.Namespace, svc + "." + c.Namespace + ".svc", svc + "." + c.Namespace + ".svc.cluster.local"}
	if a := strings.Trim(c.Spec.ExternalAddress, "[]"); a != "" {
		hosts = append(hosts, a)
	}
	return hosts
}
