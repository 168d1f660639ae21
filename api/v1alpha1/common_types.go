package v1alpha1

// SecretKeyReference names a key of a Kubernetes Secret in the object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key inside the Secret.
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`
}

// LocalSecretReference names a Kubernetes Secret in the object's namespace.
type LocalSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// Condition types and reasons shared by the reconcilers and the proxies.
const (
	// ConditionReady is True when the object is fully usable.
	ConditionReady = "Ready"
)

// DefaultSessionTimeoutSeconds is how long a launched .rdp file stays valid when nothing else is set.
const DefaultSessionTimeoutSeconds = 900
