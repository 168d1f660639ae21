package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SessionPhase is where a launch is in its life.
// +kubebuilder:validation:Enum=Issued;Connecting;Active;Ended;Expired;Rejected
type SessionPhase string

// Session phases.
const (
	// SessionIssued: the .rdp file was handed out; its ticket has not been used yet.
	SessionIssued SessionPhase = "Issued"
	// SessionConnecting: a proxy claimed the ticket and is connecting to the target.
	SessionConnecting SessionPhase = "Connecting"
	// SessionActive: the user is on the target.
	SessionActive SessionPhase = "Active"
	// SessionEnded: the session is over.
	SessionEnded SessionPhase = "Ended"
	// SessionExpired: the ticket was not used in time.
	SessionExpired SessionPhase = "Expired"
	// SessionRejected: the connection was refused (see reason).
	SessionRejected SessionPhase = "Rejected"
)

// IsFinal reports whether the phase can no longer change.
func (p SessionPhase) IsFinal() bool {
	return p == SessionEnded || p == SessionExpired || p == SessionRejected
}

// Reasons a Session records in status.reason.
const (
	ReasonTicketExpired    = "TicketExpired"
	ReasonTicketReused     = "TicketReused"
	ReasonTicketForged     = "TicketForged"
	ReasonProxyLost        = "ProxyLost"
	ReasonClientDisconnect = "ClientDisconnected"
	ReasonTargetDisconnect = "TargetDisconnected"
)

// SessionSpec is what was launched. It is written once at launch and never changes.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a Session's spec is immutable"
type SessionSpec struct {
	// ClusterRef names the RDSCluster whose proxies accept the ticket.
	// +kubebuilder:validation:MinLength=1
	ClusterRef string `json:"clusterRef"`

	// LauncherRef names the SessionLauncher that was used.
	// +kubebuilder:validation:MinLength=1
	LauncherRef string `json:"launcherRef"`

	// User is the Secret Server user who launched the session.
	// +kubebuilder:validation:MinLength=1
	User string `json:"user"`

	// SecretID of the Secret Server secret whose credentials are injected.
	// +kubebuilder:validation:Minimum=1
	SecretID int32 `json:"secretId"`

	// SecretName as Secret Server showed it at launch.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// Target host:port the proxy connects to.
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target"`

	// LaunchClientAddress is the address the launch request came from.
	// +optional
	LaunchClientAddress string `json:"launchClientAddress,omitempty"`

	// TicketHash is the hex SHA-256 of the ticket's secret part; the ticket itself is never stored.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	TicketHash string `json:"ticketHash"`

	// ExpiresAt is when the ticket stops being accepted.
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// RecordingReference points at a session's recording.
type RecordingReference struct {
	// URI of the recording's manifest, e.g. s3://bucket/prefix/session/manifest.json.
	// +optional
	URI string `json:"uri,omitempty"`
	// SHA256 of the manifest.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// Complete is false when the recording was interrupted.
	// +optional
	Complete bool `json:"complete,omitempty"`
}

// SessionStatus is what happened to a launch.
type SessionStatus struct {
	// Phase of the session.
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`

	// Reason is a CamelCase word for the last change of phase.
	// +optional
	Reason string `json:"reason,omitempty"`

	// Message says why for a person. It never holds a password or a ticket.
	// +optional
	Message string `json:"message,omitempty"`

	// ClaimedAt is when a proxy first accepted the ticket.
	// +optional
	ClaimedAt *metav1.Time `json:"claimedAt,omitempty"`

	// ClientAddress is the address of the RDP client that claimed the ticket.
	// +optional
	ClientAddress string `json:"clientAddress,omitempty"`

	// ProxyName is the proxy (pod) that claimed the ticket.
	// +optional
	ProxyName string `json:"proxyName,omitempty"`

	// StartedAt is when the user reached the target.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// EndedAt is when the session ended, expired or was rejected.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`

	// RejectedAttempts counts connections that presented this session's ticket and were refused
	// (reused after the reuse window, wrong secret part, expired).
	// +optional
	RejectedAttempts int32 `json:"rejectedAttempts,omitempty"`

	// LastRejection describes the last refused connection with this session's ticket.
	// +optional
	LastRejection *Rejection `json:"lastRejection,omitempty"`

	// Recording of the session.
	// +optional
	Recording *RecordingReference `json:"recording,omitempty"`
}

// Rejection is a refused connection attempt.
type Rejection struct {
	// Reason is a CamelCase word: TicketReused, TicketForged, TicketExpired.
	Reason string `json:"reason"`
	// Message says why for a person.
	Message string `json:"message"`
	// At is when it happened.
	At metav1.Time `json:"at"`
	// ClientAddress is where the connection came from.
	// +optional
	ClientAddress string `json:"clientAddress,omitempty"`
}

// Session is one launch: who launched which secret with which launcher, and what became of it.
// Proxies claim its ticket exactly once.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rdpsession,categories=sessionconnector
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.user`
// +kubebuilder:printcolumn:name="Secret",type=integer,JSONPath=`.spec.secretId`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.spec.expiresAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Session struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SessionSpec   `json:"spec,omitempty"`
	Status SessionStatus `json:"status,omitempty"`
}

// EffectivePhase treats a Session with no phase yet as Issued.
func (s *Session) EffectivePhase() SessionPhase {
	if s.Status.Phase == "" {
		return SessionIssued
	}
	return s.Status.Phase
}

// SessionList is a list of Sessions.
//
// +kubebuilder:object:root=true
type SessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Session `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Session{}, &SessionList{})
}
