package agent

import (
	"context"
	"net/http"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The push listener of a Google integration with notifications_url: a part of its own
// ("google/<name> notifications") on notifications_listen (default 127.0.0.1:8090), plain HTTP
// behind the site's reverse proxy, handing every message to the integration's running source
// (sync/google's HandleNotification checks the channel and its token), like Graph's
// (notify.go, whose serveNotifications it shares). It starts before the source, so a
// channel's first "sync" message finds it listening; while the source is rebuilt it answers
// 503 and Google retries.

// googleNotifySpec is the listener part of integration in, when it has one.
func (a *Agent) googleNotifySpec(in *config.Integration) (partSpec, bool) {
	g := in.Google()
	if g == nil || g.NotificationsURL == "" {
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
