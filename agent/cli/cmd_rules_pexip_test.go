package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Pexip-named rule types go through the config and `rules test` like every other type.

const pexipTypesProfile = `  - name: default
    rules:
      - name: goto-rooms
        type: gotomeeting
        priority: 10
      - name: our-video
        type: domain
        priority: 20
        domain: [vmr.contoso.com, video.fabrikam.com]`

const gotoEvent = `{
  "id": "AAMkAGI2TBBB=",
  "iCalUId": "040000008200E00074C5B7101A82E0080000000087654321",
  "subject": "Supplier review",
  "start": {"dateTime": "2026-11-24T08:00:00.0000000", "timeZone": "UTC"},
  "end": {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"},
  "organizer": {"emailAddress": {"name": "Jane Doe", "address": "jane.doe@contoso.com"}},
  "body": {"contentType": "html", "content": "<div><a href=\"https://meet.goto.com/487203915\">Join</a></div><div>Or dial directly: 487203915@67.217.95.2 or 67.217.95.2##487203915</div>"}
}`

func TestRulesTestPexipNamedTypes(t *testing.T) {
	cfg := rulesConfig(t, pexipTypesProfile)
	code, stdout, stderr := runCLI(t, nil, "rules", "test", "--config", cfg, "--event", writeFile(t, "event.json", gotoEvent))
	require.Equal(t, ExitOK, code, stderr)
	out := rulesTestJSON(t, stdout)
	assert.Equal(t, "goto-rooms", out["rule"])
	assert.Equal(t, "487203915@67.217.95.2", out["number"])
	assert.Equal(t, "SIP", out["protocol"])
	assert.Equal(t, "GoTo Meeting: room-system SIP address", out["reason"])
}

func TestCheckRefusesSIPGuestJoinTypes(t *testing.T) {
	cfg := rulesConfig(t, `  - name: default
    rules:
      - name: guest
        type: teamssipguestjoin
        priority: 10`)
	code, stdout, stderr := runCLI(t, nil, "check", "--offline", "--config", cfg)
	assert.Equal(t, ExitUsage, code, stdout)
	assert.Contains(t, stdout+stderr, `rule "guest": type: Pexip's SIP Guest Join for Teams is not supported: Pexip does not publish`)
}
