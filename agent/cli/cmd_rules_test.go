package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rulesConfig writes a config whose profiles are given as YAML.
func rulesConfig(t *testing.T, profiles string) string {
	t.Helper()
	return writeTestConfig(t, "", testSiteHead("off", "", "")+profiles+"\n"+testCodec1)
}

const oneProfile = `  - name: default
    rules:
      - name: teams
        type: teams
        priority: 10
      - name: zoom
        type: zoom
        priority: 20
        include_pin: true`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// graphEvent is a Teams meeting with a Poly CVI block as Graph returns it.
const graphEvent = `{
  "@odata.etag": "W/\"DwAAABYAAAB\"",
  "id": "AAMkAGI2TAAA=",
  "iCalUId": "040000008200E00074C5B7101A82E0080000000012345678",
  "subject": "Weekly planning",
  "sensitivity": "normal",
  "isOnlineMeeting": true,
  "onlineMeetingProvider": "teamsForBusiness",
  "start": {"dateTime": "2026-11-24T08:00:00.0000000", "timeZone": "UTC"},
  "end": {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"},
  "organizer": {"emailAddress": {"name": "Jane Doe", "address": "jane.doe@contoso.com"}},
  "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_ZmE4%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"},
  "body": {"contentType": "html", "content": "<html><body><div><a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_ZmE4%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d\">Join the meeting now</a></div><div><span>Tenant key:\n</span><a href=\"mailto:123456789@t.plcm.vc\">123456789@t.plcm.vc</a></div><div><span>Video ID:\n</span><span>111 222 333 4</span></div></body></html>"}
}`

func rulesTestJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	for _, k := range []string{"rule", "platform", "protocol", "number", "join", "subject", "reason", "shown", "tried"} {
		assert.Contains(t, out, k)
	}
	return out
}

func TestRulesTestEvent(t *testing.T) {
	cfg := rulesConfig(t, oneProfile)
	code, stdout, stderr := runCLI(t, nil, "rules", "test", "--config", cfg, "--event", writeFile(t, "event.json", graphEvent))
	require.Equal(t, ExitOK, code, stderr)
	out := rulesTestJSON(t, stdout)
	assert.Equal(t, "teams", out["rule"])
	assert.Equal(t, "123456789.1112223334@t.plcm.vc", out["number"])
	assert.Equal(t, "SIP", out["protocol"])
	assert.Equal(t, "MicrosoftTeams", out["platform"])
	assert.Equal(t, true, out["join"])
	assert.Equal(t, "Weekly planning", out["subject"])
	assert.Equal(t, "2026-11-24T07:55:00Z", out["join_from"], "the profile's start buffer applies")
	tried := out["tried"].([]any)
	require.NotEmpty(t, tried)
	assert.Equal(t, true, tried[0].(map[string]any)["matched"], "the first rule matched")
	assert.NotContains(t, stdout, `\u0026`, "URLs are printed as they are")
}

func TestRulesTestGraphListResponse(t *testing.T) {
	cfg := rulesConfig(t, oneProfile)
	code, stdout, stderr := runCLI(t, nil, "rules", "test", "--config", cfg, "--event",
		writeFile(t, "list.json", `{"@odata.context": "x", "value": [`+graphEvent+`]}`))
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "teams", rulesTestJSON(t, stdout)["rule"])
}

func TestRulesTestText(t *testing.T) {
	cfg := rulesConfig(t, oneProfile)
	zoom := "Join Zoom Meeting\nhttps://acme.zoom.us/j/81234567890?pwd=x\n\nMeeting ID: 812 3456 7890\nPasscode: 40417285\n"
	code, stdout, stderr := runCLI(t, nil, "rules", "test", "--config", cfg, "--text", writeFile(t, "invite.txt", zoom), "--subject", "Board prep")
	require.Equal(t, ExitOK, code, stderr)
	out := rulesTestJSON(t, stdout)
	assert.Equal(t, "81234567890.40417285@zoomcrc.com", out["number"])
	assert.Equal(t, "Board prep", out["subject"])

	code, stdout, stderr = runCLI(t, nil, "rules", "test", "--config", cfg, "--text",
		writeFile(t, "invite.html", `<html><body><p>Lunch &amp; learn</p><p>Room 4</p></body></html>`))
	require.Equal(t, ExitOK, code, stderr, "no match is still understood input")
	out = rulesTestJSON(t, stdout)
	assert.Equal(t, false, out["join"])
	assert.Equal(t, "no rule matched and no sip:/h323: address", out["reason"])
	assert.Equal(t, "invite.html", out["subject"])
}

func TestRulesTestBadInput(t *testing.T) {
	cfg := rulesConfig(t, oneProfile)
	two := rulesConfig(t, oneProfile+"\n  - name: poly\n    webrtc: false")
	noStart := strings.Replace(graphEvent, `"start": {"dateTime": "2026-11-24T08:00:00.0000000", "timeZone": "UTC"},`, "", 1)
	badZone := strings.Replace(graphEvent, `"timeZone": "UTC"},
  "end"`, `"timeZone": "Mars Standard Time"},
  "end"`, 1)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"syntax error with line and column", []string{"--config", cfg, "--event", writeFile(t, "e.json", "{\n  \"subject\": \"x\",\n  \"start\": {,\n}")},
			`e.json:3:13: not valid JSON: invalid character ',' looking for beginning of object key string`},
		{"wrong type", []string{"--config", cfg, "--event", writeFile(t, "e.json", `{"subject": 42}`)}, `e.json:1:14: subject: a JSON number where a string belongs`},
		{"no start", []string{"--config", cfg, "--event", writeFile(t, "e.json", noStart)}, "e.json: the event has no start (start.dateTime)"},
		{"bad zone", []string{"--config", cfg, "--event", writeFile(t, "e.json", badZone)}, `e.json: start: unknown time zone "Mars Standard Time"`},
		{"list of two", []string{"--config", cfg, "--event", writeFile(t, "e.json", `{"value": [{}, {}]}`)}, `e.json: "value" holds 2 events; rules test takes one`},
		{"missing file", []string{"--config", cfg, "--event", "/nonexistent/e.json"}, "read /nonexistent/e.json: no such file or directory"},
		{"neither input", []string{"--config", cfg}, "give exactly one of --event EVENT.json or --text FILE"},
		{"both inputs", []string{"--config", cfg, "--event", "a", "--text", "b"}, "give exactly one of --event EVENT.json or --text FILE"},
		{"several profiles", []string{"--config", two, "--text", writeFile(t, "i.txt", "x")}, "--profile is required:"},
		{"unknown profile", []string{"--config", cfg, "--profile", "nope", "--text", writeFile(t, "i.txt", "x")}, `profile "nope" is not defined in`},
		{"unknown flag", []string{"--config", cfg, "--evnet", "x"}, "flag provided but not defined: -evnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, append([]string{"rules", "test"}, tc.args...)...)
			assert.Equal(t, ExitUsage, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestRulesTestUsage(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "rules")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "missing subcommand: use otj-edge rules test")

	code, stdout, _ := runCLI(t, nil, "rules", "test", "--help")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, stdout, "-event")
	assert.Contains(t, stdout, "Exit 0 when the input was understood")

	// Flags before the subcommand work too.
	cfg := rulesConfig(t, oneProfile)
	code, stdout, stderr = runCLI(t, nil, "rules", "--config", cfg, "test", "--event", writeFile(t, "e.json", graphEvent))
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "teams", rulesTestJSON(t, stdout)["rule"])

	// A broken config is reported with its line, like otj-edge check.
	bad := rulesConfig(t, "  - name: default\n    rules:\n      - name: r\n        type: regex\n        priority: 1\n        match: '('")
	code, _, stderr = runCLI(t, nil, "rules", "test", "--config", bad, "--text", writeFile(t, "i.txt", "x"))
	assert.Equal(t, ExitUsage, code)
	assert.Regexp(t, `config\.yaml:\d+: profile "default" rule "r": match: not a valid RE2 expression`, stderr)
}

// TestRulesTestNeedsNoSecrets: the example config names four ${ENV} secrets; trying rules with
// it must not require inventing them.
func TestRulesTestNeedsNoSecrets(t *testing.T) {
	code, stdout, stderr := runCLI(t, map[string]string{}, "rules", "test", "--config", "../../packaging/config.example.yaml",
		"--event", writeFile(t, "event.json", graphEvent))
	require.Equal(t, ExitOK, code, stderr)
	assert.Empty(t, stderr)
	out := rulesTestJSON(t, stdout)
	assert.Equal(t, "teams-cvi", out["rule"])

	code, _, stderr = runCLI(t, map[string]string{}, "check", "--offline", "--config", "../../packaging/config.example.yaml")
	assert.Equal(t, ExitUsage, code, "check still needs them")
	for _, v := range []string{"OTJ_GRAPH_SECRET", "OTJ_MQTT_PASSWORD", "OTJ_CODEC_PASSWORD", "OTJ_POLY_FJORDLINE"} {
		assert.Contains(t, stderr, "environment variable "+v+" is not set", "check reports every problem at once")
	}
}
