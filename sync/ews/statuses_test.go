package ews

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// TestServerBusyBackOffIsObeyed: a room Exchange answers ErrorServerBusy with
// BackOffMilliseconds is shown throttled and is not asked again before the back-off has run
// out (ewssim's counters), not even by a sync on request; the other rooms go on meanwhile.
func TestServerBusyBackOffIsObeyed(t *testing.T) {
	busy, other := simRoom(1), simRoom(2)
	h := newSimHarness(t, ewssim.Options{}, busy, other)
	h.in.MaxInFlight = 1
	h.post(busy, invite("Busy room", t0.Add(3*time.Hour), time.Hour))
	h.post(other, invite("Other room", t0.Add(3*time.Hour), time.Hour))
	const backOff = 3 * time.Minute
	_, err := h.es.AddFault(ewssim.Fault{Mailbox: busy, BackOffMilliseconds: int(backOff / time.Millisecond), Count: 1})
	require.NoError(t, err)

	s, _ := h.start(Tuning{})
	h.waitFor("the other room synced and the busy one throttled", func() bool {
		return h.synced(other)() && h.status(busy) == store.RoomThrottled
	})
	at := h.clk.Now()
	asked := h.es.MailboxStats(busy).Requests
	assert.Equal(t, 1, h.es.MailboxStats(busy).ServerBusy)
	assert.Contains(t, h.room(busy).StatusDetail, "ErrorServerBusy")
	assert.Contains(t, h.room(busy).StatusDetail, "3m0s")
	assert.False(t, h.room(busy).RetryAfter.Before(at.Add(backOff)), "the retry shown is after the back-off")

	// The other room follows its calendar meanwhile; the busy one is not asked, even when
	// an operator asks for a sync.
	added := h.post(other, invite("Added while the other waits", t0.Add(5*time.Hour), time.Hour))
	require.NoError(t, s.SyncNow(busy, false))
	require.NoError(t, s.SyncNow(other, false))
	h.advance(s, backOff-time.Second, time.Second)
	assert.Contains(t, h.events(other), added, "the other room was not held up")
	assert.Equal(t, asked, h.es.MailboxStats(busy).Requests, "no request to the busy room before its back-off ran out")

	h.advance(s, 30*time.Second, time.Second)
	h.waitFor("the busy room back", h.synced(busy))
	assert.Greater(t, h.es.MailboxStats(busy).Requests, asked)
	assert.Len(t, h.events(busy), 1)
}

// TestRoomsThatCannotBeReadSayWhatToFix: with a single request in flight, rooms outside the
// impersonation scope, a room without a mailbox, and (as a delegate) a room without a folder
// permission get their statuses with the exact command that fixes them, while the good rooms
// sync without waiting for them; one event per problem room.
func TestRoomsThatCannotBeReadSayWhatToFix(t *testing.T) {
	good, denied := simRoom(1), simRoom(2)
	missing := "nobody@contoso.example"
	t.Run("impersonation", func(t *testing.T) {
		h := newSimHarness(t, ewssim.Options{}, good, denied)
		h.rooms = append(h.rooms, source.Room{Mailbox: missing, UpcomingDays: 7})
		h.in.MaxInFlight = 1
		require.NoError(t, h.es.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateScope, []string{good}))
		h.post(good, invite("Good room", t0.Add(3*time.Hour), time.Hour))
		h.start(Tuning{})
		h.waitFor("every status", func() bool {
			return h.synced(good)() && h.status(denied) == store.RoomPolicyDenied && h.status(missing) == store.RoomNotFound
		})
		d := h.room(denied).StatusDetail
		assert.Contains(t, d, "ErrorImpersonateUserDenied")
		assert.Contains(t, d, "New-ManagementRoleAssignment -Name OTJImpersonation -Role ApplicationImpersonation -User svc-otj -CustomRecipientWriteScope OTJRooms")
		assert.Contains(t, d, `CONTOSO\svc-otj may not impersonate `+denied)
		assert.Contains(t, h.room(missing).StatusDetail, "Exchange has no mailbox "+missing+" (ErrorNonExistentMailbox)")
		assert.Len(t, h.events(good), 1)
		perRoom := map[string]int{}
		for _, e := range h.recentEvents(EventSyncError) {
			perRoom[e.Room]++
		}
		assert.Equal(t, map[string]int{denied: 1, missing: 1}, perRoom)
		// Health is set just after the store writes it follows: wait for it too.
		h.waitFor("the health line", func() bool {
			return strings.Contains(h.healthItem().Message, "2 of 3 rooms not syncing")
		})
		assert.Equal(t, health.Warning, h.healthItem().Level)
	})
	t.Run("delegate", func(t *testing.T) {
		h := newSimHarness(t, ewssim.Options{}, good, denied)
		h.in.MaxInFlight, h.in.Access = 1, AccessDelegate
		require.NoError(t, h.es.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateNone, nil))
		require.NoError(t, h.es.GrantDelegate(ewssim.DefaultUser, good, ewssim.RightReviewer))
		h.post(good, invite("Good room", t0.Add(3*time.Hour), time.Hour))
		h.start(Tuning{})
		h.waitFor("every status", func() bool { return h.synced(good)() && h.status(denied) == store.RoomPolicyDenied })
		assert.Contains(t, h.room(denied).StatusDetail, `Add-MailboxFolderPermission -Identity `+denied+`:\Calendar -User svc-otj -AccessRights Reviewer`)
		assert.Len(t, h.events(good), 1)
	})
}

// TestWrongPasswordIsAuthFailed: a wrong password makes every room auth_failed with a detail
// that names the method and the account (and, for NTLM, Extended Protection as the other
// cause) and never the password; the health line fails.
func TestWrongPasswordIsAuthFailed(t *testing.T) {
	r := simRoom(1)
	const wrong = "Not-The-Pa55word"
	for _, tc := range []struct{ auth, says string }{
		{AuthNTLM, "Exchange refused NTLM sign-in of CONTOSO\\svc-otj"},
		{AuthBasic, "Exchange refused Basic sign-in of CONTOSO\\svc-otj (401): check username and password"},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			h := newSimHarness(t, ewssim.Options{Basic: true}, r)
			h.in.Auth, h.in.Password = tc.auth, secret.New(wrong)
			h.start(Tuning{})
			h.waitFor("auth_failed", func() bool { return h.status(r) == store.RoomAuthFailed })
			d := h.room(r).StatusDetail
			assert.Contains(t, d, tc.says)
			if tc.auth == AuthNTLM {
				assert.Contains(t, d, "Extended Protection")
			}
			h.waitFor("the health line", func() bool { return h.healthItem().Level == health.Error })
			for _, text := range []string{d, h.healthItem().Message} {
				assert.NotContains(t, text, wrong)
			}
			for _, e := range h.recentEvents(EventSyncError) {
				assert.NotContains(t, e.Message, wrong)
			}
			assert.Positive(t, h.es.Stats().AuthFailures)
		})
	}
}

// TestCheckLines: `otj-edge check` for an EWS integration says where autodiscover found EWS,
// the sign-in, the server version, and for each room whether it is readable or what fixes it.
func TestCheckLines(t *testing.T) {
	good, denied := simRoom(1), simRoom(2)
	h := newSimHarness(t, ewssim.Options{}, good, denied)
	require.NoError(t, h.es.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateScope, []string{good}))
	h.post(good, invite("Now-ish", time.Now().Add(time.Hour), time.Hour))
	in := h.in
	in.URL, in.AutodiscoverURL, in.AutodiscoverEmail = "", h.es.AutodiscoverURL(), good
	// The refused room first: its fault carries no ServerVersionInfo, the version line still
	// comes (from the first room that answers).
	res := Check(context.Background(), in, []string{denied, good}, nil)
	text := strings.Join(res.Lines, "\n")
	assert.Equal(t, 1, res.Failed, text)
	assert.Contains(t, text, "ews/onprem: autodiscover ok: "+h.es.EWSURL())
	assert.Contains(t, text, `ews/onprem: sign-in ok (ntlm as CONTOSO\svc-otj at `+h.es.EWSURL()+`)`)
	assert.Contains(t, text, "ews/onprem: server version 15.2.1544.4 (V2017_07_11) (requests ask for Exchange2013_SP1)")
	assert.Contains(t, text, "ews/onprem: "+good+": ok, readable (1 meetings in the next 24 h)")
	assert.Contains(t, text, "ews/onprem: "+denied+": policy_denied: ")

	in.Password = secret.New("Zq9-not-it")
	res = Check(context.Background(), in, []string{good}, nil)
	text = strings.Join(res.Lines, "\n")
	assert.Positive(t, res.Failed)
	assert.Contains(t, text, "FAILED")
	assert.Contains(t, text, "Exchange refused NTLM sign-in of CONTOSO\\svc-otj")
	assert.NotContains(t, text, "Zq9-not-it")
}
