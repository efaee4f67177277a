package poly

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/device/pin"
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

	// changed is set when the endpoint presented a certificate other than the pinned one
	// (nothing was sent to it); answered when a request got an answer, so the certificate the
	// check met was accepted.
	changed  *pin.ChangedError
	answered bool
}

// restClient talks to one endpoint's REST API.
type restClient struct {
	acc     *account
	base    *url.URL
	http    *http.Client
	session string // session_id cookie
	// ver checks the endpoint's certificate (package pin: ca_file, the configured fingerprint,
	// or the pin from the store, pinned on first use); fixed says the pin is the configured
	// one, never replaced from the store.
	ver   *pin.Verifier
	fixed bool
	// answered: a request of the running check got an HTTP answer (its handshake passed).
	answered bool
}

// newRESTClient prepares a client for a's REST API; stored is the pin the store holds.
func newRESTClient(a *account, stored string) (*restClient, error) {
	addr := a.Address
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("endpoint %s: address %q is not host, host:port or an https:// URL", a.Name, a.Address)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	var roots *x509.CertPool
	if a.CAFile != "" {
		if roots, err = pin.LoadRoots(a.CAFile); err != nil {
			return nil, fmt.Errorf("endpoint %s: ca_file: %w", a.Name, err)
		}
	}
	c := &restClient{acc: a, base: u, fixed: roots == nil && a.Fingerprint != ""}
	c.ver = pin.NewVerifier(pin.For(roots, a.Fingerprint, stored), u.Hostname())
	tr := &http.Transport{
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig:     c.ver.TLSConfig(),
	}
	c.http = &http.Client{Transport: tr, Timeout: restTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// usePin takes the pin the store holds now (an operator may have accepted a new certificate
// with `otj-edge endpoints trust`); a configured fingerprint or a CA stays.
func (c *restClient) usePin(stored string) {
	if !c.fixed && !c.ver.CA() && stored != "" {
		c.ver.SetPin(stored)
	}
}

// errRESTAuth is a refused REST login; errRESTForbidden a request refused right after a
// fresh login.
var (
	errRESTAuth      = errors.New("REST login refused: check the endpoint's username and password in the config")
	errRESTForbidden = errors.New("REST requests are refused even after a fresh login: the user needs the admin role on the endpoint")
)

// check runs one health check.
func (c *restClient) check(ctx context.Context) (st restStatus) {
	c.answered = false
	defer func() { st.answered = c.answered }()
	var sys struct {
		Model           string `json:"model"`
		SoftwareVersion string `json:"softwareVersion"`
		SystemName      string `json:"systemName"`
		SerialNumber    string `json:"serialNumber"`
	}
	if err := c.getJSON(ctx, "/rest/system", &sys); err != nil {
		st.Error, st.changed = c.describe(err)
		return st
	}
	st.Model, st.Software, st.Name, st.Serial = sys.Model, sys.SoftwareVersion, sys.SystemName, sys.SerialNumber
	var cal map[string]any
	if err := c.getJSON(ctx, "/rest/calendar", &cal); err != nil {
		st.Error, st.changed = c.describe(err)
		if st.changed == nil {
			st.Error = "calendar status: " + st.Error
		}
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

// describe says what went wrong with a request; a changed certificate comes back as such too.
func (c *restClient) describe(err error) (string, *pin.ChangedError) {
	var cc *pin.ChangedError
	if errors.As(err, &cc) {
		return fmt.Sprintf("certificate changed: the endpoint presents %s, pinned is %s; REST health checks send nothing to it until an operator accepts the new certificate (%s)",
			pin.Colon(cc.Presented), pin.Colon(cc.Pinned), pin.Fix(c.acc.Name, c.fixed)), cc
	}
	return err.Error(), nil
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
		c.answered = true
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
		c.answered = true
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
