// Package emulator is a local emulator of the parts of the Secret Server
// REST API the Session Connector uses: OAuth2 password and refresh grants,
// health check, secrets, fields, search, view comments, audits and logout.
// It serves the demo and tests; nothing in it is secure enough for more.
//
// Behaviour that is not publicly documented is marked GUESS.
package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Options configure an Emulator.
type Options struct {
	// TokenLifetime of access tokens; 20 minutes (Secret Server's default)
	// when zero.
	TokenLifetime time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives request logs (V(1)). Passwords and tokens are never
	// logged.
	Logger logr.Logger
	// BasePath is the application path, "/SecretServer" when empty. Use "/"
	// for none.
	BasePath string
}

// AuditRecord is an audit row of a secret, as listed by the API.
type AuditRecord struct {
	ID                  int       `json:"id"`
	SecretID            int       `json:"secretId"`
	Action              string    `json:"action"`
	ActionForDisplay    string    `json:"actionForDisplay"`
	ByUserDisplayName   string    `json:"byUserDisplayName"`
	DateRecorded        time.Time `json:"dateRecorded"`
	Notes               string    `json:"notes"`
	Username            string    `json:"username"`
	TicketNumber        string    `json:"ticketNumber"`
	RecordingSessionID  *int      `json:"recordingSessionId"`
	HasProxySessionData bool      `json:"hasProxySessionData"`
}

// Emulator is an http.Handler emulating Secret Server. It is safe for
// concurrent use.
type Emulator struct {
	lifetime time.Duration
	now      func() time.Time
	log      logr.Logger
	basePath string
	mux      *http.ServeMux

	mu          sync.Mutex
	users       map[string]*SeedUser // by lower-case username
	secrets     map[int]*secret
	order       []int                    // secret ids, ascending
	tokens      map[string]*accessToken  // by access token
	refreshes   map[string]*refreshToken // by refresh token
	audits      map[int][]AuditRecord    // by secret id, oldest first
	nextAuditID int
	issued      int
	refreshed   int
	unavailable bool
	htmlMode    bool
}

type secret struct {
	id                      int
	name                    string
	templateID              int
	templateName            string
	items                   []item
	viewers                 map[string]bool // lower-case usernames
	requiresComment         bool
	sessionRecordingEnabled bool
}

type item struct {
	itemID, fieldID     int
	fieldName, slug     string
	value               string
	isPassword, isNotes bool
}

type accessToken struct {
	user    *SeedUser
	expiry  time.Time
	refresh string
}

type refreshToken struct{ user *SeedUser }

// New returns an Emulator serving seed. It panics if seed fails Validate;
// seeds from ParseSeed and LoadSeed are valid. A nil seed is empty.
func New(seed *Seed, opts Options) *Emulator {
	if seed == nil {
		seed = &Seed{}
	}
	if err := seed.Validate(); err != nil {
		panic("emulator: " + err.Error())
	}
	e := &Emulator{
		lifetime:  opts.TokenLifetime,
		now:       opts.Now,
		log:       opts.Logger,
		basePath:  "/" + strings.Trim(opts.BasePath, "/"),
		users:     map[string]*SeedUser{},
		secrets:   map[int]*secret{},
		tokens:    map[string]*accessToken{},
		refreshes: map[string]*refreshToken{},
		audits:    map[int][]AuditRecord{},
	}
	if e.lifetime <= 0 {
		e.lifetime = 20 * time.Minute
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log.GetSink() == nil {
		e.log = logr.Discard()
	}
	if opts.BasePath == "" {
		e.basePath = "/SecretServer"
	}
	if e.basePath == "/" {
		e.basePath = ""
	}
	for i := range seed.Users {
		u := seed.Users[i]
		u.Username = strings.TrimSpace(u.Username)
		e.users[strings.ToLower(u.Username)] = &u
	}
	type template struct {
		id   int
		name string
	}
	custom := map[string]template{} // by lower-case name; the first spelling wins
	nextItem := 0
	for _, s := range seed.Secrets {
		tid, tname, ok := builtinTemplateID(strings.TrimSpace(s.Template))
		if !ok {
			key := strings.ToLower(strings.TrimSpace(s.Template))
			tmpl, seen := custom[key]
			if !seen {
				tmpl = template{id: firstCustomTemplateID + len(custom), name: strings.TrimSpace(s.Template)}
				custom[key] = tmpl
			}
			tid, tname = tmpl.id, tmpl.name
		}
		items, _ := secretItems(s, tid, func() int { nextItem++; return nextItem }) // validated above
		sec := &secret{
			id: s.ID, name: s.Name, templateID: tid, templateName: tname, items: items,
			viewers: map[string]bool{}, requiresComment: s.RequiresComment, sessionRecordingEnabled: s.SessionRecordingEnabled,
		}
		for _, v := range s.Viewers {
			sec.viewers[strings.ToLower(strings.TrimSpace(v))] = true
		}
		e.secrets[s.ID] = sec
		e.order = append(e.order, s.ID)
	}
	slices.Sort(e.order)
	e.routes()
	return e
}

func (e *Emulator) routes() {
	mux := http.NewServeMux()
	b, api := e.basePath, e.basePath+"/api/v1"
	mux.HandleFunc("POST "+b+"/oauth2/token", e.handleToken)
	mux.HandleFunc("GET "+api+"/healthcheck", e.handleHealth)
	mux.HandleFunc("GET "+api+"/users/current", e.authed(e.handleCurrentUser))
	mux.HandleFunc("GET "+api+"/secrets", e.authed(e.handleSearch))
	mux.HandleFunc("GET "+api+"/secrets/{id}", e.authed(e.handleSecret))
	mux.HandleFunc("GET "+api+"/secrets/{id}/fields/{slug}", e.authed(e.handleField))
	mux.HandleFunc("GET "+api+"/secrets/{id}/audits", e.authed(e.handleAudits))
	mux.HandleFunc("POST "+api+"/secret-access-requests/secrets/{id}/view-comment", e.authed(e.handleViewComment))
	mux.HandleFunc("POST "+api+"/oauth-expiration", e.authed(e.handleLogout))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "No HTTP resource was found that matches the request URI."})
	})
	e.mux = mux
}

// ServeHTTP implements http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	unavailable, htmlMode := e.unavailable, e.htmlMode
	e.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	switch {
	case unavailable:
		writeHTML(sw, http.StatusServiceUnavailable, "<html><body><h1>Service Unavailable</h1></body></html>")
	case htmlMode:
		// Secret Server (or a proxy in front of it) answering with a page.
		writeHTML(sw, http.StatusOK, "<html><body><h1>Secret Server</h1><p>Please log in.</p></body></html>")
	default:
		e.mux.ServeHTTP(sw, r)
	}
	e.log.V(1).Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status)
}

// --- test hooks ---

// Audits returns the audit rows of a secret, oldest first.
func (e *Emulator) Audits(secretID int) []AuditRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.audits[secretID])
}

// SetPassword changes the password item of a secret; unknown ids and
// secrets without a password item are ignored.
func (e *Emulator) SetPassword(secretID int, pw string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.secrets[secretID]; s != nil {
		for i := range s.items {
			if s.items[i].isPassword {
				s.items[i].value = pw
			}
		}
	}
}

// SetUnavailable makes every request answer 503 with an HTML page.
func (e *Emulator) SetUnavailable(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unavailable = on
}

// SetHTMLMode makes every request answer 200 with an HTML page.
func (e *Emulator) SetHTMLMode(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.htmlMode = on
}

// TokensIssued counts access tokens issued by both grants.
func (e *Emulator) TokensIssued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issued
}

// Refreshes counts access tokens issued by the refresh_token grant.
func (e *Emulator) Refreshes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refreshed
}

// --- handlers ---

func (e *Emulator) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"healthy": true})
}

func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	// GUESS: Secret Server puts "invalid_grant"-like codes or a sentence
	// ("Login failed.") into "error"; the shape {"error": …} is documented.
	invalid := func() { writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"}) }
	grant := r.PostForm.Get("grant_type")

	e.mu.Lock()
	defer e.mu.Unlock()
	var u *SeedUser
	switch grant {
	case "password":
		u = e.users[strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))]
		if u == nil || !equal(u.Password, r.PostForm.Get("password")) ||
			!strings.EqualFold(u.Domain, r.PostForm.Get("domain")) ||
			(u.OTP != "" && !equal(u.OTP, r.Header.Get("OTP"))) {
			e.log.Info("login failed", "username", r.PostForm.Get("username"))
			invalid()
			return
		}
	case "refresh_token":
		rt := e.refreshes[r.PostForm.Get("refresh_token")]
		if rt == nil {
			e.log.Info("refresh failed: unknown or used refresh token")
			invalid()
			return
		}
		delete(e.refreshes, r.PostForm.Get("refresh_token")) // single use
		u = rt.user
		e.refreshed++
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}

	now := e.now()
	for k, t := range e.tokens {
		if !now.Before(t.expiry) {
			delete(e.tokens, k)
		}
	}
	access, refresh := randomToken(), randomToken()
	e.tokens[access] = &accessToken{user: u, expiry: now.Add(e.lifetime), refresh: refresh}
	e.refreshes[refresh] = &refreshToken{user: u}
	e.issued++
	e.log.V(1).Info("issued token", "username", u.Username, "grant", grant, "lifetime", e.lifetime)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"token_type":    "bearer",
		"expires_in":    int(e.lifetime / time.Second),
		"refresh_token": refresh,
	})
}

type authedHandler func(w http.ResponseWriter, r *http.Request, u *SeedUser, token string)

// authed checks the bearer token. Expired, revoked and unknown tokens get
// ASP.NET Web API's 401 answer.
func (e *Emulator) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		e.mu.Lock()
		t := e.tokens[tok]
		if t != nil && !e.now().Before(t.expiry) {
			delete(e.tokens, tok)
			t = nil
		}
		e.mu.Unlock()
		if !strings.EqualFold(scheme, "bearer") || tok == "" || t == nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Authorization has been denied for this request."})
			return
		}
		h(w, r, t.user, tok)
	}
}

// visible returns the secret named by the {id} path value if u may view it.
// Otherwise it answers the documented, deliberately uninformative 400.
// The caller holds e.mu.
func (e *Emulator) visible(w http.ResponseWriter, r *http.Request, u *SeedUser) *secret {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "The request is invalid."})
		return nil
	}
	s := e.secrets[id]
	if s == nil || !s.viewers[strings.ToLower(u.Username)] {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errorCode": "API_AccessDenied", "message": "Access denied"})
		return nil
	}
	return s
}

func (e *Emulator) handleCurrentUser(w http.ResponseWriter, _ *http.Request, u *SeedUser, _ string) {
	// GUESS: a stable made-up id; the connector only uses userName.
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.ToLower(u.Username)))
	writeJSON(w, http.StatusOK, map[string]any{"id": int(h.Sum32()%100000) + 1, "userName": u.Username, "displayName": u.Username,
		"domainId": -1, "isApplicationAccount": u.ApplicationAccount})
}

func (e *Emulator) handleSecret(w http.ResponseWriter, r *http.Request, u *SeedUser, _ string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.visible(w, r, u); s != nil {
		writeJSON(w, http.StatusOK, s.toJSON())
	}
}

func (e *Emulator) handleField(w http.ResponseWriter, r *http.Request, u *SeedUser, _ string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.visible(w, r, u)
	if s == nil {
		return
	}
	slug := r.PathValue("slug")
	for _, it := range s.items {
		if strings.EqualFold(it.slug, slug) {
			writeJSON(w, http.StatusOK, it.value)
			return
		}
	}
	// GUESS: the error code for an unknown slug.
	writeJSON(w, http.StatusBadRequest, map[string]string{"errorCode": "API_FieldNotFound", "message": "Field not found."})
}

func (e *Emulator) handleSearch(w http.ResponseWriter, r *http.Request, u *SeedUser, _ string) {
	text := strings.ToLower(queryValue(r, "filter.searchText"))
	take, skip := paging(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []map[string]any
	for _, id := range e.order {
		s := e.secrets[id]
		// GUESS: the search text matches the name only (Secret Server can
		// also search field values).
		if s.viewers[strings.ToLower(u.Username)] && strings.Contains(strings.ToLower(s.name), text) {
			all = append(all, s.summaryJSON())
		}
	}
	writeJSON(w, http.StatusOK, page(all, take, skip))
}

func (e *Emulator) handleAudits(w http.ResponseWriter, r *http.Request, u *SeedUser, _ string) {
	take, skip := paging(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.visible(w, r, u)
	if s == nil {
		return
	}
	rows := slices.Clone(e.audits[s.id])
	slices.Reverse(rows) // GUESS: newest first
	writeJSON(w, http.StatusOK, page(rows, take, skip))
}

func (e *Emulator) handleViewComment(w http.ResponseWriter, r *http.Request, u *SeedUser, _ string) {
	var body struct { // encoding/json matches names case-insensitively, as Secret Server does
		Comment        string `json:"comment"`
		TicketNumber   string `json:"ticketNumber"`
		TicketSystemID *int   `json:"ticketSystemId"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "The request is invalid."})
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.visible(w, r, u)
	if s == nil {
		return
	}
	if strings.TrimSpace(body.Comment) == "" {
		// GUESS: the error code for a missing comment.
		writeJSON(w, http.StatusBadRequest, map[string]string{"errorCode": "API_CommentRequired", "message": "A comment is required."})
		return
	}
	e.nextAuditID++
	e.audits[s.id] = append(e.audits[s.id], AuditRecord{
		ID: e.nextAuditID, SecretID: s.id, Action: "VIEW", ActionForDisplay: "View",
		ByUserDisplayName: u.Username, DateRecorded: e.now().UTC(), Notes: body.Comment,
		Username: u.Username, TicketNumber: body.TicketNumber,
	})
	writeJSON(w, http.StatusOK, true) // GUESS: the response body
}

// handleLogout revokes the token and the refresh token issued with it
// (GUESS: Secret Server may keep the refresh token).
func (e *Emulator) handleLogout(w http.ResponseWriter, _ *http.Request, u *SeedUser, tok string) {
	e.mu.Lock()
	if t := e.tokens[tok]; t != nil {
		delete(e.refreshes, t.refresh)
		delete(e.tokens, tok)
	}
	e.mu.Unlock()
	e.log.V(1).Info("token revoked", "username", u.Username)
	writeJSON(w, http.StatusOK, true) // GUESS: the response body
}

// --- JSON ---

func (s *secret) toJSON() map[string]any {
	items := make([]map[string]any, len(s.items))
	for i, it := range s.items {
		items[i] = map[string]any{
			"itemId": it.itemID, "fieldId": it.fieldID, "fileAttachmentId": nil,
			"fieldName": it.fieldName, "slug": it.slug, "fieldDescription": it.fieldName,
			"filename": nil, "itemValue": it.value,
			"isFile": false, "isNotes": it.isNotes, "isPassword": it.isPassword,
		}
	}
	return map[string]any{
		"id": s.id, "name": s.name, "secretTemplateId": s.templateID, "secretTemplateName": s.templateName,
		"folderId": -1, "siteId": 1, "active": true, "items": items,
		"checkedOut": false, "checkOutEnabled": false, "requiresComment": s.requiresComment,
		"isRestricted": s.requiresComment, "sessionRecordingEnabled": s.sessionRecordingEnabled,
		"launcherConnectAsSecretId": -1, "autoChangeEnabled": false, "isDoubleLock": false,
	}
}

func (s *secret) summaryJSON() map[string]any {
	return map[string]any{
		"id": s.id, "name": s.name, "secretTemplateId": s.templateID, "secretTemplateName": s.templateName,
		"folderId": -1, "siteId": 1, "active": true, "checkedOut": false, "isRestricted": s.requiresComment,
	}
}

// paging reads take and skip; GUESS: take defaults to 10.
func paging(r *http.Request) (take, skip int) {
	take, err := strconv.Atoi(queryValue(r, "take"))
	if err != nil || take <= 0 {
		take = 10
	}
	skip, err = strconv.Atoi(queryValue(r, "skip"))
	if err != nil || skip < 0 {
		skip = 0
	}
	return take, skip
}

func page[T any](all []T, take, skip int) map[string]any {
	records := []T{}
	if skip < len(all) {
		records = all[skip:min(len(all), skip+take)]
	}
	return map[string]any{
		"records": records, "total": len(all), "skip": skip, "take": take,
		"hasNext": skip+len(records) < len(all),
	}
}

// queryValue looks a query parameter up case-insensitively, like ASP.NET.
func queryValue(r *http.Request, name string) string {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeHTML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
