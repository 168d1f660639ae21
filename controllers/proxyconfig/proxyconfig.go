// Package proxyconfig is the file the operator renders into each RDSCluster's ConfigMap and the
// proxy pods read with `sessionconnector proxy --config FILE`: the proxy's limits, taken from the
// RDSCluster's spec.proxy when the operator rendered it.
//
// Pinning the limits in a file (rather than reading them from the RDSCluster at start only) ties
// them to the pod template's checksum: when they change, the ConfigMap changes and the proxies roll
// out with the new values.
package proxyconfig

import (
	"errors"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

// FileName is the key of the file in the ConfigMap and its name in the mounted folder.
const FileName = "proxy.yaml"

// Kind and APIVersion mark the file's format.
const (
	Kind       = "ProxyConfig"
	APIVersion = "sessionconnector.io/v1alpha1"
)

// Config is the file. A field left out takes the RDSCluster's value (see Overlay).
type Config struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`

	// Cluster names the RDSCluster the file was rendered for (informational).
	Cluster string `json:"cluster,omitempty"`

	HandshakeTimeoutSeconds *int32 `json:"handshakeTimeoutSeconds,omitempty"`
	IdleTimeoutSeconds      *int32 `json:"idleTimeoutSeconds,omitempty"`
	MaxHandshakes           *int32 `json:"maxHandshakes,omitempty"`
	MaxSessions             *int32 `json:"maxSessions,omitempty"`
	ShutdownGraceSeconds    *int32 `json:"shutdownGraceSeconds,omitempty"`
}

// Limits are the values the proxy runs with.
type Limits struct {
	HandshakeTimeout, IdleTimeout time.Duration
	MaxHandshakes, MaxSessions    int
	ShutdownGrace                 time.Duration
}

// FromCluster renders the file for a cluster.
func FromCluster(c *v1alpha1.RDSCluster) Config {
	p := c.Spec.Proxy
	return Config{
		Kind: Kind, APIVersion: APIVersion, Cluster: c.Name,
		HandshakeTimeoutSeconds: ptr(p.HandshakeTimeoutSeconds),
		IdleTimeoutSeconds:      ptr(p.IdleTimeoutSeconds),
		MaxHandshakes:           ptr(p.MaxHandshakes),
		MaxSessions:             ptr(p.MaxSessions),
		ShutdownGraceSeconds:    ptr(p.ShutdownGraceSeconds),
	}
}

// Marshal returns the file's YAML.
func (c Config) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("proxy configuration: %w", err)
	}
	return b, nil
}

// Parse reads the file. Unknown fields are ignored, so an older proxy reads a newer operator's file.
func Parse(data []byte) (Config, error) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("proxy configuration: %w", err)
	}
	if c.Kind != "" && c.Kind != Kind {
		return Config{}, fmt.Errorf("proxy configuration: kind %q, want %s", c.Kind, Kind)
	}
	for name, v := range map[string]*int32{
		"handshakeTimeoutSeconds": c.HandshakeTimeoutSeconds, "idleTimeoutSeconds": c.IdleTimeoutSeconds,
		"maxHandshakes": c.MaxHandshakes, "maxSessions": c.MaxSessions, "shutdownGraceSeconds": c.ShutdownGraceSeconds,
	} {
		if v != nil && *v < 0 {
			return Config{}, fmt.Errorf("proxy configuration: %s must not be negative", name)
		}
	}
	return c, nil
}

// Load reads and parses a file.
func Load(path string) (Config, error) {
	if path == "" {
		return Config{}, errors.New("proxy configuration: no file name")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("proxy configuration: %w", err)
	}
	return Parse(b)
}

// LimitsOf returns the limits of a cluster's spec.proxy.
func LimitsOf(p v1alpha1.ProxySpec) Limits {
	return Limits{
		HandshakeTimeout: seconds(p.HandshakeTimeoutSeconds), IdleTimeout: seconds(p.IdleTimeoutSeconds),
		MaxHandshakes: int(p.MaxHandshakes), MaxSessions: int(p.MaxSessions),
		ShutdownGrace: seconds(p.ShutdownGraceSeconds),
	}
}

// Overlay returns base with the values the file sets.
func (c Config) Overlay(base Limits) Limits {
	if c.HandshakeTimeoutSeconds != nil {
		base.HandshakeTimeout = seconds(*c.HandshakeTimeoutSeconds)
	}
	if c.IdleTimeoutSeconds != nil {
		base.IdleTimeout = seconds(*c.IdleTimeoutSeconds)
	}
	if c.MaxHandshakes != nil {
		base.MaxHandshakes = int(*c.MaxHandshakes)
	}
	if c.MaxSessions != nil {
		base.MaxSessions = int(*c.MaxSessions)
	}
	if c.ShutdownGraceSeconds != nil {
		base.ShutdownGrace = seconds(*c.ShutdownGraceSeconds)
	}
	return base
}

func seconds(n int32) time.Duration { return time.Duration(n) * time.Second }

func ptr(v int32) *int32 { return &v }
