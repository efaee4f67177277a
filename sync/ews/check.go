package ews

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/sync/source"
)

// Check is the integration's part of `otj-edge check`: autodiscover (when used), sign-in,
// server version, and each room read once (its next 24 hours), one line each.
func Check(ctx context.Context, in Integration, mailboxes []string, httpClient *http.Client) source.CheckResult {
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
		if httpClient, err = newHTTPClient(in); err != nil {
			line(false, "TLS FAILED: %s", err)
			return res
		}
	}
	url := in.URL
	if url == "" {
		hc := &http.Client{Transport: authTransport(in.Auth, httpClient.Transport), Timeout: 30 * time.Second}
		d, err := autodiscover(ctx, hc, in)
		if err != nil {
			line(false, "autodiscover FAILED: %s", classify(err, "", in).detail)
			return res
		}
		line(true, "autodiscover ok: %s via %s", d.url, d.via)
		url = d.url
	}
	c := &client{url: url, user: in.Username, password: in.Password.Value, auth: in.Auth, access: in.Access,
		version: in.RequestServerVersion, http: &http.Client{Transport: authTransport(in.Auth, httpClient.Transport), Timeout: 60 * time.Second}}
	now := time.Now()
	signedIn, versionShown := false, false
	for _, m := range mailboxes {
		m = strings.ToLower(strings.TrimSpace(m))
		items, complete, version, err := c.probe(ctx, m, now, now.Add(24*time.Hour))
		if err != nil {
			f := classify(err, m, in)
			if f.code == "401" || f.code == "network" || f.code == "basic_over_http" {
				line(false, "sign-in FAILED (%s as %s at %s): %s", in.Auth, in.Username, url, f.detail)
				return res
			}
			if !signedIn {
				signedIn = true
				line(true, "sign-in ok (%s as %s at %s)", in.Auth, in.Username, url)
			}
			line(false, "%s: %s: %s", m, f.status, f.detail)
			continue
		}
		if !signedIn {
			signedIn = true
			line(true, "sign-in ok (%s as %s at %s)", in.Auth, in.Username, url)
		}
		if !versionShown {
			// The first answer that is not a SOAP fault carries ServerVersionInfo (a refused
			// room's fault does not): show it once, whichever room that is.
			versionShown = true
			line(true, "server version %s (requests ask for %s)", version, in.RequestServerVersion)
		}
		more := ""
		if !complete {
			more = "+"
		}
		line(true, "%s: ok, readable (%d%s meetings in the next 24 h)", m, len(items), more)
	}
	return res
}

// probe lists a room's view once, with the server's version.
func (c *client) probe(ctx context.Context, mailbox string, ws, we time.Time) ([]viewItem, bool, serverVersion, error) {
	body := `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>` +
		fmt.Sprintf(`<m:CalendarView MaxEntriesReturned="100" StartDate="%s" EndDate="%s"/>`, ewsTime(ws), ewsTime(we)) +
		`<m:ParentFolderIds>` + c.calendarFolder(mailbox) + `</m:ParentFolderIds></m:FindItem>`
	resp, v, err := call[findItemResponse](ctx, c, "FindItem", target{mailbox: mailbox}, body)
	if err != nil {
		return nil, false, v, err
	}
	if len(resp.Messages) != 1 {
		return nil, false, v, &ewsError{op: "FindItem", code: "garbage", message: "no response message"}
	}
	if m := resp.Messages[0]; m.failed() {
		return nil, false, v, m.err("FindItem")
	}
	m := resp.Messages[0]
	return m.Root.Items, strings.TrimSpace(m.Root.Last) != "false", v, nil
}
