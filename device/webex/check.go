package webex

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Check is `otj-edge check` for the Webex endpoints: per endpoint the device it resolves to,
// its connection status and software, and one read-only status call. It refreshes a token
// only when the stored one has expired (and stores a rotated one, so the running agent picks
// it up); it sends no command.
type CheckLine struct {
	Endpoint string
	Level    string // ok, warn, FAIL
	Text     string
}

// Check runs the check for opts' endpoints (opts as for New; Store may be nil).
func Check(ctx context.Context, opts Options) []CheckLine {
	opts.defaults()
	m := &Manager{opts: opts, log: opts.Logger, conns: map[string]*conn{}}
	m.http = opts.HTTPClient
	if m.http == nil {
		m.http = newHTTPClient(opts.Connections)
	}
	for _, c := range opts.Connections {
		cn := &conn{m: m, cfg: c, log: opts.Logger.With("webex", c.Name)}
		cn.loadTokens()
		m.conns[c.Name] = cn
	}
	lists := map[string][]Device{}
	listErr := map[string]error{}
	var out []CheckLine
	for _, ep := range opts.Endpoints {
		name := "webex/" + ep.Name
		c := m.conns[ep.Connection]
		if c == nil {
			out = append(out, CheckLine{name, "FAIL", fmt.Sprintf("webex connection %q is not configured", ep.Connection)})
			continue
		}
		if _, done := lists[c.cfg.Name]; !done && listErr[c.cfg.Name] == nil {
			lists[c.cfg.Name], listErr[c.cfg.Name] = c.listDevices(ctx)
		}
		if err := listErr[c.cfg.Name]; err != nil {
			out = append(out, CheckLine{name, "FAIL", checkErr(err)})
			continue
		}
		d, err := c.resolve(ctx, ep, lists[c.cfg.Name])
		if err != nil {
			out = append(out, CheckLine{name, "FAIL", checkErr(err)})
			continue
		}
		text := fmt.Sprintf("device %q (%s), %s, %s, connection %s", d.DisplayName, d.ID, orUnknown(d.Product), orUnknown(d.Software), orUnknown(d.ConnectionStatus))
		level := "ok"
		switch {
		case !d.CanPut():
			level = "FAIL"
			text += "; the integration has no xapi:all on it (Bookings.Put needs full xAPI access)"
		case !d.Online():
			level = "warn"
			text += "; offline in Webex: bookings are pushed when it connects"
		default:
			var res struct {
				Result struct {
					Bookings struct {
						Availability struct {
							Status string `json:"Status"`
						} `json:"Availability"`
					} `json:"Bookings"`
				} `json:"result"`
			}
			q := url.Values{"deviceId": {d.ID}, "name": {"Bookings.Availability.Status"}}
			if err := c.call(ctx, prioRead, "read the device's status", http.MethodGet, "/xapi/status", q, nil, &res); err != nil {
				level = "warn"
				text += "; status call failed: " + checkErr(err)
			} else {
				text += "; xAPI status read (Bookings availability " + orUnknown(res.Result.Bookings.Availability.Status) + ")"
			}
		}
		out = append(out, CheckLine{name, level, text})
	}
	return out
}

func checkErr(err error) string {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	return err.Error()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
