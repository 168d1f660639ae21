package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretServerSpec says how to reach Secret Server and which account the connector uses.
type SecretServerSpec struct {
	// URL of Secret Server, e.g. https://vault.example.com/SecretServer. Only https is accepted.
	// +kubebuilder:validation:Pattern=`^https://[^\s/?#]+[^\s?#]*$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// CABundle is a PEM bundle that signs Secret Server's certificate, for servers behind a private CA.
	// When empty, the system roots are used.
	// +optional
	CABundle string `json:"caBundle,omitempty"`

	// ApplicationAccountSecretRef names a Secret with keys `username` and `password` (and optionally
	// `domain`) of the Secret Server application account the connector logs on with.
	ApplicationAccountSecretRef LocalSecretReference `json:"applicationAccountSecretRef"`

	// RDSCredentialSecretID is the id of the secret (visible to the application account) whose
	// credentials the RDS-node agents use to create and delete temporary local users.
	// +kubebuilder:validation:Minimum=1
	// +optional
	RDSCredentialSecretID int32 `json:"rdsCredentialSecretId,omitempty"`
}

// ProxyServiceSpec shapes the Service in front of the proxy pods.
type ProxyServiceSpec struct {
	// Type of the Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations added to the Service, e.g. for a cloud load balancer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// LoadBalancerSourceRanges limits which client networks may connect.
	// +optional
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`

	// NodePort for type NodePort or LoadBalancer; chosen by Kubernetes when unset.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	NodePort int32 `json:"nodePort,omitempty"`
}

// ProxySpec configures the front-door RDP proxy pods.
type ProxySpec struct {
	// Replicas of the proxy Deployment.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=2
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Image of the proxy; defaults to the operator's own image.
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the proxy container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Service in front of the proxies.
	// +optional
	Service ProxyServiceSpec `json:"service,omitempty"`

	// TLSSecretRef names a kubernetes.io/tls Secret with the certificate the proxy presents to RDP
	// clients and on its launch API. When empty, the operator creates a self-signed certificate in
	// the Secret <name>-proxy-tls.
	// +optional
	TLSSecretRef *LocalSecretReference `json:"tlsSecretRef,omitempty"`

	// MaxSessions caps concurrent sessions per proxy pod.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=200
	// +optional
	MaxSessions int32 `json:"maxSessions,omitempty"`

	// MaxHandshakes caps connections per proxy pod that are still being set up; more are closed
	// at once.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=64
	// +optional
	MaxHandshakes int32 `json:"maxHandshakes,omitempty"`

	// HandshakeTimeoutSeconds is how long a connection may take from accept to the relay.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=30
	// +optional
	HandshakeTimeoutSeconds int32 `json:"handshakeTimeoutSeconds,omitempty"`

	// IdleTimeoutSeconds ends a session after this long without traffic either way; 0 never does.
	// +kubebuilder:validation:Minimum=0
	// +optional
	IdleTimeoutSeconds int32 `json:"idleTimeoutSeconds,omitempty"`

	// ShutdownGraceSeconds is how long a stopping proxy lets live sessions run before it ends them.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=3600
	// +optional
	ShutdownGraceSeconds int32 `json:"shutdownGraceSeconds,omitempty"`
}

// TargetTLSSpec says how the proxy verifies the certificates of the machines it connects to.
// With nothing set, the system roots and the target's host name are checked.
// +kubebuilder:validation:XValidation:rule="!(has(self.insecureSkipVerify) && self.insecureSkipVerify) || (!has(self.caBundle) && !has(self.pinnedSHA256))",message="insecureSkipVerify excludes caBundle and pinnedSHA256"
type TargetTLSSpec struct {
	// CABundle is a PEM bundle that signs the targets' certificates (host names are checked).
	// +optional
	CABundle string `json:"caBundle,omitempty"`

	// PinnedSHA256 accepts a target whose leaf certificate has one of these SHA-256 fingerprints
	// (hex, colons allowed), whoever signed it — for self-signed RDP certificates.
	// +listType=set
	// +optional
	PinnedSHA256 []string `json:"pinnedSHA256,omitempty"`

	// InsecureSkipVerify accepts any target certificate. Every connection logs a warning.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// RecordingStorageSpec says where session recordings go (S3-compatible storage).
type RecordingStorageSpec struct {
	// Endpoint of the S3 service, e.g. https://s3.eu-west-1.amazonaws.com or https://minio.example:9000.
	// +kubebuilder:validation:Pattern=`^https?://\S+$`
	Endpoint string `json:"endpoint"`

	// Bucket the recordings are written to.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`

	// Prefix of the object keys inside the bucket.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// Region of the bucket.
	// +optional
	Region string `json:"region,omitempty"`

	// CredentialsSecretRef names a Secret with keys `accessKeyId` and `secretAccessKey`.
	CredentialsSecretRef LocalSecretReference `json:"credentialsSecretRef"`

	// CABundle is a PEM bundle that signs the storage endpoint's certificate.
	// +optional
	CABundle string `json:"caBundle,omitempty"`

	// BrowserEndpoint is the same storage as users' browsers reach it, when that differs from
	// Endpoint (an in-cluster service name, say): the recording player's presigned URLs point
	// there. It must answer with the same credentials and bucket.
	// +kubebuilder:validation:Pattern=`^https?://\S+$`
	// +optional
	BrowserEndpoint string `json:"browserEndpoint,omitempty"`

	// PlayerURL is the launch API's address as users open it in a browser, e.g.
	// https://connector.example.com: the audit entry of each session in Secret Server then
	// links to its recording in the player (PlayerURL/recordings/SESSION).
	// +kubebuilder:validation:Pattern=`^https://[^/?#\s]+(/[^?#\s]*)?$`
	// +optional
	PlayerURL string `json:"playerURL,omitempty"`
}

// AgentsSpec configures the RDS-node agents: a DaemonSet of HostProcess containers on the
// cluster's Windows nodes that creates temporary local users for PuTTY and CustomProgram launchers.
type AgentsSpec struct {
	// Enabled runs the agent DaemonSet on the Windows nodes (kubernetes.io/os: windows).
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// RDSClusterSpec is the desired state of an RDSCluster: one front door for a group of targets.
type RDSClusterSpec struct {
	// SecretServer the credentials come from.
	SecretServer SecretServerSpec `json:"secretServer"`

	// ExternalAddress is the host name or IP that .rdp files point at (the proxy Service as users reach it).
	// When empty, the operator uses the Service's load-balancer address.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.:\[\]-]*$`
	// +optional
	ExternalAddress string `json:"externalAddress,omitempty"`

	// ExternalPort that .rdp files point at.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=3389
	// +optional
	ExternalPort int32 `json:"externalPort,omitempty"`

	// SessionTimeoutSeconds is how long a downloaded .rdp file stays valid (single use).
	// 0 or below means the default, 900.
	// +kubebuilder:default=900
	// +optional
	SessionTimeoutSeconds int32 `json:"sessionTimeoutSeconds,omitempty"`

	// AllowConnectionSharing sets `disableconnectionsharing:i:0` in .rdp files, letting clients reuse
	// an existing session to the same host.
	// +kubebuilder:default=false
	// +optional
	AllowConnectionSharing bool `json:"allowConnectionSharing,omitempty"`

	// Proxy pods.
	// +optional
	Proxy ProxySpec `json:"proxy,omitempty"`

	// TargetTLS says how targets' certificates are verified.
	// +optional
	TargetTLS TargetTLSSpec `json:"targetTLS,omitempty"`

	// RecordingStorage for session recordings. When absent, sessions of launchers that require
	// recording are refused.
	// +optional
	RecordingStorage *RecordingStorageSpec `json:"recordingStorage,omitempty"`

	// Agents on the RDS nodes, needed by PuTTY and CustomProgram launchers.
	// +optional
	Agents AgentsSpec `json:"agents,omitempty"`
}

// EffectiveSessionTimeoutSeconds applies the rule "0 or below means the default".
func (s *RDSClusterSpec) EffectiveSessionTimeoutSeconds() int32 {
	if s.SessionTimeoutSeconds <= 0 {
		return DefaultSessionTimeoutSeconds
	}
	return s.SessionTimeoutSeconds
}

// RDSClusterStatus is the observed state of an RDSCluster.
type RDSClusterStatus struct {
	// Conditions: Ready, ProxyAvailable, SecretServerReachable, RecordingStorageReady, AgentsAvailable.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Address .rdp files point at (host:port).
	// +optional
	Address string `json:"address,omitempty"`

	// Replicas of the proxy that exist.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas of the proxy.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// ActiveSessions across the proxies.
	// +optional
	ActiveSessions int32 `json:"activeSessions,omitempty"`
}

// RDSCluster is a front door (proxy pods behind a Service on 3389) with its Secret Server
// connection, its .rdp file settings and its recording storage.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rdsc,categories=sessionconnector
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Sessions",type=integer,JSONPath=`.status.activeSessions`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RDSCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RDSClusterSpec   `json:"spec,omitempty"`
	Status RDSClusterStatus `json:"status,omitempty"`
}

// RDSClusterList is a list of RDSClusters.
//
// +kubebuilder:object:root=true
type RDSClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RDSCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RDSCluster{}, &RDSClusterList{})
}
