package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// RoomCheck is one room's result in `otj-edge check`.
type RoomCheck struct {
	Mailbox  string
	Status   string // store.RoomOK or the failure status
	Detail   string // what to do, when not OK
	Meetings int    // meetings in the next 24 hours (readable rooms)
	More     bool   // there were more than Meetings
}

// CheckReport is the online check of one Graph integration: a token, then each room read once.
type CheckReport struct {
	Integration string
	TokenOK     bool
	TokenDetail string // why there is no token, and what to do
	Tenant      string
	Authority   string
	// Certificate names the client certificate (thumbprint as the app registration shows it,
	// subject, expiry) when the integration uses one; "" with a client secret.
	Certificate string
	Rooms       []RoomCheck // empty when there was no token
	// Notify is the change-notification round trip (check_notify.go), when notifications_url
	// is set and there was a token.
	Notify *NotifyCheck
	// Probe is the change probe's getSchedule (probe_check.go), when the probe is on and
	// there was a token.
	Probe *ProbeCheck
}

// Check fetches a token and reads each room's next 24 hours (one request per room, at most
// max_in_flight at a time). httpClient may be nil (the system roots plus ca_file).
func Check(ctx context.Context, in Integration, mailboxes []string, httpClient *http.Client) CheckReport {
	rep := CheckReport{Integration: in.Name}
	if in.UsesCertificate() && len(in.ClientCertificates) > 0 {
		c := in.ClientCertificates[0]
		rep.Certificate = fmt.Sprintf("certificate %s (%s, valid until %s)", in.CertificateThumbprint(), c.Subject, c.NotAfter.UTC().Format(time.DateOnly))
	}
	if httpClient == nil {
		var err error
		if httpClient, err = baseClient(in.CAFile); err != nil {
			rep.TokenDetail = err.Error()
			return rep
		}
	}
	a, err := newAPI(in, httpClient)
	if err != nil {
		rep.TokenDetail = err.Error()
		return rep
	}
	rep.Tenant, rep.Authority = a.in.Tenant, a.in.AuthorityHost
	if err := a.token(ctx); err != nil {
		rep.TokenDetail = classifyError(err).detail
		return rep
	}
	rep.TokenOK = true
	rep.Rooms = make([]RoomCheck, len(mailboxes))
	limit := in.MaxInFlight
	if limit <= 0 {
		limit = DefaultMaxInFlight
	}
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	now := time.Now()
	for i, m := range mailboxes {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			m = strings.ToLower(m)
			res := a.send(ctx, reqSpec{kind: kindProbe, mailbox: m, start: now, end: now.Add(24 * time.Hour)})
			rc := RoomCheck{Mailbox: m, Status: store.RoomOK}
			if !res.ok() {
				f := classify(res, m, in.ClientID)
				rc.Status, rc.Detail = f.status, f.detail
				if f.status == store.RoomOK { // a 410 cannot happen here; be safe
					rc.Status = store.RoomTransient
				}
			} else {
				var body struct {
					Value []json.RawMessage `json:"value"`
					Next  string            `json:"@odata.nextLink"`
				}
				if err := json.Unmarshal(res.body, &body); err != nil {
					rc.Status, rc.Detail = store.RoomTransient, "Graph sent a body that is not valid JSON"
				} else {
					rc.Meetings, rc.More = len(body.Value), body.Next != ""
				}
			}
			rep.Rooms[i] = rc
		})
	}
	wg.Wait()
	if in.NotificationURL != "" {
		nc := NotifyCheck{Detail: "not tried: no room is readable (Graph subscribes to a room's events)"}
		for _, rc := range rep.Rooms {
			if rc.Status == store.RoomOK {
				nc = checkNotifications(ctx, a, in, rc.Mailbox, httpClient)
				break
			}
		}
		rep.Notify = &nc
	}
	if probeEnabled(in) {
		pc := checkProbe(ctx, a, in, rep.Rooms)
		rep.Probe = &pc
	}
	return rep
}

// Result is the report as the agent's source table hands it to `otj-edge check`.
func (rep CheckReport) Result() source.CheckResult {
	lines, failed := rep.Lines()
	return source.CheckResult{Lines: lines, Failed: failed}
}

// Lines renders the report as `otj-edge check` prints it: one line for the token, one per
// room; failed counts the lines that are failures.
func (rep CheckReport) Lines() (lines []string, failed int) {
	prefix := source.Component(Type, rep.Integration)
	if !rep.TokenOK {
		line := fmt.Sprintf("%s: token FAILED: %s", prefix, rep.TokenDetail)
		if rep.Certificate != "" {
			line += " [" + rep.Certificate + "]"
		}
		return append(lines, line), 1
	}
	cred := ""
	if rep.Certificate != "" {
		cred = ", " + rep.Certificate
	}
	lines = append(lines, fmt.Sprintf("%s: token ok (tenant %s at %s%s)", prefix, rep.Tenant, rep.Authority, cred))
	for _, rc := range rep.Rooms {
		if rc.Status == store.RoomOK {
			more := ""
			if rc.More {
				more = "+"
			}
			lines = append(lines, fmt.Sprintf("%s: %s: ok, readable (%d%s meetings in the next 24 h)", prefix, rc.Mailbox, rc.Meetings, more))
			continue
		}
		failed++
		lines = append(lines, fmt.Sprintf("%s: %s: %s: %s", prefix, rc.Mailbox, rc.Status, rc.Detail))
	}
	if n := rep.Notify; n != nil {
		if n.OK {
			lines = append(lines, fmt.Sprintf("%s: notifications: ok, %s", prefix, n.Detail))
		} else {
			failed++
			lines = append(lines, fmt.Sprintf("%s: notifications FAILED: %s", prefix, n.Detail))
		}
	}
	if rep.Probe != nil {
		lines = append(lines, rep.Probe.lines(prefix)...)
	}
	return lines, failed
}
