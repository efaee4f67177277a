// Package poly serves Poly endpoints their room's meetings through an Exchange-compatible
// calendar service (the EWS subset a Poly endpoint's calendaring client uses: GetFolder,
// FindItem with a CalendarView, GetItem, ResolveNames and POX autodiscover) and reads their
// health over Poly REST. Pexip and Synergy SKY serve Poly endpoints the same way: the endpoint
// believes it talks to Microsoft Exchange, polls, and shows Join when an item carries a dial
// string it recognises (README "Poly endpoints").
//
// One credential per endpoint is bound to exactly one room; every served item comes from the
// store's resolved meetings for that room, so privacy and subject settings are the profile's.
// The service also watches each endpoint's polling and raises the "endpoint not polling" alarm
// when one falls silent (Pexip's per-endpoint alarm).
package poly
