package ews

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The EWS operations the source uses: SyncFolderItems (the change probe), FindItem with a
// CalendarView (the window's instances), GetItem (the items' properties, batched),
// Subscribe and Unsubscribe (streaming notifications; GetStreamingEvents is in streaming.go).

// itemID is an ItemId.
type itemID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr"`
}

// syncChanges is one SyncFolderItems answer.
type syncChanges struct {
	state   string
	last    bool // IncludesLastItemInRange
	changes int  // creates, updates and deletes (read flags do not count)
}

type syncFolderItemsResponse struct {
	Messages []struct {
		responseMessage
		SyncState string `xml:"SyncState"`
		Last      string `xml:"IncludesLastItemInRange"`
		Changes   struct {
			Create []struct{} `xml:"Create"`
			Update []struct{} `xml:"Update"`
			Delete []struct{} `xml:"Delete"`
		} `xml:"Changes"`
	} `xml:"ResponseMessages>SyncFolderItemsResponseMessage"`
}

// maxChanges is SyncFolderItems' MaxChangesReturned (its maximum, 512): the source only
// needs to know whether anything changed, so fewer calls is better.
const maxChanges = 512

// syncFolderItems asks what changed in the room's calendar since state ("" = from the start).
func (c *client) syncFolderItems(ctx context.Context, mailbox, state string) (syncChanges, error) {
	body := `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>` +
		`<m:SyncFolderId>` + c.calendarFolder(mailbox) + `</m:SyncFolderId>`
	if state != "" {
		body += `<m:SyncState>` + esc(state) + `</m:SyncState>`
	}
	body += fmt.Sprintf(`<m:MaxChangesReturned>%d</m:MaxChangesReturned></m:SyncFolderItems>`, maxChanges)
	resp, _, err := call[syncFolderItemsResponse](ctx, c, "SyncFolderItems", target{mailbox: mailbox}, body)
	if err != nil {
		return syncChanges{}, err
	}
	if len(resp.Messages) != 1 {
		return syncChanges{}, &ewsError{op: "SyncFolderItems", code: "garbage", message: "no response message"}
	}
	m := resp.Messages[0]
	if m.failed() {
		return syncChanges{}, m.err("SyncFolderItems")
	}
	ch := m.Changes
	return syncChanges{state: m.SyncState, last: strings.TrimSpace(m.Last) != "false",
		changes: len(ch.Create) + len(ch.Update) + len(ch.Delete)}, nil
}

// viewItem is an instance a CalendarView lists.
type viewItem struct {
	ItemID    itemID `xml:"ItemId"`
	Start     string `xml:"Start"`
	End       string `xml:"End"`
	Type      string `xml:"CalendarItemType"`
	UID       string `xml:"UID"`
	IsMeeting string `xml:"IsMeeting"`
}

type findItemResponse struct {
	Messages []struct {
		responseMessage
		Root struct {
			Total string     `xml:"TotalItemsInView,attr"`
			Last  string     `xml:"IncludesLastItemInRange,attr"`
			Items []viewItem `xml:"Items>CalendarItem"`
		} `xml:"RootFolder"`
	} `xml:"ResponseMessages>FindItemResponseMessage"`
}

// calendarView lists the instances of [ws, we) (singles, occurrences and exceptions; no
// masters); complete is false when Exchange cut the list at max entries.
func (c *client) calendarView(ctx context.Context, mailbox string, ws, we time.Time, max int) (items []viewItem, complete bool, err error) {
	body := `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>` +
		`<t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="calendar:End"/>` +
		`<t:FieldURI FieldURI="calendar:CalendarItemType"/><t:FieldURI FieldURI="calendar:UID"/></t:AdditionalProperties></m:ItemShape>` +
		fmt.Sprintf(`<m:CalendarView MaxEntriesReturned="%d" StartDate="%s" EndDate="%s"/>`, max, ewsTime(ws), ewsTime(we)) +
		`<m:ParentFolderIds>` + c.calendarFolder(mailbox) + `</m:ParentFolderIds></m:FindItem>`
	resp, _, err := call[findItemResponse](ctx, c, "FindItem", target{mailbox: mailbox}, body)
	if err != nil {
		return nil, false, err
	}
	if len(resp.Messages) != 1 {
		return nil, false, &ewsError{op: "FindItem", code: "garbage", message: "no response message"}
	}
	m := resp.Messages[0]
	if m.failed() {
		return nil, false, m.err("FindItem")
	}
	return m.Root.Items, strings.TrimSpace(m.Root.Last) != "false", nil
}

// getItemResponse holds one message per requested id, in order.
type getItemResponse struct {
	Messages []struct {
		responseMessage
		Items []calendarItem `xml:"Items>CalendarItem"`
	} `xml:"ResponseMessages>GetItemResponseMessage"`
}

// getRef is one id of a GetItem: an item, or the series master of an occurrence.
type getRef struct {
	id       string
	masterOf bool // RecurringMasterItemId OccurrenceId=id
}

// gotItem is GetItem's answer for one ref: the item, or the per-item error code.
type gotItem struct {
	item calendarItem
	code string // "" = ok; ErrorItemNotFound, …
	err  *ewsError
}

// getItemProps are the properties read beyond AllProperties (research §A3).
const getItemProps = `<t:FieldURI FieldURI="calendar:UID"/><t:FieldURI FieldURI="calendar:IsOnlineMeeting"/>` +
	`<t:FieldURI FieldURI="calendar:JoinOnlineMeetingUrl"/><t:FieldURI FieldURI="calendar:OriginalStart"/>` +
	`<t:FieldURI FieldURI="calendar:IsCancelled"/><t:FieldURI FieldURI="calendar:CalendarItemType"/>`

// getItems reads items in one request (HTML bodies).
func (c *client) getItems(ctx context.Context, mailbox string, refs []getRef) ([]gotItem, error) {
	var b strings.Builder
	b.WriteString(`<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:BodyType>HTML</t:BodyType>` +
		`<t:AdditionalProperties>` + getItemProps + `</t:AdditionalProperties></m:ItemShape><m:ItemIds>`)
	for _, r := range refs {
		if r.masterOf {
			b.WriteString(`<t:RecurringMasterItemId OccurrenceId="` + esc(r.id) + `"/>`)
		} else {
			b.WriteString(`<t:ItemId Id="` + esc(r.id) + `"/>`)
		}
	}
	b.WriteString(`</m:ItemIds></m:GetItem>`)
	resp, _, err := call[getItemResponse](ctx, c, "GetItem", target{mailbox: mailbox}, b.String())
	if err != nil {
		return nil, err
	}
	if len(resp.Messages) != len(refs) {
		return nil, &ewsError{op: "GetItem", code: "garbage", message: fmt.Sprintf("%d answers for %d items", len(resp.Messages), len(refs))}
	}
	out := make([]gotItem, len(refs))
	for i, m := range resp.Messages {
		switch {
		case m.failed():
			out[i] = gotItem{code: m.Code, err: m.err("GetItem")}
		case len(m.Items) != 1:
			out[i] = gotItem{code: "garbage", err: &ewsError{op: "GetItem", code: "garbage", message: "no calendar item in the answer"}}
		default:
			out[i] = gotItem{item: m.Items[0]}
		}
	}
	return out, nil
}

type subscribeResponse struct {
	Messages []struct {
		responseMessage
		SubscriptionID string `xml:"SubscriptionId"`
	} `xml:"ResponseMessages>SubscribeResponseMessage"`
}

// subscribe opens a streaming subscription on the room's calendar.
func (c *client) subscribe(ctx context.Context, tg target) (string, error) {
	body := `<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>` + c.calendarFolder(tg.mailbox) + `</t:FolderIds><t:EventTypes>` +
		`<t:EventType>CreatedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType>` +
		`<t:EventType>MovedEvent</t:EventType><t:EventType>CopiedEvent</t:EventType>` +
		`</t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>`
	resp, _, err := call[subscribeResponse](ctx, c, "Subscribe", tg, body)
	if err != nil {
		return "", err
	}
	if len(resp.Messages) != 1 {
		return "", &ewsError{op: "Subscribe", code: "garbage", message: "no response message"}
	}
	if m := resp.Messages[0]; m.failed() {
		return "", m.err("Subscribe")
	}
	return resp.Messages[0].SubscriptionID, nil
}

type unsubscribeResponse struct {
	Messages []responseMessage `xml:"ResponseMessages>UnsubscribeResponseMessage"`
}

// unsubscribe ends a subscription (best effort: an expired one is gone anyway).
func (c *client) unsubscribe(ctx context.Context, tg target, id string) error {
	_, _, err := call[unsubscribeResponse](ctx, c, "Unsubscribe", tg, `<m:Unsubscribe><m:SubscriptionId>`+esc(id)+`</m:SubscriptionId></m:Unsubscribe>`)
	return err
}

// ewsTime is a UTC xs:dateTime.
func ewsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
