// Package standalone runs the product on one machine without a cluster: it reads the same YAML
// manifests a cluster would get (RDSClusters, SessionLaunchers and the Secrets they reference)
// from a folder, keeps Sessions in the embedded store and serves the launch API.
package standalone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/hostmatch"
	"github.com/sessionconnector/sessionconnector/secretserver"
)

// maxManifestBytes bounds one manifest file.
const maxManifestBytes = 4 << 20

// Manifests are the objects read from a config folder, by name. Namespaces are ignored: a
// standalone instance is one namespace.
type Manifests struct {
	Clusters  map[string]*v1alpha1.RDSCluster
	Launchers map[string]*v1alpha1.SessionLauncher
	Secrets   map[string]*corev1.Secret
}

var _ catalog.Catalog = (*Manifests)(nil)

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Load reads every *.yaml, *.yml and *.json file in dir (multi-document YAML allowed), applies
// the CRD defaults and checks what a cluster's admission would check.
func Load(dir string) (*Manifests, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read config folder: %w", err)
	}
	m := &Manifests{Clusters: map[string]*v1alpha1.RDSCluster{}, Launchers: map[string]*v1alpha1.SessionLauncher{}, Secrets: map[string]*corev1.Secret{}}
	var names []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if info.Size() > maxManifestBytes {
			return nil, fmt.Errorf("%s is larger than %d bytes", path, maxManifestBytes)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		for i, doc := range documentSeparator.Split(string(data), -1) {
			if err := m.add([]byte(doc)); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", path, i+1, err)
			}
		}
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifests) add(doc []byte) error {
	if len(bytes.TrimSpace(stripComments(doc))) == 0 {
		return nil
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	if head.Metadata.Name == "" {
		return fmt.Errorf("%s has no metadata.name", head.Kind)
	}
	strict := func(into any) error {
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			return fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
		}
		return nil
	}
	switch {
	case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "RDSCluster":
		var c v1alpha1.RDSCluster
		if err := strict(&c); err != nil {
			return err
		}
		if _, dup := m.Clusters[c.Name]; dup {
			return fmt.Errorf("RDSCluster %q is defined twice", c.Name)
		}
		m.Clusters[c.Name] = &c
	case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "SessionLauncher":
		var l v1alpha1.SessionLauncher
		if err := strict(&l); err != nil {
			return err
		}
		if _, dup := m.Launchers[l.Name]; dup {
			return fmt.Errorf("SessionLauncher %q is defined twice", l.Name)
		}
		m.Launchers[l.Name] = &l
	case head.APIVersion == "v1" && head.Kind == "Secret":
		var s corev1.Secret
		if err := strict(&s); err != nil {
			return err
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData { // what the API server would do
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
		m.Secrets[s.Name] = &s
	default:
		return fmt.Errorf("unsupported kind %s/%s (want RDSCluster, SessionLauncher or v1 Secret)", head.APIVersion, head.Kind)
	}
	return nil
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// check applies defaults and the rules the CRDs enforce in a cluster.
func (m *Manifests) check() error {
	var errs []error
	for _, c := range m.Clusters {
		if !strings.HasPrefix(c.Spec.SecretServer.URL, "https://") {
			errs = append(errs, fmt.Errorf("RDSCluster %q: secretServer.url must start with https://", c.Name))
		}
		if c.Spec.ExternalPort == 0 {
			c.Spec.ExternalPort = 3389
		}
		ref := c.Spec.SecretServer.ApplicationAccountSecretRef.Name
		if _, ok := m.Secrets[ref]; !ok {
			errs = append(errs, fmt.Errorf("RDSCluster %q: application account Secret %q is not in the config folder", c.Name, ref))
		}
	}
	for _, l := range m.Launchers {
		if l.Spec.Type == "" {
			l.Spec.Type = v1alpha1.LauncherRemoteDesktop
		}
		if l.Spec.RecordingPolicy == "" {
			l.Spec.RecordingPolicy = v1alpha1.RecordingRequired
		}
		if _, ok := m.Clusters[l.Spec.ClusterRef]; !ok {
			errs = append(errs, fmt.Errorf("SessionLauncher %q: RDSCluster %q is not in the config folder", l.Name, l.Spec.ClusterRef))
		}
		if len(l.Spec.Templates) == 0 {
			errs = append(errs, fmt.Errorf("SessionLauncher %q: templates must name at least one secret template", l.Name))
		}
		for _, p := range l.Spec.AllowedHosts {
			if err := hostmatch.Validate(p); err != nil {
				errs = append(errs, fmt.Errorf("SessionLauncher %q: %w", l.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Launcher implements catalog.Catalog.
func (m *Manifests) Launcher(_ context.Context, name string) (*v1alpha1.SessionLauncher, error) {
	l, ok := m.Launchers[name]
	if !ok {
		return nil, fmt.Errorf("SessionLauncher %q: %w", name, catalog.ErrNotFound)
	}
	return l.DeepCopy(), nil
}

// Cluster implements catalog.Catalog.
func (m *Manifests) Cluster(_ context.Context, name string) (*v1alpha1.RDSCluster, error) {
	c, ok := m.Clusters[name]
	if !ok {
		return nil, fmt.Errorf("RDSCluster %q: %w", name, catalog.ErrNotFound)
	}
	return c.DeepCopy(), nil
}

// ClusterNames implements catalog.ClusterLister.
func (m *Manifests) ClusterNames(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(m.Clusters)), nil
}

// ApplicationAccount implements catalog.Catalog: the cluster's application account from its Secret.
func (m *Manifests) ApplicationAccount(_ context.Context, c *v1alpha1.RDSCluster) (secretserver.Credentials, error) {
	ref := c.Spec.SecretServer.ApplicationAccountSecretRef.Name
	s, ok := m.Secrets[ref]
	if !ok {
		return secretserver.Credentials{}, fmt.Errorf("application account Secret %q not found", ref)
	}
	cred := secretserver.Credentials{Username: string(s.Data["username"]), Password: string(s.Data["password"]), Domain: string(s.Data["domain"])}
	if cred.Username == "" || cred.Password == "" {
		return secretserver.Credentials{}, fmt.Errorf("application account Secret %q needs the keys username and password", ref)
	}
	return cred, nil
}

// RecordingCredentials implements catalog.RecordingAccount.
func (m *Manifests) RecordingCredentials(_ context.Context, c *v1alpha1.RDSCluster) (string, string, error) {
	rs := c.Spec.RecordingStorage
	if rs == nil {
		return "", "", fmt.Errorf("RDSCluster %q has no recordingStorage", c.Name)
	}
	s, ok := m.Secrets[rs.CredentialsSecretRef.Name]
	if !ok {
		return "", "", fmt.Errorf("recording credentials Secret %q is not in the config folder", rs.CredentialsSecretRef.Name)
	}
	access, secret := string(s.Data["accessKeyId"]), string(s.Data["secretAccessKey"])
	if access == "" || secret == "" {
		return "", "", fmt.Errorf("recording credentials Secret %q needs the keys accessKeyId and secretAccessKey", rs.CredentialsSecretRef.Name)
	}
	return access, secret, nil
}
