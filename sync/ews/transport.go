package ews

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// The HTTP side of the client: TLS trust (system roots, a private CA file, or a pinned
// server certificate) and the transport each auth method needs.

// tlsConfig trusts the system roots plus caFile, or exactly the certificate pinned by pin
// (hex SHA-256 of its DER, colons allowed): on-prem Exchange often has a private CA, and a
// pin is what an admin can copy from the browser when there is no CA file to hand.
func tlsConfig(caFile, pin string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin != "" {
		want, err := parsePin(pin)
		if err != nil {
			return nil, err
		}
		// The pin replaces chain validation: the server's leaf certificate must be exactly
		// the pinned one (whoever signed it).
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			got := sha256.Sum256(raw[0])
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("the server's certificate (SHA-256 %s) is not the pinned one (pin_sha256 %s): "+
					"if Exchange's certificate was renewed, pin the new one", hex.EncodeToString(got[:]), hex.EncodeToString(want))
			}
			return nil
		}
		return cfg, nil
	}
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
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// parsePin reads a hex SHA-256 fingerprint, with or without colons.
func parsePin(pin string) ([]byte, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(pin)))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("pin_sha256 %q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", pin)
	}
	return b, nil
}

// httpClient builds the client for an integration. NTLM authenticates a TCP connection, so
// HTTP/2 is off (TLSNextProto empty) and connections are kept per host.
func newHTTPClient(in Integration) (*http.Client, error) {
	cfg, err := tlsConfig(in.CAFile, in.PinSHA256)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     cfg,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 0}, nil
}

// authTransport wraps base with what the auth method needs: the NTLM negotiator converts the
// request's basic credentials to an NTLM handshake (never sending them as Basic); Basic sends
// them as they are (TLS only, checked by the client).
func authTransport(auth string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if auth == AuthBasic {
		return base
	}
	if tr, ok := base.(*http.Transport); ok {
		return &ntlmLanes{base: tr}
	}
	return ntlmssp.Negotiator{RoundTripper: base}
}

// ntlmLanes runs each request's NTLM exchange on a lane of its own: a transport with at most
// two connections, held by the request until its answer's body is closed. NTLM authenticates a
// TCP connection (IIS keeps the state per connection), and the negotiator sends its three
// legs as three round trips: on a shared pool, with requests in flight side by side, the
// AUTHENTICATE leg can leave on another connection than the CHALLENGE came on, and IIS
// answers 401 as if the password were wrong. The negotiator holds the first, anonymous
// answer open until the handshake is over, so a lane has two connections: the anonymous try
// on one, NEGOTIATE and AUTHENTICATE on the other (the only one free). A lane keeps its authenticated connection for the
// next request that takes it, so the handshake runs once per connection, as with a browser.
// Lanes are made when all are busy (their number follows the requests in flight plus the open
// notification streams) and idle ones close their connection after IdleConnTimeout.
type ntlmLanes struct {
	base *http.Transport
	mu   sync.Mutex
	free []*http.Transport
}

// laneConns is a lane's connections: the negotiator's anonymous try holds one while the
// handshake runs on the other.
const laneConns = 2

func (l *ntlmLanes) take() *http.Transport {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.free); n > 0 {
		tr := l.free[n-1]
		l.free = l.free[:n-1]
		return tr
	}
	tr := l.base.Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.MaxIdleConns = laneConns, laneConns, laneConns
	return tr
}

func (l *ntlmLanes) put(tr *http.Transport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.free = append(l.free, tr)
}

func (l *ntlmLanes) RoundTrip(req *http.Request) (*http.Response, error) {
	lane := l.take()
	resp, err := ntlmssp.Negotiator{RoundTripper: lane}.RoundTrip(req)
	if err != nil {
		l.put(lane)
		return nil, err
	}
	resp.Body = &laneBody{ReadCloser: resp.Body, release: func() { l.put(lane) }}
	return resp, nil
}

// CloseIdleConnections closes the lanes' idle connections (http.Client.CloseIdleConnections).
func (l *ntlmLanes) CloseIdleConnections() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tr := range l.free {
		tr.CloseIdleConnections()
	}
}

// laneBody gives the lane back once the answer is read and closed (once).
type laneBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *laneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
