package graph

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
	"github.com/otj-edge/otj-edge/store"
)

// useCertificate makes the harness's integration authenticate with c instead of the secret.
func (h *harness) useCertificate(c simtls.AppCertificate) {
	h.in.ClientSecret = secret.Secret{}
	h.in.ClientCertificateFile = "/etc/otj-edge/graph.pem"
	h.in.ClientCertificates, h.in.ClientKey = []*x509.Certificate{c.Cert}, c.Key
}

// TestCertificateCredential: with client_certificate_file the agent signs its token requests
// with the certificate (azidentity's client assertion, as sent to Entra) and syncs; a
// certificate the app registration does not have fails every room with advice naming it, and
// the secret never was needed.
func TestCertificateCredential(t *testing.T) {
	// MSAL signs the assertion with the real time; the simulator checks it against its clock.
	now := time.Now().UTC().Truncate(time.Second)
	uploaded, err := simtls.NewAppCertificate("otj-edge site 1", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	require.NoError(t, err)
	rooms := []string{roomName(1), roomName(2)}
	// start syncs the rooms with the agent holding mine and the app registration uploaded.
	start := func(t *testing.T, mine, uploaded simtls.AppCertificate) *harness {
		h := newHarnessAt(t, now, graphsim.Options{ClientCertificates: []*x509.Certificate{uploaded.Cert}}, rooms...)
		for _, m := range rooms {
			h.addRoom(m, graphsim.Recommended())
		}
		h.useCertificate(mine)
		h.start(Tuning{})
		return h
	}

	t.Run("uploaded", func(t *testing.T) {
		h := start(t, uploaded, uploaded)
		h.waitFor("both rooms synced", h.synced(rooms...))
		assert.Equal(t, 0, h.sim.Stats().TokenFailures)
		assert.Equal(t, health.OK, findHealth(h.health, "graph/m365").Level, "a year left: no warning")
	})

	t.Run("expiring", func(t *testing.T) {
		soon, err := simtls.NewAppCertificate("otj-edge site 1 (old)", now.AddDate(-2, 0, 0), now.AddDate(0, 0, 20))
		require.NoError(t, err)
		h := start(t, soon, soon)
		h.waitFor("both rooms synced", h.synced(rooms...))
		item := findHealth(h.health, "graph/m365")
		assert.Equal(t, health.Warning, item.Level, "rooms sync, but the site will stop in 20 days")
		assert.Contains(t, item.Message, "the client certificate (thumbprint "+h.in.CertificateThumbprint()+") expires on "+
			now.AddDate(0, 0, 20).Format(time.DateOnly))
	})

	t.Run("not uploaded", func(t *testing.T) {
		stranger, err := simtls.NewAppCertificate("otj-edge site 1 (new)", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
		require.NoError(t, err)
		h := start(t, stranger, uploaded)
		h.waitFor("auth failures", func() bool {
			return h.status(rooms[0])() == store.RoomAuthFailed && h.status(rooms[1])() == store.RoomAuthFailed
		})
		detail := h.room(rooms[0]).StatusDetail
		assert.Contains(t, detail, "AADSTS700027")
		assert.Contains(t, detail, "upload the certificate of client_certificate_file")
	})
}
