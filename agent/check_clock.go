package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/store"
)

// BuildDate is the time of the commit this otj-edge was built from (RFC 3339), stamped at build
// time like Version. No correct clock reads earlier.
var BuildDate = ""

// clockSkewWarn is how far off the clock may be before `otj-edge check` warns. The Join button
// appears start_buffer (default 5 min) before a meeting and bookings are pushed for windows
// computed from this clock, so minutes matter; HTTP Date headers have 1 s resolution and the
// network adds a little, so less than this would be noise.
const clockSkewWarn = 2 * time.Minute

// checkClock is the clock `otj-edge check` judges; tests replace it.
var checkClock clock.Clock = clock.Real{}

const clockWhy = "meetings would show and the Join button would appear at the wrong times, and Microsoft 365 " +
	"tokens would be taken for expired or valid when they are not. Fix the time sync " +
	"(Linux: timedatectl status; Windows: w32tm /query /status)"

func init() {
	registerCheck(onlineCheck{name: "clock", run: func(ctx context.Context, cfg *config.Config, w io.Writer) int {
		checkClockOnline(ctx, w, cfg, checkClock)
		return 0 // a wrong clock is a warning: the agent still runs
	}})
}

// checkClockOffline warns when the clock reads earlier than this build's commit or than the
// newest time the agent recorded in the store: either means the clock is wrong (a dead RTC
// battery sends a box back to 1970 or 2000) or went back.
func checkClockOffline(ctx context.Context, w io.Writer, cfg *config.Config, now time.Time) {
	var lastWrite time.Time
	_, err := os.Stat(cfg.DBPath())
	if os.IsPermission(err) {
		fmt.Fprintf(w, "clock: not compared with the store, which this user cannot read (run check as root or as otj-edge)\n")
	}
	if err == nil {
		st, err := store.Open(ctx, cfg.DBPath(), store.Options{ReadOnly: true})
		if err == nil {
			lastWrite, err = st.LastWrite(ctx)
			st.Close()
		}
		if err != nil {
			fmt.Fprintf(w, "warning: store: %v\n", err)
		}
	}
	for _, line := range offlineClockFindings(now, buildTime(), lastWrite) {
		fmt.Fprintln(w, line)
	}
}

func buildTime() time.Time {
	t, err := time.Parse(time.RFC3339, BuildDate)
	if err != nil {
		return time.Time{}
	}
	return t
}

// offlineClockFindings judges now against the build time and the store's newest write (zero
// values: unknown). It returns one line: "clock ok: …" or a warning per problem.
func offlineClockFindings(now, built, lastWrite time.Time) []string {
	var out []string
	if !built.IsZero() && now.Before(built.Add(-clockSkewWarn)) {
		out = append(out, fmt.Sprintf("warning: clock: it is %s here, before this otj-edge was even built (%s): the clock is wrong; %s",
			stamp(now), stamp(built), clockWhy))
	}
	if !lastWrite.IsZero() && now.Before(lastWrite.Add(-clockSkewWarn)) {
		out = append(out, fmt.Sprintf("warning: clock: it is %s here, %s earlier than the newest time the store recorded (%s): "+
			"the clock went back, or was ahead before; %s", stamp(now), lastWrite.Sub(now).Round(time.Second), stamp(lastWrite), clockWhy))
	}
	if len(out) > 0 {
		return out
	}
	var against []string
	if !built.IsZero() {
		against = append(against, "this build, "+stamp(built))
	}
	if !lastWrite.IsZero() {
		against = append(against, "the store's newest record, "+stamp(lastWrite))
	}
	if len(against) == 0 {
		return []string{fmt.Sprintf("clock ok: %s (nothing to compare with offline)", stamp(now))}
	}
	line := fmt.Sprintf("clock ok: %s, not before %s", stamp(now), against[0])
	if len(against) > 1 {
		line += " or " + against[1]
	}
	return []string{line}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// checkClockOnline compares the clock with the HTTP Date header of each integration's service
// (its source type's clockURL: a Graph integration's token endpoint, whose servers keep good
// time). It sends no credentials.
func checkClockOnline(ctx context.Context, w io.Writer, cfg *config.Config, c clock.Clock) {
	seen := map[string]bool{}
	for i := range cfg.Integrations {
		t, ok := sourceTypeOf(&cfg.Integrations[i])
		if !ok || t.clockURL == nil {
			continue
		}
		rawURL, caFile := t.clockURL(&cfg.Integrations[i])
		if rawURL == "" || seen[rawURL] {
			continue
		}
		seen[rawURL] = true
		host := rawURL
		if u, err := url.Parse(rawURL); err == nil {
			host = u.Host
		}
		client, err := tokenEndpointClient(caFile)
		if err != nil {
			fmt.Fprintf(w, "warning: clock: not compared with %s: %v\n", host, err)
			continue
		}
		skew, err := dateSkew(ctx, c, client, rawURL)
		if err != nil {
			fmt.Fprintf(w, "warning: clock: not compared with %s: %v\n", host, err)
			continue
		}
		fmt.Fprintln(w, skewFinding(skew, host))
	}
}

func skewFinding(skew time.Duration, host string) string {
	off := skew.Abs().Round(time.Second)
	if off <= clockSkewWarn {
		return fmt.Sprintf("clock ok: within %s of %s", max(off, time.Second), host)
	}
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("warning: clock: this box's clock is %s %s %s (its HTTP Date header): %s", off, dir, host, clockWhy)
}

// dateSkew is how far the clock is ahead of the server at rawURL (negative: behind), judged
// from the Date header against the middle of the request's round trip.
func dateSkew(ctx context.Context, c clock.Clock, client *http.Client, rawURL string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	sent := c.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	received := c.Now()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	date := resp.Header.Get("Date")
	if date == "" {
		return 0, errors.New("the response has no Date header")
	}
	server, err := http.ParseTime(date)
	if err != nil {
		return 0, fmt.Errorf("unreadable Date header %q", date)
	}
	// Date is truncated to the second: the server's time was somewhere in the next second.
	server = server.Add(500 * time.Millisecond)
	mid := sent.Add(received.Sub(sent) / 2)
	return mid.Sub(server), nil
}

// tokenEndpointClient trusts the system's CAs plus caFile (simulators and tests).
func tokenEndpointClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // any answer has a Date; never follow elsewhere
	}}, nil
}
