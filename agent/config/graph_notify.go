package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Change notifications of a Graph integration (README "Calendar sync (Microsoft Graph)",
// change notifications):
//
//	notifications_url: https://otj.example.com/graph/notify   # public, HTTPS, on the site's reverse proxy
//	notifications_listen: 127.0.0.1:8089                      # where the proxy forwards it (plain HTTP)
//
// Graph only posts to public HTTPS URLs, so TLS ends at the site's reverse proxy, which
// forwards to the agent's listener. The listener defaults to loopback (the proxy on the same
// box); a proxy on another host needs a routable address, with the firewall letting only the
// proxy reach it. Either way the agent acts only on notifications naming one of its
// subscriptions with that subscription's secret clientState.

// DefaultNotificationsListen is the notification listener's address when notifications_url is
// set and notifications_listen is not.
const DefaultNotificationsListen = "127.0.0.1:8089"

// NotificationsEnabled reports whether the integration subscribes to change notifications.
func (g *Graph) NotificationsEnabled() bool { return g.NotificationsURL != "" }

func (g *Graph) checkNotifications(c *IntegrationCheck) {
	if g.NotificationsURL == "" {
		if g.NotificationsListen != "" {
			c.Errorf("notifications_listen", "notifications_listen needs notifications_url (the public HTTPS URL the reverse proxy forwards to it)")
		}
		return
	}
	if g.Auth == GraphAuthDelegated {
		// Graph's subscriptions on Outlook resources with delegated permissions cover the
		// signed-in user's own mailbox only, never the rooms a service account reads.
		c.Errorf("notifications_url", "notifications_url needs auth: app-only: with delegated permissions Graph notifies only about the signed-in account's own mailbox, not the rooms (remove notifications_url, or use an app registration)")
		return
	}
	u, err := url.Parse(g.NotificationsURL)
	switch {
	case err != nil || u.Host == "" || !u.IsAbs():
		c.Errorf("notifications_url", "notifications_url %q is not an absolute URL (e.g. https://otj.example.com/graph/notify)", g.NotificationsURL)
		return
	case u.Scheme != "https":
		c.Errorf("notifications_url", "notifications_url %q must be https: Graph posts notifications to HTTPS URLs only (TLS ends at the reverse proxy)", g.NotificationsURL)
		return
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		c.Errorf("notifications_url", "notifications_url %q must have no user, query or fragment (Graph adds its own query)", g.NotificationsURL)
		return
	case len(g.NotificationsURL) > 2048:
		c.Errorf("notifications_url", "notifications_url is longer than 2048 characters")
		return
	}
	if host := u.Hostname(); !publicHost(host) {
		c.Warnf("notifications_url", "notifications_url host %s is not a public name or address: Graph posts from the internet and cannot reach it (fine with a simulator)", host)
	}
	if g.NotificationsListen == "" {
		g.NotificationsListen = DefaultNotificationsListen
		return
	}
	host, port, err := net.SplitHostPort(g.NotificationsListen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		c.Errorf("notifications_listen", "notifications_listen %q is not host:port with a port 1–65535 (e.g. %s)", g.NotificationsListen, DefaultNotificationsListen)
		return
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		c.Warnf("notifications_listen", "notifications_listen %s is reachable from the network over plain HTTP: let only the reverse proxy reach it (firewall); forged notifications are refused by their clientState", g.NotificationsListen)
	}
}

// publicHost reports whether Graph could plausibly reach host: a dotted name that is not
// localhost, or an address that is neither loopback, private nor link-local.
func publicHost(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified())
	}
	h := strings.ToLower(host)
	return strings.Contains(h, ".") && h != "localhost" && !strings.HasSuffix(h, ".localhost") && !strings.HasSuffix(h, ".local")
}
