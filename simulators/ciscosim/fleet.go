// Package ciscosim simulates a fleet of Cisco codecs as otj-edge meets them: xAPI over
// WebSocket (JSON-RPC 2.0) on wss://…/ws with a self-signed certificate per codec, Basic or
// auth-subprotocol login, users with roles, xGet/xQuery/xSet/xCommand/xFeedback, the Bookings
// commands with schema validation, booking events driven by a clock, firmware profiles (CE
// 9.15, RoomOS 11, RoomOS 26, RoomOS 26 in Teams Rooms mode) and fault injection. One process
// serves N codecs, each on its own loopback port with its own certificate. A plain-HTTP admin
// API on loopback shows each codec's bookings and every Put it received, and injects faults
// (simulators/README.md). Facts and their sources: README "Cisco endpoints".
package ciscosim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Options configure a fleet.
type Options struct {
	Logger *slog.Logger
	// Now is the simulator clock (booking events, Put times, lockouts); default time.Now.
	Now func() time.Time
	// Location is the codecs' time zone for Bookings List day filters; default UTC.
	Location *time.Location
	// TickEvery is how often booking events are evaluated against Now; default 1 s; negative
	// turns the ticker off (tests then call Codec.Tick).
	TickEvery time.Duration
}

// Fleet is a set of simulated codecs and their admin API.
type Fleet struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	codecs map[string]*Codec
	admin  *http.Server
	stop   chan struct{}
	done   sync.WaitGroup
	closed bool
}

// NewFleet starts an empty fleet.
func NewFleet(opts Options) *Fleet {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.TickEvery == 0 {
		opts.TickEvery = time.Second
	}
	f := &Fleet{opts: opts, log: opts.Logger, codecs: map[string]*Codec{}, stop: make(chan struct{})}
	if opts.TickEvery > 0 {
		f.done.Add(1)
		go f.tick(opts.TickEvery)
	}
	return f
}

func (f *Fleet) now() time.Time { return f.opts.Now() }

func (f *Fleet) location() *time.Location { return f.opts.Location }

func (f *Fleet) tick(every time.Duration) {
	defer f.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			for _, c := range f.Codecs() {
				c.Tick()
			}
		}
	}
}

// Add starts a codec on its own loopback listener with a fresh self-signed certificate.
func (f *Fleet) Add(cfg CodecConfig) (*Codec, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errors.New("ciscosim: fleet is closed")
	}
	if _, dup := f.codecs[cfg.Name]; dup {
		f.mu.Unlock()
		return nil, fmt.Errorf("ciscosim: codec %q exists", cfg.Name)
	}
	f.mu.Unlock()
	c, err := newCodec(f, cfg)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.codecs[cfg.Name] = c
	f.mu.Unlock()
	return c, nil
}

// Codec returns a codec by name, or nil.
func (f *Fleet) Codec(name string) *Codec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.codecs[name]
}

// Codecs lists the codecs by name.
func (f *Fleet) Codecs() []*Codec {
	f.mu.Lock()
	out := make([]*Codec, 0, len(f.codecs))
	for _, c := range f.codecs {
		out = append(out, c)
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// ServeAdmin starts the admin API on addr (default 127.0.0.1:0) and returns its base URL
// (http://127.0.0.1:Q).
func (f *Fleet) ServeAdmin(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ciscosim admin: %w", err)
	}
	srv := &http.Server{Handler: f.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	f.mu.Lock()
	f.admin = srv
	f.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.log.Warn("ciscosim admin stopped", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close stops every codec and the admin API.
func (f *Fleet) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	admin := f.admin
	codecs := make([]*Codec, 0, len(f.codecs))
	for _, c := range f.codecs {
		codecs = append(codecs, c)
	}
	f.mu.Unlock()
	close(f.stop)
	if admin != nil {
		_ = admin.Close()
	}
	var wg sync.WaitGroup
	for _, c := range codecs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close()
		}()
	}
	wg.Wait()
	f.done.Wait()
}
