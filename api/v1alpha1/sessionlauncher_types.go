package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LauncherType is what the user gets at the far end of a session.
// +kubebuilder:validation:Enum=RemoteDesktop;PuTTY;CustomProgram
type LauncherType string

// Launcher types.
const (
	// LauncherRemoteDesktop connects straight to the secret's machine with its credentials.
	LauncherRemoteDesktop LauncherType = "RemoteDesktop"
	// LauncherPuTTY starts PuTTY on an RDS node for a temporary local user (agent required).
	LauncherPuTTY LauncherType = "PuTTY"
	// LauncherCustomProgram starts a configured program on an RDS node (agent required).
	LauncherCustomProgram LauncherType = "CustomProgram"
)

// RecordingPolicy is what a launcher does when recording fails.
type RecordingPolicy string

// Recording policies.
const (
	// RecordingRequired: no recording, no session.
	RecordingRequired RecordingPolicy = "Required"
	// RecordingBestEffort: the session goes on; the manifest records the gap.
	RecordingBestEffort RecordingPolicy = "BestEffort"
)

// TemplateReference names a Secret Server secret template by name or by id.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.id)",message="set exactly one of name and id"
type TemplateReference struct {
	// Name of the template, e.g. "Windows Account" (compared case-insensitively).
	// +optional
	Name string `json:"name,omitempty"`
	// ID of the template, e.g. 6003.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ID int32 `json:"id,omitempty"`
}

// ChannelPolicy says which RDP virtual channels a session may use. Everything is off unless allowed.
type ChannelPolicy struct {
	// Clipboard allows copy and paste between the user's machine and the target (cliprdr).
	// +optional
	Clipboard bool `json:"clipboard,omitempty"`
	// Drives allows redirecting the user's drives (rdpdr).
	// +optional
	Drives bool `json:"drives,omitempty"`
	// Printers allows redirecting the user's printers (rdpdr).
	// +optional
	Printers bool `json:"printers,omitempty"`
	// Audio allows sound from the target (rdpsnd).
	// +optional
	Audio bool `json:"audio,omitempty"`
}

// CustomProgramSpec is the program a CustomProgram launcher starts on an RDS node.
type CustomProgramSpec struct {
	// Path of the executable on the RDS node.
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
	// Arguments; $MACHINE, $USERNAME, $DOMAIN are replaced from the secret. Passwords are never
	// put on a command line.
	// +optional
	Arguments string `json:"arguments,omitempty"`
}

// SessionLauncherSpec is the desired state of a SessionLauncher.
// +kubebuilder:validation:XValidation:rule="self.type != 'CustomProgram' || has(self.customProgram)",message="a CustomProgram launcher needs customProgram"
type SessionLauncherSpec struct {
	// ClusterRef names the RDSCluster (same namespace) whose proxies serve this launcher.
	// +kubebuilder:validation:MinLength=1
	ClusterRef string `json:"clusterRef"`

	// Active launchers can be launched; inactive ones answer 404 like unknown ones.
	// +kubebuilder:default=true
	// +optional
	Active *bool `json:"active,omitempty"`

	// Type of the child launcher.
	// +kubebuilder:default=RemoteDesktop
	// +optional
	Type LauncherType `json:"type,omitempty"`

	// CustomProgram for launchers of type CustomProgram.
	// +optional
	CustomProgram *CustomProgramSpec `json:"customProgram,omitempty"`

	// RecordingPolicy says what happens when a session cannot be recorded (its cluster has
	// recordingStorage): Required ends or refuses the session with a clear reason; BestEffort lets
	// it run and marks what is missing in the recording's manifest.
	// +kubebuilder:validation:Enum=Required;BestEffort
	// +kubebuilder:default=Required
	// +optional
	RecordingPolicy RecordingPolicy `json:"recordingPolicy,omitempty"`

	// RecordKeystrokes records what the user types besides the screen: the key events stay in
	// the recording and a keystroke log is stored beside it. Without it the proxy removes the
	// key events from the recording (mouse input stays).
	// +optional
	RecordKeystrokes bool `json:"recordKeystrokes,omitempty"`

	// Templates this launcher is assigned to; a secret of another template cannot be launched with it.
	// +kubebuilder:validation:MinItems=1
	// +listType=atomic
	Templates []TemplateReference `json:"templates"`

	// AllowedHosts are patterns (host or host:port; `*` matches within one DNS label, a leading
	// `*.` any subdomain; CIDRs like 10.0.0.0/8 match IPs) for the machine a user names when the
	// secret has no machine field (e.g. Active Directory accounts). Empty means such secrets cannot
	// be launched.
	// +listType=atomic
	// +optional
	AllowedHosts []string `json:"allowedHosts,omitempty"`

	// Channels the session may use.
	// +optional
	Channels ChannelPolicy `json:"channels,omitempty"`
}

// IsActive reports whether the launcher may be launched (the default is active).
func (s *SessionLauncherSpec) IsActive() bool { return s.Active == nil || *s.Active }

// SessionLauncherStatus is the observed state of a SessionLauncher.
type SessionLauncherStatus struct {
	// Conditions: Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// SessionLauncher is a way to launch a session: which cluster, which secret templates, what runs
// at the far end and what is recorded.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sl,categories=sessionconnector
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterRef`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Active",type=boolean,JSONPath=`.spec.active`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SessionLauncher struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SessionLauncherSpec   `json:"spec,omitempty"`
	Status SessionLauncherStatus `json:"status,omitempty"`
}

// SessionLauncherList is a list of SessionLaunchers.
//
// +kubebuilder:object:root=true
type SessionLauncherList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SessionLauncher `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SessionLauncher{}, &SessionLauncherList{})
}
