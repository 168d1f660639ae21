package secretserver

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDecodeToken(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantTTL seconds
		wantErr bool
	}{
		"number":          {`{"access_token":"a","token_type":"bearer","expires_in":1200,"refresh_token":"r"}`, 1200, false},
		"string":          {`{"access_token":"a","token_type":"Bearer","expires_in":"1200"}`, 1200, false},
		"float":           {`{"access_token":"a","expires_in":1199.6}`, 1199, false},
		"missing":         {`{"access_token":"a"}`, 0, false},
		"null":            {`{"access_token":"a","expires_in":null}`, 0, false},
		"no token":        {`{"token_type":"bearer","expires_in":1200}`, 0, true},
		"bad expires":     {`{"access_token":"a","expires_in":"soon"}`, 0, true},
		"negative":        {`{"access_token":"a","expires_in":-5}`, 0, true},
		"other type":      {`{"access_token":"a","token_type":"mac"}`, 0, true},
		"not JSON":        {`<html>`, 0, true},
		"empty":           {``, 0, true},
		"token as number": {`{"access_token":123456789}`, 0, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tok, err := decodeToken([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrUnexpectedResponse) {
					t.Fatalf("err = %v, want ErrUnexpectedResponse", err)
				}
				if strings.Contains(err.Error(), "123456789") {
					t.Fatalf("error quotes the input: %v", err)
				}
				return
			}
			if tok.ExpiresIn != tc.wantTTL {
				t.Fatalf("expires_in = %d, want %d", tok.ExpiresIn, tc.wantTTL)
			}
		})
	}
}

func TestDecodeFieldValue(t *testing.T) {
	tests := map[string]struct {
		in, want string
		wantErr  bool
	}{
		"string":  {`"s3cr\u00e9t"`, "s3crét", false},
		"empty":   {`""`, "", false},
		"null":    {`null`, "", false},
		"number":  {` 42 `, "42", false},
		"object":  {`{"a":1}`, "", true},
		"garbage": {`"unterminated`, "", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeFieldValue([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %q, %v; want %q, wantErr %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestStatusError(t *testing.T) {
	tests := map[string]struct {
		status   int
		ctype    string
		body     string
		token    bool
		want     error
		wantCode string
	}{
		"access denied":       {400, "application/json", `{"errorCode":"API_AccessDenied","message":"Access denied"}`, false, ErrAccessDenied, "API_AccessDenied"},
		"other 400":           {400, "application/json", `{"errorCode":"API_Other","message":"x"}`, false, nil, "API_Other"},
		"403":                 {403, "application/json", `{"message":"Forbidden"}`, false, ErrAccessDenied, ""},
		"401":                 {401, "application/json", `{"message":"Authorization has been denied for this request."}`, false, ErrUnauthorized, ""},
		"token 400":           {400, "application/json", `{"error":"invalid_grant"}`, true, ErrUnauthorized, "invalid_grant"},
		"token 400 message":   {400, "application/json; charset=utf-8", `{"message":"Login failed."}`, true, ErrUnauthorized, ""},
		"500":                 {500, "text/html", `<html>`, false, ErrUnavailable, ""},
		"503 json":            {503, "application/json", `{"message":"down"}`, false, ErrUnavailable, ""},
		"302":                 {302, "text/html", ``, false, ErrUnexpectedResponse, ""},
		"404 html":            {404, "text/html", `<html>not found</html>`, false, ErrUnexpectedResponse, ""},
		"404 json":            {404, "application/json", `{"message":"No HTTP resource"}`, false, nil, ""},
		"malformed json body": {400, "application/json", `{"errorCode":`, false, nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ctype}}}
			err := statusError(resp, []byte(tc.body), tc.token)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && err.Unwrap() != nil {
				t.Fatalf("err = %v, want a plain APIError", err)
			}
			if err.Status != tc.status || err.Code != tc.wantCode || !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Fatalf("err = %+v", err)
			}
		})
	}
	long := `{"message":"` + strings.Repeat("x", 5000) + `"}`
	err := statusError(&http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {"application/json"}}}, []byte(long), false)
	if len(err.Error()) > maxMessageLen+50 {
		t.Fatalf("message not shortened: %d bytes", len(err.Error()))
	}
}

func TestResponseLimitsAndRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/SS/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"tok","token_type":"bearer","expires_in":"1200"}`)
	})
	mux.HandleFunc("/SS/api/v1/secrets/1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"`+strings.Repeat("a", maxBodySize)+`"}`)
	})
	mux.HandleFunc("/SS/api/v1/secrets/2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example.com/login", http.StatusFound)
	})
	mux.HandleFunc("/SS/api/v1/secrets/3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":3,"items":[{"slug":"password","itemValue":"p","isPassword":true}]}`)
	})
	ts := httptest.NewTLSServer(mux)
	defer ts.Close()
	pemCert := pemOf(t, ts)

	c, err := NewClient(Config{BaseURL: ts.URL + "/SS/", CABundle: pemCert})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	s := c.WithPassword(Credentials{Username: "u", Password: "p"})
	ctx := context.Background()
	if _, err := s.GetSecret(ctx, 1); !errors.Is(err, ErrUnexpectedResponse) || !strings.Contains(err.Error(), "exceeds 4 MiB") {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := s.GetSecret(ctx, 2); !errors.Is(err, ErrUnexpectedResponse) || !strings.Contains(err.Error(), "elsewhere.example.com") {
		t.Fatalf("redirect: %v", err)
	}
	sec, err := s.GetSecret(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sec.Field("password"); v != "p" {
		t.Fatalf("password = %q", v)
	}
	if s.st.lifetime != 20*time.Minute {
		t.Fatalf("lifetime from string expires_in = %v", s.st.lifetime)
	}
}

func TestRenewDue(t *testing.T) {
	now := time.Now()
	tests := map[string]struct {
		lifetime, left time.Duration
		want           bool
	}{
		"fresh 20m":      {20 * time.Minute, 19 * time.Minute, false},
		"3m left of 20m": {20 * time.Minute, 3 * time.Minute, false},
		"1m left of 20m": {20 * time.Minute, time.Minute, true},
		"40s left of 2m": {2 * time.Minute, 40 * time.Second, false},
		"20s left of 2m": {2 * time.Minute, 20 * time.Second, true},
		"short lifetime": {20 * time.Second, 15 * time.Second, false},
		"expired":        {20 * time.Minute, -time.Second, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := tokenState{access: "a", lifetime: tc.lifetime, expiry: now.Add(tc.left)}
			if got := st.renewDue(now); got != tc.want {
				t.Fatalf("renewDue = %v, want %v", got, tc.want)
			}
		})
	}
	if (&tokenState{access: "a"}).renewDue(now) {
		t.Fatal("unknown expiry must not renew")
	}
}

func TestRedaction(t *testing.T) {
	cr := Credentials{Username: "alice", Password: "pw-SECRET", Domain: "CORP", OTP: "otp-SECRET"}
	sec := Secret{ID: 1, Name: "n", Items: []SecretItem{
		{Slug: "username", ItemValue: "admin"},
		{Slug: "password", ItemValue: "pw-SECRET", IsPassword: true},
		{FieldName: "Notes", ItemValue: "notes-SECRET", IsNotes: true},
	}}
	type wrapper struct {
		C Credentials
		S Secret
	}
	outs := []string{
		fmt.Sprint(cr), fmt.Sprintf("%v %+v %#v %s %q %x %d", cr, cr, cr, cr, cr, cr, cr),
		fmt.Sprintf("%v %+v %#v %s", &cr, &cr, &cr, &cr),
		fmt.Sprintf("%v %+v %#v %s %q", sec, sec, sec, &sec, sec),
		fmt.Sprintf("%v %+v %#v", sec.Items, sec.Items, sec.Items),
		fmt.Sprintf("%v %+v %#v", wrapper{cr, sec}, wrapper{cr, sec}, wrapper{cr, sec}),
		fmt.Sprint(cr.MarshalLog(), sec.MarshalLog()),
	}
	for _, out := range outs {
		if strings.Contains(out, "SECRET") {
			t.Fatalf("leak: %s", out)
		}
	}
	if !strings.Contains(outs[0], "alice") || !strings.Contains(outs[3], "admin") {
		t.Fatalf("too much redacted: %s / %s", outs[0], outs[3])
	}
}

func TestTimestamp(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		"rfc3339":   {`"2026-01-02T03:04:05Z"`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), false},
		"offset":    {`"2026-01-02T04:04:05+01:00"`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), false},
		"no offset": {`"2026-01-02T03:04:05.37"`, time.Date(2026, 1, 2, 3, 4, 5, 370000000, time.UTC), false},
		"null":      {`null`, time.Time{}, false},
		"garbage":   {`"yesterday"`, time.Time{}, true},
		"number":    {`5`, time.Time{}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var rec AuditRecord
			err := decodeJSON([]byte(`{"dateRecorded":`+tc.in+`}`), &rec)
			if (err != nil) != tc.wantErr || !rec.DateRecorded.Equal(tc.want) {
				t.Fatalf("got %v, %v", rec.DateRecorded, err)
			}
		})
	}
}

// FuzzDecodeSecret feeds arbitrary bytes to every response decoder.
func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{
		`{"id":42,"name":"web01","items":[{"itemId":1,"slug":"password","itemValue":"x","isPassword":true}]}`,
		`{"access_token":"a","token_type":"bearer","expires_in":"1200","refresh_token":"r"}`,
		`{"records":[{"id":1,"dateRecorded":"2026-01-02T03:04:05.1"}],"total":1,"hasNext":false}`,
		`{"errorCode":"API_AccessDenied","message":"Access denied"}`,
		`"value"`, `null`, `<html></html>`, ``, `{"expires_in":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sec Secret
		if decodeJSON(b, &sec) == nil {
			_ = sec.String()
			_, _ = sec.Field("password")
			sec.Zero()
		}
		var page SecretPage
		_ = decodeJSON(b, &page)
		var audits AuditPage
		_ = decodeJSON(b, &audits)
		if tok, err := decodeToken(b); err == nil && tok.AccessToken == "" {
			t.Fatal("token without access_token accepted")
		}
		_, _ = decodeFieldValue(b)
		_ = checkJSON("text/html", b)
		_ = checkJSON("", b)
		for _, status := range []int{302, 400, 401, 403, 404, 500} {
			resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}}
			_ = statusError(resp, b, status == 400).Error()
		}
	})
}

func pemOf(t *testing.T, ts *httptest.Server) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}
