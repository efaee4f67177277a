package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/sync/graph"
)

// TestGraphProbeSettingsTranslate: the probe keys (here their defaults: auto, 7 s, 60 s) reach
// the Graph source.
func TestGraphProbeSettingsTranslate(t *testing.T) {
	cfg := ewsSiteConfig(t, "    url: https://mail.example.com/EWS/Exchange.asmx\n    username: svc-otj@example.com\n    password: ${EWS_PW}")
	in := cfg.Integration("m365")
	got := graphIntegration(in.Name, in.Graph())
	assert.Equal(t, graph.ProbeSettings{Mode: "auto", HotInterval: 7 * time.Second, ColdInterval: time.Minute}, got.Probe)
}
