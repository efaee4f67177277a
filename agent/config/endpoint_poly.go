package config

// The Poly endpoint type: an endpoint that fetches its calendar from the agent's
// Exchange-compatible calendar service (ews:) with its own calendar account, and whose REST
// API the agent reads for health when address is given.
func init() {
	RegisterEndpointType(EndpointPoly, EndpointType{
		Label: "Poly",
		Keys: []string{"address", "username", "password", "password_file",
			"calendar_username", "calendar_password", "calendar_password_file"},
		Check: func(c *EndpointCheck, e *Endpoint) {
			if e.CalendarUsername == "" {
				c.Errorf("calendar_username", "calendar_username is required (the account the Poly endpoint uses against our calendar service)")
			} else if other, dup := c.Unique("calendar_username", e.CalendarUsername); dup {
				c.Errorf("calendar_username", "calendar_username %q is already used by endpoint %q; each endpoint needs its own", e.CalendarUsername, other)
			}
			c.Secret(&e.CalendarPassword, e.CalendarPasswordFile, "calendar_password", true)
			if e.Address != "" {
				c.Address("https")
				if e.Username == "" {
					c.Errorf("address", "username and password are required with address (Poly REST health checks)")
				}
				c.Secret(&e.Password, e.PasswordFile, "password", e.Username != "")
			} else if e.Username != "" || c.Has("password") || c.Has("password_file") {
				c.Errorf("username", "username and password are for Poly REST health checks and need address")
			}
		},
	})
}
