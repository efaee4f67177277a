// Package telemetry connects a site to the central MQTT broker (MQTT 3.1.1 with
// paho.mqtt.golang) and reports under otj/v1/<site>/: a retained status with a retained
// "offline" last will, a retained state per room, events and metrics from the store's outbox,
// and answers to commands.
//
// The SQLite outbox is the only durable queue. Events are queued in the same transaction as the
// state change that causes them (store.Tx.Emit); one publisher drains the outbox in order and
// deletes a row only after the broker's PUBACK; consumers drop duplicates by the message id
// (QoS 1 is at-least-once).
//
// Each connection is a fresh paho client (persistent session, CleanSession false), and this
// package reconnects with backoff and jitter. paho's own auto-reconnect is not used on purpose:
// after a reconnect it resends the in-flight messages from its in-memory store and completes the
// original publish tokens as if they had been acknowledged, so a token would no longer prove a
// PUBACK; and a message the broker answers by disconnecting (over its maximum packet size) would
// be resent first on every reconnect, forever. With one client per connection a completed token
// is a PUBACK, and the outbox alone decides what is sent again.
//
// Other pitfalls avoided: a stable client id; QoS 1 everywhere
// (QoS 0 is dropped while reconnecting); SetOrderMatters(false) and no publishing or waiting in
// paho callbacks (commands go to a bounded queue served by workers); the message handler is set
// before Connect (the broker delivers queued commands at once) and the command subscription is
// made on every connect; start-up never waits for the broker.
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/store"
)

// HealthComponent is the health tracker component telemetry reports as.
const HealthComponent = "mqtt"

// Options configure telemetry. Store, Site and MQTT.Broker are required.
type Options struct {
	Site      string
	Version   string
	StartedAt time.Time // the agent's start; default: when New is called
	MQTT      config.MQTT
	Store     *store.Store
	Logger    *slog.Logger
	Clock     clock.Clock
	Health    *health.Tracker
	// Metrics returns the figures other parts own (the calendar sources' requests and budget
	// under "sources" as []SourceMetrics, pushes, push latency, endpoints up/down…); they are
	// published at the top level of each metrics message. It must be quick and safe to call
	// from another goroutine. May be nil.
	Metrics func() map[string]any
	// Commands carries out commands from the broker; nil answers every command but status
	// with an error.
	Commands Commands
	// Counts returns the configured rooms and endpoints for the status; default: counted in
	// the store.
	Counts func() (rooms, endpoints int)
	// Sources returns the configured calendar sources for the status, like Counts: quick,
	// safe from another goroutine. nil leaves them out of the status.
	Sources func() []StatusSource
	// Migration makes the shadow check's report for the retained migration topic
	// (migration.go); nil publishes nothing there.
	Migration func(ctx context.Context) (migrate.Report, error)
	// Location is the time zone "today" means for rooms' meeting counts; default time.Local.
	Location *time.Location
	// Timing tunes intervals; zero values take the defaults (tests shorten them).
	Timing Timing
	// CommandLimits bound the sync and push commands; zero values take the defaults.
	CommandLimits CommandLimits
}

// Timing are the intervals and bounds telemetry works with.
type Timing struct {
	ReconnectMin      time.Duration // first delay before connecting again; default 1s
	ReconnectMax      time.Duration // cap of the reconnect backoff; default 1m
	ConnectTimeout    time.Duration // per connection attempt; default 30s
	PublishTimeout    time.Duration // waiting for a PUBACK; default 30s
	StatusMinInterval time.Duration // between status updates on health changes; default 5s
	RoomMinInterval   time.Duration // between room state updates; default 5s
	RoomRefresh       time.Duration // rebuild every room (meetings today, next meeting); default 5m
	CommandTimeout    time.Duration // per command; default 5m
	ShutdownTimeout   time.Duration // for the offline status at shutdown; default 3s
}

func (t *Timing) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReconnectMin, time.Second)
	def(&t.ReconnectMax, time.Minute)
	def(&t.ConnectTimeout, 30*time.Second)
	def(&t.PublishTimeout, 30*time.Second)
	def(&t.StatusMinInterval, 5*time.Second)
	def(&t.RoomMinInterval, 5*time.Second)
	def(&t.RoomRefresh, 5*time.Minute)
	def(&t.CommandTimeout, 5*time.Minute)
	def(&t.ShutdownTimeout, 3*time.Second)
	t.ReconnectMax = max(t.ReconnectMax, t.ReconnectMin)
}

// Tuning that is not worth an option.
const (
	outboxBatch      = 256 // messages in flight per outbox round
	maxAttempts      = 10  // unacknowledged rounds at the head of the queue before a message is discarded
	commandQueueSize = 32  // commands waiting for a worker
	commandWorkers   = 2
	rejectQueueSize  = 256 // commands waiting to be answered "busy"
	// stableLink is how long a connection must last for the reconnect backoff to start over.
	stableLink = 30 * time.Second
)

// Telemetry is the site's link to the central broker.
type Telemetry struct {
	opts   Options
	log    *slog.Logger
	clock  clock.Clock
	health *health.Tracker
	store  *store.Store
	prefix string // otj/v1/<site>/
	broker string // for messages (no credentials)

	running  atomic.Bool
	clientID atomic.Pointer[string]
	link     atomic.Pointer[link] // the connection, nil while there is none

	pubWake   chan struct{} // the outbox publisher: a link came up
	stateWake chan struct{} // the state loop: a link came up or went down
	commands  chan inbound
	rejects   chan inbound

	connErrMu   sync.Mutex
	connErr     string
	connErrLogs time.Time

	stats struct {
		connects, published, retries, roomPublishes, commands, rejected atomic.Int64
		tooLarge, coalesced, rateLimited                                atomic.Int64
	}
	recent recentCommands
	admit  *admission
}

// link is one connection: its own paho client, closed for good when the connection drops.
type link struct {
	cli   paho.Client
	since time.Time
	lost  chan struct{} // closed when the connection dropped
	once  sync.Once
	why   error
}

func (l *link) markLost(err error) {
	l.once.Do(func() {
		l.why = err
		close(l.lost)
	})
}

func (l *link) up() bool {
	select {
	case <-l.lost:
		return false
	default:
		return true
	}
}

// New prepares telemetry; nothing connects until Run.
func New(opts Options) (*Telemetry, error) {
	if opts.Store == nil {
		return nil, errors.New("telemetry: no store")
	}
	if opts.Site == "" {
		return nil, errors.New("telemetry: no site")
	}
	if !opts.MQTT.Enabled() {
		return nil, errors.New("telemetry: mqtt.broker is not set")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Health == nil {
		opts.Health = health.New(opts.Clock.Now)
	}
	if opts.StartedAt.IsZero() {
		opts.StartedAt = opts.Clock.Now()
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	opts.Timing.defaults()
	return &Telemetry{
		opts:      opts,
		log:       opts.Logger.With("component", HealthComponent),
		clock:     opts.Clock,
		health:    opts.Health,
		store:     opts.Store,
		prefix:    SiteTopic(opts.Site, ""),
		broker:    RedactBroker(opts.MQTT.Broker),
		pubWake:   make(chan struct{}, 1),
		stateWake: make(chan struct{}, 1),
		commands:  make(chan inbound, commandQueueSize),
		rejects:   make(chan inbound, rejectQueueSize),
		recent:    recentCommands{byID: map[string]*recentCommand{}},
		admit:     newAdmission(opts.CommandLimits),
	}, nil
}

// Connected reports whether the link to the broker is up.
func (t *Telemetry) Connected() bool {
	l := t.link.Load()
	return l != nil && l.up()
}

// ClientID is the MQTT client id in use ("" before Run).
func (t *Telemetry) ClientID() string {
	if p := t.clientID.Load(); p != nil {
		return *p
	}
	return ""
}

// Run connects (in the background, retrying with backoff: start-up never waits for the
// broker), publishes until ctx ends, then publishes the retained offline status and
// disconnects cleanly. It returns an error only when the TLS files cannot be used; connection
// problems are reported in health and logs while it keeps trying. Run may be called again after
// it returned.
func (t *Telemetry) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("telemetry is already running")
	}
	defer t.running.Store(false)

	clientID := t.opts.MQTT.ClientID
	if clientID == "" {
		box, err := t.store.BoxID(ctx)
		if err != nil {
			return fmt.Errorf("mqtt client id: %w", err)
		}
		clientID = "otj-edge-" + t.opts.Site + "-" + box
	}
	t.clientID.Store(&clientID)
	opts, err := t.clientOptions(clientID)
	if err != nil {
		t.health.Fail(HealthComponent, err.Error())
		return err
	}
	t.health.Warn(HealthComponent, "connecting to "+t.broker)
	t.log.Info("connecting to the MQTT broker", "broker", t.broker, "client_id", clientID)

	loops, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(loops)
		}()
	}
	start(func(ctx context.Context) { t.connectLoop(ctx, opts) })
	start(t.publishOutbox)
	start(t.stateLoop)
	for range commandWorkers {
		start(t.commandWorker)
	}
	start(t.rejectWorker)

	<-ctx.Done()
	stop()
	wg.Wait()
	t.shutdown()
	return nil
}

func (t *Telemetry) clientOptions(clientID string) (*paho.ClientOptions, error) {
	tm := t.opts.Timing
	o, err := NewClientOptions(ClientSettings{MQTT: t.opts.MQTT, ClientID: clientID, ConnectTimeout: tm.ConnectTimeout})
	if err != nil {
		return nil, err
	}
	will, err := json.Marshal(t.offlineStatus("connection lost", nil))
	if err != nil {
		return nil, err
	}
	o.SetCleanSession(false)  // the broker keeps the command subscription and queues commands
	o.SetOrderMatters(false)  // handlers run on their own goroutines; none blocks paho
	o.SetAutoReconnect(false) // connectLoop reconnects with a fresh client (package doc)
	o.SetConnectRetry(false)
	o.SetWriteTimeout(tm.PublishTimeout)
	o.SetBinaryWill(t.prefix+TopicStatus, will, 1, true)
	o.SetDefaultPublishHandler(t.onMessage) // before Connect: queued commands arrive at once
	return o, nil
}

// connectLoop keeps a link up until ctx ends: connect, serve until the connection drops, wait
// (exponential backoff from ReconnectMin to ReconnectMax, with jitter so a fleet does not
// reconnect in step after a broker restart), connect again.
func (t *Telemetry) connectLoop(ctx context.Context, opts *paho.ClientOptions) {
	tm := t.opts.Timing
	var delay time.Duration // the first attempt goes at once
	shortLinks := 0         // connections in a row that dropped soon after connecting
	for {
		if delay > 0 && !clock.Sleep(t.clock, jitter(delay), ctx.Done()) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		l, err := t.dial(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.connectFailed(err)
			delay = min(max(2*delay, tm.ReconnectMin), tm.ReconnectMax)
			continue
		}
		t.connected(ctx, l)
		select {
		case <-ctx.Done():
			return // shutdown takes the link down cleanly
		case <-l.lost:
		}
		t.link.CompareAndSwap(l, nil)
		if t.clock.Now().Sub(l.since) >= stableLink {
			delay, shortLinks = tm.ReconnectMin, 0
		} else { // it dropped soon after connecting: do not hammer the broker
			delay, shortLinks = min(max(2*delay, tm.ReconnectMin), tm.ReconnectMax), shortLinks+1
		}
		msg := "connection lost"
		if l.why != nil {
			msg += ": " + l.why.Error()
		}
		if shortLinks >= 3 {
			// Mosquitto 2 closes the connection of a client that publishes where its ACL does
			// not allow; another client with the same id takes the session over.
			msg += fmt.Sprintf("; the broker closed %d connections in a row soon after they opened: check that its ACL lets "+
				"this site publish under %s# (the username is usually the site id) and that no other client uses the client id %s",
				shortLinks, t.prefix, t.ClientID())
		}
		t.health.Warn(HealthComponent, msg+"; reconnecting to "+t.broker)
		t.log.Warn("MQTT connection lost; reconnecting", "broker", t.broker, "err", l.why, "short_links", shortLinks)
		wake(t.stateWake)
	}
}

// dial makes one connection attempt with a fresh client.
func (t *Telemetry) dial(ctx context.Context, opts *paho.ClientOptions) (*link, error) {
	l := &link{lost: make(chan struct{})}
	o := *opts
	o.SetConnectionLostHandler(func(_ paho.Client, err error) { l.markLost(err) })
	l.cli = paho.NewClient(&o)
	tok := l.cli.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		l.cli.Disconnect(0) // paho finishes the attempt, then disconnects
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	l.since = t.clock.Now()
	return l, nil
}

// connected puts a new link in service: subscribe to commands first (so "online" means
// commands are heard), then report and wake the loops.
func (t *Telemetry) connected(ctx context.Context, l *link) {
	// The broker remembers the subscription in the persistent session, but a first connect, a
	// broker that lost its state or a changed ACL all need it made again.
	tok := l.cli.Subscribe(t.prefix+TopicCmd+"/+", 1, nil)
	refused := ""
	if err := waitLink(ctx, l, tok, t.opts.Timing.PublishTimeout); err != nil {
		t.log.Warn("subscribing to commands failed; retried on the next connect", "err", err)
	} else if st, ok := tok.(*paho.SubscribeToken); ok {
		for topic, code := range st.Result() {
			if code == 0x80 { // SUBACK failure
				refused = topic
			}
		}
	}
	if refused != "" {
		t.health.Warn(HealthComponent, "connected to "+t.broker+", but the broker refused the subscription to "+refused+
			": commands cannot reach this site (check the broker ACL)")
		t.log.Error("the broker refused the command subscription; check its ACL", "topic", refused)
	} else {
		t.health.OK(HealthComponent, "connected to "+t.broker) // before the link is used, so the first status shows it
	}
	t.link.Store(l)
	t.stats.connects.Add(1)
	t.connErrMu.Lock()
	t.connErr = ""
	t.connErrMu.Unlock()
	t.log.Info("connected to the MQTT broker", "broker", t.broker, "client_id", t.ClientID())
	wake(t.pubWake)
	wake(t.stateWake)
}

func (t *Telemetry) connectFailed(err error) {
	msg, permanent := ExplainConnectError(err, t.opts.MQTT)
	if permanent {
		t.health.Fail(HealthComponent, msg)
	} else {
		t.health.Warn(HealthComponent, msg)
	}
	// Log a new problem at once, the same one again every 5 minutes.
	now := t.clock.Now()
	t.connErrMu.Lock()
	repeat := msg == t.connErr && now.Sub(t.connErrLogs) < 5*time.Minute
	if !repeat {
		t.connErr, t.connErrLogs = msg, now
	}
	t.connErrMu.Unlock()
	switch {
	case repeat:
		t.log.Debug(msg)
	case permanent:
		t.log.Error(msg)
	default:
		t.log.Warn(msg)
	}
}

// shutdown publishes the retained offline status and disconnects cleanly (a clean DISCONNECT
// suppresses the will, so the offline status must be published by hand).
func (t *Telemetry) shutdown() {
	t.answerQueuedOnShutdown()
	if l := t.link.Swap(nil); l != nil {
		if l.up() {
			now := t.clock.Now()
			payload, err := json.Marshal(t.offlineStatus("shutdown", &now))
			if err == nil {
				tok := l.cli.Publish(t.prefix+TopicStatus, 1, true, payload)
				ctx, cancel := context.WithTimeout(context.Background(), t.opts.Timing.ShutdownTimeout)
				err = waitLink(ctx, l, tok, t.opts.Timing.ShutdownTimeout)
				cancel()
			}
			if err != nil {
				t.log.Warn("could not publish the offline status before disconnecting; the broker will publish the last will", "err", err)
			}
		}
		l.cli.Disconnect(250)
	}
	t.health.Warn(HealthComponent, "stopped")
	t.log.Info("disconnected from the MQTT broker")
}

// publishNow publishes one message with QoS 1 and waits for its PUBACK. It is for retained
// state and command results, which are rebuilt or answered again if lost; outbox messages go
// through publishOutbox.
func (t *Telemetry) publishNow(ctx context.Context, topic string, retained bool, payload []byte) error {
	l := t.link.Load()
	if l == nil || !l.up() {
		return errNotConnected
	}
	tok := l.cli.Publish(t.prefix+topic, 1, retained, payload)
	return waitLink(ctx, l, tok, t.opts.Timing.PublishTimeout)
}

var (
	errNotConnected = errors.New("not connected to the broker")
	errLinkDropped  = errors.New("the connection dropped before the broker acknowledged")
	errNoAck        = errors.New("no acknowledgement from the broker in time")
)

// waitLink waits for a paho token on a link. A completed token without error is the broker's
// acknowledgement (the link's client never resends). Network timeouts run on the wall clock,
// like paho's own.
func waitLink(ctx context.Context, l *link, tok paho.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-l.lost:
		// The token may have completed just before the link dropped.
		select {
		case <-tok.Done():
			return tok.Error()
		default:
			return errLinkDropped
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errNoAck
	}
}

// jitter spreads d over ±20%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}
