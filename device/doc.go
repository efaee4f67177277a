// Package device is the endpoint-driver seam: the Driver interface every endpoint type's driver
// implements (run, push now or "served at the next poll", retry, with per-endpoint Results),
// while each endpoint's state lives in its store row. Drivers are subpackages: device/cisco
// pushes bookings to Cisco codecs over the xAPI WebSocket; device/poly serves Poly endpoints an
// Exchange-compatible (EWS) calendar and reads their health over Poly REST. device/pin is the
// certificate trust they share (CA, configured fingerprint, or pinned on first use and accepted
// with `otj-edge endpoints trust`). The agent's endpoint-type table (agent/endpoints.go) maps a
// config `type:` to the driver that serves it; see ARCHITECTURE.md for adding a type.
package device
