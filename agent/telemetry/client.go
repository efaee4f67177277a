package telemetry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otj-edge/otj-edge/agent/config"
)

// ClientSettings are what any otj-edge MQTT client needs (the agent's telemetry, `otj-edge
// fleet`, `otj-edge check`): the broker settings and the connection timing.
type ClientSettings struct {
	MQTT           config.MQTT
	ClientID       string
	ConnectTimeout time.Duration // per attempt; default 30s
	KeepAlive      time.Duration // default mqtt.keepalive, else 30s
}

// NewClientOptions builds paho options for an MQTT 3.1.1 connection with the configured TLS and
// credentials. Callers add session, will and handlers.
func NewClientOptions(s ClientSettings) (*paho.ClientOptions, error) {
	m := s.MQTT
	if strings.TrimSpace(m.Broker) == "" {
		return nil, errors.New("mqtt.broker is not set")
	}
	u, err := url.Parse(m.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mqtt.broker %q is not a URL such as ssl://broker:8883", RedactBroker(m.Broker))
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = 30 * time.Second
	}
	if s.KeepAlive <= 0 {
		s.KeepAlive = 30 * time.Second
		if m.KeepAlive != nil && *m.KeepAlive > 0 {
			s.KeepAlive = *m.KeepAlive
		}
	}
	o := paho.NewClientOptions().
		AddBroker(m.Broker).
		SetClientID(s.ClientID).
		SetProtocolVersion(4). // MQTT 3.1.1, never the 3.1 fallback
		SetConnectTimeout(s.ConnectTimeout).
		SetKeepAlive(s.KeepAlive).
		SetPingTimeout(min(10*time.Second, s.KeepAlive)).
		SetDialer(&net.Dialer{Timeout: s.ConnectTimeout, KeepAlive: 30 * time.Second})
	if m.Username != "" {
		o.SetUsername(m.Username)
	}
	if m.Password.IsSet() {
		o.SetPassword(m.Password.Value())
	}
	tc, err := ClientTLS(m)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		o.SetTLSConfig(tc)
	}
	return o, nil
}

// usesTLS reports whether the broker URL's scheme is a TLS one.
func usesTLS(broker string) bool {
	u, err := url.Parse(broker)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "wss":
		return true
	}
	return false
}

// ClientTLS builds the TLS configuration from mqtt.ca_file, cert_file and key_file; nil for a
// plain tcp:// broker without client certificates. Without ca_file the system's CAs are used.
func ClientTLS(m config.MQTT) (*tls.Config, error) {
	if !usesTLS(m.Broker) && m.CAFile == "" && m.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.CAFile != "" {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.ca_file %s holds no PEM certificate (BEGIN CERTIFICATE)", m.CAFile)
		}
		tc.RootCAs = pool
	}
	if m.CertFile != "" || m.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(m.CertFile, m.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.cert_file %s / key_file %s: %w", m.CertFile, m.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// RedactBroker removes any user:password from a broker URL, for messages. Text that does not
// parse (a mistyped --broker flag of otj-edge fleet) still loses its password (config.RedactURL).
func RedactBroker(broker string) string {
	u, err := url.Parse(broker)
	if err != nil {
		return config.RedactURL(broker)
	}
	if u.User == nil {
		return broker
	}
	u.User = nil
	return u.String()
}

// ExplainConnectError turns a failed connection into one sentence that names what to fix.
// Permanent is true for problems that retrying will not solve (certificates, credentials):
// they are errors in health, the rest warnings.
func ExplainConnectError(err error, m config.MQTT) (msg string, permanent bool) {
	broker := RedactBroker(m.Broker)
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		if m.CAFile != "" {
			return fmt.Sprintf("cannot connect to %s: the broker's TLS certificate is not signed by the CA in mqtt.ca_file %s (%v); "+
				"set mqtt.ca_file to the CA that issued the broker's certificate", broker, m.CAFile, unknownCA), true
		}
		return fmt.Sprintf("cannot connect to %s: the broker's TLS certificate is not signed by a CA this system trusts (%v); "+
			"set mqtt.ca_file to the CA that issued it", broker, unknownCA), true
	case errors.As(err, &hostname):
		return fmt.Sprintf("cannot connect to %s: the broker's TLS certificate is not valid for this address (%v)", broker, hostname), true
	case errors.As(err, &invalid):
		return fmt.Sprintf("cannot connect to %s: the broker's TLS certificate is not valid (%v)", broker, invalid), true
	case errors.As(err, &record):
		return fmt.Sprintf("cannot connect to %s: the broker does not speak TLS on this port (use tcp:// for a plain port)", broker), true
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return fmt.Sprintf("cannot connect to %s: the broker refused mqtt.username %q or its password", broker, m.Username), true
	case errors.Is(err, packets.ErrorRefusedNotAuthorised):
		who := "this site"
		if m.Username != "" {
			who = fmt.Sprintf("mqtt.username %q", m.Username)
		}
		return fmt.Sprintf("cannot connect to %s: the broker refused %s (not authorised): check mqtt.username, mqtt.password and the client certificate", broker, who), true
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return fmt.Sprintf("cannot connect to %s: the broker rejected the client id (set mqtt.client_id)", broker), true
	case strings.Contains(err.Error(), "remote error: tls:"):
		what := "mqtt.cert_file is not set"
		if m.CertFile != "" {
			what = "mqtt.cert_file " + m.CertFile
		}
		return fmt.Sprintf("cannot connect to %s: the broker refused the TLS handshake, usually the client certificate (%s): %v", broker, what, err), true
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot connect to %s: nothing accepts connections there (connection refused)", broker), false
	}
	return fmt.Sprintf("cannot connect to %s: %v", broker, err), false
}
