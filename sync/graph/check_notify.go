package graph

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// The change-notification part of `otj-edge check` (notifications_url set): a real round trip.
// One subscription for a readable room is created through notifications_url, so Graph sends
// its validation request through the site's reverse proxy, and deleted at once. When the agent
// is not running, the check listens on notifications_listen itself and so sees whether Graph's
// request arrived; when it is, the running agent answers. On a failure the check asks the
// public URL itself, from the site, to say which part is wrong: the proxy's TLS certificate,
// a proxy that does not forward, or one that does not answer in time.

// validationWait is how long Graph waits for the validation answer, and so the self-probe.
var validationWait = 10 * time.Second

// checkSubscriptionLifetime is the test subscription's expiry: short, so one the check could
// not delete lapses soon.
const checkSubscriptionLifetime = time.Hour

// NotifyCheck is the change-notification round trip of the check.
type NotifyCheck struct {
	OK     bool
	Detail string // what was done (OK), or what is wrong and what to fix
}

// checkNotifications creates and deletes one subscription for mailbox through in's
// notifications_url.
func checkNotifications(ctx context.Context, a *api, in Integration, mailbox string, client *http.Client) NotifyCheck {
	listen := in.NotificationListen
	var arrived atomic.Int64
	own := false // the check answers on notifications_listen itself (the agent is not running)
	if listen != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
		switch {
		case err == nil:
			own = true
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived.Add(1)
				echoValidation(w, r)
			}), ReadHeaderTimeout: validationWait}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
		case errors.Is(err, syscall.EADDRINUSE):
			// The running agent listens there and answers the validation itself.
		default:
			return NotifyCheck{Detail: fmt.Sprintf("cannot listen on notifications_listen %s: %v", listen, err)}
		}
	}

	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	exp := time.Now().Add(checkSubscriptionLifetime).UTC().Truncate(time.Second)
	body, _ := json.Marshal(map[string]string{
		"changeType": "created,updated,deleted", "notificationUrl": in.NotificationURL, "lifecycleNotificationUrl": in.NotificationURL,
		"resource": "users/" + mailbox + "/events", "expirationDateTime": exp.Format(time.RFC3339),
		"clientState": base64.RawURLEncoding.EncodeToString(buf),
	})
	res := a.subscriptionRequest(ctx, abstractions.POST, "", body)
	var out struct {
		ID string `json:"id"`
	}
	if res.ok() && (json.Unmarshal(res.body, &out) != nil || out.ID == "") {
		return NotifyCheck{Detail: "Graph answered the test subscription without an id"}
	}
	if !res.ok() {
		if res.err != nil || res.code != "ValidationError" {
			return NotifyCheck{Detail: "Graph refused the test subscription for " + mailbox + ": " + describe(res)}
		}
		return NotifyCheck{Detail: "Graph could not validate " + in.NotificationURL + ": " +
			diagnoseValidation(ctx, client, in.NotificationURL, listen, own, arrived.Load())}
	}
	via := "the running agent's listener"
	if own {
		via = "notifications_listen " + listen
	}
	detail := fmt.Sprintf("Graph validated %s (through the reverse proxy to %s): a test subscription for %s created and deleted", in.NotificationURL, via, mailbox)
	if del := a.subscriptionRequest(ctx, abstractions.DELETE, out.ID, nil); !del.ok() {
		detail = fmt.Sprintf("Graph validated %s (through the reverse proxy to %s); the test subscription for %s could not be deleted (%s) and lapses within an hour",
			in.NotificationURL, via, mailbox, describe(del))
	}
	return NotifyCheck{OK: true, Detail: detail}
}

// echoValidation answers Graph's validation request as the agent's listener does.
func echoValidation(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("validationToken")
	if tok == "" || len(tok) > maxValidationToken {
		w.WriteHeader(http.StatusAccepted) // a notification for the test subscription: nothing to do
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, tok)
}

// diagnoseValidation says why Graph's validation failed, by sending a validation request to
// the public URL from here: arrived counts the requests that reached our own listener (own).
func diagnoseValidation(ctx context.Context, client *http.Client, public, listen string, own bool, arrived int64) string {
	u, err := url.Parse(public)
	if err != nil {
		return "notifications_url is not a URL"
	}
	host := u.Hostname()
	buf := make([]byte, 12)
	_, _ = rand.Read(buf)
	token := "otj-edge check " + base64.RawURLEncoding.EncodeToString(buf)
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	pctx, cancel := context.WithTimeout(ctx, validationWait)
	defer cancel()
	req, _ := http.NewRequestWithContext(pctx, http.MethodPost, u.String(), nil)
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var hostname x509.HostnameError
		var invalid x509.CertificateInvalidError
		var alert tls.AlertError
		var recordHdr tls.RecordHeaderError
		switch {
		case errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &recordHdr):
			return fmt.Sprintf("TLS: the reverse proxy's certificate for %s is not accepted (%s); Graph needs a certificate valid for %s from a public CA, with its chain",
				host, oneLine(tlsReason(err)), host)
		case pctx.Err() != nil && ctx.Err() == nil:
			return fmt.Sprintf("validation timeout: the reverse proxy at %s did not answer within %s (Graph waits %s); is the agent's listener %s up, and does the proxy forward to it?",
				host, validationWait, validationWait, orDefault(listen))
		default:
			return fmt.Sprintf("cannot reach the reverse proxy at %s from here (%s); Graph must reach it from the internet on port 443",
				u.Host, oneLine(err.Error()))
		}
	}
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != token {
		return fmt.Sprintf("the reverse proxy does not forward it: %s answers HTTP %d instead of the agent's validation answer; forward %s to notifications_listen %s",
			host, resp.StatusCode, u.Path, orDefault(listen))
	}
	switch {
	case own && arrived == 0: // counted before the probe above
		return fmt.Sprintf("the reverse proxy forwards to notifications_listen %s (tried from here), but Graph's validation request never arrived: Graph cannot reach %s from the internet (public DNS, firewall, NAT, or a certificate only this site trusts)",
			orDefault(listen), host)
	case own:
		return "Graph's validation request reached notifications_listen " + listen + " but Graph did not accept the answer: the proxy must pass the body and Content-Type through unchanged, within 10 s"
	default:
		return fmt.Sprintf("the reverse proxy forwards to the running agent (tried from here), yet Graph's validation failed: Graph cannot reach %s from the internet (public DNS, firewall, NAT, or a certificate only this site trusts)", host)
	}
}

// tlsReason is the certificate problem without the request line around it.
func tlsReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return strings.TrimPrefix(err.Error(), "tls: ")
}

func orDefault(listen string) string {
	if listen == "" {
		return "(notifications_listen)"
	}
	return listen
}
