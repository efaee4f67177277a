package agent

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/secret"
)

// secretsSite is a site with every part running and a secret in each section, each given as
// ${VAR} so one file loads with different secrets.
const secretsSite = `site: test
state_dir: state
status:
  listen: 127.0.0.1:0
  username: admin
  password: ${STATUS_PASS}
mqtt:
  broker: tcp://127.0.0.1:1883
  username: site
  password: ${MQTT_PASS}
integrations:
  - name: m365
    type: graph
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: ${GRAPH_SECRET}
    token_url: https://login.microsoftonline.com/contoso/oauth2/v2.0/token
profiles:
  - name: default
endpoints:
  - name: codec-1
    type: cisco
    room: room-1@example.com
    address: 127.0.0.1:1
    username: admin
    password: ${CODEC_PASS}
  - name: poly-1
    type: poly
    room: room-2@example.com
    calendar_username: poly-1
    calendar_password: ${POLY_CAL_PASS}
    address: 127.0.0.1:2
    username: admin
    password: ${POLY_REST_PASS}
`

// partKeys loads secretsSite with env's secrets (defaults for the rest) and returns each part's
// restart key.
func partKeys(t *testing.T, path string, env map[string]string) map[string]string {
	t.Helper()
	vars := map[string]string{"STATUS_PASS": "status-pass-1", "MQTT_PASS": "mqtt-pass-1", "GRAPH_SECRET": "graph-secret-1",
		"CODEC_PASS": "codec-pass-1", "POLY_CAL_PASS": "poly-cal-pass-1", "POLY_REST_PASS": "poly-rest-pass-1"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.LoadWith(path, config.Options{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
	require.NoError(t, err)
	keys := map[string]string{}
	for _, sp := range (&Agent{}).partSpecs(cfg) {
		keys[sp.name] = sp.key
	}
	return keys
}

// TestASecretChangeRestartsOnlyItsPart: a reload restarts the parts whose key changed, and a
// part's key holds the secrets of the config sections it is built from, and no others (an MQTT
// password change used to restart the Poly calendar service too, dropping every Poly poll).
func TestASecretChangeRestartsOnlyItsPart(t *testing.T) {
	path := writeTestConfig(t, "", secretsSite)
	base := partKeys(t, path, nil)
	require.ElementsMatch(t, []string{"mqtt", "status page", "ews", "cisco", "processor", "graph/m365", "daily report"}, keys(base))
	for _, c := range []struct {
		env  string
		part string
	}{
		{"MQTT_PASS", "mqtt"},
		{"STATUS_PASS", "status page"},
		{"GRAPH_SECRET", "graph/m365"},
		{"CODEC_PASS", "cisco"},
		{"POLY_CAL_PASS", "ews"},
		{"POLY_REST_PASS", "ews"},
	} {
		t.Run(c.env, func(t *testing.T) {
			changed := partKeys(t, path, map[string]string{c.env: "another-value-2"})
			var restarted []string
			for name, key := range changed {
				if base[name] != key {
					restarted = append(restarted, name)
				}
			}
			assert.Equal(t, []string{c.part}, restarted)
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestEverySecretFieldOfTheConfigIsScrubbed fills every Secret-typed field reachable from
// config.Config (found by reflection over the types, slices and maps given one element) with
// its own value, and checks that the log scrubber's list holds each one and a log line with
// all of them prints none: a Secret field added to any section later is scrubbed without
// anyone remembering to list it.
func TestEverySecretFieldOfTheConfigIsScrubbed(t *testing.T) {
	var cfg config.Config
	want := map[string]string{} // path → value
	fillSecrets(reflect.ValueOf(&cfg).Elem(), "", want, map[reflect.Type]bool{})
	graphAt := slices.Index(config.IntegrationTypes(), config.IntegrationGraph)
	require.GreaterOrEqual(t, graphAt, 0)
	graphKeys := fmt.Sprintf("integrations[%d].", graphAt)
	for _, p := range []string{"status.password", "mqtt.password", graphKeys + "client_secret",
		graphKeys + "client_certificate_password", "endpoints[0].password", "endpoints[0].calendar_password"} {
		assert.Contains(t, want, p, "the type walk reaches every section")
	}

	found := map[string]string{}
	for _, f := range cfg.Secrets() {
		found[f.Path] = f.Secret.Value()
	}
	assert.Equal(t, want, found, "config.Secrets finds every Secret field, by its path")

	var logs bytes.Buffer
	log := NewLogger(&logs, "text", "debug", SecretsOf(&cfg), nil)
	var all []string
	for _, v := range want {
		all = append(all, v)
	}
	log.Error("login failed: "+strings.Join(all, " "), "err", fmt.Errorf("rejected %s", strings.Join(all, ",")))
	for p, v := range want {
		assert.NotContains(t, logs.String(), v, "%s reached the log", p)
	}
	assert.Contains(t, logs.String(), config.Redacted)
}

const module = "github.com/otj-edge/otj-edge/"

// fillSecrets sets every Secret inside v (addressable) to a value of its own, recording it
// under the path secret.Find names it by (yaml keys, [i] indexes, ["k"] map keys). It descends
// into the project's own types only (a Secret is the project's; x509 certificates are not).
func fillSecrets(v reflect.Value, path string, want map[string]string, visiting map[reflect.Type]bool) {
	t := v.Type()
	if t == reflect.TypeFor[secret.Secret]() {
		val := "secret-value-" + strconv.Itoa(len(want)+1) + "-xyz"
		v.Set(reflect.ValueOf(secret.New(val)))
		want[path] = val
		return
	}
	if t.Name() != "" && !strings.HasPrefix(t.PkgPath(), module) {
		return
	}
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind() {
	case reflect.Pointer:
		if !strings.HasPrefix(t.Elem().PkgPath(), module) {
			return
		}
		v.Set(reflect.New(t.Elem()))
		fillSecrets(v.Elem(), path, want, visiting)
	case reflect.Slice:
		if t == reflect.TypeFor[[]config.Integration]() {
			// One integration of each registered type, its settings made by the type: the
			// keys of every source, registered anywhere, are walked.
			types := config.IntegrationTypes()
			v.Set(reflect.MakeSlice(t, len(types), len(types)))
			for i, typ := range types {
				in := v.Index(i).Addr().Interface().(*config.Integration)
				in.Type, in.Settings = typ, config.NewIntegrationSettings(typ)
				fillSecrets(v.Index(i), fmt.Sprintf("%s[%d]", path, i), want, visiting)
			}
			return
		}
		v.Set(reflect.MakeSlice(t, 1, 1))
		fillSecrets(v.Index(0), path+"[0]", want, visiting)
	case reflect.Interface: // an integration's settings, set above to its type's struct
		if !v.IsNil() && v.Elem().Kind() == reflect.Pointer {
			fillSecrets(v.Elem().Elem(), path, want, visiting)
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return
		}
		e := reflect.New(t.Elem()).Elem()
		fillSecrets(e, path+`["k"]`, want, visiting)
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(reflect.ValueOf("k").Convert(t.Key()), e)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			name := tag
			if tag == "" || tag == "-" {
				name = f.Name
			}
			sub := path + "." + name
			switch {
			case f.Anonymous || strings.Contains(opts, "inline"):
				sub = path
			case path == "":
				sub = name
			}
			fillSecrets(v.Field(i), sub, want, visiting)
		}
	}
}

// TestReloadRestartsOnlyThePartWhoseSecretChanged reloads a running site after changing one
// secret at a time: the MQTT password restarts the MQTT part and nothing else; a Poly
// calendar_password restarts the calendar service and nothing else.
func TestReloadRestartsOnlyThePartWhoseSecretChanged(t *testing.T) {
	e := newE2E(t)
	raw, err := os.ReadFile(e.f.Agent.Config)
	require.NoError(t, err)
	mqttLine := regexp.MustCompile(`(?m)^(\s*)broker: (.*)$`)
	require.True(t, mqttLine.Match(raw))
	withPassword := mqttLine.ReplaceAll(raw, []byte("${1}broker: $2\n${1}username: site\n${1}password: mqtt-pass-first"))
	require.NoError(t, os.WriteFile(e.f.Agent.Config, withPassword, 0o600))
	e.cfg, err = config.Load(e.f.Agent.Config)
	require.NoError(t, err)
	e.start()

	stopped := func() map[string]int {
		n := map[string]int{}
		for _, m := range regexp.MustCompile(`msg="part stopped for the new config" part=("[^"]*"|\S+)`).FindAllStringSubmatch(e.logs.String(), -1) {
			n[strings.Trim(m[1], `"`)]++
		}
		return n
	}
	reload := func(from, to string) {
		t.Helper()
		raw, err := os.ReadFile(e.f.Agent.Config)
		require.NoError(t, err)
		require.Contains(t, string(raw), from)
		require.NoError(t, os.WriteFile(e.f.Agent.Config, []byte(strings.Replace(string(raw), from, to, 1)), 0o600))
		require.NoError(t, e.agent.Reload(t.Context()))
	}

	reload("password: mqtt-pass-first", "password: mqtt-pass-second")
	assert.Equal(t, map[string]int{"mqtt": 1}, stopped(), "an MQTT password change restarts the MQTT part only")

	poly := e.cfg.Endpoints[len(e.cfg.Endpoints)-1]
	require.Equal(t, config.EndpointPoly, poly.Type)
	require.True(t, poly.CalendarPassword.IsSet())
	reload("calendar_password: "+poly.CalendarPassword.Value(), "calendar_password: poly-pass-changed")
	assert.Equal(t, map[string]int{"mqtt": 1, "ews": 1}, stopped(), "a Poly calendar_password change restarts the calendar service only")
}
