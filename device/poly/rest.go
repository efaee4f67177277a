package poly

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// REST health. Poly VideoOS endpoints (G7500, Studio X) answer a small JSON API under /rest:
// log in once (POST /rest/session), then /rest/system (model, firmware) and /rest/calendar
// (the endpoint's own view of its calendaring: ONLINE, ERR_AUTHENTICATION…). Poly warns that
// held-open connections can lock a device up, so requests are short-lived (no keep-alive), one
// session is reused, and checks are minutes apart.
const (
	restEvery   = 5 * time.Minute
	restTimeout = 15 * time.Second
	// restMaxBody caps what is read from a device reply.
	restMaxBody = 1 << 20
)

// restStatus is the latest REST health check of an endpoint (kept in the store row's data).
type restStatus struct {
	Checked  time.Time `json:"checked"`
	Error    string    `json:"error,omitempty"`
	Model    string    `json:"model,omitempty"`
	Software string    `json:"software,omitempty"`
	Name     string    `json:"system_name,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Calendar string    `json:"calendar,omitempty"` // DISABLED, OFFLINE, ONLINE, CONNECTING, ERR_AUTHENTICATION, ERR_UNKNOWN
}

// restClient talks to one endpoint's REST API.
type restClient struct {
	acc     *account
	base    *url.URL
	http    *http.Client
	session string // session_id cookie
	// pin is the certificate fingerprint the endpoint must present (hex), from the config or
	// pinned on first use; seen is what it presented last.
	pin, seen string
	pinFixed  bool // from the config: never replaced
	roots     *x509.CertPool
}

func newRESTClient(a *account, pinned string) (*restClient, error) {
	addr := a.Address
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("endpoint %s: address %q is not host, host:port or an https:// URL", a.Name, a.Address)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &restClient{acc: a, base: u, pin: pinned}
	if a.Fingerprint != "" {
		c.pin, c.pinFixed = normalizeFingerprint(a.Fingerprint), true
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: ca_file: %w", a.Name, err)
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("endpoint %s: ca_file %s holds no PEM certificate", a.Name, a.CAFile)
		}
	}
	host := u.Hostname()
	tr := &http.Transport{
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Verification is done below: against ca_file when given, else by fingerprint
			// (Poly endpoints ship self-signed certificates).
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the endpoint presented no certificate")
				}
				leaf := cs.PeerCertificates[0]
				sum := sha256.Sum256(leaf.Raw)
				fp := hex.EncodeToString(sum[:])
				c.seen = fp
				if c.roots != nil {
					inter := x509.NewCertPool()
					for _, ic := range cs.PeerCertificates[1:] {
						inter.AddCert(ic)
					}
					_, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, DNSName: host})
					return err
				}
				if c.pin == "" {
					c.pin = fp // pinned on first use; saved with the health result
					return nil
				}
				if fp != c.pin {
					return &certChangedError{want: c.pin, got: fp}
				}
				return nil
			},
		},
	}
	c.http = &http.Client{Transport: tr, Timeout: restTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

type certChangedError struct{ want, got string }

func (e *certChangedError) Error() string {
	return fmt.Sprintf("the endpoint's certificate changed (pinned SHA-256 %s, now %s)", e.want, e.got)
}

func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

// errRESTAuth is a refused REST login; errRESTForbidden a request refused right after a
// fresh login.
var (
	errRESTAuth      = errors.New("REST login refused: check the endpoint's username and password in the config")
	errRESTForbidden = errors.New("REST requests are refused even after a fresh login: the user needs the admin role on the endpoint")
)

// check runs one health check.
func (c *restClient) check(ctx context.Context) restStatus {
	var st restStatus
	var sys struct {
		Model           string `json:"model"`
		SoftwareVersion string `json:"softwareVersion"`
		SystemName      string `json:"systemName"`
		SerialNumber    string `json:"serialNumber"`
	}
	if err := c.getJSON(ctx, "/rest/system", &sys); err != nil {
		st.Error = describeRESTErr(err)
		return st
	}
	st.Model, st.Software, st.Name, st.Serial = sys.Model, sys.SoftwareVersion, sys.SystemName, sys.SerialNumber
	var cal map[string]any
	if err := c.getJSON(ctx, "/rest/calendar", &cal); err != nil {
		st.Error = "calendar status: " + describeRESTErr(err)
		return st
	}
	for _, k := range []string{"status", "Status", "state"} { // the key varies by firmware
		if v, ok := cal[k].(string); ok {
			st.Calendar = strings.ToUpper(v)
			break
		}
	}
	return st
}

func describeRESTErr(err error) string {
	var cc *certChangedError
	switch {
	case errors.As(err, &cc):
		return cc.Error() + "; if the device was replaced or reset, set fingerprint: " + cc.got + " on the endpoint"
	}
	return err.Error()
}

// getJSON GETs a path with the session, logging in (again) when needed.
func (c *restClient) getJSON(ctx context.Context, path string, out any) error {
	for attempt := 0; attempt < 2; attempt++ {
		if c.session == "" {
			if err := c.login(ctx); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: "session_id", Value: c.session})
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, unwrapURLErr(err))
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, restMaxBody))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			c.session = "" // expired or the device rebooted: log in again once
			continue
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("GET %s: the reply is not the JSON expected: %w", path, err)
		}
		return nil
	}
	return errRESTForbidden
}

// login opens a session: POST /rest/session (VideoOS 3.x), or /rest/current/session (newer
// firmware) when the first is not there.
func (c *restClient) login(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"user": c.acc.AdminUsername, "password": c.acc.AdminPassword.Value()})
	for _, path := range []string{"/rest/session", "/rest/current/session"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("REST login: %w", unwrapURLErr(err))
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, restMaxBody))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNotFound:
			continue
		case http.StatusUnauthorized, http.StatusForbidden:
			return errRESTAuth
		case http.StatusOK, http.StatusCreated:
		default:
			return fmt.Errorf("REST login: HTTP %d", resp.StatusCode)
		}
		var r struct {
			Success   *bool  `json:"success"`
			SessionID string `json:"sessionId"`
		}
		_ = json.Unmarshal(data, &r)
		if r.Success != nil && !*r.Success {
			return errRESTAuth
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "session_id" {
				r.SessionID = ck.Value
			}
		}
		if r.SessionID == "" {
			return errors.New("REST login: the endpoint gave no session")
		}
		c.session = r.SessionID
		return nil
	}
	return errors.New("REST login: the endpoint has neither /rest/session nor /rest/current/session (not a VideoOS endpoint?)")
}

func (c *restClient) url(path string) string {
	u := *c.base
	u.Path += path
	return u.String()
}

// unwrapURLErr drops the url.Error wrapper, whose text repeats the URL.
func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// restRecheckMin is the least time between two REST checks of one endpoint.
const restRecheckMin = 20 * time.Second

// restLoop checks one endpoint's REST health now and every restEvery until ctx ends, and
// early (at most every restRecheckMin) when wake says the endpoint polls while its calendar
// was last seen offline.
func (s *Service) restLoop(ctx context.Context, a *account, wake <-chan struct{}) {
	e, _, err := s.st.Endpoint(ctx, a.Name)
	if err != nil {
		s.log.Warn("poly REST health: read endpoint", "endpoint", a.Name, "err", err)
	}
	c, err := newRESTClient(a, e.CertSHA256)
	if err != nil {
		s.setREST(ctx, a, nil, restStatus{Checked: s.clock.Now(), Error: err.Error()})
		return
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*restTimeout)
		st := c.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		st.Checked = s.clock.Now()
		s.setREST(ctx, a, c, st)
		t := s.clock.NewTimer(restEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-wake:
			t.Stop()
			if !clock.Sleep(s.clock, restRecheckMin, ctx.Done()) {
				return
			}
		}
	}
}

// setREST records a REST health result: the endpoint row (model, firmware, pin, data), health,
// and an event when the state changes.
func (s *Service) setREST(ctx context.Context, a *account, c *restClient, st restStatus) {
	s.pollMu.Lock()
	prev := s.rest[a.Name]
	s.rest[a.Name] = &st
	s.pollMu.Unlock()
	s.reportHealth(a)

	wasBad := prev != nil && (prev.Error != "" || (prev.Calendar != "" && prev.Calendar != "ONLINE"))
	bad := st.Error != "" || (st.Calendar != "" && st.Calendar != "ONLINE")
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		e, err := s.endpointRow(tx, a)
		if err != nil {
			return err
		}
		if st.Model != "" {
			e.Product, e.Software = st.Model, st.Software
		}
		if c != nil {
			if c.pin != "" && c.roots == nil {
				e.CertSHA256 = c.pin
			}
			e.SeenSHA256 = ""
			if c.seen != "" && c.seen != c.pin && c.roots == nil {
				e.SeenSHA256 = c.seen
			}
		}
		e.Data = marshalData(polyData{REST: &st})
		if err := tx.PutEndpoint(e); err != nil {
			return err
		}
		switch {
		case bad && (!wasBad || prev == nil || prev.Error != st.Error || prev.Calendar != st.Calendar):
			msg := st.Error
			if msg == "" {
				msg = "the endpoint reports its calendar as " + st.Calendar
			}
			return tx.Emit(store.Event{Kind: "endpoint.health", Level: "warn", Room: a.room, Endpoint: a.Name,
				Message: a.Name + ": " + msg, Data: map[string]any{"calendar": st.Calendar, "error": st.Error}})
		case !bad && wasBad:
			return tx.Emit(store.Event{Kind: "endpoint.health", Level: "info", Room: a.room, Endpoint: a.Name,
				Message: a.Name + ": REST health is fine again; calendar " + st.Calendar, Data: map[string]any{"calendar": st.Calendar}})
		}
		return nil
	})
	if err != nil {
		s.log.Warn("poly REST health: record", "endpoint", a.Name, "err", err)
	}
}

// marshalData encodes the endpoint's driver data.
func marshalData(d polyData) json.RawMessage {
	b, _ := json.Marshal(d)
	return b
}
