package cisco

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/otj-edge/otj-edge/device/pin"
)

// AuthStyle is how the credentials travel on the WebSocket upgrade.
type AuthStyle int

// Auth styles: the Basic header (pyxows, CSxAPI) or the auth-<base64url> subprotocol
// (jsxapi; what browsers must use). Dial tries the header first and falls back to the
// subprotocol only when the codec answers 401 (it saw no credentials), never after a 403.
const (
	AuthHeader AuthStyle = iota
	AuthSubprotocol
)

func (a AuthStyle) String() string {
	if a == AuthSubprotocol {
		return "subprotocol"
	}
	return "header"
}

// TLSPolicy says how a codec's certificate is trusted (package pin's Policy: Roots verifies
// against a CA, Pin is the expected SHA-256, empty for trust on first use).
type TLSPolicy = pin.Policy

// DialOptions configure one connection.
type DialOptions struct {
	URL      string // wss://host[:port]/ws
	Username string
	Password string
	TLS      TLSPolicy
	// Auth is the style to try first (the one that worked last time).
	Auth AuthStyle
	// HandshakeTimeout bounds TCP+TLS+upgrade (default 10 s).
	HandshakeTimeout time.Duration
	// KeyExchange, when set, is the only TLS key exchange group offered: the one this codec
	// chose last time (Conn.KeyExchange). Go offers the post-quantum hybrid X25519MLKEM768
	// besides X25519 by default, and making its key share is a third of a dial's CPU, wasted
	// on a codec that answers with X25519. When the codec refuses the group (a TLS alert,
	// before any credential is sent), Dial tries once more with the defaults.
	KeyExchange tls.CurveID
	Logger      *slog.Logger
}

// HandshakeError is an upgrade answered with an HTTP status instead of 101.
type HandshakeError struct {
	Status int
	Body   string
}

func (e *HandshakeError) Error() string {
	switch e.Status {
	case http.StatusForbidden:
		return "wrong username or password (HTTP 403)"
	case http.StatusUnauthorized:
		return "the codec saw no credentials (HTTP 401)"
	case http.StatusBadGateway:
		return "the codec is restarting (HTTP 502)"
	case http.StatusServiceUnavailable:
		return "the codec refused the connection: connection rate or session limit (HTTP 503)"
	case http.StatusNotFound:
		return "the codec does not offer xAPI over WebSocket (HTTP 404): set NetworkServices Websocket to FollowHTTPService (CE 9.7 or later)"
	}
	return fmt.Sprintf("WebSocket upgrade refused with HTTP %d: NetworkServices Websocket may need enabling", e.Status)
}

// CertChangedError: the codec presented a certificate other than the pinned one. No
// credentials were sent. CertUntrustedError: verification against the configured CA failed.
// Both are package pin's, shared by every driver.
type (
	CertChangedError   = pin.ChangedError
	CertUntrustedError = pin.UntrustedError
)

// RPCError is a JSON-RPC error answer.
type RPCError struct {
	Code    int
	Message string
	Cause   int // data.Cause of command errors (code 1), 0 when absent
}

func (e *RPCError) Error() string {
	if e.Cause != 0 {
		return fmt.Sprintf("xAPI error %d: %s (cause %d)", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("xAPI error %d: %s", e.Code, e.Message)
}

// JSON-RPC error codes the driver acts on.
const (
	CodeMethodNotFound = -32601
	CodePermission     = -31999
	CodeNotReady       = -31997
	CodeCommandError   = 1
)

// IsRPC reports whether err is an RPC error with the given code.
func IsRPC(err error, code int) bool {
	var re *RPCError
	return errors.As(err, &re) && re.Code == code
}

// Feedback is one xFeedback/Event notification.
type Feedback struct {
	SubID int
	// Root is "Event", "Status" or "Configuration"; Body is the object under it.
	Root string
	Body map[string]any
}

// Conn is one xAPI WebSocket connection: requests matched to answers by id (answers arrive
// in any order, with feedback in between), a feedback stream, keep-alive pings.
type Conn struct {
	ws          *websocket.Conn
	log         *slog.Logger
	fingerprint string
	auth        AuthStyle
	kex         tls.CurveID // the key exchange the handshake used

	wmu sync.Mutex

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan rpcAnswer
	err     error

	// Feedback waits in a queue that grows only while notifications are waiting (a big
	// channel per connection would cost memory at a thousand codecs).
	fbReady  chan struct{}
	fbQueue  []json.RawMessage // as received; decoded by TakeFeedback
	notify   func()            // see Notify
	done     chan struct{}
	exited   chan struct{} // ended, and nothing reads any more (finish)
	closeOne sync.Once

	finishOnce sync.Once
	pingSeq    uint64      // keep-alive pings sent; the n-th carries pingPayload(n) (under mu)
	pongSeq    uint64      // the latest of them answered (under mu)
	pongTimer  *time.Timer // checks that the latest ping is answered in time

	// Polled reading (poll_linux.go); fr is nil when a reader goroutine reads (readLoop).
	fr      *frameReader
	nb      *nbConn
	fd      int
	poller  *poller
	running bool // a drain goroutine runs (under mu)
	again   bool // the socket became readable while it ran (under mu)
}

type rpcAnswer struct {
	result json.RawMessage
	err    error
}

// ErrClosed is returned for calls on a closed connection.
var ErrClosed = errors.New("xAPI connection closed")

// WebSocketURL turns a configured address (host, host:port, https:// or wss:// URL) into the
// codec's xAPI WebSocket URL.
func WebSocketURL(address string) (string, error) {
	a := strings.TrimSpace(address)
	if a == "" {
		return "", errors.New("empty address")
	}
	if !strings.Contains(a, "://") {
		a = "wss://" + a
	}
	u, err := url.Parse(a)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("address %q is not a host, host:port or URL", address)
	}
	switch u.Scheme {
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("address %q: scheme must be wss or https", address)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	return u.String(), nil
}

// Fingerprints: package pin's helpers, under the names this package's callers use.
var (
	// Fingerprint is the SHA-256 of a DER certificate in lower-case hex.
	Fingerprint = pin.Fingerprint
	// NormalizeFingerprint accepts hex with or without colons, any case.
	NormalizeFingerprint = pin.Normalize
	// ColonFingerprint formats a fingerprint as AB:CD:… (how codecs' web pages show it).
	ColonFingerprint = pin.Colon
	// ShortFingerprint is the first 8 bytes, for messages.
	ShortFingerprint = pin.Short
)

// Dial connects and authenticates. On a 401 with the header style it retries once with the
// subprotocol; it never retries after a 403 (codecs lock accounts after a few failures).
func Dial(ctx context.Context, o DialOptions) (*Conn, error) {
	c, err := dialAuth(ctx, o)
	if o.KeyExchange != 0 && tlsRefused(err) {
		o.KeyExchange = 0
		c, err = dialAuth(ctx, o)
	}
	return c, err
}

// tlsRefused reports whether the codec ended the TLS handshake with an alert (crypto/tls
// reports a received alert as a "remote error").
func tlsRefused(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func dialAuth(ctx context.Context, o DialOptions) (*Conn, error) {
	c, err := dialOnce(ctx, o, o.Auth)
	var he *HandshakeError
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
		other := AuthSubprotocol
		if o.Auth == AuthSubprotocol {
			other = AuthHeader
		}
		c, err = dialOnce(ctx, o, other)
	}
	return c, err
}

func dialOnce(ctx context.Context, o DialOptions, style AuthStyle) (*Conn, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	host := ""
	if u, err := url.Parse(o.URL); err == nil {
		host = u.Hostname()
	}
	// Codecs ship self-signed certificates: the leaf is pinned by its SHA-256 (trust on first
	// use when no pin exists yet), or verified against ca_file; package pin does either.
	verifier := pin.NewVerifier(o.TLS, host)
	tlsCfg := verifier.TLSConfig()
	if o.KeyExchange != 0 {
		tlsCfg.CurvePreferences = []tls.CurveID{o.KeyExchange}
	}
	d := websocket.Dialer{
		TLSClientConfig:  tlsCfg,
		HandshakeTimeout: o.HandshakeTimeout,
		// Kept for the connection's life: the read buffer's size is only how much of a
		// message one read takes from TLS (which holds the record anyway), so it is small
		// (gorilla's floor, a control frame, is 125). Write buffers are lent per message.
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: 2048,
		WriteBufferPool: writePool,
	}
	var nb *nbConn // the socket under TLS, made non-blocking once connected (poll_linux.go)
	nd := &net.Dialer{Timeout: o.HandshakeTimeout, KeepAlive: 30 * time.Second}
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if nb = wrapConn(conn); nb != nil {
			return nb, nil
		}
		return conn, nil
	}
	hdr := http.Header{}
	userPass := o.Username + ":" + o.Password
	if style == AuthSubprotocol {
		d.Subprotocols = []string{"auth-" + base64.RawURLEncoding.EncodeToString([]byte(userPass))}
	} else {
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(userPass)))
	}
	ws, resp, err := d.DialContext(ctx, o.URL, hdr)
	if err != nil {
		if vErr := verifier.Err(); vErr != nil {
			return nil, vErr
		}
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, &HandshakeError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
		}
		return nil, scrub(err, o.Password)
	}
	var kex tls.CurveID
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		kex = tc.ConnectionState().CurveID
	}
	c := &Conn{
		ws:          ws,
		log:         o.Logger,
		fingerprint: verifier.Presented(),
		auth:        style,
		kex:         kex,
		pending:     map[string]chan rpcAnswer{},
		fbReady:     make(chan struct{}, 1),
		done:        make(chan struct{}),
		exited:      make(chan struct{}),
	}
	c.start(nb)
	return c, nil
}

var writePool = &sync.Pool{}

// readBufferSize is each connection's WebSocket read buffer (issue 22: 1,024 before).
const readBufferSize = 256

// scrub keeps a password out of an error text (it never should be there; this is a guard).
func scrub(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// Fingerprint is the SHA-256 of the certificate the codec presented.
func (c *Conn) Fingerprint() string { return c.fingerprint }

// KeyExchange is the TLS key exchange group the codec chose (0 when unknown).
func (c *Conn) KeyExchange() tls.CurveID { return c.kex }

// Auth is the style that authenticated this connection.
func (c *Conn) Auth() AuthStyle { return c.auth }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Call sends a request and waits for its answer (or ctx, or the connection's end). The
// result, when out is not nil, is decoded into out.
func (c *Conn) Call(ctx context.Context, method string, params any, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	ch := make(chan rpcAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.nextID++
	id := c.nextID
	key := strconv.FormatUint(id, 10)
	c.pending[key] = ch
	c.mu.Unlock()
	req := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	if err != nil {
		c.forget(key)
		return fmt.Errorf("%s: %w", method, err)
	}
	c.wmu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err = c.ws.WriteMessage(websocket.TextMessage, b)
	c.wmu.Unlock()
	if err != nil {
		c.forget(key)
		c.fail(fmt.Errorf("send: %w", err))
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case a := <-ch:
		if a.err != nil {
			return a.err
		}
		if out != nil && len(a.result) > 0 {
			if err := json.Unmarshal(a.result, out); err != nil {
				return fmt.Errorf("%s: unexpected answer: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.forget(key)
		return fmt.Errorf("%s: no answer: %w", method, ctx.Err())
	}
}

func (c *Conn) forget(key string) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

// Get is xGet: the value at path.
func (c *Conn) Get(ctx context.Context, out any, path ...any) error {
	return c.Call(ctx, "xGet", map[string]any{"Path": path}, out)
}

// Subscribe registers feedback for a path (Event, Status or Configuration root) and returns
// the subscription id.
func (c *Conn) Subscribe(ctx context.Context, notifyCurrent bool, query ...any) (int, error) {
	var res struct {
		ID json.RawMessage `json:"Id"`
	}
	if err := c.Call(ctx, "xFeedback/Subscribe", map[string]any{"Query": query, "NotifyCurrentValue": notifyCurrent}, &res); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.Trim(string(res.ID), `"`))
	if err != nil {
		return 0, fmt.Errorf("subscribe: unexpected subscription id %s", res.ID)
	}
	return n, nil
}
