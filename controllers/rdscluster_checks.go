package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/secretserver"
)

// checkResult is the outcome of an external check, ready to become a condition. Messages never
// hold a password, a key or a token.
type checkResult struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

func (r checkResult) condition(typ string, generation int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: r.status, Reason: r.reason, Message: r.message, ObservedGeneration: generation}
}

func passed(reason, format string, args ...any) checkResult {
	return checkResult{status: metav1.ConditionTrue, reason: reason, message: fmt.Sprintf(format, args...)}
}

func failed(reason, format string, args ...any) checkResult {
	return checkResult{status: metav1.ConditionFalse, reason: reason, message: fmt.Sprintf(format, args...)}
}

// checkCache keeps the results of the external checks for a while, keyed by the cluster, the
// check and a fingerprint of its inputs: a change of the inputs checks again at once, a burst of
// reconciles does not reach Secret Server or the bucket more than once per TTL.
type checkCache struct {
	mu      sync.Mutex
	entries map[checkKey]checkEntry
}

type checkKey struct {
	cluster types.NamespacedName
	check   string
}

type checkEntry struct {
	fingerprint string
	at          time.Time
	result      checkResult
}

func (c *checkCache) get(k checkKey, fingerprint string, now time.Time, ttl time.Duration) (checkResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.fingerprint != fingerprint || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return checkResult{}, false
	}
	return e.result, true
}

func (c *checkCache) put(k checkKey, fingerprint string, now time.Time, r checkResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[checkKey]checkEntry)
	}
	c.entries[k] = checkEntry{fingerprint: fingerprint, at: now, result: r}
}

func (c *checkCache) forget(cluster types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.cluster == cluster {
			delete(c.entries, k)
		}
	}
}

// fingerprint digests a check's inputs. A Secret enters by identity and resourceVersion (its data
// never leaves the function that reads it).
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func secretVersion(s *corev1.Secret) string {
	if s == nil {
		return "absent"
	}
	return string(s.UID) + "/" + s.ResourceVersion
}

// checkSecretServer asks Secret Server for its health and logs on with the application account.
// appSecret is nil when the Secret does not exist.
func checkSecretServer(ctx context.Context, spec v1alpha1.SecretServerSpec, appSecret *corev1.Secret, timeout time.Duration) checkResult {
	ref := spec.ApplicationAccountSecretRef.Name
	if appSecret == nil {
		return failed(ReasonAppAccountSecretMissing, "the application account Secret %q does not exist", ref)
	}
	cred := secretserver.Credentials{
		Username: string(appSecret.Data["username"]),
		Password: string(appSecret.Data["password"]),
		Domain:   string(appSecret.Data["domain"]),
	}
	if cred.Username == "" || cred.Password == "" {
		return failed(ReasonAppAccountSecretInvalid, "the application account Secret %q needs the keys username and password", ref)
	}
	c, err := secretserver.NewClient(secretserver.Config{BaseURL: spec.URL, CABundle: []byte(spec.CABundle), Timeout: timeout})
	if err != nil {
		return failed(ReasonSecretServerConfigInvalid, "spec.secretServer: %v", err)
	}
	defer c.CloseIdleConnections()
	if err := c.Health(ctx); err != nil {
		return secretServerFailure(spec.URL, err)
	}
	session := c.WithPassword(cred)
	if _, err := session.Token(ctx); err != nil {
		return secretServerFailure(spec.URL, err)
	}
	// Best effort: the token was only a test.
	_ = session.Logout(ctx)
	return passed(ReasonReachable, "Secret Server at %s is healthy and the application account %q logs on", spec.URL, cred.Username)
}

func secretServerFailure(url string, err error) checkResult {
	switch {
	case errors.Is(err, secretserver.ErrUnauthorized), errors.Is(err, secretserver.ErrAccessDenied):
		return failed(ReasonApplicationAccountRejected, "Secret Server at %s refused the application account's credentials: %v", url, err)
	case errors.Is(err, secretserver.ErrUnexpectedResponse):
		return failed(ReasonSecretServerUnexpected, "the answer of %s is not Secret Server's (check the URL): %v", url, err)
	case errors.Is(err, secretserver.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return failed(ReasonSecretServerUnreachable, "Secret Server at %s cannot be reached (network, TLS trust in spec.secretServer.caBundle, or the server is down): %v", url, err)
	}
	return failed(ReasonSecretServerCheckFailed, "checking Secret Server at %s failed: %v", url, err)
}

// probeObjectName is the object the storage check writes and deletes.
func probeObjectName(spec *v1alpha1.RecordingStorageSpec, cluster types.NamespacedName) string {
	name := ".sessionconnector-probe/" + cluster.Namespace + "-" + cluster.Name
	if p := strings.Trim(spec.Prefix, "/"); p != "" {
		return p + "/" + name
	}
	return name
}

// checkRecordingStorage writes and deletes a small object in the bucket. credSecret is nil when
// the Secret does not exist.
func checkRecordingStorage(ctx context.Context, spec *v1alpha1.RecordingStorageSpec, credSecret *corev1.Secret, cluster types.NamespacedName, timeout time.Duration) checkResult {
	ref := spec.CredentialsSecretRef.Name
	if credSecret == nil {
		return failed(ReasonCredentialsSecretMissing, "the recording storage credentials Secret %q does not exist", ref)
	}
	keyID, secretKey := string(credSecret.Data["accessKeyId"]), string(credSecret.Data["secretAccessKey"])
	if keyID == "" || secretKey == "" {
		return failed(ReasonCredentialsSecretInvalid, "the recording storage credentials Secret %q needs the keys accessKeyId and secretAccessKey", ref)
	}
	u, err := url.Parse(spec.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return failed(ReasonStorageConfigInvalid, "spec.recordingStorage.endpoint %q is not an http(s) URL with a host", spec.Endpoint)
	}
	if u.Path != "" && u.Path != "/" {
		return failed(ReasonStorageConfigInvalid, "spec.recordingStorage.endpoint %q must not have a path", spec.Endpoint)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if spec.CABundle != "" {
		pool, err := pki.CertPool([]byte(spec.CABundle))
		if err != nil {
			return failed(ReasonStorageConfigInvalid, "spec.recordingStorage.caBundle: %v", err)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	defer tr.CloseIdleConnections()
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(keyID, secretKey, ""),
		Secure:     u.Scheme == "https",
		Transport:  tr,
		Region:     spec.Region,
		MaxRetries: 1,
	})
	if err != nil {
		return failed(ReasonStorageConfigInvalid, "spec.recordingStorage: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	object := probeObjectName(spec, cluster)
	body := []byte("sessionconnector recording storage probe\n")
	if _, err := mc.PutObject(ctx, spec.Bucket, object, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		return storageFailure(spec, "write a probe object to", err)
	}
	if err := mc.RemoveObject(ctx, spec.Bucket, object, minio.RemoveObjectOptions{}); err != nil {
		return storageFailure(spec, "delete the probe object from", err)
	}
	return passed(ReasonBucketWritable, "bucket %q at %s is writable", spec.Bucket, spec.Endpoint)
}

func storageFailure(spec *v1alpha1.RecordingStorageSpec, what string, err error) checkResult {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchBucket":
		return failed(ReasonBucketNotFound, "bucket %q does not exist at %s", spec.Bucket, spec.Endpoint)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized ||
		resp.Code == "AccessDenied" || resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch":
		return failed(ReasonBucketNotWritable, "could not %s bucket %q at %s (check the credentials and the bucket policy): %s %s",
			what, spec.Bucket, spec.Endpoint, resp.Code, resp.Message)
	case resp.StatusCode > 0 && resp.StatusCode < 500:
		return failed(ReasonBucketNotWritable, "could not %s bucket %q at %s: HTTP %d %s %s",
			what, spec.Bucket, spec.Endpoint, resp.StatusCode, resp.Code, resp.Message)
	}
	return failed(ReasonBucketUnreachable, "could not %s bucket %q: %s cannot be reached (network, TLS trust in spec.recordingStorage.caBundle, or the service is down): %v",
		what, spec.Bucket, spec.Endpoint, err)
}
