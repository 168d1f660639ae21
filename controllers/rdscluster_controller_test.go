package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/controllers/proxyconfig"
)

func TestRDSClusterCreatesItsObjects(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	cluster := newCluster(ns, "front")
	replicas, grace := int32(3), int32(600)
	cluster.Spec.ExternalAddress = "rdp.example.com"
	cluster.Spec.ExternalPort = 3390
	cluster.Spec.Proxy = v1alpha1.ProxySpec{
		Replicas:             &replicas,
		ShutdownGraceSeconds: grace,
		MaxSessions:          50,
		Resources:            corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
		Service: v1alpha1.ProxyServiceSpec{
			Type:                     corev1.ServiceTypeLoadBalancer,
			Annotations:              map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
			LoadBalancerSourceRanges: []string{"10.0.0.0/8"},
			NodePort:                 31389,
		},
	}
	cluster.Spec.Agents.Enabled = true
	create(t, c, appSecret(ns), cluster)
	key := client.ObjectKeyFromObject(cluster)

	// ServiceAccount, Role, RoleBinding.
	var sa corev1.ServiceAccount
	get(t, c, ns, "front-proxy", &sa)
	checkOwner(t, &sa, cluster)
	var role rbacv1.Role
	get(t, c, ns, "front-proxy", &role)
	checkOwner(t, &role, cluster)
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"sessionconnector.io"}, Resources: []string{"sessions"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
		{APIGroups: []string{"sessionconnector.io"}, Resources: []string{"sessions/status"}, Verbs: []string{"update", "patch"}},
		{APIGroups: []string{"sessionconnector.io"}, Resources: []string{"rdsclusters", "sessionlaunchers"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"app"}, Verbs: []string{"get"}},
	}
	if fmt.Sprint(role.Rules) != fmt.Sprint(wantRules) {
		t.Errorf("role rules\n got %+v\nwant %+v", role.Rules, wantRules)
	}
	var rb rbacv1.RoleBinding
	get(t, c, ns, "front-proxy", &rb)
	checkOwner(t, &rb, cluster)
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != "front-proxy" || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != "front-proxy" || rb.Subjects[0].Namespace != ns {
		t.Errorf("role binding %+v %+v", rb.RoleRef, rb.Subjects)
	}

	// ConfigMap with the proxy's --config file.
	var cm corev1.ConfigMap
	get(t, c, ns, "front-proxy", &cm)
	checkOwner(t, &cm, cluster)
	file, err := proxyconfig.Parse([]byte(cm.Data[proxyconfig.FileName]))
	if err != nil || file.Cluster != "front" || file.MaxSessions == nil || *file.MaxSessions != 50 ||
		file.ShutdownGraceSeconds == nil || *file.ShutdownGraceSeconds != grace || file.HandshakeTimeoutSeconds == nil || *file.HandshakeTimeoutSeconds != 30 {
		t.Errorf("proxy config %q: %+v, %v", cm.Data[proxyconfig.FileName], file, err)
	}

	// The self-signed certificate.
	var tlsSecret corev1.Secret
	get(t, c, ns, "front-proxy-tls", &tlsSecret)
	checkOwner(t, &tlsSecret, cluster)
	if tlsSecret.Type != corev1.SecretTypeTLS {
		t.Errorf("TLS secret type %s", tlsSecret.Type)
	}
	block, _ := pem.Decode(tlsSecret.Data[corev1.TLSCertKey])
	if block == nil {
		t.Fatal("no certificate in the TLS secret")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"front-proxy." + ns + ".svc", "rdp.example.com"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("certificate: %v", err)
		}
	}

	// Deployment.
	var d appsv1.Deployment
	get(t, c, ns, "front-proxy", &d)
	checkOwner(t, &d, cluster)
	checkDeployment(t, &d, ns)

	// Service.
	var svc corev1.Service
	get(t, c, ns, "front-proxy", &svc)
	checkOwner(t, &svc, cluster)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		!slices.Equal(svc.Spec.LoadBalancerSourceRanges, []string{"10.0.0.0/8"}) ||
		svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"] != "nlb" ||
		svc.Spec.Selector[LabelName] != ProxyName || svc.Spec.Selector[LabelInstance] != "front" {
		t.Errorf("service spec %+v annotations %v", svc.Spec, svc.Annotations)
	}
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != 3389 || svc.Spec.Ports[0].NodePort != 31389 ||
		svc.Spec.Ports[0].TargetPort != intstr.FromString("rdp") || svc.Spec.Ports[1].Port != 8443 || svc.Spec.Ports[1].TargetPort != intstr.FromString("https") {
		t.Errorf("service ports %+v", svc.Spec.Ports)
	}

	// PodDisruptionBudget.
	var pdb policyv1.PodDisruptionBudget
	get(t, c, ns, "front-proxy", &pdb)
	checkOwner(t, &pdb, cluster)
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != intstr.FromInt32(1) || pdb.Spec.Selector.MatchLabels[LabelInstance] != "front" {
		t.Errorf("pdb spec %+v", pdb.Spec)
	}

	// Agent DaemonSet.
	var ds appsv1.DaemonSet
	get(t, c, ns, "front-agent", &ds)
	checkOwner(t, &ds, cluster)
	pod := ds.Spec.Template.Spec
	wo := pod.SecurityContext.WindowsOptions
	if pod.NodeSelector[corev1.LabelOSStable] != "windows" || !pod.HostNetwork || wo == nil || wo.HostProcess == nil || !*wo.HostProcess ||
		wo.RunAsUserName == nil || *wo.RunAsUserName != `NT AUTHORITY\SYSTEM` ||
		!slices.Equal(pod.Containers[0].Command, []string{"sessionconnector", "agent"}) {
		t.Errorf("agent pod spec %+v", pod)
	}

	// Status: Secret Server is reached through the emulator; the proxies and agents become
	// available when their (simulated, envtest runs no controllers) status says so.
	waitCondition(t, c, key, ConditionSecretServerReachable, metav1.ConditionTrue, ReasonReachable)
	waitCondition(t, c, key, ConditionRecordingStorageReady, metav1.ConditionTrue, ReasonNotConfigured)
	waitCondition(t, c, key, ConditionProxyAvailable, metav1.ConditionFalse, ReasonNoReplicas)
	waitCondition(t, c, key, ConditionAgentsAvailable, metav1.ConditionFalse, ReasonNoWindowsNodes)
	waitCondition(t, c, key, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicas)

	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, UpdatedReplicas: 3}
	if err := c.Status().Update(ctx, &d); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, c, key, ConditionProxyAvailable, metav1.ConditionTrue, ReasonReplicasAvailable)
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2, UpdatedNumberScheduled: 2}
	if err := c.Status().Update(ctx, &ds); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, c, key, ConditionAgentsAvailable, metav1.ConditionTrue, ReasonAgentsAvailable)
	waitCondition(t, c, key, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReady)

	// Events tell what was created and what the checks found.
	eventually(t, waitFor, "events", func() error {
		var list eventsv1.EventList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		reasons := map[string]bool{}
		for _, e := range list.Items {
			if e.Regarding.Name == "front" && e.ReportingController == EventSource {
				reasons[e.Type+"/"+e.Reason] = true
				if strings.Contains(e.Note, appPassword) {
					t.Errorf("event names the password: %s", e.Note)
				}
			}
		}
		for _, want := range []string{"Normal/Created", "Normal/CertificateCreated", "Normal/" + ReasonReachable, "Warning/" + ReasonNoReplicas} {
			if !reasons[want] {
				return fmt.Errorf("no %s event among %v", want, reasons)
			}
		}
		return nil
	})

	// Active sessions on a live proxy pod are counted.
	proxyPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "front-proxy-abc", Namespace: ns, Labels: map[string]string{LabelName: ProxyName, LabelInstance: "front"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "proxy", Image: "x"}}},
	}
	create(t, c, proxyPod)
	for range 2 {
		newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionActive, ProxyName: proxyPod.Name})
	}
	newSession(t, c, ns, "other", v1alpha1.SessionStatus{Phase: v1alpha1.SessionActive, ProxyName: proxyPod.Name})

	eventually(t, waitFor, "status counts", func() error {
		var got v1alpha1.RDSCluster
		if err := c.Get(ctx, key, &got); err != nil {
			return err
		}
		st := got.Status
		if st.Address != "rdp.example.com:3390" || st.Replicas != 3 || st.ReadyReplicas != 3 || st.ActiveSessions != 2 ||
			st.ObservedGeneration != got.Generation {
			return fmt.Errorf("status %+v (generation %d)", st, got.Generation)
		}
		return nil
	})
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, ns string) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v", d.Spec.Replicas)
	}
	if d.Spec.Strategy.RollingUpdate == nil || *d.Spec.Strategy.RollingUpdate.MaxUnavailable != intstr.FromInt32(0) {
		t.Errorf("strategy %+v", d.Spec.Strategy)
	}
	tpl := d.Spec.Template
	if sum := tpl.Annotations[AnnotationChecksum]; len(sum) != 64 {
		t.Errorf("checksum annotation %q", sum)
	}
	pod := tpl.Spec
	if pod.ServiceAccountName != "front-proxy" || pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 600+15+30 {
		t.Errorf("service account %q, termination grace %v", pod.ServiceAccountName, pod.TerminationGracePeriodSeconds)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if len(pod.TopologySpreadConstraints) == 0 || pod.TopologySpreadConstraints[0].TopologyKey != corev1.LabelHostname ||
		pod.TopologySpreadConstraints[0].LabelSelector.MatchLabels[LabelInstance] != "front" {
		t.Errorf("topology spread %+v", pod.TopologySpreadConstraints)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("containers %+v", pod.Containers)
	}
	ct := pod.Containers[0]
	wantArgs := []string{"--cluster", "front", "--namespace", ns, "--listen", ":3389", "--api-listen", ":8443",
		"--tls-cert", "/etc/sessionconnector/tls/tls.crt", "--tls-key", "/etc/sessionconnector/tls/tls.key",
		"--config", "/etc/sessionconnector/config/proxy.yaml", "--spool-dir", "/var/spool/sessionconnector", "--spool-limit", "2Gi"}
	if ct.Image != testOpts.ProxyImage || !slices.Equal(ct.Command, []string{"sessionconnector", "proxy"}) || !slices.Equal(ct.Args, wantArgs) {
		t.Errorf("image %s command %v args %v", ct.Image, ct.Command, ct.Args)
	}
	env := map[string]string{}
	for _, e := range ct.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("env %+v", ct.Env)
	}
	for name, p := range map[string]*corev1.Probe{"/readyz": ct.ReadinessProbe, "/healthz": ct.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Port != intstr.FromString("https") {
			t.Errorf("probe %s: %+v", name, p)
		}
	}
	sc := ct.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container security context %+v", sc)
	}
	if cpu := ct.Resources.Requests[corev1.ResourceCPU]; cpu.String() != "250m" {
		t.Errorf("resources %+v", ct.Resources)
	}
	if ct.Lifecycle == nil || ct.Lifecycle.PreStop == nil || ct.Lifecycle.PreStop.Sleep == nil || ct.Lifecycle.PreStop.Sleep.Seconds != 15 {
		t.Errorf("lifecycle %+v", ct.Lifecycle)
	}
	ports := map[string]int32{}
	for _, p := range ct.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["rdp"] != 3389 || ports["https"] != 8443 {
		t.Errorf("ports %+v", ct.Ports)
	}
	volumes := map[string]string{}
	for _, v := range pod.Volumes {
		switch {
		case v.Secret != nil:
			volumes[v.Name] = "secret/" + v.Secret.SecretName
		case v.ConfigMap != nil:
			volumes[v.Name] = "configmap/" + v.ConfigMap.Name
		case v.EmptyDir != nil:
			volumes[v.Name] = "emptydir"
		}
	}
	wantVolumes := map[string]string{"tls": "secret/front-proxy-tls", "config": "configmap/front-proxy", "secretserver": "secret/app", "tmp": "emptydir"}
	if fmt.Sprint(volumes) != fmt.Sprint(wantVolumes) {
		t.Errorf("volumes %v, want %v", volumes, wantVolumes)
	}
	mounts := map[string]string{}
	for _, m := range ct.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["tls"] != "/etc/sessionconnector/tls" || mounts["config"] != "/etc/sessionconnector/config" || mounts["tmp"] != "/tmp" {
		t.Errorf("mounts %v", mounts)
	}
}

func TestRDSClusterUndoesDrift(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	cluster := newCluster(ns, "drift")
	create(t, c, appSecret(ns), cluster)

	var svc corev1.Service
	get(t, c, ns, "drift-proxy", &svc)
	if err := c.Delete(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, "the Service is recreated", func() error {
		var again corev1.Service
		if err := c.Get(ctx, client.ObjectKeyFromObject(&svc), &again); err != nil {
			return err
		}
		if again.UID == svc.UID {
			return fmt.Errorf("still the old Service")
		}
		return nil
	})

	// kubectl scale: the scale subresource, another field manager.
	var d appsv1.Deployment
	get(t, c, ns, "drift-proxy", &d)
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 7}}
	if err := c.SubResource("scale").Update(ctx, &d, client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, "the Deployment is scaled back", func() error {
		var again appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(&d), &again); err != nil {
			return err
		}
		if *again.Spec.Replicas != 2 {
			return fmt.Errorf("replicas %d", *again.Spec.Replicas)
		}
		return nil
	})

	// A hand edit of the ConfigMap is undone.
	var cm corev1.ConfigMap
	get(t, c, ns, "drift-proxy", &cm)
	want := cm.Data[proxyconfig.FileName]
	cm.Data[proxyconfig.FileName] = "maxSessions: 1\n"
	if err := c.Update(ctx, &cm, client.FieldOwner("someone")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, "the ConfigMap is restored", func() error {
		var again corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKeyFromObject(&cm), &again); err != nil {
			return err
		}
		if again.Data[proxyconfig.FileName] != want {
			return fmt.Errorf("data %q", again.Data[proxyconfig.FileName])
		}
		return nil
	})

	// A changed Secret and a changed spec roll the pods (the checksum changes).
	sumOf := func() string {
		var again appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(&d), &again); err != nil {
			t.Fatal(err)
		}
		return again.Spec.Template.Annotations[AnnotationChecksum]
	}
	first := sumOf()
	var app corev1.Secret
	get(t, c, ns, "app", &app)
	app.StringData = map[string]string{"password": "Rotated-Pass-2"}
	if err := c.Update(ctx, &app); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, "a Secret change rolls the pods", func() error {
		if sum := sumOf(); sum == first {
			return fmt.Errorf("checksum unchanged")
		}
		return nil
	})
	second := sumOf()
	key := client.ObjectKey{Namespace: ns, Name: "drift"}
	updateCluster(t, c, key, func(cl *v1alpha1.RDSCluster) { cl.Spec.Proxy.MaxSessions = 10 })
	eventually(t, waitFor, "a limit change rolls the pods", func() error {
		if sum := sumOf(); sum == second {
			return fmt.Errorf("checksum unchanged")
		}
		return nil
	})

	// Agents come and go with spec.agents.enabled.
	updateCluster(t, c, key, func(cl *v1alpha1.RDSCluster) { cl.Spec.Agents.Enabled = true })
	var ds appsv1.DaemonSet
	get(t, c, ns, "drift-agent", &ds)
	updateCluster(t, c, key, func(cl *v1alpha1.RDSCluster) { cl.Spec.Agents.Enabled = false })
	eventually(t, waitFor, "the agent DaemonSet is deleted", func() error {
		err := c.Get(ctx, client.ObjectKeyFromObject(&ds), &appsv1.DaemonSet{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	waitCondition(t, c, key, ConditionAgentsAvailable, metav1.ConditionTrue, ReasonNotConfigured)
}

func TestRDSClusterReportsFailures(t *testing.T) {
	c := needEnv(t)
	for name, tc := range map[string]struct {
		mutate    func(ns string, cl *v1alpha1.RDSCluster) []client.Object
		condition string
		reason    string
	}{
		"secret server unreachable": {
			mutate: func(ns string, cl *v1alpha1.RDSCluster) []client.Object {
				cl.Spec.SecretServer.URL = "https://127.0.0.1:1/SecretServer"
				return []client.Object{appSecret(ns)}
			},
			condition: ConditionSecretServerReachable, reason: ReasonSecretServerUnreachable,
		},
		"secret server certificate not trusted": {
			mutate: func(ns string, cl *v1alpha1.RDSCluster) []client.Object {
				cl.Spec.SecretServer.CABundle = ""
				return []client.Object{appSecret(ns)}
			},
			condition: ConditionSecretServerReachable, reason: ReasonSecretServerUnreachable,
		},
		"application account secret missing": {
			mutate:    func(string, *v1alpha1.RDSCluster) []client.Object { return nil },
			condition: ConditionSecretServerReachable, reason: ReasonAppAccountSecretMissing,
		},
		"application account secret without password": {
			mutate: func(ns string, _ *v1alpha1.RDSCluster) []client.Object {
				return []client.Object{newSecret(ns, "app", map[string]string{"username": appUser})}
			},
			condition: ConditionSecretServerReachable, reason: ReasonAppAccountSecretInvalid,
		},
		"application account rejected": {
			mutate: func(ns string, _ *v1alpha1.RDSCluster) []client.Object {
				return []client.Object{newSecret(ns, "app", map[string]string{"username": appUser, "password": "wrong"})}
			},
			condition: ConditionSecretServerReachable, reason: ReasonApplicationAccountRejected,
		},
		"bucket unreachable": {
			mutate: func(ns string, cl *v1alpha1.RDSCluster) []client.Object {
				cl.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "https://127.0.0.1:1", Bucket: "recordings",
					Region: "us-east-1", CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
				return []client.Object{appSecret(ns), newSecret(ns, "s3", map[string]string{"accessKeyId": "AKIA", "secretAccessKey": "s3-secret-key"})}
			},
			condition: ConditionRecordingStorageReady, reason: ReasonBucketUnreachable,
		},
		"bucket credentials missing": {
			mutate: func(ns string, cl *v1alpha1.RDSCluster) []client.Object {
				cl.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "https://127.0.0.1:1", Bucket: "recordings",
					CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
				return []client.Object{appSecret(ns)}
			},
			condition: ConditionRecordingStorageReady, reason: ReasonCredentialsSecretMissing,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, c)
			cl := newCluster(ns, "broken")
			objs := tc.mutate(ns, cl)
			create(t, c, append(objs, cl)...)
			cond := waitCondition(t, c, client.ObjectKeyFromObject(cl), tc.condition, metav1.ConditionFalse, tc.reason)
			for _, secret := range []string{appPassword, "wrong", "s3-secret-key"} {
				if strings.Contains(cond.Message, secret) {
					t.Errorf("the message names a secret: %s", cond.Message)
				}
			}
			t.Logf("%s: %s", cond.Reason, cond.Message)
			waitCondition(t, c, client.ObjectKeyFromObject(cl), v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicas)
		})
	}
}

// A missing Secret that appears is noticed at once (the Secret watch, and the check's inputs changed).
func TestRDSClusterNoticesNewSecret(t *testing.T) {
	c := needEnv(t)
	ns := newNamespace(t, c)
	cl := newCluster(ns, "later")
	cl.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "https://127.0.0.1:1", Bucket: "recordings",
		CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
	create(t, c, cl)
	key := client.ObjectKeyFromObject(cl)
	waitCondition(t, c, key, ConditionSecretServerReachable, metav1.ConditionFalse, ReasonAppAccountSecretMissing)
	create(t, c, appSecret(ns))
	waitCondition(t, c, key, ConditionSecretServerReachable, metav1.ConditionTrue, ReasonReachable)

	// The proxies may read the recording credentials and have them mounted.
	var role rbacv1.Role
	get(t, c, ns, "later-proxy", &role)
	if last := role.Rules[len(role.Rules)-1]; !slices.Equal(last.ResourceNames, []string{"app", "s3"}) {
		t.Errorf("secret rule %+v", last)
	}
	var d appsv1.Deployment
	get(t, c, ns, "later-proxy", &d)
	if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "recording" && v.Secret != nil && v.Secret.SecretName == "s3"
	}) {
		t.Errorf("no recording volume in %+v", d.Spec.Template.Spec.Volumes)
	}
}

func TestRDSClusterTLSSecret(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)

	// A named Secret that does not exist yet: everything is written, Ready says what is missing.
	named := newCluster(ns, "named")
	named.Spec.Proxy.TLSSecretRef = &v1alpha1.LocalSecretReference{Name: "corp-tls"}
	create(t, c, appSecret(ns), named)
	waitCondition(t, c, client.ObjectKeyFromObject(named), v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonTLSSecretMissing)
	var d appsv1.Deployment
	get(t, c, ns, "named-proxy", &d)
	if v := d.Spec.Template.Spec.Volumes[0]; v.Secret == nil || v.Secret.SecretName != "corp-tls" {
		t.Errorf("tls volume %+v", v)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "named-proxy-tls"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("a self-signed Secret was made although the cluster names one: %v", err)
	}
	create(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "corp-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")}})
	waitCondition(t, c, client.ObjectKeyFromObject(named), v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicas)

	// A Secret by the generated name that belongs to someone else is not touched.
	foreign := newSecret(ns, "taken-proxy-tls", map[string]string{"tls.crt": "mine"})
	create(t, c, foreign, newCluster(ns, "taken"))
	waitCondition(t, c, client.ObjectKey{Namespace: ns, Name: "taken"}, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonTLSSecretConflict)
	var again corev1.Secret
	get(t, c, ns, "taken-proxy-tls", &again)
	if string(again.Data["tls.crt"]) != "mine" || len(again.OwnerReferences) != 0 {
		t.Errorf("the foreign Secret was changed: %+v", again)
	}

	// The generated certificate is kept across reconciles.
	kept := newCluster(ns, "kept")
	create(t, c, kept)
	var first corev1.Secret
	get(t, c, ns, "kept-proxy-tls", &first)
	updateCluster(t, c, client.ObjectKeyFromObject(kept), func(cl *v1alpha1.RDSCluster) { cl.Spec.Proxy.MaxSessions = 7 })
	eventually(t, waitFor, "the change is reconciled", func() error {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kept-proxy"}, &cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data[proxyconfig.FileName], "maxSessions: 7") {
			return fmt.Errorf("config %q", cm.Data[proxyconfig.FileName])
		}
		return nil
	})
	var second corev1.Secret
	get(t, c, ns, "kept-proxy-tls", &second)
	if string(second.Data[corev1.TLSCertKey]) != string(first.Data[corev1.TLSCertKey]) {
		t.Error("the self-signed certificate was replaced")
	}
}

func TestRDSClusterInvalidName(t *testing.T) {
	c := needEnv(t)
	ns := newNamespace(t, c)
	for _, name := range []string{strings.Repeat("a", maxClusterNameLength+1), "corp.eu", "1st"} {
		cl := newCluster(ns, name)
		create(t, c, cl)
		cond := waitCondition(t, c, client.ObjectKeyFromObject(cl), v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonInvalidName)
		t.Log(cond.Message)
	}
}

// Deleting an RDSCluster leaves its children to the garbage collector. envtest runs no garbage
// collector, so the test checks what it acts on: every child names the cluster as its controller
// (with blockOwnerDeletion), and the reconciler neither fails nor recreates anything once the
// cluster is gone.
func TestRDSClusterDeletionIsLeftToOwnerReferences(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	cl := newCluster(ns, "gone")
	cl.Spec.Agents.Enabled = true
	create(t, c, appSecret(ns), cl)
	children := []struct {
		name string
		obj  client.Object
	}{
		{"gone-proxy", &corev1.ServiceAccount{}}, {"gone-proxy", &rbacv1.Role{}}, {"gone-proxy", &rbacv1.RoleBinding{}},
		{"gone-proxy", &corev1.ConfigMap{}}, {"gone-proxy", &appsv1.Deployment{}}, {"gone-proxy", &corev1.Service{}},
		{"gone-proxy", &policyv1.PodDisruptionBudget{}}, {"gone-agent", &appsv1.DaemonSet{}}, {"gone-proxy-tls", &corev1.Secret{}},
	}
	for _, ch := range children {
		get(t, c, ns, ch.name, ch.obj)
		checkOwner(t, ch.obj, cl)
	}
	if len(cl.Finalizers) != 0 {
		t.Errorf("finalizers %v", cl.Finalizers)
	}
	if err := c.Delete(ctx, cl); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, "the cluster is gone", func() error {
		err := c.Get(ctx, client.ObjectKeyFromObject(cl), &v1alpha1.RDSCluster{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	// What a garbage collector would do: delete a child; nothing brings it back. (A reconcile
	// that read the cluster from the cache just before it went may still write once; a garbage
	// collector deletes such a late child too, as its owner is gone. Give the cache a moment.)
	time.Sleep(time.Second)
	var svc corev1.Service
	get(t, c, ns, "gone-proxy", &svc)
	if err := c.Delete(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * testOpts.RefreshInterval)
	if err := c.Get(ctx, client.ObjectKeyFromObject(&svc), &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Service of a deleted cluster came back: %v", err)
	}
}
