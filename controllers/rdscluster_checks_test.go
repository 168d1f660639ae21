package controllers

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

// fakeS3 answers the two requests of the storage check the way S3 does. It is a narrow stand-in
// for the probe's request and error handling; no S3 server runs on this machine.
type fakeS3 struct {
	mu     sync.Mutex
	code   string // error code to answer with, "" for success
	status int
	seen   []string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path)
	code, status := f.code, f.status
	f.mu.Unlock()
	if code != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>refused</Message></Error>`))
		return
	}
	switch r.Method {
	case http.MethodPut:
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func TestCheckRecordingStorage(t *testing.T) {
	fake := &fakeS3{}
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case fails handshakes on purpose
	srv.StartTLS()
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	creds := &corev1.Secret{Data: map[string][]byte{"accessKeyId": []byte("AKIA"), "secretAccessKey": []byte("s3-secret-key")}}
	spec := &v1alpha1.RecordingStorageSpec{Endpoint: srv.URL, Bucket: "recordings", Prefix: "/corp/", Region: "us-east-1",
		CABundle: ca, CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
	nn := types.NamespacedName{Namespace: "ns", Name: "front"}
	ctx := context.Background()

	res := checkRecordingStorage(ctx, spec, creds, nn, 5*time.Second)
	if res.status != metav1.ConditionTrue || res.reason != ReasonBucketWritable {
		t.Fatalf("writable bucket: %+v", res)
	}
	want := []string{"PUT /recordings/corp/.sessionconnector-probe/ns-front", "DELETE /recordings/corp/.sessionconnector-probe/ns-front"}
	if strings.Join(fake.seen, ",") != strings.Join(want, ",") {
		t.Errorf("requests %v, want %v", fake.seen, want)
	}

	for name, tc := range map[string]struct {
		code   string
		status int
		reason string
	}{
		"access denied":  {"AccessDenied", http.StatusForbidden, ReasonBucketNotWritable},
		"wrong key":      {"InvalidAccessKeyId", http.StatusForbidden, ReasonBucketNotWritable},
		"no such bucket": {"NoSuchBucket", http.StatusNotFound, ReasonBucketNotFound},
		"server error":   {"InternalError", http.StatusInternalServerError, ReasonBucketUnreachable},
	} {
		fake.mu.Lock()
		fake.code, fake.status = tc.code, tc.status
		fake.mu.Unlock()
		res := checkRecordingStorage(ctx, spec, creds, nn, 5*time.Second)
		if res.status != metav1.ConditionFalse || res.reason != tc.reason {
			t.Errorf("%s: %+v", name, res)
		}
		if strings.Contains(res.message, "s3-secret-key") {
			t.Errorf("%s: the message names the secret key: %s", name, res.message)
		}
	}

	untrusted := *spec
	untrusted.CABundle = ""
	if res := checkRecordingStorage(ctx, &untrusted, creds, nn, 5*time.Second); res.reason != ReasonBucketUnreachable {
		t.Errorf("untrusted certificate: %+v", res)
	}
	for name, tc := range map[string]struct {
		secret *corev1.Secret
		spec   v1alpha1.RecordingStorageSpec
		reason string
	}{
		"no secret":     {nil, *spec, ReasonCredentialsSecretMissing},
		"no secret key": {&corev1.Secret{Data: map[string][]byte{"accessKeyId": []byte("AKIA")}}, *spec, ReasonCredentialsSecretInvalid},
		"path in URL":   {creds, v1alpha1.RecordingStorageSpec{Endpoint: srv.URL + "/bucket", Bucket: "b"}, ReasonStorageConfigInvalid},
		"bad CA bundle": {creds, v1alpha1.RecordingStorageSpec{Endpoint: srv.URL, Bucket: "b", CABundle: "junk"}, ReasonStorageConfigInvalid},
		"not a URL":     {creds, v1alpha1.RecordingStorageSpec{Endpoint: "s3.example.com", Bucket: "b"}, ReasonStorageConfigInvalid},
	} {
		if res := checkRecordingStorage(ctx, &tc.spec, tc.secret, nn, time.Second); res.status != metav1.ConditionFalse || res.reason != tc.reason {
			t.Errorf("%s: %+v", name, res)
		}
	}
}

func TestCheckCache(t *testing.T) {
	var cache checkCache
	k := checkKey{cluster: types.NamespacedName{Namespace: "ns", Name: "a"}, check: "x"}
	now := time.Unix(1000, 0)
	cache.put(k, "fp", now, passed("R", "m"))
	if _, ok := cache.get(k, "fp", now.Add(time.Second), 2*time.Second); !ok {
		t.Error("fresh entry missed")
	}
	if _, ok := cache.get(k, "other", now, 2*time.Second); ok {
		t.Error("changed inputs hit")
	}
	if _, ok := cache.get(k, "fp", now.Add(2*time.Second), 2*time.Second); ok {
		t.Error("stale entry hit")
	}
	cache.forget(k.cluster)
	if _, ok := cache.get(k, "fp", now, 2*time.Second); ok {
		t.Error("forgotten entry hit")
	}
}
