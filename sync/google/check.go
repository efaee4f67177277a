package google

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/otj-edge/otj-edge/sync/source"
)

// Check is the integration's part of `otj-edge check`: the token grant (the service account's
// JWT, with delegation when a subject is set), then each room read once (its next 24 hours),
// one line each. httpClient nil: one trusting the system roots and the CA file.
func Check(ctx context.Context, in Integration, calendarIDs []string, httpClient *http.Client) source.CheckResult {
	prefix := source.Component(Type, in.Name)
	var res source.CheckResult
	line := func(ok bool, format string, a ...any) {
		res.Lines = append(res.Lines, prefix+": "+fmt.Sprintf(format, a...))
		if !ok {
			res.Failed++
		}
	}
	in, err := normalize(in)
	if err != nil {
		line(false, "config FAILED: %s", err)
		return res
	}
	if httpClient == nil {
		if httpClient, err = newHTTPClient(in.CAFile); err != nil {
			line(false, "TLS FAILED: %s", err)
			return res
		}
	}
	cfg, key, err := parseKey(in.ServiceAccountKey, in.Scopes, in.Subject)
	if err != nil {
		line(false, "service account key FAILED: %s", err)
		return res
	}
	as := "itself (the rooms' calendars shared with it)"
	if in.Subject != "" {
		as = in.Subject + " (domain-wide delegation)"
	}
	if _, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, httpClient)).Token(); err != nil {
		line(false, "token grant FAILED (%s as %s at %s): %s", key.email, as, key.tokenURL, classify(err, "", in, key).detail)
		return res
	}
	line(true, "token grant ok (%s as %s at %s, scopes %s)", key.email, as, key.tokenURL, strings.Join(in.Scopes, " "))
	c, err := newClient(in, httpClient, nil, nil)
	if err != nil {
		line(false, "calendar client FAILED: %s", err)
		return res
	}
	now := time.Now()
	for _, id := range calendarIDs {
		id = strings.ToLower(strings.TrimSpace(id))
		ev, err := c.list(ctx, listQuery{calendarID: id, ws: now, we: now.Add(24 * time.Hour), pageSize: 250})
		if err != nil {
			f := classify(err, id, in, key)
			line(false, "%s: %s: %s", id, f.status, f.detail)
			continue
		}
		more := ""
		if ev.NextPageToken != "" {
			more = "+"
		}
		n := 0
		for _, it := range ev.Items {
			if it.Status != "cancelled" {
				n++
			}
		}
		line(true, "%s: ok, readable (%d%s meetings in the next 24 h)", id, n, more)
	}
	return res
}
