package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// With --notify, the site has a public HTTPS URL for Graph change notifications: otj-sim runs
// the site's reverse proxy (TLS, a certificate from the sim CA, which graphsim trusts; graphsim
// only posts to loopback HTTPS) forwarding to the agent's notifications listener, and the
// generated agent config sets notifications_url and notifications_listen. sim.json's graph
// block gains "notifications".

func init() {
	Register(Part{Name: "notify", Order: 12, Start: startNotify})
}

// NotifyInfo is sim.json's graph.notifications: the public URL (the proxy) and where the agent
// listens behind it.
type NotifyInfo struct {
	URL    string `json:"url"`    // https://127.0.0.1:P/graph/notify
	Listen string `json:"listen"` // 127.0.0.1:Q, the agent's notifications_listen
}

// notifyPath is the public path; the agent's listener takes any path.
const notifyPath = "/graph/notify"

func startNotify(_ context.Context, env *Env) error {
	if !env.Opts.Notify {
		return nil
	}
	if env.Opts.Source != SourceGraph {
		return fmt.Errorf("--notify is for Graph change notifications: it needs --source graph, not %s", env.Opts.Source)
	}
	if env.File.Graph == nil {
		return errors.New("change notifications need graphsim: the graph part did not start")
	}
	listen, err := FreeAddr()
	if err != nil {
		return err
	}
	cert, err := env.CA.Issue("127.0.0.1")
	if err != nil {
		return err
	}
	ln, err := Listen()
	if err != nil {
		return err
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: listen})
	proxy.ErrorLog = nil
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	env.OnClose(func() { _ = srv.Close() })
	public := "https://" + ln.Addr().String() + notifyPath
	env.File.Graph.Notifications = &NotifyInfo{URL: public, Listen: listen}
	for i := range env.Agent.Integrations {
		if in := &env.Agent.Integrations[i]; in.Name == GraphIntegration {
			in.NotificationsURL, in.NotificationsListen = public, listen
		}
	}
	env.Log.Info("notifications proxy ready", "url", public, "forwards_to", listen)
	return nil
}
