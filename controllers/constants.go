package controllers

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "sessionconnector-operator"

// Labels on the objects the operator owns. The manager's cache holds only children labelled
// LabelManagedBy=ManagedByValue (see CacheOptions); the selector labels of the proxy pods are
// LabelName=ProxyName and LabelInstance=<cluster name>.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"

	ManagedByValue = FieldOwner
	PartOfValue    = "sessionconnector"
	ProxyName      = "sessionconnector-proxy"
	AgentName      = "sessionconnector-agent"
	ComponentProxy = "proxy"
	ComponentAgent = "agent"
)

// AnnotationChecksum on the proxy pod template digests the ConfigMap and the Secrets the proxies
// use; a change rolls the pods out.
const AnnotationChecksum = "sessionconnector.io/config-checksum"

// Ports of the proxy pods and of their Service.
const (
	RDPPort   = 3389
	HTTPSPort = 8443
)

// Inside the proxy container.
const (
	proxyBinary        = "sessionconnector"
	proxyContainerName = "proxy"
	agentContainerName = "agent"
	configDir          = "/etc/sessionconnector/config"
	tlsDir             = "/etc/sessionconnector/tls"
	secretServerDir    = "/etc/sessionconnector/secretserver"
	recordingDir       = "/etc/sessionconnector/recording"
	volumeTLS          = "tls"
	volumeConfig       = "config"
	volumeSecretServer = "secretserver"
	volumeRecording    = "recording"
	volumeTmp          = "tmp"
	volumeSpool        = "spool"
	spoolDir           = "/var/spool/sessionconnector"
	// spoolLimit is what the proxy lets wait for S3; the volume has room for one more chunk.
	spoolLimit       = "2Gi"
	spoolVolumeLimit = "2200Mi"

	defaultProxyReplicas int32 = 2
	// preStopSleepSeconds keeps a stopping pod serving while it leaves the Service's endpoints.
	preStopSleepSeconds = 15
	// terminationMarginSeconds covers the launch API's shutdown (10 s) and slack.
	terminationMarginSeconds = 30
)

// Condition types of an RDSCluster besides v1alpha1.ConditionReady.
const (
	ConditionProxyAvailable        = "ProxyAvailable"
	ConditionSecretServerReachable = "SecretServerReachable"
	ConditionRecordingStorageReady = "RecordingStorageReady"
	ConditionAgentsAvailable       = "AgentsAvailable"
)

// Reasons of the RDSCluster conditions.
const (
	ReasonReady             = "Ready"
	ReasonReconcileFailed   = "ReconcileFailed"
	ReasonInvalidName       = "InvalidName"
	ReasonNoProxyImage      = "NoProxyImage"
	ReasonTLSSecretMissing  = "TLSSecretMissing"
	ReasonTLSSecretConflict = "TLSSecretConflict"
	ReasonNotConfigured     = "NotConfigured"

	ReasonReplicasAvailable  = "ReplicasAvailable"
	ReasonPartiallyAvailable = "PartiallyAvailable"
	ReasonNoReplicas         = "NoReplicasAvailable"
	ReasonScaledToZero       = "ScaledToZero"
	ReasonDeploymentAbsent   = "DeploymentNotFound"

	ReasonReachable                  = "Reachable"
	ReasonSecretServerConfigInvalid  = "SecretServerConfigInvalid"
	ReasonAppAccountSecretMissing    = "ApplicationAccountSecretMissing"
	ReasonAppAccountSecretInvalid    = "ApplicationAccountSecretInvalid"
	ReasonSecretServerUnreachable    = "SecretServerUnreachable"
	ReasonSecretServerUnexpected     = "SecretServerUnexpectedResponse"
	ReasonApplicationAccountRejected = "ApplicationAccountRejected"
	ReasonSecretServerCheckFailed    = "SecretServerCheckFailed"

	ReasonBucketWritable           = "BucketWritable"
	ReasonStorageConfigInvalid     = "RecordingStorageConfigInvalid"
	ReasonCredentialsSecretMissing = "CredentialsSecretMissing"
	ReasonCredentialsSecretInvalid = "CredentialsSecretInvalid"
	ReasonBucketUnreachable        = "BucketUnreachable"
	ReasonBucketNotFound           = "BucketNotFound"
	ReasonBucketNotWritable        = "BucketNotWritable"

	ReasonAgentsAvailable   = "AgentsAvailable"
	ReasonAgentsUnavailable = "AgentsUnavailable"
	ReasonNoWindowsNodes    = "NoWindowsNodes"
	ReasonDaemonSetAbsent   = "DaemonSetNotFound"
)

// Reasons of the SessionLauncher Ready condition.
const (
	ReasonLauncherValid        = "Valid"
	ReasonClusterNotFound      = "ClusterNotFound"
	ReasonNoTemplates          = "NoTemplates"
	ReasonInvalidTemplate      = "InvalidTemplate"
	ReasonInvalidAllowedHost   = "InvalidAllowedHost"
	ReasonAgentsNotEnabled     = "AgentsNotEnabled"
	ReasonCustomProgramMissing = "CustomProgramMissing"
)

// Event reasons and actions besides the condition reasons.
const (
	reasonChildCreated       = "Created"
	reasonChildUpdated       = "Updated"
	reasonChildDeleted       = "Deleted"
	reasonApplyFailed        = "ApplyFailed"
	reasonCertificateCreated = "CertificateCreated"
	reasonCertificateRenewed = "CertificateRenewed"
	reasonSessionExpired     = "SessionExpired"
	reasonSessionProxyLost   = "SessionProxyLost"

	eventActionLifecycle = "Lifecycle"
)
