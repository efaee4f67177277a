package ews

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// getItemSample is a GetItem answer shaped as the EWS reference documents it (namespaces
// corrected to http://, research §A7), for an occurrence of a Teams series in a room.
const getItemSample = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header><h:ServerVersionInfo xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4" Version="V2017_07_11"/></s:Header>
  <s:Body>
    <m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>
        <m:GetItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:Items>
            <t:CalendarItem>
              <t:ItemId Id="AAMkOcc1" ChangeKey="DwAAAB1"/>
              <t:Subject>Weekly sync</t:Subject>
              <t:Sensitivity>Private</t:Sensitivity>
              <t:Body BodyType="HTML">&lt;html&gt;&lt;body&gt;Join: https://teams.microsoft.com/l/meetup-join/19%3ameeting&lt;/body&gt;&lt;/html&gt;</t:Body>
              <t:DateTimeCreated>2026-11-01T08:00:00Z</t:DateTimeCreated>
              <t:LastModifiedTime>2026-11-20T08:00:00Z</t:LastModifiedTime>
              <t:UID>040000008200E00074C5B7101A82E0080000000011</t:UID>
              <t:Start>2026-11-23T10:00:00Z</t:Start>
              <t:End>2026-11-23T10:30:00Z</t:End>
              <t:OriginalStart>2026-11-23T10:00:00Z</t:OriginalStart>
              <t:IsAllDayEvent>false</t:IsAllDayEvent>
              <t:LegacyFreeBusyStatus>Tentative</t:LegacyFreeBusyStatus>
              <t:Location>Room 1</t:Location>
              <t:IsMeeting>true</t:IsMeeting>
              <t:IsCancelled>false</t:IsCancelled>
              <t:CalendarItemType>Occurrence</t:CalendarItemType>
              <t:MyResponseType>Accept</t:MyResponseType>
              <t:Organizer><t:Mailbox><t:Name>Ada Lovelace</t:Name><t:EmailAddress>ada@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:Organizer>
              <t:RequiredAttendees><t:Attendee><t:Mailbox><t:Name>Bob</t:Name><t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox><t:ResponseType>Decline</t:ResponseType></t:Attendee></t:RequiredAttendees>
              <t:Resources><t:Attendee><t:Mailbox><t:Name>Room 1</t:Name><t:EmailAddress>room1@contoso.com</t:EmailAddress></t:Mailbox><t:ResponseType>Accept</t:ResponseType></t:Attendee></t:Resources>
              <t:IsOnlineMeeting>true</t:IsOnlineMeeting>
              <t:JoinOnlineMeetingUrl>https://teams.microsoft.com/l/meetup-join/19%3ameeting</t:JoinOnlineMeetingUrl>
            </t:CalendarItem>
          </m:Items>
        </m:GetItemResponseMessage>
      </m:ResponseMessages>
    </m:GetItemResponse>
  </s:Body>
</s:Envelope>`

func TestGetItemOccurrenceMapsToTheGraphShapedEventTheProcessorReads(t *testing.T) {
	var env envelope[getItemResponse]
	require.NoError(t, xml.Unmarshal([]byte(getItemSample), &env))
	require.Equal(t, "15.2.1544.4 (V2017_07_11)", env.Header.Version.String())
	require.Len(t, env.Body.Resp.Messages, 1)
	it := env.Body.Resp.Messages[0].Items[0]
	data, idx, err := eventDoc(it, "AAMkMaster")
	require.NoError(t, err)
	var ev calendar.Event
	require.NoError(t, json.Unmarshal(data, &ev))
	require.Equal(t, "AAMkOcc1", ev.ID)
	require.Equal(t, calendar.TypeOccurrence, ev.Type)
	require.Equal(t, "AAMkMaster", ev.SeriesMasterID)
	require.Equal(t, "040000008200E00074C5B7101A82E0080000000011", ev.ICalUID)
	require.Equal(t, "DwAAAB1", ev.ChangeKey)
	st, err := ev.StartTime()
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), st)
	require.Equal(t, "html", ev.Body.ContentType)
	require.Contains(t, ev.Body.Content, "<body>Join: https://teams.microsoft.com/")
	require.True(t, ev.IsPrivate())
	require.Equal(t, "tentative", ev.ShowAs)
	require.Equal(t, "accepted", ev.ResponseStatus.Response)
	require.Equal(t, "Ada Lovelace", ev.OrganizerName())
	require.Equal(t, "ada@contoso.com", ev.OrganizerAddress())
	require.Equal(t, "Room 1", ev.LocationText())
	require.Len(t, ev.Attendees, 2)
	require.Equal(t, "required", ev.Attendees[0].Type)
	require.Equal(t, "declined", ev.Attendees[0].Status.Response)
	require.Equal(t, "resource", ev.Attendees[1].Type)
	require.True(t, ev.IsOnlineMeeting)
	require.Equal(t, "teamsForBusiness", ev.OnlineMeetingProvider)
	require.Equal(t, "https://teams.microsoft.com/l/meetup-join/19%3ameeting", ev.OnlineMeeting.JoinURL)
	// What the store indexes agrees with the JSON.
	require.Equal(t, ev.ID, idx.ID)
	require.Equal(t, "AAMkMaster", idx.SeriesMasterID)
	// The same item gives the same bytes (no rewrite of an unchanged row).
	again, _, err := eventDoc(it, "AAMkMaster")
	require.NoError(t, err)
	require.Equal(t, data, again)
}

func TestCalendarItemTypesMapToGraphTypes(t *testing.T) {
	for ews, graph := range map[string]string{"Single": "singleInstance", "Occurrence": "occurrence", "Exception": "exception", "RecurringMaster": "seriesMaster"} {
		it := calendarItem{ItemID: itemID{ID: "x", ChangeKey: "y"}, Type: ews, Start: "2026-11-23T10:00:00Z", End: "2026-11-23T11:00:00Z", Cancelled: "true"}
		_, ev, err := eventDoc(it, "m")
		require.NoError(t, err)
		require.Equal(t, graph, ev.Type)
		require.True(t, ev.IsCancelled)
		if graph == "singleInstance" || graph == "seriesMaster" {
			require.Empty(t, ev.SeriesMasterID)
		}
	}
}

// The FindItem CalendarView answer of the EWS docs (how-to-get-appointments…): 33 in the
// view, 5 returned, so the list is cut.
func TestCalendarViewSampleIsReadAsIncomplete(t *testing.T) {
	const sample = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
<m:RootFolder TotalItemsInView="33" IncludesLastItemInRange="false"><t:Items>
<t:CalendarItem><t:ItemId Id="AAMk1" ChangeKey="DwAA1"/><t:Subject>Daily status meeting</t:Subject><t:Start>2013-08-21T20:00:00Z</t:Start><t:End>2013-08-21T21:00:00Z</t:End></t:CalendarItem>
</t:Items></m:RootFolder></m:FindItemResponseMessage></m:ResponseMessages></m:FindItemResponse></s:Body></s:Envelope>`
	var env envelope[findItemResponse]
	require.NoError(t, xml.Unmarshal([]byte(sample), &env))
	m := env.Body.Resp.Messages[0]
	require.Equal(t, "false", m.Root.Last)
	require.Equal(t, "AAMk1", m.Root.Items[0].ItemID.ID)
	require.Equal(t, "DwAA1", m.Root.Items[0].ItemID.ChangeKey)
}

// ErrorServerBusy as exchangelib's fixture has it: a fault with BackOffMilliseconds.
func TestServerBusyFaultIsThrottledForTheBackOffExchangeAsks(t *testing.T) {
	const sample = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>
<faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>
<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>
<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">297749</t:Value></t:MessageXml></detail>
</s:Fault></s:Body></s:Envelope>`
	var env envelope[findItemResponse]
	require.NoError(t, xml.Unmarshal([]byte(sample), &env))
	f := env.Body.Fault
	require.NotNil(t, f)
	e := &ewsError{op: "FindItem", status: 500, code: f.Detail.Code, backoff: backoffOf(f.Detail.MessageXML.Values)}
	got := classify(e, "room1@contoso.com", Integration{Username: `CONTOSO\svc-otj`})
	require.Equal(t, store.RoomThrottled, got.status)
	require.Equal(t, 297749*time.Millisecond, got.backoff)
	require.Contains(t, got.detail, "ErrorServerBusy")
}

func TestStatusesNameTheFixWithRoomAndAccount(t *testing.T) {
	in := Integration{Username: `CONTOSO\svc-otj`, Password: secret.New("Sup3r-secret"), Access: AccessImpersonation, Auth: AuthNTLM}
	f := classify(&ewsError{code: "ErrorImpersonateUserDenied"}, "room1@contoso.com", in)
	require.Equal(t, store.RoomPolicyDenied, f.status)
	require.Contains(t, f.detail, "New-ManagementScope")
	require.Contains(t, f.detail, "New-ManagementRoleAssignment")
	require.Contains(t, f.detail, "ApplicationImpersonation -User svc-otj")
	require.Contains(t, f.detail, "room1@contoso.com")

	in.Access = AccessDelegate
	f = classify(&ewsError{code: "ErrorAccessDenied"}, "room1@contoso.com", in)
	require.Equal(t, store.RoomPolicyDenied, f.status)
	require.Contains(t, f.detail, `Add-MailboxFolderPermission -Identity room1@contoso.com:\Calendar -User svc-otj -AccessRights Reviewer`)

	f = classify(&ewsError{code: "ErrorNonExistentMailbox"}, "nope@contoso.com", in)
	require.Equal(t, store.RoomNotFound, f.status)

	f = classify(&ewsError{status: 401, scheme: "Negotiate, NTLM", ntlm: true}, "room1@contoso.com", in)
	require.Equal(t, store.RoomAuthFailed, f.status)
	require.Contains(t, f.detail, "NTLM")
	require.Contains(t, f.detail, `CONTOSO\svc-otj`)
	require.Contains(t, f.detail, "Extended Protection")
	require.Contains(t, f.detail, "auth: basic over https")
	require.NotContains(t, f.detail, "Sup3r-secret")

	in.Auth = AuthBasic
	f = classify(&ewsError{status: 401, scheme: "Basic realm=\"x\""}, "room1@contoso.com", in)
	require.Contains(t, f.detail, "Basic")
	require.NotContains(t, f.detail, "Sup3r-secret")

	f = classify(&ewsError{op: "FindItem", err: errNoAnswer}, "room1@contoso.com", in)
	require.Equal(t, store.RoomTransient, f.status)
}

func TestConfigRefusesExchange2019AndBasicOverHTTP(t *testing.T) {
	_, err := normalize(Integration{Name: "x", URL: "https://mail/EWS/Exchange.asmx", RequestServerVersion: "Exchange2019"})
	require.ErrorContains(t, err, "Exchange2016")
	_, err = normalize(Integration{Name: "x", URL: "http://mail/EWS/Exchange.asmx", Auth: AuthBasic})
	require.ErrorContains(t, err, "https")
	in, err := normalize(Integration{Name: "x", URL: "https://mail/EWS/Exchange.asmx"})
	require.NoError(t, err)
	require.Equal(t, "Exchange2013_SP1", in.RequestServerVersion)
	c := &client{version: in.RequestServerVersion, access: AccessImpersonation}
	env := c.envelope(target{mailbox: "room1@contoso.com"}, "<m:X/>")
	require.Contains(t, env, `<t:RequestServerVersion Version="Exchange2013_SP1"/>`)
	require.Contains(t, env, `<t:PrimarySmtpAddress>room1@contoso.com</t:PrimarySmtpAddress>`)
	c.access = AccessDelegate
	require.False(t, strings.Contains(c.envelope(target{mailbox: "room1@contoso.com"}, ""), "ExchangeImpersonation"))
	require.Contains(t, c.calendarFolder("room1@contoso.com"), "<t:EmailAddress>room1@contoso.com</t:EmailAddress>")
}

func TestPinIsCheckedAgainstTheLeafCertificate(t *testing.T) {
	_, err := tlsConfig("", "zz")
	require.ErrorContains(t, err, "SHA-256")
	cfg, err := tlsConfig("", strings.Repeat("ab:", 31)+"ab")
	require.NoError(t, err)
	require.ErrorContains(t, cfg.VerifyPeerCertificate([][]byte{[]byte("not the pinned cert")}, nil), "not the pinned one")
}
