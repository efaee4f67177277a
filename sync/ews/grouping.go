package ews

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Subscription groups, as Exchange requires for streaming notifications on several mailboxes
// (research §A3, "Maintain affinity between a group of subscriptions and the Mailbox server"):
// autodiscover's GroupingInformation and ExternalEwsUrl of every room, asked with
// GetUserSettings for many rooms at once; rooms with the same concatenated value form groups
// of at most 200, each anchored on its first room. A group that mixes servers has
// subscriptions its stream's server does not hold (ErrorSubscriptionNotFound). When
// autodiscover does not answer (a site that configures the EWS URL and blocks autodiscover),
// the rooms are grouped by name in chunks of 200 (right on a single-server site) and the
// health line says so.

// maxUsersPerGetUserSettings is how many users one GetUserSettings may name: Exchange's
// MaxUsersPerGetUserSettingsRequest defaults to 90 (more answers InvalidRequest).
const maxUsersPerGetUserSettings = 90

// groupPlan is how the rooms are subscribed: the groups, and for the health line how they
// were formed when not by GroupingInformation.
type groupPlan struct {
	groups   [][]string
	fallback string // "" when grouped by GroupingInformation; else why not
}

// groupSize is the most rooms one subscription group (one GetStreamingEvents) carries.
func (s *Syncer) groupSize() int {
	if n := s.tune.StreamGroup; n > 0 && n < streamGroup {
		return n
	}
	return streamGroup
}

// planGroups asks autodiscover for the rooms' GroupingInformation and groups them.
func (s *Syncer) planGroups(ctx context.Context, ewsURL string, rooms []string) groupPlan {
	size := s.groupSize()
	svc := groupingService(s.in, ewsURL)
	if svc == "" {
		return groupPlan{groups: chunk(rooms, size), fallback: "autodiscover is not https"}
	}
	hc := &http.Client{Transport: authTransport(s.in.Auth, s.base.Transport), Timeout: 30 * time.Second}
	keys := map[string]string{}
	found := 0
	for i := 0; i < len(rooms); i += maxUsersPerGetUserSettings {
		batch := rooms[i:min(len(rooms), i+maxUsersPerGetUserSettings)]
		users, err := getUsersSettings(ctx, hc, s.in, svc, batch, "GroupingInformation", "ExternalEwsUrl")
		if err == nil && len(users) != len(batch) {
			err = &ewsError{op: "autodiscover", code: "garbage", message: "GetUserSettings answered for another number of users"}
		}
		if err != nil {
			why := "autodiscover at " + svc + " gave no GroupingInformation: " + classify(err, "", s.in).detail
			s.log.Warn("streaming notifications: subscription groups by room name, not by mailbox server; "+
				"on a site with several mailbox servers some streams may be refused", "err", err)
			return groupPlan{groups: chunk(rooms, size), fallback: why}
		}
		for j, u := range users {
			if gi := u.settings["GroupingInformation"]; u.code == "" && gi != "" {
				keys[batch[j]] = u.settings["ExternalEwsUrl"] + gi
				found++
			}
		}
	}
	if found == 0 {
		return groupPlan{groups: chunk(rooms, size), fallback: "autodiscover at " + svc + " gave no GroupingInformation for any room"}
	}
	byKey := map[string][]string{}
	for _, m := range rooms {
		byKey[keys[m]] = append(byKey[keys[m]], m) // rooms autodiscover did not know: key ""
	}
	names := make([]string, 0, len(byKey))
	for k := range byKey {
		names = append(names, k)
	}
	sort.Strings(names)
	var plan groupPlan
	for _, k := range names {
		plan.groups = append(plan.groups, chunk(byKey[k], size)...)
	}
	return plan
}

// groupingService is the SOAP autodiscover service to ask: the configured one, else the one on
// the EWS URL's host (Exchange serves both from its client access services).
func groupingService(in Integration, ewsURL string) string {
	if in.AutodiscoverURL != "" {
		if svc := autodiscoverCandidates(in, "")[0]; strings.HasPrefix(strings.ToLower(svc), "https://") {
			return svc
		}
		return ""
	}
	u, err := url.Parse(ewsURL)
	if err != nil || !strings.EqualFold(u.Scheme, "https") {
		return ""
	}
	return "https://" + u.Host + "/autodiscover/autodiscover.svc"
}

func chunk(rooms []string, size int) [][]string {
	var out [][]string
	for i := 0; i < len(rooms); i += size {
		out = append(out, rooms[i:min(len(rooms), i+size)])
	}
	return out
}
