package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The change-notification listener of a Graph integration with notifications_url: a part of
// its own ("graph/<name> notifications") on notifications_listen, plain HTTP behind the site's
// reverse proxy, handing every request to the integration's running source. It starts before
// the source (parts start in list order), so Graph's validation request for the first
// subscription finds it listening; while the source is being rebuilt it answers 503 and Graph
// retries. Its config keys: agent/config/graph_notify.go.

// notificationHandler is what a source that takes change notifications offers (sync/graph).
type notificationHandler interface {
	HandleNotification(w http.ResponseWriter, r *http.Request)
}

// notifySpec is the listener part of integration in, when it has one.
func (a *Agent) notifySpec(in *config.Integration) (partSpec, bool) {
	g := in.Graph()
	if g == nil || !g.NotificationsEnabled() {
		return partSpec{}, false
	}
	name, listen := in.Name, g.NotificationsListen
	component := source.Component(in.Type, in.Name) + " notifications"
	return partSpec{name: component, key: keyOf(listen), build: func() (func(context.Context) error, error) {
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.mu.Lock()
			src := a.sources[name]
			a.mu.Unlock()
			h, ok := src.(notificationHandler)
			if !ok {
				http.Error(w, "the calendar sync is starting", http.StatusServiceUnavailable)
				return
			}
			h.HandleNotification(w, r)
		})
		return func(ctx context.Context) error {
			return serveNotifications(ctx, listen, handler, func(msg string) { a.health.OK(component, msg) })
		}, nil
	}}, true
}

// serveNotifications listens on addr until ctx ends.
func serveNotifications(ctx context.Context, addr string, h http.Handler, ok func(string)) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("change notifications: cannot listen on notifications_listen %s (another program on the port?): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
	ok("listening on " + ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("change notifications listener %s: %w", addr, err)
	}
}
