package pexipimport

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// The rules corpus (sync/rules/testdata/corpus) is resolved with a profile that is Pexip's
// rule set written in otj-edge's words; the test export's "Oslo HQ" profile holds the same
// rules as Pexip objects. Importing them and resolving every corpus invite must give the same
// join address, protocol and rule type as the corpus records.
const corpusDir = "../../sync/rules/testdata/corpus"

var (
	corpusNow  = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	corpusRoom = "room-fjord@contoso.com"
)

// corpusRuleType is the type of each rule of the corpus profile, by name.
var corpusRuleType = map[string]string{
	"teams": "teams", "zoom": "zoom", "webex": "webex", "google-meet": "google_meet", "pexip": "pexip",
	"skype": "skype", "goto": "goto", "internal-vmr": "domain", "legacy-portal": "regex", "fallback": "fallback",
}

// pexipNamed is the rules engine's Pexip-named type that resolves what an older type of the
// corpus profile does: the export's rule is Pexip's gotomeeting, s4b or pexipservice, which the
// importer maps name for name. Only that pair is accepted, never any other type.
var pexipNamed = map[string]string{"goto": "gotomeeting", "skype": "s4b", "pexip": "pexipservice"}

// Cases whose rule has no Pexip meeting type (BlueJeans; a template using find, which has no
// Jinja2 form in Pexip's documented filters), and cases with their own profile.
var corpusNoPexip = map[string]string{
	"bluejeans-legacy-series": "Pexip has no BlueJeans meeting type",
	"template-lifesize":       "Pexip's custom templates have no documented regex search",
}

func splitTxtar(data []byte) map[string][]byte {
	files := map[string][]byte{}
	var cur string
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		t := strings.TrimRight(string(l), "\r\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			cur = t[3 : len(t)-3]
			files[cur] = []byte{}
			continue
		}
		if cur != "" {
			files[cur] = append(files[cur], l...)
		}
	}
	return files
}

func TestRoundTripCorpus(t *testing.T) {
	res := importTestdata(t)
	path := filepath.Join(t.TempDir(), "site.yaml")
	require.NoError(t, os.WriteFile(path, res.Config, 0o600))
	// rules test's way of loading: no secrets needed.
	cfg, err := config.LoadWith(path, config.Options{SkipSecrets: true, LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	// The rules as imported, with Pexip's default settings (the corpus profile's): Oslo HQ's
	// own settings (hidden private addresses, no non-video meetings) are TestImportedConfigLoads'.
	prof, err := rules.Compile(rules.Settings{}, cfg.Profile("oslo-hq").RuleSpecs())
	require.NoError(t, err)
	typeOf := map[string]string{"": "", "fallback": "fallback"}
	for _, r := range cfg.Profile("oslo-hq").Rules {
		typeOf[r.Name] = r.Type
	}

	paths, err := filepath.Glob(filepath.Join(corpusDir, "*.txtar"))
	require.NoError(t, err)
	require.Greater(t, len(paths), 50, "the rules corpus is where the round trip's invites come from")
	ran := 0
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".txtar")
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		files := splitTxtar(data)
		if _, own := files["profile.yaml"]; own || corpusNoPexip[name] != "" {
			continue
		}
		var ev calendar.Event
		require.NoError(t, json.Unmarshal(files["event.json"], &ev), name)
		if ev.Body != nil && strings.HasPrefix(ev.Body.Content, "@") {
			ev.Body.Content = string(files[ev.Body.Content[1:]])
		}
		var want struct {
			Rule, Number, Protocol string
			Join                   bool
		}
		require.NoError(t, json.Unmarshal(files["want.json"], &want), name)
		m, d := prof.Explain(corpusRoom, ev, corpusNow)
		got := rules.NewReport(m, d)
		if !d.Show() {
			continue
		}
		ran++
		wantType := corpusRuleType[want.Rule]
		if want.Rule == "" {
			wantType = ""
		}
		require.Equal(t, want.Number, got.Number, "%s: number", name)
		require.Equal(t, want.Protocol, got.Protocol, "%s: protocol", name)
		if gotType := typeOf[got.Rule]; gotType != wantType && pexipNamed[wantType] != "" {
			require.Equal(t, pexipNamed[wantType], gotType, "%s: rule %q (the corpus's %s rule)", name, got.Rule, wantType)
		} else {
			require.Equal(t, wantType, gotType, "%s: rule %q", name, got.Rule)
		}
	}
	require.Greater(t, ran, 40, "most corpus invites are resolved")
}

// TestRoundTripTranslated: the rules the importer had to translate (a Jinja2 custom
// template, Python regexes with \1 and \g<name>) give the address Pexip's would.
func TestRoundTripTranslated(t *testing.T) {
	res := importTestdata(t)
	path := filepath.Join(t.TempDir(), "site.yaml")
	require.NoError(t, os.WriteFile(path, res.Config, 0o600))
	cfg, err := config.LoadWith(path, config.Options{SkipSecrets: true, LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	start := corpusNow.Add(10 * time.Hour)
	for _, c := range []struct{ profile, body, organizer, want, rule string }{
		{"oslo-hq", "Contoso VMR: the organizer's room\n", "Ada.Lovelace@contoso.com", "ada.lovelace@vmr.contoso.com", "Organizer VMR"},
		{"oslo-hq", "Join: https://mcu.contoso.com/vmr/4711\n", "x@contoso.com", "4711@vmr.contoso.com", "Legacy portal"},
		{"bergen", "Dial sip:8812@mcu.bergen.contoso.com from the room\n", "x@contoso.com", "8812@mcu.bergen.contoso.com", "Bergen MCU"},
	} {
		prof, err := rules.Compile(rules.Settings{}, cfg.Profile(c.profile).RuleSpecs())
		require.NoError(t, err)
		ev := calendar.Event{ID: "rt", Subject: "Planning", Body: &calendar.ItemBody{Content: c.body, ContentType: "text"},
			Start: calendar.FromTime(start), End: calendar.FromTime(start.Add(time.Hour)),
			Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Ada", Address: c.organizer}}}
		m, d := prof.Explain(corpusRoom, ev, corpusNow)
		got := rules.NewReport(m, d)
		require.Equal(t, c.want, got.Number, "%s: %s", c.rule, got.Reason)
		require.Equal(t, c.rule, got.Rule)
	}
}
