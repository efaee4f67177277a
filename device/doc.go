// Package device groups the endpoint drivers: device/cisco pushes bookings to Cisco codecs
// over the xAPI WebSocket; device/poly serves Poly endpoints an Exchange-compatible (EWS)
// calendar and reads their health over Poly REST.
package device
