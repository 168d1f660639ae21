package storage

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sessionconnector/sessionconnector/pki"
)

// Endpoint is where recordings are stored and with which credentials: what an RDSCluster's
// spec.recordingStorage and its credentials Secret say.
type Endpoint struct {
	// URL is the S3 endpoint, http(s)://host[:port].
	URL string
	// Region of the bucket; empty lets the client ask the server.
	Region string
	// CABundle is a PEM bundle that signs the endpoint's certificate; empty uses the system's.
	CABundle string
	// AccessKeyID and SecretAccessKey are the credentials (never logged).
	AccessKeyID, SecretAccessKey string
}

// NewClient returns an S3 client of e.
func NewClient(e Endpoint) (*minio.Client, error) {
	u, err := url.Parse(e.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("recording storage endpoint %q is not an http(s) URL", e.URL)
	}
	opts := &minio.Options{Creds: miniocreds.NewStaticV4(e.AccessKeyID, e.SecretAccessKey, ""), Secure: u.Scheme == "https", Region: e.Region}
	if e.CABundle != "" {
		pool, err := pki.CertPool([]byte(e.CABundle))
		if err != nil {
			return nil, fmt.Errorf("recording storage CA bundle: %w", err)
		}
		opts.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	c, err := minio.New(u.Host, opts)
	if err != nil {
		return nil, fmt.Errorf("recording storage client: %w", err)
	}
	return c, nil
}
