package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

var update = flag.Bool("update", false, "rewrite the want.json sections of testdata/corpus/*.txtar")

// The golden corpus: testdata/corpus/*.txtar, one invite per file in the txtar layout
// ("-- name --" lines start files). Each holds
//
//	event.json    the event as Microsoft Graph returns it; a body content of "@body.html" or
//	              "@body.txt" stands for that file (so the HTML stays readable)
//	body.html     the body exactly as Graph returns it in body.content
//	profile.yaml  optional: settings and/or rules overriding testdata/corpus/profile.yaml
//	want.json     the expected result (go test ./sync/rules -update rewrites it)

// corpusNow is the clock of the corpus: the invites are for the week that starts then.
var corpusNow = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

const corpusRoom = "room-fjord@contoso.com"

type archiveFile struct {
	name string
	data []byte
}

// parseArchive reads the txtar layout: a comment, then files each starting with "-- name --".
func parseArchive(data []byte) (comment []byte, files []archiveFile) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	cur := -1
	for _, l := range lines {
		t := bytes.TrimRight(l, "\r\n")
		if bytes.HasPrefix(t, []byte("-- ")) && bytes.HasSuffix(t, []byte(" --")) && len(t) > 6 {
			files = append(files, archiveFile{name: string(t[3 : len(t)-3])})
			cur = len(files) - 1
			continue
		}
		if cur < 0 {
			comment = append(comment, l...)
		} else {
			files[cur].data = append(files[cur].data, l...)
		}
	}
	return comment, files
}

func formatArchive(comment []byte, files []archiveFile) []byte {
	var b bytes.Buffer
	b.Write(comment)
	for _, f := range files {
		b.WriteString("-- " + f.name + " --\n")
		b.Write(f.data)
		if len(f.data) > 0 && f.data[len(f.data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func archiveGet(files []archiveFile, name string) ([]byte, bool) {
	for _, f := range files {
		if f.name == name {
			return f.data, true
		}
	}
	return nil, false
}

// testProfile is a profile as the config file spells it.
type testProfile struct {
	Settings `yaml:",inline"`
	Rules    []Spec `yaml:"rules"`
}

// corpusCase is one loaded invite.
type corpusCase struct {
	name    string
	path    string
	comment []byte
	files   []archiveFile
	event   calendar.Event
	profile testProfile
}

func loadCorpus(t testing.TB) []*corpusCase {
	t.Helper()
	base, err := os.ReadFile("testdata/corpus/profile.yaml")
	require.NoError(t, err)
	paths, err := filepath.Glob("testdata/corpus/*.txtar")
	require.NoError(t, err)
	var out []*corpusCase
	for _, path := range paths {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		c := &corpusCase{name: strings.TrimSuffix(filepath.Base(path), ".txtar"), path: path}
		c.comment, c.files = parseArchive(data)
		evJSON, ok := archiveGet(c.files, "event.json")
		require.True(t, ok, "%s: no event.json", path)
		var ev calendar.Event
		require.NoError(t, json.Unmarshal(evJSON, &ev), "%s: event.json", path)
		if ev.Body != nil && strings.HasPrefix(ev.Body.Content, "@") {
			body, ok := archiveGet(c.files, ev.Body.Content[1:])
			require.True(t, ok, "%s: body file %s missing", path, ev.Body.Content)
			ev.Body.Content = string(body)
		}
		c.event = ev
		require.NoError(t, yaml.Unmarshal(base, &c.profile), "profile.yaml")
		if over, ok := archiveGet(c.files, "profile.yaml"); ok {
			require.NoError(t, yaml.Unmarshal(over, &c.profile), "%s: profile.yaml", path)
		}
		out = append(out, c)
	}
	return out
}

func (c *corpusCase) compile(t testing.TB) *Profile {
	p, err := Compile(c.profile.Settings, c.profile.Rules)
	require.NoError(t, err, c.name)
	return p
}

// corpusReport is what a case's want.json records: the report without the trace.
func corpusReport(t testing.TB, p *Profile, ev calendar.Event) []byte {
	m, d := p.Resolve(corpusRoom, ev, corpusNow)
	r := NewReport(m, d)
	b, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	require.GreaterOrEqual(t, len(cases), 40, "the corpus holds at least 40 invites")
	matchedTypes := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.compile(t)
			got := corpusReport(t, p, c.event)
			if *update {
				files := c.files[:0:0]
				for _, f := range c.files {
					if f.name != "want.json" {
						files = append(files, f)
					}
				}
				files = append(files, archiveFile{name: "want.json", data: got})
				require.NoError(t, os.WriteFile(c.path, formatArchive(c.comment, files), 0o644))
				return
			}
			want, ok := archiveGet(c.files, "want.json")
			require.True(t, ok, "%s has no want.json: run go test ./sync/rules -update", c.path)
			assert.JSONEq(t, string(want), string(got))

			var r Report
			require.NoError(t, json.Unmarshal(got, &r))
			if r.Rule != "" {
				for _, s := range c.profile.Rules {
					if s.Name == r.Rule {
						matchedTypes[s.Type] = true
					}
				}
				if r.Rule == "fallback" {
					matchedTypes["fallback"] = true
				}
			}
			// Every join has a dial string and a protocol/platform in Cisco's vocabulary.
			if r.Join {
				assert.NotEmpty(t, r.Number)
				assert.Contains(t, []string{"SIP", "H323", "WebRTC", "Spark"}, r.Protocol)
				assert.Contains(t, []string{"MicrosoftTeams", "Zoom", "Webex", "GoogleMeet", "Other"}, r.Platform)
				assert.NotContains(t, r.Number, " ")
			} else {
				assert.NotEmpty(t, r.Reason, "a meeting without Join says why")
			}
			assert.LessOrEqual(t, len(r.ID), 128)
		})
	}
	if !*update {
		for _, typ := range []string{TypeTeams, TypeZoom, TypeWebex, TypeGoogleMeet, TypePexip, TypeSkype, TypeGoTo,
			TypeBlueJeans, TypeDomain, TypeRegex, TypeTemplate, "fallback", TypeGoToMeeting, TypeS4B, TypePexipService} {
			assert.True(t, matchedTypes[typ], "no corpus invite is matched by a %s rule", typ)
		}
	}
}
