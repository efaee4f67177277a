package config

// The Cisco endpoint type: a codec the agent pushes bookings to over its xAPI WebSocket.
func init() {
	RegisterEndpointType(EndpointCisco, EndpointType{
		Label: "Cisco",
		Keys:  []string{"address", "username", "password", "password_file"},
		Check: func(c *EndpointCheck, e *Endpoint) {
			if e.Address == "" {
				c.Errorf("address", "address is required for a Cisco endpoint (host, host:port or wss:// URL)")
			} else {
				c.Address("wss", "https")
			}
			if e.Username == "" {
				c.Errorf("username", "username is required (an Admin-role user on the codec)")
			}
			c.Secret(&e.Password, e.PasswordFile, "password", true)
		},
	})
}
