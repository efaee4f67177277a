package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/otj-edge/otj-edge/sync/source"
)

// Room discovery (`otj-edge rooms discover`): the Places API lists the tenant's room
// mailboxes and room lists. It needs the application permission Place.Read.All (admin
// consent), which reads directory data about rooms only, no calendar. The requests go through
// the same SDK request adapter as the calendar requests (client.go: token, allowed hosts,
// middleware, error reading), with the SDK's own URL templates (places package, v1.89.0:
// its type casts are the short graph.room form, which Graph takes as microsoft.graph.room).
// They are a one-off command's, outside the sync's daily budget, and never batched.

const (
	roomsTemplate     = "{+baseurl}/places/graph.room{?%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}"
	roomListsTemplate = "{+baseurl}/places/graph.roomList{?%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}"
	listRoomsTemplate = "{+baseurl}/places/{place%2Did}/graph.roomList/rooms{?%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}"
)

// placesPageSize is the $top sent: Graph's default page for rooms and room lists.
const placesPageSize = 100

// maxPlacesPages bounds one listing (100,000 places): a server that keeps sending links
// cannot keep the command running for ever.
const maxPlacesPages = 1000

// PlacesPermission is the application permission room discovery needs.
const PlacesPermission = "Place.Read.All"

type pageQuery struct {
	Skip *int32 `uriparametername:"%24skip"`
	Top  *int32 `uriparametername:"%24top"`
}

// place is a room or room list as the Places API sends it.
type place struct {
	ID                     string  `json:"id"`
	EmailAddress           string  `json:"emailAddress"`
	DisplayName            string  `json:"displayName"`
	Capacity               *int    `json:"capacity"`
	Building               *string `json:"building"`
	FloorNumber            *int    `json:"floorNumber"`
	FloorLabel             *string `json:"floorLabel"`
	IsWheelChairAccessible *bool   `json:"isWheelChairAccessible"`
}

// Discover lists the rooms and room lists integration in can see (httpClient may be nil: the
// system roots plus ca_file). A refusal names the permission to grant.
func Discover(ctx context.Context, in Integration, httpClient *http.Client) (source.Discovery, error) {
	if httpClient == nil {
		var err error
		if httpClient, err = baseClient(in.CAFile); err != nil {
			return source.Discovery{}, err
		}
	}
	a, err := newAPI(in, httpClient)
	if err != nil {
		return source.Discovery{}, err
	}
	rooms, err := a.listPlaces(ctx, "rooms", roomsTemplate, nil)
	if err != nil {
		return source.Discovery{}, err
	}
	lists, err := a.listPlaces(ctx, "room lists", roomListsTemplate, nil)
	if err != nil {
		return source.Discovery{}, err
	}
	byMailbox := map[string]*source.DiscoveredRoom{}
	var order []string
	add := func(p place) *source.DiscoveredRoom {
		m := strings.ToLower(p.EmailAddress)
		if r := byMailbox[m]; r != nil {
			return r
		}
		r := &source.DiscoveredRoom{Mailbox: m, DisplayName: p.DisplayName, Capacity: p.Capacity, Building: deref(p.Building),
			Floor: p.FloorNumber, FloorLabel: deref(p.FloorLabel), WheelchairAccessible: p.IsWheelChairAccessible}
		byMailbox[m] = r
		order = append(order, m)
		return r
	}
	for _, p := range rooms {
		add(p)
	}
	var out source.Discovery
	for _, l := range lists {
		id := l.EmailAddress // Graph takes the list's address or its place id here
		if id == "" {
			id = l.ID
		}
		members, err := a.listPlaces(ctx, "the rooms of room list "+id, listRoomsTemplate, map[string]string{"place%2Did": id})
		if err != nil {
			return source.Discovery{}, err
		}
		rl := source.RoomList{Mailbox: strings.ToLower(l.EmailAddress), DisplayName: l.DisplayName, Rooms: []string{}}
		for _, p := range members {
			// A member the rooms listing left out (it pages on its own) is still a room.
			r := add(p)
			rl.Rooms = append(rl.Rooms, r.Mailbox)
			r.Lists = append(r.Lists, rl.Mailbox)
		}
		sort.Strings(rl.Rooms)
		out.Lists = append(out.Lists, rl)
	}
	for _, m := range order {
		r := byMailbox[m]
		sort.Strings(r.Lists)
		out.Rooms = append(out.Rooms, *r)
	}
	sort.SliceStable(out.Rooms, func(i, j int) bool {
		return roomLess(out.Rooms[i].DisplayName, out.Rooms[i].Mailbox, out.Rooms[j].DisplayName, out.Rooms[j].Mailbox)
	})
	sort.SliceStable(out.Lists, func(i, j int) bool {
		return roomLess(out.Lists[i].DisplayName, out.Lists[i].Mailbox, out.Lists[j].DisplayName, out.Lists[j].Mailbox)
	})
	return out, nil
}

func roomLess(nameA, mailA, nameB, mailB string) bool {
	if a, b := strings.ToLower(nameA), strings.ToLower(nameB); a != b {
		return a < b
	}
	return mailA < mailB
}

// listPlaces reads every page of a places collection (what names it in errors). It follows
// @odata.nextLink; Graph long sent none for places and returned at most $top of them, so a
// full page without a link is followed by a $skip request until a short page ends it.
func (a *api) listPlaces(ctx context.Context, what, template string, path map[string]string) ([]place, error) {
	var out []place
	seen := map[string]bool{}
	link, received := "", 0
	for range maxPlacesPages {
		res := a.placesGet(ctx, template, path, link, received)
		if !res.ok() {
			return nil, a.placesError(what, res)
		}
		var body struct {
			Value []place `json:"value"`
			Next  string  `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(res.body, &body); err != nil {
			return nil, fmt.Errorf("list %s: Graph sent a body that is not valid JSON: %w", what, err)
		}
		fresh := 0
		for _, p := range body.Value {
			key := strings.ToLower(p.EmailAddress)
			if key == "" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, p)
			fresh++
		}
		received += len(body.Value)
		switch {
		case body.Next != "":
			link = body.Next
		case link == "" && len(body.Value) >= placesPageSize && fresh > 0:
			// no link: ask for the next page ourselves
		default:
			return out, nil
		}
	}
	return nil, fmt.Errorf("list %s: Graph kept sending pages after %d of them", what, maxPlacesPages)
}

// placesGet sends one places request: the first page (or a $skip page) from template, or a
// nextLink as Graph sent it.
func (a *api) placesGet(ctx context.Context, template string, path map[string]string, link string, skip int) result {
	if link != "" {
		if err := a.checkLink(link); err != nil {
			return result{err: err, retryAfter: -1}
		}
		template, path = roomsTemplate, map[string]string{"request-raw-url": link}
	}
	params := map[string]string{}
	for k, v := range path {
		params[k] = v
	}
	ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.GET, template, params)
	if link == "" {
		top := int32(placesPageSize)
		q := pageQuery{Top: &top}
		if skip > 0 {
			s := int32(skip)
			q.Skip = &s
		}
		ri.AddQueryParameters(q)
	}
	ri.Headers.TryAdd("Accept", "application/json")
	adapter, gen := a.current()
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	v, err := adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		r := a.errorResult(err)
		r.gen = gen
		return r
	}
	body, _ := v.([]byte)
	return result{status: http.StatusOK, body: body, retryAfter: -1, sent: true, gen: gen}
}

// placesError says why a places request failed and what to do.
func (a *api) placesError(what string, res result) error {
	if res.err != nil {
		return fmt.Errorf("list %s: %s", what, classifyError(res.err).detail)
	}
	answer := strconv.Itoa(res.status)
	if res.code != "" {
		answer += " " + res.code
	}
	if res.message != "" {
		answer += ": " + res.message
	}
	if res.status == http.StatusForbidden {
		return fmt.Errorf("list %s: Graph refused (%s). The app registration (client id %s) needs the Microsoft Graph "+
			"application permission %s, and an administrator must grant admin consent for it: Entra admin center › "+
			"App registrations › the app › API permissions › Add a permission › Microsoft Graph › Application permissions › "+
			"%s, then \"Grant admin consent for <your tenant>\". It reads the directory's rooms and room lists, no calendar. "+
			"Run this again a few minutes later (a new token carries the grant)", what, answer, a.in.ClientID, PlacesPermission, PlacesPermission)
	}
	return fmt.Errorf("list %s: Graph answered %s", what, answer)
}
