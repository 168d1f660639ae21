package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/pki"
)

// selfSignedValidity is the lifetime of a generated proxy certificate; it is renewed when less
// than certificateRenewBefore is left.
const (
	selfSignedValidity     = 365 * 24 * time.Hour
	certificateRenewBefore = 30 * 24 * time.Hour
)

// ensureTLSSecret creates the self-signed certificate Secret when the cluster names no TLS Secret,
// keeps it while it is valid, and renews it shortly before it expires. A Secret of that name that
// the cluster does not control is left alone and reported.
func (r *RDSClusterReconciler) ensureTLSSecret(ctx context.Context, s *clusterScope) error {
	c := s.cluster
	if ref := c.Spec.Proxy.TLSSecretRef; ref != nil && ref.Name != "" {
		return nil
	}
	name := generatedTLSSecretName(c)
	existing, err := s.secret(ctx, name)
	if err != nil {
		return err
	}
	if existing == nil {
		secret, err := newSelfSignedSecret(c)
		if err != nil {
			return err
		}
		if err := r.Client.Create(ctx, secret, client.FieldOwner(FieldOwner)); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create Secret %s: %w (created meanwhile; will retry)", name, err)
			}
			return fmt.Errorf("create Secret %s: %w", name, err)
		}
		s.remember(secret)
		r.event(c, corev1.EventTypeNormal, reasonCertificateCreated, "CreateSecret",
			"Created the self-signed proxy certificate in Secret %s", name)
		return nil
	}
	if !metav1.IsControlledBy(existing, c) {
		return &reasonError{reason: ReasonTLSSecretConflict, err: fmt.Errorf(
			"secret %q exists but was not created for this RDSCluster: set spec.proxy.tlsSecretRef to use it, or delete it", name)}
	}
	notAfter, ok := certificateNotAfter(existing.Data[corev1.TLSCertKey])
	if ok && r.now().Add(certificateRenewBefore).Before(notAfter) {
		return nil
	}
	fresh, err := newSelfSignedSecret(c)
	if err != nil {
		return err
	}
	updated := existing.DeepCopy()
	updated.Data = fresh.Data
	updated.Type = corev1.SecretTypeTLS
	if err := r.Client.Update(ctx, updated, client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("renew the certificate in Secret %s: %w", name, err)
	}
	s.remember(updated)
	r.event(c, corev1.EventTypeNormal, reasonCertificateRenewed, "UpdateSecret",
		"Renewed the self-signed proxy certificate in Secret %s", name)
	return nil
}

func newSelfSignedSecret(c *v1alpha1.RDSCluster) (*corev1.Secret, error) {
	ca, err := pki.NewCA(c.Name + " proxy CA")
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	certPEM, keyPEM, err := ca.IssueServer(certificateHosts(c), selfSignedValidity)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tlsSecretObject(c, certPEM, keyPEM, ca.CertPEM), nil
}

// certificateNotAfter returns the expiry of the first certificate in pemBytes.
func certificateNotAfter(pemBytes []byte) (time.Time, bool) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return time.Time{}, false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, false
	}
	return cert.NotAfter, true
}
