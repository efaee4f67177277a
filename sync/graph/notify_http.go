package graph

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
)

// What Graph POSTs to notifications_url (through the site's reverse proxy to the agent's
// listener): the validation handshake, change notifications and lifecycle notifications, all
// on the one URL (lifecycleNotificationUrl is set to notifications_url too; lifecycle events
// carry a lifecycleEvent).

// maxValidationToken bounds the token echoed back (Graph's are about a hundred characters).
const maxValidationToken = 4096

// notification is one entry of value[].
type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

// HandleNotification answers Graph at notifications_url: the validation handshake (the token
// echoed as text/plain, at once: Graph waits 10 s), and notifications, answered 202 after
// checking each one's subscription and clientState (those that fail are ignored and counted).
// A change syncs its room at once; reauthorizationRequired renews the subscription,
// subscriptionRemoved re-creates it, missed syncs the room.
func (s *Syncer) HandleNotification(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("validationToken"); tok != "" {
		if len(tok) > maxValidationToken {
			http.Error(w, "validationToken too long", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, tok)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Graph change notifications are POSTed here", http.StatusMethodNotAllowed)
		return
	}
	var in struct {
		Value []notification `json:"value"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &in) != nil {
		http.Error(w, "not a Graph change notification", http.StatusBadRequest)
		return
	}
	for _, n := range in.Value {
		s.notified(n)
	}
	w.WriteHeader(http.StatusAccepted)
}

// notified acts on one notification whose subscription and clientState check out.
func (s *Syncer) notified(n notification) {
	if s.nt == nil {
		return
	}
	s.mu.Lock()
	st := s.nt.byID[n.SubscriptionID]
	if st == nil || st.clientState == "" || subtle.ConstantTimeCompare([]byte(st.clientState), []byte(n.ClientState)) != 1 {
		s.nt.stats.Ignored++
		ignored := s.nt.stats.Ignored
		s.mu.Unlock()
		// Not the clientState itself: it is the subscription's secret.
		if ignored == 1 || ignored%100 == 0 {
			s.log.Warn("ignored change notifications that do not match a subscription of ours (unknown subscription or wrong clientState)",
				"ignored", ignored)
		}
		return
	}
	s.nt.stats.Received++
	mailbox := st.mailbox
	if n.LifecycleEvent != "" {
		s.nt.stats.Lifecycle++
	}
	now := s.clk.Now()
	switch n.LifecycleEvent {
	case "reauthorizationRequired":
		st.due = now // renew: the PATCH is the reauthorization
		s.mu.Unlock()
		s.log.Info("Graph asks to reauthorize the room's subscription; renewing it", "room", mailbox)
		s.kickNotify()
		return
	case "subscriptionRemoved":
		s.mu.Unlock()
		s.log.Info("Graph removed the room's change-notification subscription; subscribing again", "room", mailbox)
		s.lostSubscription(st)
		return
	case "missed":
		s.mu.Unlock()
		s.log.Info("Graph missed change notifications for the room; syncing it", "room", mailbox)
	case "":
		s.mu.Unlock()
	default:
		s.mu.Unlock()
		return // a lifecycle event this version does not know: nothing to do
	}
	_ = s.SyncNow(mailbox, false)
}
