// Package bookings builds the Bookings Put document Cisco RoomOS devices take (One-Button-To-
// Push): a room's meetings as bookings, sorted and serialised byte for byte the same for the
// same meetings, with what each firmware can take (Firmware, Caps) and the free-text caps.
// Two drivers push it: device/cisco over a codec's local xAPI WebSocket and device/webex
// through Webex's cloud xAPI, so a room gets the same bookings whichever way its device is
// reached. It imports only sync/calendar (the meeting model) besides the standard library.
package bookings
