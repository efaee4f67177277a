package stored

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// The nested values, by hand too: through encoding/json each small object (a time, the
// organizer) cost a decoder's allocations and reflection, more than the event's body did.

// ptr decodes raw into *p as encoding/json does: null makes it nil, an object fills the value
// *p points to (a new one when nil).
func ptr[T any](raw []byte, p **T, fill func(*T, []byte) bool) bool {
	if string(raw) == "null" {
		*p = nil
		return true
	}
	if *p == nil {
		*p = new(T)
	}
	return fill(*p, raw)
}

// list decodes a JSON array into *s as encoding/json does: null makes it nil, elements are
// decoded into the slice's existing ones where there are.
func list[T any](raw []byte, s *[]T, fill func(*T, []byte) bool) bool {
	if string(raw) == "null" {
		*s = nil
		return true
	}
	i := 0
	ok := elements(raw, func(v []byte) bool {
		if i >= cap(*s) {
			*s = slices.Grow(*s, 1)
		}
		if i >= len(*s) {
			*s = (*s)[:i+1]
		}
		i++
		return fill(&(*s)[i-1], v)
	})
	if !ok {
		return false
	}
	if i < len(*s) {
		*s = (*s)[:i]
	}
	if i == 0 {
		*s = []T{}
	}
	return true
}

// object decodes an object whose members of interest are strings (others are skipped):
// name gives the target of a key, nil for none.
func object(raw []byte, name func(key []byte) *string) bool {
	if string(raw) == "null" { // a struct value: encoding/json leaves it as it is
		return true
	}
	return members(raw, func(key, v []byte) bool {
		if dst := name(key); dst != nil {
			return decodeString(v, dst)
		}
		return true
	})
}

// is reports whether a member's key names the field name, as encoding/json matches them.
func is(key []byte, name string) bool {
	return string(key) == name || strings.EqualFold(string(key), name)
}

func dateTime(d *calendar.DateTimeTimeZone, raw []byte) bool {
	return object(raw, func(k []byte) *string {
		switch {
		case is(k, "dateTime"):
			return &d.DateTime
		case is(k, "timeZone"):
			return &d.TimeZone
		}
		return nil
	})
}

func emailAddress(a *calendar.EmailAddress, raw []byte) bool {
	return object(raw, func(k []byte) *string {
		switch {
		case is(k, "name"):
			return &a.Name
		case is(k, "address"):
			return &a.Address
		}
		return nil
	})
}

func recipient(r *calendar.Recipient, raw []byte) bool {
	return members(raw, func(key, v []byte) bool {
		if is(key, "emailAddress") {
			return emailAddress(&r.EmailAddress, v)
		}
		return true
	})
}

func responseStatus(r *calendar.ResponseStatus, raw []byte) bool {
	return object(raw, func(k []byte) *string {
		switch {
		case is(k, "response"):
			return &r.Response
		case is(k, "time"):
			return &r.Time
		}
		return nil
	})
}

func removed(r *calendar.Removed, raw []byte) bool {
	return object(raw, func(k []byte) *string {
		if is(k, "reason") {
			return &r.Reason
		}
		return nil
	})
}

func attendee(a *calendar.Attendee, raw []byte) bool {
	if string(raw) == "null" {
		return true
	}
	return members(raw, func(key, v []byte) bool {
		switch k := key; {
		case is(k, "type"):
			return decodeString(v, &a.Type)
		case is(k, "status"):
			return ptr(v, &a.Status, responseStatus)
		case is(k, "emailAddress"):
			return emailAddress(&a.EmailAddress, v)
		}
		return true
	})
}

func location(l *calendar.Location, raw []byte) bool {
	return object(raw, func(k []byte) *string {
		switch {
		case is(k, "displayName"):
			return &l.DisplayName
		case is(k, "locationEmailAddress"):
			return &l.LocationEmailAddress
		case is(k, "locationType"):
			return &l.LocationType
		case is(k, "locationUri"):
			return &l.LocationURI
		case is(k, "uniqueId"):
			return &l.UniqueID
		case is(k, "uniqueIdType"):
			return &l.UniqueIDType
		}
		return nil
	})
}

func onlineMeeting(o *calendar.OnlineMeetingInfo, raw []byte) bool {
	return members(raw, func(key, v []byte) bool {
		var dst *string
		switch k := key; {
		case is(k, "joinUrl"):
			dst = &o.JoinURL
		case is(k, "conferenceId"):
			dst = &o.ConferenceID
		case is(k, "tollNumber"):
			dst = &o.TollNumber
		case is(k, "quickDial"):
			dst = &o.QuickDial
		case is(k, "tollFreeNumbers"):
			return json.Unmarshal(v, &o.TollFreeNumbers) == nil
		default:
			return true
		}
		return decodeString(v, dst)
	})
}
