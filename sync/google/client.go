package google

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	goauth "golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// The Google side of the source: Google's own Go libraries, pointed at the configured
// endpoint the way a regional endpoint or a simulator is reached (research B1): the JWT
// bearer flow of golang.org/x/oauth2/google (the key file's token_uri, Subject for
// domain-wide delegation), and calendar/v3 with option.WithEndpoint and option.WithHTTPClient
// (which takes precedence over every other option, so the client carries the tokens).

// keyInfo is what the source shows of a service account key: never the private key.
type keyInfo struct {
	email    string // client_email
	clientID string // client_id: what the admin console's domain-wide delegation page takes
	tokenURL string // token_uri
}

// parseKey reads a service account key file's content.
func parseKey(key []byte, scopes []string, subject string) (*jwt.Config, keyInfo, error) {
	var f struct {
		Type     string `json:"type"`
		Email    string `json:"client_email"`
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(key, &f); err != nil {
		return nil, keyInfo{}, fmt.Errorf("the service account key is not JSON (download a JSON key in the Cloud console: IAM & Admin → Service accounts → Keys)")
	}
	if f.Type != "service_account" {
		return nil, keyInfo{}, fmt.Errorf("the key file is of type %q, not a service account key (\"type\": \"service_account\")", f.Type)
	}
	cfg, err := goauth.JWTConfigFromJSON(key, scopes...)
	if err != nil {
		return nil, keyInfo{}, fmt.Errorf("the service account key is not usable: %w", err)
	}
	cfg.Subject = subject
	return cfg, keyInfo{email: f.Email, clientID: f.ClientID, tokenURL: cfg.TokenURL}, nil
}

// newHTTPClient is the transport before authorization: system roots plus caFile.
func newHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// NormalizeEndpoint checks a Calendar API base URL and gives it the form calendar/v3 joins
// paths to: https://host/calendar/v3/ (a bare host gets Google's service path).
func NormalizeEndpoint(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return DefaultEndpoint, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("endpoint %q is not a URL such as %s", raw, DefaultEndpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("endpoint %q must be a plain base URL (no user, query or fragment)", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/calendar/v3/"
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// client is one integration's Calendar API client; every request passes admit (the daily
// budget) and holds a slot (MaxInFlight).
type client struct {
	svc    *calendar.Service
	key    keyInfo
	admit  func(n int) error
	slots  chan struct{}
	tokens *tokens
}

// tokens caches the service account's access token and can drop it: Google may refuse a token
// before the expiry it announced (revoked, the key deleted, a clock jump), and x/oauth2 would
// otherwise send it until that expiry.
type tokens struct {
	mu  sync.Mutex
	new func() oauth2.TokenSource
	ts  oauth2.TokenSource
}

func (t *tokens) Token() (*oauth2.Token, error) {
	t.mu.Lock()
	if t.ts == nil {
		t.ts = t.new()
	}
	ts := t.ts
	t.mu.Unlock()
	return ts.Token()
}

// drop makes the next request ask for a new token.
func (t *tokens) drop() {
	t.mu.Lock()
	t.ts = nil
	t.mu.Unlock()
}

// newClient builds the Calendar service. Tokens are fetched lazily, with base (so the token
// endpoint is trusted like the API), and cached until they expire.
func newClient(in Integration, base *http.Client, admit func(int) error, slots chan struct{}) (*client, error) {
	cfg, info, err := parseKey(in.ServiceAccountKey, in.Scopes, in.Subject)
	if err != nil {
		return nil, err
	}
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, base)
	tk := &tokens{new: func() oauth2.TokenSource { return cfg.TokenSource(tokenCtx) }}
	hc := &http.Client{Transport: &oauth2.Transport{Source: tk, Base: base.Transport}, Timeout: base.Timeout}
	svc, err := calendar.NewService(context.Background(), option.WithEndpoint(in.Endpoint), option.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("calendar client: %w", err)
	}
	return &client{svc: svc, key: info, admit: admit, slots: slots, tokens: tk}, nil
}

// listQuery is one events.list request. With a syncToken only the parameters Google allows
// with it are sent (singleEvents and maxResults, the same as the full read's); timeMin and
// timeMax bound only the full read.
type listQuery struct {
	calendarID string
	syncToken  string
	ws, we     time.Time
	pageToken  string
	pageSize   int
}

// call runs one request fn: it holds a slot (MaxInFlight) and passes the daily budget; a 401
// (a token Google no longer accepts) gets one retry with a new token (a second 401 is the
// answer: auth_failed).
func (c *client) call(ctx context.Context, fn func() error) error {
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for try := 0; ; try++ {
		if c.admit != nil {
			if err := c.admit(1); err != nil {
				return err
			}
		}
		err := fn()
		if try == 0 && unauthorized(err) {
			c.tokens.drop()
			continue
		}
		return err
	}
}

// list sends one events.list.
func (c *client) list(ctx context.Context, q listQuery) (*calendar.Events, error) {
	var res *calendar.Events
	err := c.call(ctx, func() error {
		var err error
		res, err = c.listOnce(ctx, q)
		return err
	})
	return res, err
}

// unauthorized reports Google's 401 (an access token refused).
func unauthorized(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusUnauthorized
}

// listOnce sends one events.list.
func (c *client) listOnce(ctx context.Context, q listQuery) (*calendar.Events, error) {
	call := c.svc.Events.List(q.calendarID).SingleEvents(true).MaxResults(int64(q.pageSize)).Context(ctx)
	if q.syncToken != "" {
		call = call.SyncToken(q.syncToken)
	} else {
		call = call.TimeMin(q.ws.UTC().Format(time.RFC3339)).TimeMax(q.we.UTC().Format(time.RFC3339))
	}
	if q.pageToken != "" {
		call = call.PageToken(q.pageToken)
	}
	res, err := call.Do(googleapi.QuotaUser(QuotaUser(q.calendarID)))
	if err != nil {
		return nil, fmt.Errorf("events.list %s: %w", q.calendarID, err)
	}
	return res, nil
}

// errBudget refuses a request over the daily budget.
var errBudget = errors.New("the daily Calendar API request budget (max_requests_per_day) is used up")

// QuotaUser is the quotaUser a room's requests carry. Google counts its per-user rate limit
// (600 requests a minute) per impersonated user, so with domain-wide delegation every room of
// a site would share the subject's minute: a 1,000-room cold sync needs more than 1,000
// requests at once. Google documents quotaUser for a server acting for many users: the
// limit is then counted per room. It must be at most 40 characters (a resource calendar id
// is 55), so it is a digest of the calendar id: stable, and it names no room.
func QuotaUser(calendarID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(calendarID)))
	return "otj-room-" + hex.EncodeToString(sum[:12])
}
