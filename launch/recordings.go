package launch

// The recording player's routes:
//
//	GET /recordings/{session}          the player page (static, no data: Config.Player serves it)
//	GET /player/{file}                 the page's scripts, styles and WebAssembly (Config.Player)
//	GET /api/v1/recordings/{session}   the recording of a session: who, what, when, and
//	                                   short-lived presigned URLs of its objects in S3
//
// The API authenticates like a launch (Basic with the Secret Server user and password, or a
// Bearer Secret Server token) and answers only a user who may read the session's secret in
// Secret Server, read as that user.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/sessionstore"
)

// DefaultRecordingURLLifetime is how long the presigned URLs of a recording listing work.
const DefaultRecordingURLLifetime = 5 * time.Minute

// MaxRecordingURLLifetime is the longest lifetime S3 (signature version 4) accepts.
const MaxRecordingURLLifetime = 7 * 24 * time.Hour

// sessionNameRE is what a Session name (a ticket ID) may look like.
var sessionNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Recording is the answer of GET /api/v1/recordings/{session}.
type Recording struct {
	Session  string    `json:"session"`
	User     string    `json:"user"`
	Target   string    `json:"target"`
	SecretID int       `json:"secretId"`
	Launcher string    `json:"launcher,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// Complete is false when the recording was interrupted or missed PDUs.
	Complete bool             `json:"complete"`
	Chunks   []RecordingChunk `json:"chunks"`
	// Gaps are chunks the recording lost.
	Gaps []capture.Gap `json:"gaps,omitempty"`
	// KeystrokesURL is the keystroke log (recorder/keylog JSON Lines); empty when there is none.
	KeystrokesURL string `json:"keystrokesUrl,omitempty"`
	// ExpiresAt is when the URLs stop working; ask again for new ones.
	ExpiresAt time.Time `json:"expiresAt"`
}

// RecordingChunk is a chunk of a Recording, as its manifest lists it, with a presigned URL.
type RecordingChunk struct {
	Seq     uint32    `json:"seq"`
	URL     string    `json:"url"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Records uint32    `json:"records"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// recordings serves the recording API; it keeps one S3 client per storage configuration.
type recordings struct {
	h        *Handler
	lifetime time.Duration
	requests *prometheus.CounterVec

	mu      sync.Mutex
	clients map[string]*minio.Client
	// audited is when each user last had a viewing of each session audited (user + "\x00" +
	// session): the page renews its URLs while it plays, and that is one viewing.
	audited map[string]time.Time
}

// viewingAuditInterval is how long one audit entry covers a user's viewing of a recording.
const viewingAuditInterval = 30 * time.Minute

// registerRecordings adds the player's routes to h.
func (h *Handler) registerRecordings() error {
	lifetime := h.cfg.RecordingURLLifetime
	switch {
	case lifetime == 0:
		lifetime = DefaultRecordingURLLifetime
	case lifetime < time.Second || lifetime > MaxRecordingURLLifetime:
		return fmt.Errorf("launch: RecordingURLLifetime %v is outside 1s to %v", lifetime, MaxRecordingURLLifetime)
	}
	rec := &recordings{
		h: h, lifetime: lifetime, clients: map[string]*minio.Client{}, audited: map[string]time.Time{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionconnector_recording_requests_total",
			Help: "Recording listings asked of the launch API, by outcome (listed, unauthorized, forbidden, not_found, unavailable, error).",
		}, []string{"outcome"}),
	}
	if h.cfg.Registerer != nil {
		if err := h.cfg.Registerer.Register(rec.requests); err != nil {
			return fmt.Errorf("register recording metrics: %w", err)
		}
	}
	h.mux.HandleFunc("GET /api/v1/recordings/{session}", rec.serveRecording)
	h.mux.HandleFunc("/api/v1/recordings/{session}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use GET to read a recording")
	})
	page := h.cfg.Player
	if page == nil {
		page = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeProblem(w, http.StatusNotFound, "Player not installed", "this server does not serve the recording player")
		})
	}
	h.mux.Handle("GET /recordings/{session}", page)
	h.mux.Handle("GET /player/{file}", page)
	return nil
}

func (rec *recordings) serveRecording(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), rec.h.cfg.RequestTimeout)
	defer cancel()
	session := r.PathValue("session")
	log := rec.h.cfg.Logger.WithValues("remote", r.RemoteAddr, "session", session)
	out, user, err := rec.list(ctx, r, session)
	if err != nil {
		var p *problem
		if !errors.As(err, &p) {
			p = fail(http.StatusInternalServerError, "error", "Recording unavailable", "the recording could not be listed", err)
		}
		rec.requests.WithLabelValues(p.outcome).Inc()
		log.Info("recording refused", "status", p.status, "outcome", p.outcome, "detail", p.detail, "error", errText(p.err))
		writeProblem(w, p.status, p.title, p.detail)
		return
	}
	rec.requests.WithLabelValues("listed").Inc()
	// The URLs are bearer credentials for the recording: never logged.
	log.Info("recording opened", "user", user, "secretId", out.SecretID, "chunks", len(out.Chunks),
		"keystrokes", out.KeystrokesURL != "", "expiresAt", out.ExpiresAt.UTC().Format(time.RFC3339))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_ = json.NewEncoder(w).Encode(out)
}

// list authorises the caller for the session's recording and lists it; it returns the caller's
// name for the log.
func (rec *recordings) list(ctx context.Context, r *http.Request, session string) (*Recording, string, error) {
	h := rec.h
	vaultUser, err := userSession(r)
	if err != nil {
		return nil, "", err
	}
	if !sessionNameRE.MatchString(session) {
		return nil, "", fail(http.StatusNotFound, "not_found", "No such session",
			fmt.Sprintf("there is no session %q", session), nil)
	}
	loc, err := rec.locate(ctx, session, vaultUser)
	if err != nil {
		return nil, "", err
	}
	cluster := loc.cluster
	client, err := h.cfg.SecretServer(ctx, cluster)
	if err != nil {
		return nil, "", fail(http.StatusServiceUnavailable, "unavailable", "Secret Server unavailable",
			"the Secret Server connection of this cluster is misconfigured", err)
	}
	asUser := loc.asUser
	if asUser == nil {
		asUser = vaultUser(client)
	}
	userName, err := h.userName(ctx, r, asUser)
	if err != nil {
		return nil, "", secretServerProblem(err, loc.secretID)
	}
	// Whoever may read the secret may watch what was done with it: Secret Server decides.
	secret, err := asUser.GetSecret(ctx, loc.secretID)
	if err != nil {
		return nil, userName, secretServerProblem(err, loc.secretID)
	}
	secret.Zero()

	if loc.uri == "" {
		return nil, userName, fail(http.StatusNotFound, "not_found", "No recording",
			fmt.Sprintf("session %q has no recording (its cluster does not record, or the session never started)", session), nil)
	}
	bucket, manifestKey, ok := parseS3URI(loc.uri)
	if !ok || path.Base(manifestKey) != path.Base(storage.ManifestKey("", session)) || path.Base(path.Dir(manifestKey)) != session {
		return nil, userName, fail(http.StatusBadGateway, "error", "Bad recording reference",
			fmt.Sprintf("session %q names a recording at an unexpected place", session), fmt.Errorf("recording URI %q", loc.uri))
	}
	s3, err := rec.client(ctx, cluster)
	if err != nil {
		return nil, userName, fail(http.StatusServiceUnavailable, "unavailable", "Recording storage unavailable",
			fmt.Sprintf("the recording storage of cluster %q is not configured or its credentials cannot be read", cluster.Name), err)
	}
	m := loc.manifest
	if m == nil {
		if m, err = readManifest(ctx, s3, bucket, manifestKey, loc.sha256); err != nil {
			return nil, userName, err
		}
	}
	if m.Session != session || (loc.manifest == nil && m.SecretID != "" && m.SecretID != strconv.Itoa(loc.secretID)) {
		return nil, userName, fail(http.StatusBadGateway, "error", "Recording damaged",
			"the recording's manifest is of another session", nil)
	}

	signer, err := rec.presigner(ctx, cluster, s3, bucket)
	if err != nil {
		return nil, userName, err
	}

	out := &Recording{
		Session: session, User: m.User, Target: m.Target, SecretID: loc.secretID, Launcher: m.Launcher,
		Start: m.Start, End: m.End, Complete: m.Lossless() && loc.complete,
		Chunks: make([]RecordingChunk, 0, len(m.Chunks)), Gaps: m.Gaps,
		ExpiresAt: h.cfg.Now().Add(rec.lifetime).UTC().Truncate(time.Second),
	}
	folder := path.Dir(manifestKey)
	for _, c := range m.Chunks {
		// Only this session's chunk objects, whatever the manifest says.
		if c.Key != storage.ChunkKey(path.Dir(folder), session, c.Seq) {
			return nil, userName, fail(http.StatusBadGateway, "error", "Recording damaged",
				fmt.Sprintf("the manifest lists chunk %d at an unexpected place", c.Seq), fmt.Errorf("chunk key %q", c.Key))
		}
		u, err := signer.PresignedGetObject(ctx, bucket, c.Key, rec.lifetime, url.Values{})
		if err != nil {
			return nil, userName, storageProblem(err)
		}
		out.Chunks = append(out.Chunks, RecordingChunk{Seq: c.Seq, URL: u.String(), Size: c.Size, SHA256: c.SHA256,
			Records: c.Records, First: c.First, Last: c.Last})
	}
	keysKey := path.Join(folder, storage.KeystrokesName)
	if _, err := s3.StatObject(ctx, bucket, keysKey, minio.StatObjectOptions{}); err == nil {
		u, err := signer.PresignedGetObject(ctx, bucket, keysKey, rec.lifetime, url.Values{})
		if err != nil {
			return nil, userName, storageProblem(err)
		}
		out.KeystrokesURL = u.String()
	} else if !objectMissing(err) {
		return nil, userName, storageProblem(err)
	}
	if err := rec.auditViewing(ctx, client, cluster, userName, out); err != nil {
		return nil, userName, fail(http.StatusServiceUnavailable, "unavailable", "Audit unavailable",
			"the viewing could not be recorded in Secret Server's audit trail; try again", err)
	}
	return out, userName, nil
}

// application returns the session of the cluster's application account.
func (rec *recordings) application(ctx context.Context, client *secretserver.Client, cluster *v1alpha1.RDSCluster) (*secretserver.Session, error) {
	if rec.h.cfg.Application != nil {
		return rec.h.cfg.Application(ctx, cluster)
	}
	account, err := rec.h.cfg.Catalog.ApplicationAccount(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return client.WithPassword(account), nil
}

// auditViewing writes a view-comment audit entry on the recording's secret, as the cluster's
// application account, naming who opened which recording: at most one per user and session
// every viewingAuditInterval. No audit, no URLs.
func (rec *recordings) auditViewing(ctx context.Context, client *secretserver.Client, cluster *v1alpha1.RDSCluster, user string, r *Recording) error {
	key := user + "\x00" + r.Session
	now := rec.h.cfg.Now()
	rec.mu.Lock()
	last, seen := rec.audited[key]
	rec.mu.Unlock()
	if seen && now.Sub(last) < viewingAuditInterval {
		return nil
	}
	app, err := rec.application(ctx, client, cluster)
	if err != nil {
		return fmt.Errorf("application account: %w", err)
	}
	comment := fmt.Sprintf("Session Connector: %s opened the recording of session %s (user %s, target %s, %s to %s) in the player",
		user, r.Session, r.User, r.Target, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339))
	if err := app.AddViewComment(ctx, r.SecretID, comment); err != nil {
		return err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.audited) >= 4096 { // forget old viewings rather than grow without bound
		for k, t := range rec.audited {
			if now.Sub(t) >= viewingAuditInterval {
				delete(rec.audited, k)
			}
		}
	}
	rec.audited[key] = now
	return nil
}

// located is where a session's recording is and which secret it was of.
type located struct {
	cluster  *v1alpha1.RDSCluster
	secretID int
	// uri, sha256 and complete are the Session's recording reference (uri empty: none).
	uri, sha256 string
	complete    bool
	// manifest is set when the Session is gone and the recording was found by its manifest.
	manifest *capture.Manifest
	// asUser is the caller's Secret Server session when locating it already signed them in.
	asUser *secretserver.Session
}

// locate finds a session's recording: from its Session while the store keeps it, else (the
// Session was deleted after its retention) by looking for its manifest in the recording
// storage of every cluster the catalog lists whose storage credentials this server can read.
func (rec *recordings) locate(ctx context.Context, session string, vaultUser func(*secretserver.Client) *secretserver.Session) (*located, error) {
	h := rec.h
	sess, err := h.cfg.Store.Get(ctx, session)
	if errors.Is(err, sessionstore.ErrNotFound) {
		return rec.locateArchived(ctx, session, vaultUser)
	}
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Session store unavailable",
			"the session could not be read; try again", err)
	}
	cluster, err := h.cfg.Catalog.Cluster(ctx, sess.Spec.ClusterRef)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Cluster unavailable",
			fmt.Sprintf("the session belongs to cluster %q, which is not available", sess.Spec.ClusterRef), err)
	}
	loc := &located{cluster: cluster, secretID: int(sess.Spec.SecretID)}
	if ref := sess.Status.Recording; ref != nil {
		loc.uri, loc.sha256, loc.complete = ref.URI, ref.SHA256, ref.Complete
	}
	return loc, nil
}

// locateArchived looks for the recording in the storage of each cluster whose Secret Server
// accepts the caller's credentials (so that requests without valid credentials read nothing
// from storage).
func (rec *recordings) locateArchived(ctx context.Context, session string, vaultUser func(*secretserver.Client) *secretserver.Session) (*located, error) {
	notFound := fail(http.StatusNotFound, "not_found", "No such session",
		fmt.Sprintf("there is no session %q, nor a recording of it", session), nil)
	unauthorized := false
	names := []string{rec.h.cfg.Cluster}
	if rec.h.cfg.Cluster == "" {
		lister, ok := rec.h.cfg.Catalog.(catalog.ClusterLister)
		if !ok {
			return nil, notFound
		}
		var err error
		if names, err = lister.ClusterNames(ctx); err != nil {
			return nil, fail(http.StatusServiceUnavailable, "unavailable", "Clusters unavailable",
				"the clusters could not be listed to look for the recording; try again", err)
		}
	}
	for _, name := range names {
		cluster, err := rec.h.cfg.Catalog.Cluster(ctx, name)
		if err != nil || cluster.Spec.RecordingStorage == nil {
			continue
		}
		s3, err := rec.client(ctx, cluster)
		if err != nil {
			continue // storage of a cluster whose credentials this server may not read
		}
		client, err := rec.h.cfg.SecretServer(ctx, cluster)
		if err != nil {
			continue
		}
		asUser := vaultUser(client)
		if _, err := asUser.CurrentUser(ctx); err != nil { // signs in (password or token)
			if errors.Is(err, secretserver.ErrUnauthorized) {
				unauthorized = true
			}
			continue
		}
		rs := cluster.Spec.RecordingStorage
		key := storage.ManifestKey(rs.Prefix, session)
		m, err := readManifest(ctx, s3, rs.Bucket, key, "")
		if err != nil {
			continue
		}
		// Only a recording this cluster's proxy made: another cluster may share the storage but
		// not the Secret Server that decides who may watch it.
		id, err := strconv.Atoi(m.SecretID)
		if err != nil || m.Session != session || m.Cluster != cluster.Name {
			continue
		}
		// The manifest is the reference now; its chunks are verified by their hashes as the
		// player reads them.
		return &located{cluster: cluster, secretID: id, uri: "s3://" + rs.Bucket + "/" + key,
			complete: true, manifest: m, asUser: asUser}, nil
	}
	if unauthorized {
		return nil, fail(http.StatusUnauthorized, "unauthorized", "Invalid credentials",
			"Secret Server refused the credentials", nil)
	}
	return nil, notFound
}

// readManifest reads and checks a recording's manifest; want is its SHA-256 from the Session
// ("" when the Session has none, as after a recovery).
func readManifest(ctx context.Context, s3 *minio.Client, bucket, key, want string) (*capture.Manifest, error) {
	obj, err := s3.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, storageProblem(err)
	}
	b, err := io.ReadAll(io.LimitReader(obj, capture.MaxManifestSize+1))
	_ = obj.Close()
	if objectMissing(err) {
		return nil, fail(http.StatusNotFound, "not_found", "No recording",
			"the recording's manifest is not in storage (yet): it is written when the session ends", err)
	}
	if err != nil {
		return nil, storageProblem(err)
	}
	if want != "" {
		sum := sha256.Sum256(b)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), want) {
			return nil, fail(http.StatusBadGateway, "error", "Recording damaged",
				"the recording's manifest in storage is not the one the session recorded", nil)
		}
	}
	m, err := capture.ParseManifest(bytes.TrimSpace(b))
	if err != nil {
		return nil, fail(http.StatusBadGateway, "error", "Recording damaged", "the recording's manifest cannot be read", err)
	}
	return m, nil
}

func objectMissing(err error) bool {
	if err == nil {
		return false
	}
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}

func storageProblem(err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fail(http.StatusServiceUnavailable, "unavailable", "Recording storage unavailable",
			"the recording storage did not answer in time; try again", err)
	case resp.Code == "NoSuchBucket":
		return fail(http.StatusNotFound, "not_found", "No recording", "the recording's bucket does not exist", err)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return fail(http.StatusServiceUnavailable, "unavailable", "Recording storage refused",
			"the recording storage refused the connector's credentials", err)
	}
	return fail(http.StatusServiceUnavailable, "unavailable", "Recording storage unavailable",
		"the recording storage could not be reached; try again later", err)
}

// parseS3URI splits s3://bucket/key.
func parseS3URI(uri string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, ok = strings.Cut(rest, "/")
	return bucket, key, ok && bucket != "" && key != "" && path.Clean(key) == key && !strings.HasPrefix(key, "/")
}

// client returns the S3 client of a cluster's recording storage, built as the proxy builds it.
func (rec *recordings) client(ctx context.Context, cluster *v1alpha1.RDSCluster) (*minio.Client, error) {
	rs := cluster.Spec.RecordingStorage
	if rs == nil {
		return nil, errors.New("the cluster has no recordingStorage")
	}
	return rec.clientAt(ctx, cluster, rs.Endpoint, rs.Region)
}

// presigner returns the client that signs the URLs browsers get: the storage's own, or one of
// its browserEndpoint (signing needs the host browsers use, and the bucket's region, which is
// asked of the storage's own endpoint when the cluster does not give it: presigning itself
// calls nothing).
func (rec *recordings) presigner(ctx context.Context, cluster *v1alpha1.RDSCluster, s3 *minio.Client, bucket string) (*minio.Client, error) {
	rs := cluster.Spec.RecordingStorage
	if rs.BrowserEndpoint == "" {
		return s3, nil
	}
	region := rs.Region
	if region == "" {
		var err error
		if region, err = s3.GetBucketLocation(ctx, bucket); err != nil {
			return nil, storageProblem(err)
		}
	}
	c, err := rec.clientAt(ctx, cluster, rs.BrowserEndpoint, region)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Recording storage unavailable",
			fmt.Sprintf("recordingStorage.browserEndpoint of cluster %q cannot be used", cluster.Name), err)
	}
	return c, nil
}

// clientAt returns a cached client of the cluster's recording credentials at endpoint.
func (rec *recordings) clientAt(ctx context.Context, cluster *v1alpha1.RDSCluster, endpoint, region string) (*minio.Client, error) {
	rs := cluster.Spec.RecordingStorage
	account, ok := rec.h.cfg.Catalog.(catalog.RecordingAccount)
	if !ok {
		return nil, errors.New("the catalog cannot read recording credentials")
	}
	access, secret, err := account.RecordingCredentials(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("recording credentials: %w", err)
	}
	sum := sha256.Sum256([]byte(endpoint + "\x00" + region + "\x00" + access + "\x00" + secret + "\x00" + rs.CABundle))
	key := hex.EncodeToString(sum[:])
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if c, ok := rec.clients[key]; ok {
		return c, nil
	}
	c, err := storage.NewClient(storage.Endpoint{URL: endpoint, Region: region, CABundle: rs.CABundle,
		AccessKeyID: access, SecretAccessKey: secret})
	if err != nil {
		return nil, err
	}
	if len(rec.clients) >= 64 { // configurations come and go: do not grow without bound
		clear(rec.clients)
	}
	rec.clients[key] = c
	return c, nil
}
