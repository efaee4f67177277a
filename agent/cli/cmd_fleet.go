package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/telemetry"
)

type fleetFlags struct {
	broker, caFile, certFile, keyFile, username, password, passwordFile *string
	serve                                                               *string
	watch, json                                                         *bool
	wait, timeout                                                       *time.Duration
}

func init() {
	register(&command{
		name:    "fleet",
		args:    "--broker URL [--ca-file F] [--cert-file F --key-file F] [--username U --password-file F] [--watch] [--json] [--serve ADDR]",
		summary: "show every site's status from the central MQTT broker",
		help: `The central team's view: connects to the broker every site reports to and prints a table of
every site from its retained status (otj/v1/<site>/status): online or offline, version, rooms,
endpoints, calendar sources (type/name), since when, and the components that are not healthy.
A site still on a version from before calendar sources were listed shows "-" for them. --watch keeps the table current
until interrupted. --serve ADDR keeps running and serves the view as JSON over HTTP at
http://ADDR/fleet (no login: bind it to 127.0.0.1), following the rooms' retained states and the
events as well as the statuses. The password may also come from the OTJ_MQTT_PASSWORD environment variable;
prefer --password-file to --password, which other users can see in the process list.`,
		flags: func(fs *flag.FlagSet) any {
			return &fleetFlags{
				broker:       fs.String("broker", "", "broker `URL`: tcp://host:1883, ssl://host:8883"),
				caFile:       fs.String("ca-file", "", "CA certificate (PEM) the broker's certificate is checked against; default: the system's"),
				certFile:     fs.String("cert-file", "", "client certificate (PEM)"),
				keyFile:      fs.String("key-file", "", "client certificate key (PEM)"),
				username:     fs.String("username", "", "broker username"),
				password:     fs.String("password", "", "broker password (visible to other users: prefer --password-file)"),
				passwordFile: fs.String("password-file", "", "file holding the broker password"),
				watch:        fs.Bool("watch", false, "keep printing the table as statuses change, until interrupted"),
				json:         fs.Bool("json", false, "print the statuses as JSON instead of a table"),
				serve:        fs.String("serve", "", "keep running and serve the view (statuses, rooms, events) as JSON on `ADDR` (e.g. 127.0.0.1:8790) at /fleet"),
				wait:         fs.Duration("wait", 3*time.Second, "longest wait for the retained statuses"),
				timeout:      fs.Duration("timeout", 15*time.Second, "time limit for connecting"),
			}
		},
		run: runFleet,
	})
}

func runFleet(ctx context.Context, stdio IO, opts any, args []string) error {
	f := opts.(*fleetFlags)
	if len(args) > 0 {
		return usagef("unexpected arguments: %v", args)
	}
	if *f.broker == "" {
		return usagef("--broker is required (the central broker, e.g. ssl://mqtt.example.com:8883)")
	}
	if *f.password != "" && *f.passwordFile != "" {
		return usagef("give --password or --password-file, not both")
	}
	if *f.serve != "" && (*f.watch || *f.json) {
		return usagef("--serve keeps running on its own: leave out --watch and --json")
	}
	if (*f.certFile == "") != (*f.keyFile == "") {
		return usagef("give both --cert-file and --key-file, or neither")
	}
	password := *f.password
	if *f.passwordFile != "" {
		b, err := os.ReadFile(*f.passwordFile)
		if err != nil {
			return usagef("--password-file: %v", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	} else if password == "" {
		password, _ = stdio.Env("OTJ_MQTT_PASSWORD")
	}
	m := config.MQTT{Broker: *f.broker, Username: *f.username, Password: config.NewSecret(password),
		CAFile: *f.caFile, CertFile: *f.certFile, KeyFile: *f.keyFile}
	o, err := telemetry.NewClientOptions(telemetry.ClientSettings{MQTT: m, ClientID: "otj-fleet-" + randomHex(6), ConnectTimeout: *f.timeout})
	if err != nil {
		return usagef("%v", err)
	}

	serving := *f.serve != ""
	view := newFleetView(serving)
	subscribed := make(chan error, 1)
	o.SetCleanSession(true)
	o.SetAutoReconnect(*f.watch || serving)
	// In order: a site's offline status right after its online one must not be applied first.
	// The handler only decodes and updates a map, so it never holds paho up for long.
	o.SetOrderMatters(true)
	o.SetDefaultPublishHandler(view.onMessage)
	topics := map[string]byte{telemetry.SiteTopic("+", telemetry.TopicStatus): 1}
	if serving {
		topics[telemetry.SiteTopic("+", telemetry.TopicRooms+"/+")] = 1
		topics[telemetry.SiteTopic("+", telemetry.TopicEvents)] = 1
	}
	o.SetOnConnectHandler(func(c paho.Client) {
		// Subscribing here (without waiting) covers reconnects in --watch and --serve.
		tok := c.SubscribeMultiple(topics, nil)
		go func() {
			tok.Wait() // completes on SUBACK or when the connection goes
			select {
			case subscribed <- tok.Error():
			default:
			}
		}()
	})
	cli := paho.NewClient(o)
	tok := cli.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		cli.Disconnect(0)
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		msg, _ := telemetry.ExplainConnectError(err, m)
		return errors.New(flagNames.Replace(msg))
	}
	defer cli.Disconnect(250)
	if err := waitFor(ctx, subscribed, *f.timeout); err != nil {
		return fmt.Errorf("subscribe to the sites' status: %w", err)
	}
	if serving {
		return view.serve(ctx, stdio, *f.serve)
	}

	// Retained statuses arrive right after the subscription; the broker does not say when the
	// last one came, so wait for a quiet moment (or --wait).
	view.mu.Lock()
	view.last = time.Now()
	view.mu.Unlock()
	view.settle(ctx, 300*time.Millisecond, *f.wait)
	show := func() error {
		if *f.json {
			return view.printJSON(stdio.Stdout)
		}
		return view.printTable(stdio.Stdout, time.Now())
	}
	if err := show(); err != nil || !*f.watch {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-view.changed:
		}
		view.settle(ctx, 300*time.Millisecond, 2*time.Second) // one table for a burst of updates
		if ctx.Err() != nil {
			return nil
		}
		fmt.Fprintf(stdio.Stdout, "\n-- %s --\n", time.Now().Format("2006-01-02 15:04:05"))
		if err := show(); err != nil {
			return err
		}
	}
}

// flagNames turns the config keys in telemetry's messages into this command's flags.
var flagNames = strings.NewReplacer("mqtt.ca_file", "--ca-file", "mqtt.cert_file", "--cert-file", "mqtt.key_file", "--key-file",
	"mqtt.username", "--username", "mqtt.password", "--password", "mqtt.client_id", "the client id")

func waitFor(ctx context.Context, c <-chan error, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-c:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("no answer from the broker in time")
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fleetSite is one site's last status, or why it could not be read, and when it arrived.
type fleetSite struct {
	Status  telemetry.Status
	Invalid string
	Seen    time.Time
}

type fleetView struct {
	mu      sync.Mutex
	sites   map[string]fleetSite
	last    time.Time
	changed chan struct{}
	// follow: the rooms' states and the events, kept only by --serve (cmd_fleet_serve.go).
	follow *fleetFollow
}

func newFleetView(follow bool) *fleetView {
	v := &fleetView{sites: map[string]fleetSite{}, changed: make(chan struct{}, 1)}
	if follow {
		v.follow = newFleetFollow()
	}
	return v
}

func (v *fleetView) onMessage(_ paho.Client, m paho.Message) {
	parts := strings.Split(m.Topic(), "/")
	if len(parts) < 4 {
		return
	}
	site := parts[2]
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	switch {
	case len(parts) == 4 && parts[3] == telemetry.TopicStatus:
	case v.follow != nil && len(parts) == 5 && parts[3] == telemetry.TopicRooms:
		v.follow.room(site, parts[4], m.Payload())
		return
	case v.follow != nil && len(parts) == 4 && parts[3] == telemetry.TopicEvents:
		v.follow.event(site, m.Payload(), now)
		return
	default:
		return
	}
	v.last = now
	switch {
	case len(m.Payload()) == 0: // a cleared retained status: the site is gone
		delete(v.sites, site)
	default:
		var st telemetry.Status
		if err := json.Unmarshal(m.Payload(), &st); err != nil || (st.State != telemetry.StateOnline && st.State != telemetry.StateOffline) {
			v.sites[site] = fleetSite{Invalid: "status is not an otj-edge status message", Seen: now}
		} else {
			v.sites[site] = fleetSite{Status: st, Seen: now}
		}
	}
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

// settle waits until no status arrived for quiet, at most limit.
func (v *fleetView) settle(ctx context.Context, quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		v.mu.Lock()
		idle := time.Since(v.last)
		v.mu.Unlock()
		left := time.Until(deadline)
		if idle >= quiet || left <= 0 {
			return
		}
		t := time.NewTimer(min(quiet-idle, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (v *fleetView) snapshot() ([]string, map[string]fleetSite) {
	v.mu.Lock()
	defer v.mu.Unlock()
	sites := make(map[string]fleetSite, len(v.sites))
	names := make([]string, 0, len(v.sites))
	for k, s := range v.sites {
		sites[k] = s
		names = append(names, k)
	}
	sort.Strings(names)
	return names, sites
}

func (v *fleetView) printTable(w io.Writer, now time.Time) error {
	names, sites := v.snapshot()
	if len(names) == 0 {
		_, err := fmt.Fprintln(w, "no site has published a status under otj/v1/ on this broker")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tSTATE\tVERSION\tROOMS\tENDPOINTS\tSOURCES\tSINCE\tPROBLEMS")
	online, withProblems := 0, 0
	for _, name := range names {
		s := sites[name]
		if s.Invalid != "" {
			fmt.Fprintf(tw, "%s\tinvalid\t-\t-\t-\t-\t-\t%s\n", name, s.Invalid)
			withProblems++
			continue
		}
		st := s.Status
		state, since, problems := st.State, "-", "-"
		switch st.State {
		case telemetry.StateOnline:
			online++
			if st.ConnectedAt != nil {
				since = ago(now, *st.ConnectedAt)
			}
			if st.Health != nil && st.Health.ProblemsTotal > 0 {
				withProblems++
				problems = describeProblems(st.Health)
			}
		case telemetry.StateOffline:
			if st.Reason != "" {
				state += " (" + st.Reason + ")"
			}
			if st.StoppedAt != nil {
				since = ago(now, *st.StoppedAt)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, state, orDash(st.Version), count(st.Rooms), count(st.Endpoints),
			describeSources(st.Sources), since, problems)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d sites: %d online, %d offline, %d with problems\n", len(names), online, len(names)-online, withProblems)
	return err
}

func (v *fleetView) printJSON(w io.Writer) error {
	names, sites := v.snapshot()
	type entry struct {
		Site    string            `json:"site"`
		Status  *telemetry.Status `json:"status,omitempty"`
		Invalid string            `json:"invalid,omitempty"`
	}
	out := make([]entry, 0, len(names))
	for _, n := range names {
		e := entry{Site: n, Invalid: sites[n].Invalid}
		if e.Invalid == "" {
			st := sites[n].Status
			e.Status = &st
		}
		out = append(out, e)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// describeSources names a site's calendar sources as type/name, the way their health
// components are named (graph/m365). A status without the list is an offline one, or one from
// an agent before sources were listed (its sources were Graph integrations, but which ones it
// did not say): "-", as for its rooms. "none" is a site that reads no calendar.
func describeSources(sources []telemetry.StatusSource) string {
	const show = 3
	if sources == nil {
		return "-"
	}
	if len(sources) == 0 {
		return "none"
	}
	var parts []string
	for i, s := range sources {
		if i == show {
			parts[show-1] += fmt.Sprintf(" (and %d more)", len(sources)-show)
			break
		}
		parts = append(parts, s.Type+"/"+s.Name)
	}
	return strings.Join(parts, ", ")
}

// describeProblems lists the first unhealthy components.
func describeProblems(h *telemetry.HealthSummary) string {
	const show = 3
	var parts []string
	for i, p := range h.Problems {
		if i == show {
			break
		}
		parts = append(parts, p.Component+": "+p.Message)
	}
	s := strings.Join(parts, "; ")
	if more := h.ProblemsTotal - len(parts); more > 0 {
		s += fmt.Sprintf(" (and %d more)", more)
	}
	return s
}

func ago(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < 0:
		return t.Local().Format("2006-01-02 15:04")
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return t.Local().Format("2006-01-02 15:04")
}

func count(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
