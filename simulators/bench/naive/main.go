// Command naive is make bench's baseline: the naive One-Touch Join strategy otj-edge is compared
// with. Every room's full calendarView is fetched every interval (default 60 s), and right after
// it the room's codecs get a full Bookings Put, whether anything changed or not. It talks to
// graphsim and ciscosim over the same protocols as the agent (Graph over HTTPS with an app-only
// token, xAPI over one persistent WebSocket per codec), resolves invites with the same rules
// (sync/rules) and builds the same Bookings Put documents (device/cisco), so only the strategy
// differs. It keeps nothing on disk and serves no Poly endpoints.
//
// It is part of the benchmark harness, never of the product. Usage:
//
//	naive -config DIR/otj-edge.yaml [-interval 60s] [-inflight 8] [-top 100]
//
// It prints "naive: first pass done" once every room has been fetched and pushed once, and a
// summary line when it stops (SIGINT/SIGTERM).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

func main() {
	cfgPath := flag.String("config", "", "the agent config otj-sim generated (rooms, profiles, Graph app, codecs)")
	interval := flag.Duration("interval", time.Minute, "how often every room is fetched and its codecs pushed")
	inflight := flag.Int("inflight", config.DefaultMaxInFlight, "Graph requests in flight at most (the agent's default max_in_flight)")
	top := flag.Int("top", 100, "calendarView page size ($top)")
	flag.Parse()
	if *cfgPath == "" || *interval <= 0 || *inflight < 1 || *top < 1 {
		fmt.Fprintln(os.Stderr, "usage: naive -config FILE [-interval 60s] [-inflight 8] [-top 100]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := newClient(*cfgPath, *interval, *inflight, *top, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(1)
	}
	c.run(ctx)
	fmt.Printf("naive: stopped: %d visits of %d rooms, %d Graph requests, %d puts, %d errors\n",
		c.visits.Load(), len(c.rooms), c.requests.Load(), c.puts.Load(), c.errors.Load())
}

type room struct {
	done     bool // fetched and pushed once (only the room's own loop touches the room)
	mailbox  string
	profile  *rules.Profile
	upcoming int
	codecs   []*codec
}

type codec struct {
	ep   cisco.Endpoint
	conn *cisco.Conn
	fw   cisco.Firmware
}

type client struct {
	log      *slog.Logger
	http     *http.Client
	graphURL string
	tokenURL string
	clientID string
	secret   string
	interval time.Duration
	inflight int
	top      int
	past     time.Duration
	days     int
	rooms    []*room

	tokMu  sync.Mutex
	token  string
	expiry time.Time

	visits, requests, puts, errors atomic.Int64
}

func newClient(path string, interval time.Duration, inflight, top int, log *slog.Logger) (*client, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	var in *config.Graph
	for i := range cfg.Integrations {
		if g := cfg.Integrations[i].Graph(); g != nil {
			in = g
			break
		}
	}
	if in == nil {
		return nil, errors.New("the config has no Graph integration")
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if in.CAFile != "" {
		pem, err := os.ReadFile(in.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", in.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	c := &client{
		log:      log,
		http:     &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: inflight, ForceAttemptHTTP2: true}},
		graphURL: strings.TrimRight(in.GraphURL, "/"),
		tokenURL: in.TokenURL,
		clientID: in.ClientID,
		secret:   in.ClientSecret.Value(),
		interval: interval,
		inflight: inflight,
		top:      top,
		past:     *cfg.Cisco.WindowPast,
		days:     *cfg.Cisco.WindowDays,
	}
	profiles := map[string]*rules.Profile{}
	upcoming := map[string]int{}
	for i := range cfg.Profiles {
		p, err := cfg.Profiles[i].Compile()
		if err != nil {
			return nil, err
		}
		profiles[cfg.Profiles[i].Name] = p
		upcoming[cfg.Profiles[i].Name] = 7
		if d := cfg.Profiles[i].UpcomingDays; d != nil {
			upcoming[cfg.Profiles[i].Name] = *d
		}
	}
	byRoom := map[string]*room{}
	for _, r := range cfg.Rooms() {
		rm := &room{mailbox: r.Mailbox, profile: profiles[r.Profile], upcoming: upcoming[r.Profile]}
		byRoom[r.Mailbox] = rm
		c.rooms = append(c.rooms, rm)
	}
	for _, e := range cfg.Endpoints {
		if e.Type != config.EndpointCisco {
			continue
		}
		byRoom[e.Room].codecs = append(byRoom[e.Room].codecs, &codec{ep: cisco.Endpoint{Name: e.Name, Room: e.Room,
			Address: e.Address, Username: e.Username, Password: e.Password.Value()}})
	}
	return c, nil
}

// run gives every room its own loop: visit, then wait until interval after the visit began.
// At most inflight visits run at once (a semaphore), so the first pass goes as fast as Graph's
// latency allows and the rooms then come round once per interval each; a room whose turn
// finds every slot busy waits (with many rooms the passes stretch, as a naive poller's do).
func (c *client) run(ctx context.Context) {
	slots := make(chan struct{}, c.inflight)
	var wg sync.WaitGroup
	var first atomic.Int64
	for _, rm := range c.rooms {
		wg.Go(func() {
			for {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				began := time.Now()
				ok := c.visit(ctx, rm)
				<-slots
				if ok && first.Add(1) == int64(len(c.rooms)) {
					fmt.Println("naive: first pass done")
				}
				c.visits.Add(1)
				t := time.NewTimer(time.Until(began.Add(c.interval)))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	for _, rm := range c.rooms {
		for _, cd := range rm.codecs {
			if cd.conn != nil {
				cd.conn.Close()
			}
		}
	}
}

// visit fetches one room's calendar and pushes it to the room's codecs. It reports true the
// first time a visit to the room fully succeeds.
func (c *client) visit(ctx context.Context, rm *room) bool {
	now := time.Now()
	events, err := c.calendarView(ctx, rm, now)
	if err != nil {
		if ctx.Err() == nil {
			c.errors.Add(1)
			c.log.Warn("calendarView", "room", rm.mailbox, "err", err)
		}
		return false
	}
	meetings := rm.profile.ResolveRoom(rm.mailbox, events, now)
	from, to := cisco.Window(now, time.Local, c.past, c.days)
	shown := meetings[:0]
	for _, m := range meetings {
		if m.End.After(from) && m.Start.Before(to) {
			shown = append(shown, m)
		}
	}
	ok := true
	for _, cd := range rm.codecs {
		if err := c.push(ctx, cd, shown); err != nil {
			ok = false
			if ctx.Err() == nil {
				c.errors.Add(1)
				c.log.Warn("push", "codec", cd.ep.Name, "err", err)
			}
		}
	}
	first := ok && !rm.done
	rm.done = rm.done || ok
	return first
}

func (c *client) push(ctx context.Context, cd *codec, meetings []calendar.Meeting) error {
	if cd.conn != nil && cd.conn.Err() != nil {
		cd.conn.Close()
		cd.conn = nil
	}
	if cd.conn == nil {
		u, err := cisco.WebSocketURL(cd.ep.Address)
		if err != nil {
			return err
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		conn, err := cisco.Dial(dctx, cisco.DialOptions{URL: u, Username: cd.ep.Username, Password: cd.ep.Password})
		if err != nil {
			cancel()
			return fmt.Errorf("connect to %s: %w", cd.ep.Name, err)
		}
		var version, display any
		_ = conn.Get(dctx, &version, "Status", "SystemUnit", "Software", "Version")
		_ = conn.Get(dctx, &display, "Status", "SystemUnit", "Software", "DisplayName")
		cancel()
		cd.conn, cd.fw = conn, cisco.ParseFirmware(fmt.Sprint(version), fmt.Sprint(display))
	}
	p := cisco.BuildPayload(meetings, cd.fw)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	if len(p.Bookings) == 0 {
		err = cd.conn.Call(cctx, "xCommand/Bookings/Clear", nil, nil)
	} else {
		err = cd.conn.Call(cctx, "xCommand/Bookings/Put", map[string]any{"body": string(p.Body)}, nil)
	}
	if err != nil {
		return fmt.Errorf("push bookings to %s: %w", cd.ep.Name, err)
	}
	c.puts.Add(1)
	return nil
}

// calendarView reads the room's whole window (yesterday to today + upcoming days, as the agent
// syncs it), following nextLinks, waiting out a 429's Retry-After.
func (c *client) calendarView(ctx context.Context, rm *room, now time.Time) ([]calendar.Event, error) {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	q := url.Values{}
	q.Set("startDateTime", day.AddDate(0, 0, -1).UTC().Format(time.RFC3339))
	q.Set("endDateTime", day.AddDate(0, 0, rm.upcoming+1).UTC().Format(time.RFC3339))
	q.Set("$top", strconv.Itoa(c.top))
	next := c.graphURL + "/users/" + url.PathEscape(rm.mailbox) + "/calendarView?" + q.Encode()
	var out []calendar.Event
	for tries := 0; next != ""; {
		var page struct {
			Value    []calendar.Event `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		wait, err := c.get(ctx, next, &page)
		if wait > 0 && tries < 5 {
			tries++
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, page.Value...)
		next = page.NextLink
	}
	return out, nil
}

// get GETs a Graph URL into v; a 429 or 503 returns how long to wait.
func (c *client) get(ctx context.Context, u string, v any) (time.Duration, error) {
	tok, err := c.bearer(ctx)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Prefer", `outlook.timezone="UTC"`)
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		io.Copy(io.Discard, resp.Body)
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(max(secs, 1)) * time.Second, fmt.Errorf("GET calendarView: %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("GET calendarView: %s: %s", resp.Status, b)
	}
	return 0, json.NewDecoder(resp.Body).Decode(v)
}

// bearer returns a token, fetching a new one (client credentials) when it is about to expire.
func (c *client) bearer(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && time.Until(c.expiry) > 5*time.Minute {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {c.secret},
		"scope": {"https://graph.microsoft.com/.default"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("token: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	c.token, c.expiry = tok.AccessToken, time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second)
	return c.token, nil
}
