package emulator

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/pki"
)

func TestParseSeedValidation(t *testing.T) {
	tests := map[string]struct {
		yaml    string
		wantErr string
	}{
		"ok": {`
users: [{username: a, password: p}]
secrets: [{id: 1, name: n, template: Windows Account, fields: {Machine: m}, viewers: [A]}]`, ""},
		"duplicate id": {`
users: [{username: a, password: p}]
secrets: [{id: 1, name: n, template: t}, {id: 1, name: m, template: t}]`, "duplicate secret id 1"},
		"viewer not a user": {`
users: [{username: a, password: p}]
secrets: [{id: 1, name: n, template: t, viewers: [bob]}]`, `viewer "bob" is not a user`},
		"duplicate user":   {`users: [{username: a, password: p}, {username: A, password: q}]`, `duplicate user "A"`},
		"no password":      {`users: [{username: a}]`, "password is required"},
		"no username":      {`users: [{password: p}]`, "username is required"},
		"bad id":           {`secrets: [{id: 0, name: n, template: t}]`, "id must be positive"},
		"no name":          {`secrets: [{id: 1, template: t}]`, "name is required"},
		"no template":      {`secrets: [{id: 1, name: n}]`, "template is required"},
		"unknown field":    {`secrets: [{id: 1, name: n, template: Windows Account, fields: {domain: x}}]`, `has no field "domain"`},
		"field twice":      {`secrets: [{id: 1, name: n, template: Windows Account, fields: {password: x, Password: y}}]`, "more than once"},
		"same slug":        {`secrets: [{id: 1, name: n, template: t, fields: {host name: x, host-name: y}}]`, "same slug"},
		"unknown key":      {`users: [{username: a, password: p, pasword: q}]`, "unknown field"},
		"wrong type":       {`secrets: [{id: one, name: n, template: t}]`, "expected int"},
		"not yaml":         {"users: [", "seed:"},
		"unknown template": {`secrets: [{id: 1, name: n, template: Whatever, fields: {x: y}}]`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSeed([]byte(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "987654321") {
				t.Fatalf("error quotes a password: %v", err)
			}
		})
	}
}

func TestSeedNumbersBecomeStrings(t *testing.T) {
	s, err := ParseSeed([]byte(`
users: [{username: a, password: 987654321}]
secrets: [{id: 1, name: n, template: t, fields: {pin: 1234}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Users[0].Password != "987654321" || s.Secrets[0].Fields["pin"] != "1234" {
		t.Fatalf("seed: %+v", s)
	}
}

func TestNewPanicsOnInvalidSeed(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New(&Seed{Secrets: []SeedSecret{{ID: 1}}}, Options{})
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	t     *testing.T
	em    *Emulator
	ts    *httptest.Server
	clock *clock
	base  string
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	seed, err := LoadSeed(filepath.Join("testdata", "seed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	em := New(seed, opts)
	ts := httptest.NewServer(em)
	t.Cleanup(ts.Close)
	return &fixture{t: t, em: em, ts: ts, clock: clk, base: ts.URL + em.basePath}
}

type reply struct {
	status int
	ctype  string
	body   map[string]any
	raw    string
}

func (f *fixture) do(method, path, token string, body io.Reader, hdr map[string]string) reply {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func (f *fixture) token(form url.Values, hdr map[string]string) reply {
	f.t.Helper()
	if hdr == nil {
		hdr = map[string]string{}
	}
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	return f.do("POST", "/oauth2/token", "", strings.NewReader(form.Encode()), hdr)
}

func (f *fixture) login(user, pw string) (access, refresh string) {
	f.t.Helper()
	r := f.token(url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}, nil)
	if r.status != 200 {
		f.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	if r.body["token_type"] != "bearer" || r.body["expires_in"] != float64(1200) {
		f.t.Fatalf("token response: %s", r.raw)
	}
	return r.body["access_token"].(string), r.body["refresh_token"].(string)
}

func TestTokenGrants(t *testing.T) {
	f := newFixture(t, Options{})
	pwForm := func(user, pw, domain string) url.Values {
		v := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}
		if domain != "" {
			v.Set("domain", domain)
		}
		return v
	}
	tests := map[string]struct {
		form   url.Values
		hdr    map[string]string
		status int
		errStr string
	}{
		"ok":                  {pwForm("ALICE", "alice-pw", ""), nil, 200, ""},
		"wrong password":      {pwForm("alice", "nope", ""), nil, 400, "invalid_grant"},
		"unknown user":        {pwForm("mallory", "alice-pw", ""), nil, 400, "invalid_grant"},
		"domain for local":    {pwForm("alice", "alice-pw", "CORP"), nil, 400, "invalid_grant"},
		"domain and otp":      {pwForm("carol", "carol-pw", "corp"), map[string]string{"OTP": "123456"}, 200, ""},
		"missing otp":         {pwForm("carol", "carol-pw", "CORP"), nil, 400, "invalid_grant"},
		"missing domain":      {pwForm("carol", "carol-pw", ""), map[string]string{"OTP": "123456"}, 400, "invalid_grant"},
		"unsupported grant":   {url.Values{"grant_type": {"client_credentials"}}, nil, 400, "unsupported_grant_type"},
		"unknown refresh tok": {url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, nil, 400, "invalid_grant"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := f.token(tc.form, tc.hdr)
			if r.status != tc.status || (tc.errStr != "" && r.body["error"] != tc.errStr) {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if tc.status == 200 && r.body["access_token"] == "" {
				t.Fatal("no access token")
			}
		})
	}
}

func TestRefreshSingleUseAndExpiry(t *testing.T) {
	f := newFixture(t, Options{})
	access, refresh := f.login("alice", "alice-pw")
	if r := f.do("GET", "/api/v1/secrets/42", access, nil, nil); r.status != 200 {
		t.Fatalf("get: %d", r.status)
	}
	f.clock.Advance(20 * time.Minute)
	if r := f.do("GET", "/api/v1/secrets/42", access, nil, nil); r.status != 401 || r.body["message"] == nil {
		t.Fatalf("expired token: %d %s", r.status, r.raw)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	r := f.token(form, nil)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if r := f.token(form, nil); r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Fatalf("second use of a refresh token: %d %s", r.status, r.raw)
	}
	if f.em.TokensIssued() != 2 || f.em.Refreshes() != 1 {
		t.Fatalf("issued %d refreshes %d", f.em.TokensIssued(), f.em.Refreshes())
	}

	// Logout revokes the access token and its refresh token.
	access2, refresh2 := r.body["access_token"].(string), r.body["refresh_token"].(string)
	if r := f.do("POST", "/api/v1/oauth-expiration", access2, nil, nil); r.status != 200 {
		t.Fatalf("logout: %d", r.status)
	}
	if r := f.do("GET", "/api/v1/secrets/42", access2, nil, nil); r.status != 401 {
		t.Fatalf("after logout: %d", r.status)
	}
	if r := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh2}}, nil); r.status != 400 {
		t.Fatalf("refresh after logout: %d", r.status)
	}
	for _, h := range []string{"", "Basic abc", "Bearer", "Bearer nope"} {
		req, _ := http.NewRequest("GET", f.base+"/api/v1/secrets/42", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("Authorization %q: %d", h, resp.StatusCode)
		}
	}
}

func TestSecretsFieldsAndTemplates(t *testing.T) {
	f := newFixture(t, Options{})
	alice, _ := f.login("alice", "alice-pw")
	carol := func() string {
		r := f.token(url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-pw"}, "domain": {"CORP"}}, map[string]string{"OTP": "123456"})
		return r.body["access_token"].(string)
	}()

	r := f.do("GET", "/api/v1/secrets/42", alice, nil, nil)
	if r.status != 200 || !strings.HasPrefix(r.ctype, "application/json") {
		t.Fatalf("%d %s", r.status, r.ctype)
	}
	if r.body["secretTemplateId"] != float64(6003) || r.body["secretTemplateName"] != "Windows Account" {
		t.Fatalf("template: %s", r.raw)
	}
	items := r.body["items"].([]any)
	if len(items) != 4 {
		t.Fatalf("items: %v", items)
	}
	pw := items[2].(map[string]any)
	if pw["slug"] != "password" || pw["isPassword"] != true || pw["itemValue"] != "web01-pw" || pw["fieldName"] != "Password" {
		t.Fatalf("password item: %v", pw)
	}
	if notes := items[3].(map[string]any); notes["isNotes"] != true || notes["itemValue"] != "" {
		t.Fatalf("notes item: %v", notes)
	}

	tests := map[string]struct {
		path, token string
		status      int
		want        string
	}{
		"field":              {"/api/v1/secrets/42/fields/username", alice, 200, `"rdptest"`},
		"field any case":     {"/api/v1/secrets/42/fields/PASSWORD", alice, 200, `"web01-pw"`},
		"empty field":        {"/api/v1/secrets/42/fields/notes", alice, 200, `""`},
		"unknown field":      {"/api/v1/secrets/42/fields/nope", alice, 400, "API_FieldNotFound"},
		"forbidden secret":   {"/api/v1/secrets/42", carol, 400, `{"errorCode":"API_AccessDenied","message":"Access denied"}`},
		"unknown secret":     {"/api/v1/secrets/999", carol, 400, `{"errorCode":"API_AccessDenied","message":"Access denied"}`},
		"forbidden field":    {"/api/v1/secrets/42/fields/password", carol, 400, "API_AccessDenied"},
		"AD visible":         {"/api/v1/secrets/43/fields/domain", carol, 200, `"CORP"`},
		"bad id":             {"/api/v1/secrets/abc", alice, 400, "invalid"},
		"unknown route":      {"/api/v1/nothing", alice, 404, "No HTTP resource"},
		"health":             {"/api/v1/healthcheck", "", 200, `{"healthy":true}`},
		"custom template":    {"/api/v1/secrets/50", alice, 200, `"secretTemplateId":7000`},
		"same custom tmpl":   {"/api/v1/secrets/51", alice, 200, `"secretTemplateName":"Network Device"`},
		"next custom tmpl":   {"/api/v1/secrets/52", alice, 200, `"secretTemplateId":7001`},
		"custom field slug":  {"/api/v1/secrets/50/fields/host-name", alice, 200, `"r1"`},
		"custom field names": {"/api/v1/secrets/51", alice, 200, `"fieldName":"Host Name"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := f.do("GET", tc.path, tc.token, nil, nil)
			if r.status != tc.status || !strings.Contains(r.raw, tc.want) {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
		})
	}

	f.em.SetPassword(42, "rotated")
	if r := f.do("GET", "/api/v1/secrets/42/fields/password", alice, nil, nil); r.raw != `"rotated"` {
		t.Fatalf("after SetPassword: %s", r.raw)
	}
	f.em.SetPassword(999, "ignored")
}

func TestSearchPaging(t *testing.T) {
	f := newFixture(t, Options{})
	alice, _ := f.login("alice", "alice-pw")
	connector, _ := f.login("connector", "connector-pw")
	tests := map[string]struct {
		token, query string
		ids          string
		total        float64
		hasNext      bool
	}{
		"all of alice":   {alice, "", "[42 43 50 51 52]", 5, false},
		"take 2":         {alice, "take=2", "[42 43]", 5, true},
		"skip 4":         {alice, "take=2&skip=4", "[52]", 5, false},
		"skip past end":  {alice, "skip=10", "[]", 5, false},
		"text":           {alice, "filter.searchText=ADMIN", "[42 43]", 2, false},
		"param any case": {alice, "Filter.SearchText=router", "[50]", 1, false},
		"connector":      {connector, "", "[42 43]", 2, false},
		"no match":       {connector, "filter.searchText=router", "[]", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := f.do("GET", "/api/v1/secrets?"+tc.query, tc.token, nil, nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			var ids []int
			for _, rec := range r.body["records"].([]any) {
				ids = append(ids, int(rec.(map[string]any)["id"].(float64)))
			}
			if fmt.Sprint(ids) != tc.ids && !(tc.ids == "[]" && len(ids) == 0) {
				t.Fatalf("ids %v, want %s", ids, tc.ids)
			}
			if r.body["total"] != tc.total || r.body["hasNext"] != tc.hasNext {
				t.Fatalf("page: %s", r.raw)
			}
		})
	}
}

func TestViewCommentAndAudits(t *testing.T) {
	f := newFixture(t, Options{})
	tok, _ := f.login("connector", "connector-pw")
	post := func(id int, body string) reply {
		return f.do("POST", fmt.Sprintf("/api/v1/secret-access-requests/secrets/%d/view-comment", id), tok,
			strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
	}
	if r := post(42, `{"Comment":"PascalCase works","TicketNumber":"T-1","TicketSystemId":null}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	f.clock.Advance(time.Minute)
	if r := post(42, `{"comment":"second","ticketNumber":null,"ticketSystemId":null}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	for body, want := range map[string]string{`{"comment":" "}`: "API_CommentRequired", `not json`: "invalid"} {
		if r := post(42, body); r.status != 400 || !strings.Contains(r.raw, want) {
			t.Fatalf("%s: %d %s", body, r.status, r.raw)
		}
	}
	if r := post(50, `{"comment":"x"}`); r.status != 400 || r.body["errorCode"] != "API_AccessDenied" {
		t.Fatalf("forbidden: %d %s", r.status, r.raw)
	}

	rows := f.em.Audits(42)
	if len(rows) != 2 || rows[0].Notes != "PascalCase works" || rows[0].TicketNumber != "T-1" || rows[0].Action != "VIEW" ||
		rows[0].Username != "connector" || !rows[0].DateRecorded.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("audits: %+v", rows)
	}
	r := f.do("GET", "/api/v1/secrets/42/audits?take=1", tok, nil, nil)
	recs := r.body["records"].([]any)
	if r.status != 200 || len(recs) != 1 || r.body["total"] != float64(2) || r.body["hasNext"] != true {
		t.Fatalf("audits page: %s", r.raw)
	}
	if rec := recs[0].(map[string]any); rec["notes"] != "second" || rec["dateRecorded"] != "2026-01-01T00:01:00Z" {
		t.Fatalf("newest first: %v", rec)
	}
	if len(f.em.Audits(43)) != 0 {
		t.Fatal("audits of another secret")
	}
}

func TestModesAndBasePath(t *testing.T) {
	f := newFixture(t, Options{BasePath: "/"})
	if f.base != f.ts.URL {
		t.Fatalf("base = %q", f.base)
	}
	if r := f.do("GET", "/api/v1/healthcheck", "", nil, nil); r.status != 200 {
		t.Fatalf("health: %d", r.status)
	}
	f.em.SetHTMLMode(true)
	if r := f.do("GET", "/api/v1/healthcheck", "", nil, nil); r.status != 200 || !strings.HasPrefix(r.ctype, "text/html") {
		t.Fatalf("html mode: %d %s", r.status, r.ctype)
	}
	f.em.SetHTMLMode(false)
	f.em.SetUnavailable(true)
	if r := f.token(url.Values{"grant_type": {"password"}}, nil); r.status != 503 {
		t.Fatalf("unavailable: %d", r.status)
	}
	f.em.SetUnavailable(false)
	if r := f.do("GET", "/api/v1/healthcheck", "", nil, nil); r.status != 200 {
		t.Fatalf("back: %d", r.status)
	}
}

func TestStartUsesExistingCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("mine")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := Start(nil, Options{}, dir, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.CAFile != "" || srv.CAPEM != nil || !strings.HasPrefix(srv.URL, "https://127.0.0.1:") || !strings.HasSuffix(srv.URL, "/SecretServer") {
		t.Fatalf("server: %+v", srv)
	}
	pool, _ := pki.CertPool(ca.CertPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(pool)}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/api/v1/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := Start(&Seed{Users: []SeedUser{{Username: "x"}}}, Options{}, dir, "127.0.0.1:0"); err == nil {
		t.Fatal("invalid seed accepted")
	}
}

func tlsConfig(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }
