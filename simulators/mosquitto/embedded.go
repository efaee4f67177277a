package mosquitto

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math"
	"os"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// embedded is the fallback broker: mochi-mqtt in process. Stopping it closes its listeners and
// drops every client; with Options.Persistence the server itself (sessions, subscriptions,
// queued and retained messages) lives on until it starts listening again.
type embedded struct {
	srv  *mqtt.Server
	tls  *tls.Config
	ids  []string
	open bool
}

func newEmbedded(o Options, log *logBuffer) (*embedded, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	// Like mosquitto with max_queued_messages 0: queue everything for offline sessions.
	caps.MaximumInflight = math.MaxUint16
	caps.MaximumClientWritesPending = 1 << 20
	if o.MaxQueuedMessages > 0 && o.MaxQueuedMessages < math.MaxUint16 {
		caps.MaximumInflight = uint16(o.MaxQueuedMessages)
	}
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: caps,
		Logger:       slog.New(lineHandler{log: log, next: o.Logger.Handler()}),
	})
	if len(o.Users) > 0 {
		var rules auth.AuthRules
		for u, p := range o.Users {
			rules = append(rules, auth.AuthRule{Username: auth.RString(u), Password: auth.RString(p), Allow: true})
		}
		if err := srv.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{Auth: rules}}); err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
	} else if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	e := &embedded{srv: srv}
	if o.TLS != nil {
		cert, err := tls.LoadX509KeyPair(o.TLS.CertFile, o.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: TLS certificate: %w", err)
		}
		e.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.TLS.ClientCAFile != "" {
			pem, err := os.ReadFile(o.TLS.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("embedded broker: client CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("embedded broker: client CA %s holds no PEM certificate", o.TLS.ClientCAFile)
			}
			e.tls.ClientCAs = pool
			e.tls.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return e, nil
}

// listen opens the listeners (again) on the given addresses.
func (e *embedded) listen(tcpAddr, tlsAddr string) error {
	if e.open {
		return nil
	}
	e.ids = e.ids[:0]
	add := func(id, addr string, cfg *tls.Config) error {
		l := listeners.NewTCP(listeners.Config{ID: id, Address: addr, TLSConfig: cfg})
		if err := e.srv.AddListener(l); err != nil {
			return fmt.Errorf("embedded broker listen %s: %w", addr, err)
		}
		e.srv.Listeners.Serve(id, e.srv.EstablishConnection)
		e.ids = append(e.ids, id)
		return nil
	}
	if err := add("tcp", tcpAddr, nil); err != nil {
		return err
	}
	if tlsAddr != "" {
		if err := add("tls", tlsAddr, e.tls); err != nil {
			e.stopListening()
			return err
		}
	}
	e.open = true
	return nil
}

// stopListening closes the listeners and drops their clients, keeping the server's state.
func (e *embedded) stopListening() {
	for _, id := range e.ids {
		e.srv.Listeners.Close(id, func(id string) {
			for _, cl := range e.srv.Clients.GetByListener(id) {
				_ = e.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		})
		e.srv.Listeners.Delete(id)
	}
	e.ids = nil
	e.open = false
}

func (e *embedded) close() {
	if e.open {
		e.stopListening()
	}
	_ = e.srv.Close()
}

// lineHandler copies the embedded broker's log records into the broker log.
type lineHandler struct {
	log   *logBuffer
	next  slog.Handler
	attrs []slog.Attr
}

func (h lineHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h lineHandler) Handle(ctx context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	for _, a := range h.attrs {
		line += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.log.add(line)
	if h.next.Enabled(ctx, slog.LevelDebug) {
		r.Level = slog.LevelDebug
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return lineHandler{log: h.log, next: h.next.WithAttrs(attrs), attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h lineHandler) WithGroup(name string) slog.Handler {
	return lineHandler{log: h.log, next: h.next.WithGroup(name), attrs: h.attrs}
}
