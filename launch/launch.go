// Package launch is the launch API: an authenticated user asks for a session on a secret they may
// view and gets a single-use .rdp file that carries a ticket and no password.
//
//	POST /api/v1/launches   {"secretId": 42, "launcher": "rdp", "machine": "host:port"}
//
// The user's Secret Server username and password come as HTTP Basic auth (DOMAIN\user is split
// into domain and user), or their Secret Server token as a Bearer token. The secret is read as
// that user, so Secret Server decides visibility. Answers: 201 with the .rdp file, or an
// application/problem+json error: 401 bad credentials, 403 secret not visible, 404 unknown or
// inactive launcher, 422 invalid request, 503 Secret Server unreachable.
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/hostmatch"
	"github.com/sessionconnector/sessionconnector/rdpfile"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// MaxBodyBytes bounds a launch request's body.
const MaxBodyBytes = 16 << 10

// Config of a Handler.
type Config struct {
	Catalog catalog.Catalog
	Store   sessionstore.Store
	// SecretServer returns the client for a cluster's Secret Server.
	SecretServer func(ctx context.Context, cluster *v1alpha1.RDSCluster) (*secretserver.Client, error)
	// Application returns the session of a cluster's application account in its Secret Server
	// (kept between calls), which audits recording viewings; when nil, one is signed in for
	// each audit.
	Application func(ctx context.Context, cluster *v1alpha1.RDSCluster) (*secretserver.Session, error)
	// Cluster, when set, is the only RDSCluster whose recordings this API looks for once their
	// Session is gone (the proxy's own); else every cluster the catalog lists.
	Cluster string
	// DefaultAddress is the host:port .rdp files point at when the cluster names none.
	DefaultAddress string
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger logr.Logger
	// Registerer receives the metrics; nothing is registered when nil.
	Registerer prometheus.Registerer
	// Ready reports whether the API can serve launches (for /readyz); always ready when nil.
	Ready func(ctx context.Context) error
	// RequestTimeout bounds one launch, Secret Server calls included; 30 s when zero.
	RequestTimeout time.Duration
	// Player serves the recording player's page (GET /recordings/{session}) and its files
	// (GET /player/{file}); see recorder/player. Those routes answer 404 when nil.
	Player http.Handler
	// RecordingURLLifetime is how long the presigned URLs of GET /api/v1/recordings/{session}
	// work; DefaultRecordingURLLifetime when zero.
	RecordingURLLifetime time.Duration
}

// Handler serves the launch API, /healthz and /readyz. Mount /metrics beside it.
type Handler struct {
	cfg      Config
	mux      *http.ServeMux
	launches *prometheus.CounterVec
	latency  prometheus.Histogram
}

// Request is the JSON body of a launch.
type Request struct {
	SecretID int    `json:"secretId"`
	Launcher string `json:"launcher"`
	Machine  string `json:"machine,omitempty"`
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Catalog == nil || cfg.Store == nil || cfg.SecretServer == nil {
		return nil, errors.New("launch: Catalog, Store and SecretServer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	h := &Handler{
		cfg: cfg,
		mux: http.NewServeMux(),
		launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionconnector_launches_total",
			Help: "Launch requests by outcome (issued, unauthorized, forbidden, not_found, invalid, unavailable, error).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sessionconnector_launch_duration_seconds",
			Help:    "Time to answer a launch request, Secret Server calls included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.launches, h.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register launch metrics: %w", err)
			}
		}
	}
	h.mux.HandleFunc("POST /api/v1/launches", h.serveLaunch)
	h.mux.HandleFunc("/api/v1/launches", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use POST to launch a session")
	})
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	h.mux.HandleFunc("GET /readyz", h.serveReady)
	if err := h.registerRecordings(); err != nil {
		return nil, err
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) serveReady(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(r.Context()); err != nil {
			writeProblem(w, http.StatusServiceUnavailable, "Not ready", err.Error())
			return
		}
	}
	_, _ = io.WriteString(w, "ok\n")
}

// problem is an error answer.
type problem struct {
	status  int
	outcome string
	title   string
	detail  string
	err     error // logged, never sent
}

func (p *problem) Error() string { return p.detail }

func fail(status int, outcome, title, detail string, err error) *problem {
	return &problem{status: status, outcome: outcome, title: title, detail: detail, err: err}
}

func (h *Handler) serveLaunch(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	log := h.cfg.Logger.WithValues("remote", r.RemoteAddr)

	out, err := h.launch(ctx, r)
	h.latency.Observe(h.cfg.Now().Sub(start).Seconds())
	if err != nil {
		var p *problem
		if !errors.As(err, &p) {
			p = fail(http.StatusInternalServerError, "error", "Launch failed", "the launch could not be completed", err)
		}
		h.launches.WithLabelValues(p.outcome).Inc()
		log.Info("launch refused", "status", p.status, "outcome", p.outcome, "detail", p.detail, "error", errText(p.err))
		writeProblem(w, p.status, p.title, p.detail)
		return
	}
	h.launches.WithLabelValues("issued").Inc()
	log.Info("launch issued", "session", out.session.Name, "user", out.session.Spec.User,
		"secretId", out.session.Spec.SecretID, "launcher", out.session.Spec.LauncherRef,
		"target", out.session.Spec.Target, "expiresAt", out.session.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	w.Header().Set("Content-Type", rdpfile.ContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.rdp"`, fileName(out.session.Spec.SecretName, out.session.Name)))
	w.Header().Set("Location", "/api/v1/sessions/"+out.session.Name)
	w.Header().Set("X-Session-Id", out.session.Name)
	w.Header().Set("X-Session-Expires", out.session.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(out.rdp)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type launched struct {
	session *v1alpha1.Session
	rdp     []byte
}

func (h *Handler) launch(ctx context.Context, r *http.Request) (*launched, error) {
	vaultUser, err := userSession(r)
	if err != nil {
		return nil, err
	}
	req, err := decodeRequest(r)
	if err != nil {
		return nil, err
	}
	launcher, err := h.cfg.Catalog.Launcher(ctx, req.Launcher)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && !launcher.Spec.IsActive()) {
		return nil, fail(http.StatusNotFound, "not_found", "Unknown launcher",
			fmt.Sprintf("there is no active launcher named %q", req.Launcher), err)
	}
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Launchers unavailable", "the launcher could not be read", err)
	}
	cluster, err := h.cfg.Catalog.Cluster(ctx, launcher.Spec.ClusterRef)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Cluster unavailable",
			fmt.Sprintf("launcher %q belongs to cluster %q, which is not available", launcher.Name, launcher.Spec.ClusterRef), err)
	}
	client, err := h.cfg.SecretServer(ctx, cluster)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Secret Server unavailable",
			"the Secret Server connection of this cluster is misconfigured", err)
	}
	asUser := vaultUser(client)
	userName, err := h.userName(ctx, r, asUser)
	if err != nil {
		return nil, secretServerProblem(err, req.SecretID)
	}
	secret, err := asUser.GetSecret(ctx, req.SecretID)
	if err != nil {
		return nil, secretServerProblem(err, req.SecretID)
	}
	defer secret.Zero() // the user's read includes the password, which the launch does not need
	target, err := chooseTarget(launcher, secret, req.Machine)
	if err != nil {
		return nil, err
	}
	if !assigned(launcher, secret) {
		return nil, fail(http.StatusUnprocessableEntity, "invalid", "Launcher not assigned",
			fmt.Sprintf("launcher %q is not assigned to the secret template %q", launcher.Name, secret.SecretTemplateName), nil)
	}
	address, err := h.address(cluster)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "No address", err.Error(), nil)
	}

	tk, err := ticket.New()
	if err != nil {
		return nil, err
	}
	now := h.cfg.Now()
	timeout := time.Duration(cluster.Spec.EffectiveSessionTimeoutSeconds()) * time.Second
	sess := &v1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: tk.ID, Labels: map[string]string{
			"sessionconnector.io/cluster":  cluster.Name,
			"sessionconnector.io/launcher": launcher.Name,
		}},
		Spec: v1alpha1.SessionSpec{
			ClusterRef:          cluster.Name,
			LauncherRef:         launcher.Name,
			User:                userName,
			SecretID:            int32(secret.ID),
			SecretName:          secret.Name,
			Target:              target.String(),
			LaunchClientAddress: hostOnly(r.RemoteAddr),
			TicketHash:          tk.Hash(),
			ExpiresAt:           metav1.NewTime(now.Add(timeout).Truncate(time.Second)),
		},
	}
	file := rdpfile.File{
		FullAddress:              address,
		LoadBalanceInfo:          tk.Text(),
		DisableConnectionSharing: !cluster.Spec.AllowConnectionSharing,
		Extra:                    channelSettings(launcher.Spec.Channels),
	}
	data, err := rdpfile.Marshal(file)
	if err != nil {
		return nil, fmt.Errorf("write .rdp file: %w", err)
	}
	if err := h.cfg.Store.Create(ctx, sess); err != nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "Session store unavailable",
			"the session could not be stored; try again", err)
	}
	return &launched{session: sess, rdp: data}, nil
}

// userSession reads the caller's Secret Server credentials.
func userSession(r *http.Request) (func(*secretserver.Client) *secretserver.Session, error) {
	authz := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(authz, "Bearer "); ok && strings.TrimSpace(token) != "" {
		token = strings.TrimSpace(token)
		return func(c *secretserver.Client) *secretserver.Session { return c.WithToken(token) }, nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" || pass == "" {
		return nil, fail(http.StatusUnauthorized, "unauthorized", "Credentials required",
			"send your Secret Server username and password (HTTP Basic) or a Secret Server token (Bearer)", nil)
	}
	cred := secretserver.Credentials{Username: user, Password: pass}
	if domain, name, ok := strings.Cut(user, `\`); ok {
		cred.Domain, cred.Username = domain, name
	}
	cred.OTP = r.Header.Get("OTP")
	return func(c *secretserver.Client) *secretserver.Session { return c.WithPassword(cred) }, nil
}

// userName names the user for the Session: the Basic auth name, or for a Bearer token the user
// Secret Server says the token belongs to.
func (h *Handler) userName(ctx context.Context, r *http.Request, s *secretserver.Session) (string, error) {
	if user, _, ok := r.BasicAuth(); ok {
		return user, nil
	}
	u, err := s.CurrentUser(ctx)
	if err != nil {
		return "", err
	}
	return u.UserName, nil
}

func decodeRequest(r *http.Request) (*Request, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, fail(http.StatusUnsupportedMediaType, "invalid", "Unsupported media type", "send the request as application/json", nil)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return nil, fail(http.StatusUnprocessableEntity, "invalid", "Invalid request",
			"the body must be JSON like {\"secretId\": 42, \"launcher\": \"NAME\"}: "+jsonProblem(err), nil)
	}
	if dec.More() {
		return nil, fail(http.StatusUnprocessableEntity, "invalid", "Invalid request", "the body holds more than one JSON value", nil)
	}
	switch {
	case req.SecretID <= 0:
		return nil, fail(http.StatusUnprocessableEntity, "invalid", "Invalid request", "secretId must be a positive number", nil)
	case strings.TrimSpace(req.Launcher) == "":
		return nil, fail(http.StatusUnprocessableEntity, "invalid", "Invalid request", "launcher must name a launcher", nil)
	}
	return &req, nil
}

func jsonProblem(err error) string {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return fmt.Sprintf("it is larger than %d bytes", MaxBodyBytes)
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return "it could not be read"
	}
}

func secretServerProblem(err error, id int) error {
	switch {
	case errors.Is(err, secretserver.ErrUnauthorized):
		return fail(http.StatusUnauthorized, "unauthorized", "Secret Server refused the credentials",
			"Secret Server did not accept your username and password (or token)", err)
	case errors.Is(err, secretserver.ErrAccessDenied):
		return fail(http.StatusForbidden, "forbidden", "Access denied",
			fmt.Sprintf("secret %d does not exist or you may not view it", id), err)
	case errors.Is(err, secretserver.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return fail(http.StatusServiceUnavailable, "unavailable", "Secret Server unavailable",
			"Secret Server could not be reached; try again later", err)
	default:
		return fail(http.StatusBadGateway, "error", "Secret Server error",
			"Secret Server gave an answer the connector does not understand", err)
	}
}

// chooseTarget takes the secret's machine, or the requested one for secrets without a machine.
func chooseTarget(l *v1alpha1.SessionLauncher, s *secretserver.Secret, requested string) (hostmatch.Target, error) {
	machine, ok := s.Field("machine")
	if ok && strings.TrimSpace(machine) != "" {
		if requested != "" {
			return hostmatch.Target{}, fail(http.StatusUnprocessableEntity, "invalid", "Machine not allowed",
				"this secret names its own machine; do not send one", nil)
		}
		t, err := hostmatch.ParseTarget(machine)
		if err != nil {
			return hostmatch.Target{}, fail(http.StatusUnprocessableEntity, "invalid", "Bad machine in secret",
				fmt.Sprintf("the secret's machine field is not a host: %v", err), nil)
		}
		return t, nil
	}
	if requested == "" {
		return hostmatch.Target{}, fail(http.StatusUnprocessableEntity, "invalid", "Machine required",
			"this secret has no machine; send the host to connect to as \"machine\"", nil)
	}
	t, err := hostmatch.ParseTarget(requested)
	if err != nil {
		return hostmatch.Target{}, fail(http.StatusUnprocessableEntity, "invalid", "Invalid machine", err.Error(), nil)
	}
	if !hostmatch.Allowed(l.Spec.AllowedHosts, t) {
		return hostmatch.Target{}, fail(http.StatusUnprocessableEntity, "invalid", "Machine not allowed",
			fmt.Sprintf("launcher %q does not allow connections to %s", l.Name, t), nil)
	}
	return t, nil
}

func assigned(l *v1alpha1.SessionLauncher, s *secretserver.Secret) bool {
	for _, t := range l.Spec.Templates {
		if (t.ID != 0 && int(t.ID) == s.SecretTemplateID) || (t.Name != "" && strings.EqualFold(t.Name, s.SecretTemplateName)) {
			return true
		}
	}
	return false
}

// address is where .rdp files of the cluster point.
func (h *Handler) address(c *v1alpha1.RDSCluster) (string, error) {
	port := int(c.Spec.ExternalPort)
	if port == 0 {
		port = 3389
	}
	switch {
	case c.Spec.ExternalAddress != "":
		return net.JoinHostPort(c.Spec.ExternalAddress, strconv.Itoa(port)), nil
	case c.Status.Address != "":
		return c.Status.Address, nil
	case h.cfg.DefaultAddress != "":
		return h.cfg.DefaultAddress, nil
	}
	return "", fmt.Errorf("cluster %q has no external address yet", c.Name)
}

// channelSettings asks the client only for the channels the launcher allows (the proxy enforces them).
func channelSettings(p v1alpha1.ChannelPolicy) []rdpfile.Setting {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	audio := "2" // do not play
	if p.Audio {
		audio = "0"
	}
	drives := ""
	if p.Drives {
		drives = "*"
	}
	return []rdpfile.Setting{
		{Name: "redirectclipboard", Type: rdpfile.TypeInt, Value: flag(p.Clipboard)},
		{Name: "redirectprinters", Type: rdpfile.TypeInt, Value: flag(p.Printers)},
		{Name: "audiomode", Type: rdpfile.TypeInt, Value: audio},
		{Name: "drivestoredirect", Type: rdpfile.TypeString, Value: drives},
	}
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// fileName makes a safe download name from the secret's name.
func fileName(secretName, fallback string) string {
	var b strings.Builder
	for _, c := range secretName {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		case c == ' ':
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return fallback
	}
	return b.String()
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Session Connector", charset="UTF-8"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}
