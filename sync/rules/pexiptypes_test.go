package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

func validateMsgs(s Spec) []string {
	if s.Name == "" {
		s.Name = "r"
	}
	if s.Priority == 0 {
		s.Priority = 10
	}
	var out []string
	for _, e := range s.Validate() {
		out = append(out, e.Error())
	}
	return out
}

func TestPexipGuestJoinTypesAreRefusedWithAReason(t *testing.T) {
	for _, typ := range []string{TypeTeamsSIPGuestJoin, TypeMeetSIPGuestJoin} {
		got := validateMsgs(Spec{Type: typ})
		require.Len(t, got, 1, "%v", got)
		assert.Contains(t, got[0], "type: Pexip's SIP Guest Join")
		assert.Contains(t, got[0], "is not supported: Pexip does not publish")
		assert.NotContains(t, got[0], "is not a rule type", "the admin learns why, not that the name is unknown")
		_, err := Compile(Settings{}, []Spec{{Name: "guest", Type: typ, Priority: 10}})
		require.Error(t, err, "a profile with it does not compile")
	}
}

func TestPexipNamedTypesValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want []string // one per problem: substrings of it, separated by \x00; none means valid
	}{
		{"gotomeeting plain", Spec{Type: TypeGoToMeeting}, nil},
		{"gotomeeting H323 and domain", Spec{Type: TypeGoToMeeting, Protocol: "H323", Domain: Domains{"gw.example.com"}}, nil},
		{"gotomeeting WebRTC", Spec{Type: TypeGoToMeeting, Protocol: "WebRTC"}, []string{`protocol: "WebRTC" does not apply to gotomeeting rules (one of SIP, H323)`}},
		{"gotomeeting template", Spec{Type: TypeGoToMeeting, Template: "x"}, []string{"template: only applies to template and s4b rules"}},
		{"s4b default template", Spec{Type: TypeS4B}, nil},
		{"s4b gateway template", Spec{Type: TypeS4B, Domain: Domains{"gw.example.com"}, Template: "{{.ConferenceID}}@{{.Gateway}}"}, nil},
		{"s4b unknown field", Spec{Type: TypeS4B, Template: "{{.Meeting}}@x.example.com"}, []string{"template: fails on a sample meeting\x00can't evaluate field Meeting\x00(fields: .User .ID .Domain .ConferenceID .URL .Gateway)"}},
		{"s4b bad template", Spec{Type: TypeS4B, Template: "{{.ID"}, []string{"template: not a valid template"}},
		{"s4b protocol", Spec{Type: TypeS4B, Protocol: "H323"}, []string{"protocol: does not apply to s4b rules"}},
		{"pexipservice hosted domain", Spec{Type: TypePexipService, Domain: Domains{"video.example.com"}}, nil},
		{"domain list", Spec{Type: TypeDomain, Domain: Domains{"vmr.example.com", "video.example.net"}}, nil},
		{"domain list with a bad one", Spec{Type: TypeDomain, Domain: Domains{"vmr.example.com", "https://x.example.com"}}, []string{`domain: "https://x.example.com": give the domain only`}},
		{"empty domain list", Spec{Type: TypeDomain, Domain: Domains{}}, []string{"domain: is required for a domain rule (one domain or a list)"}},
		{"list on a teams rule", Spec{Type: TypeTeams, Domain: Domains{"a.example.com", "b.example.com"}}, []string{"domain: teams rules take one domain, not a list (only domain rules take a list)"}},
		{"list on pexipservice", Spec{Type: TypePexipService, Domain: Domains{"a.example.com", "b.example.com"}}, []string{"domain: pexipservice rules take one domain, not a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validateMsgs(tc.spec)
			require.Len(t, got, len(tc.want), "%v", got)
			for i, w := range tc.want {
				for _, part := range strings.Split(w, "\x00") {
					assert.Contains(t, strings.Join(got, "\n"), part, "problem %d", i)
				}
			}
		})
	}
}

func TestDomainKeyTakesOneDomainOrAList(t *testing.T) {
	var r struct {
		Rules []Spec `yaml:"rules"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(`
rules:
  - {name: one, type: domain, priority: 1, domain: VMR.example.com}
  - {name: list, type: domain, priority: 2, domain: [vmr.example.com, video.example.net]}
  - {name: none, type: teams, priority: 3}
`), &r))
	assert.Equal(t, Domains{"VMR.example.com"}, r.Rules[0].Domain)
	assert.Equal(t, Domains{"vmr.example.com", "video.example.net"}, r.Rules[1].Domain)
	assert.Empty(t, r.Rules[2].Domain)

	err := yaml.Unmarshal([]byte("rules:\n  - {name: bad, domain: {a: b}}\n"), &r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2: domain: give a domain or a list of domains")

	// Written back, one domain stays a scalar (configs other tools read keep their shape).
	out, err := yaml.Marshal(Spec{Name: "x", Domain: Domains{"vmr.example.com"}})
	require.NoError(t, err)
	assert.Contains(t, string(out), "domain: vmr.example.com\n")
	out, err = yaml.Marshal(Spec{Name: "x", Domain: Domains{"a.example.com", "b.example.com"}})
	require.NoError(t, err)
	assert.Contains(t, string(out), "domain:\n    - a.example.com\n    - b.example.com\n")
}

func TestDomainRuleMatchesAnyListedDomainCaseInsensitively(t *testing.T) {
	p := mustCompile(t, Settings{}, Spec{Name: "ours", Type: TypeDomain, Priority: 1, Domain: Domains{"VMR.example.com", "video.example.net"}})
	m, _ := resolve(p, testEvent(`<p>Room: 8812@Video.Example.NET</p>`))
	assert.Equal(t, "8812@video.example.net", m.Number)
	assert.Equal(t, "ours", m.Rule)
	m, _ = resolve(p, testEvent(`<p>Room: 8812@eu.video.example.net</p>`))
	assert.False(t, m.Join, "a subdomain is another domain")
}

func TestTeamsMeetingIDFallbackNeedsWebRTC(t *testing.T) {
	body := `<p>Microsoft Teams meeting</p><p><a href="https://url.us.m.mimecastprotect.com/s/Ab1Cd2">Join the meeting now</a></p>` +
		`<p>Meeting ID: 318 227 946 101</p><p>Passcode: Pq7rSt</p>`
	teams := Spec{Name: "teams", Type: TypeTeams, Priority: 1}
	m, _ := resolve(mustCompile(t, Settings{}, teams), testEvent(body))
	assert.Equal(t, "https://teams.microsoft.com/meet/318227946101?p=Pq7rSt", m.Number)
	assert.Equal(t, "WebRTC", m.Protocol)
	assert.Equal(t, "MicrosoftTeams", m.Platform)
	assert.Contains(t, m.Reason, "built from the printed Meeting ID 318227946101 and Passcode")

	m, _ = resolve(mustCompile(t, Settings{WebRTC: ptr(false)}, teams), testEvent(body))
	assert.False(t, m.Join, "a Poly profile cannot use a join link")
	assert.Contains(t, m.Reason, "WebRTC joins are off")

	// The same lines in an invite that is not Teams' build nothing.
	m, _ = resolve(mustCompile(t, Settings{}, teams), testEvent(strings.ReplaceAll(body, "Microsoft Teams", "Quarterly")))
	assert.False(t, m.Join)
}

func TestTeamsMeetingIDFallbackYieldsToAReadableLink(t *testing.T) {
	body := `<p>Microsoft Teams meeting</p><p><a href="https://teams.microsoft.com/meet/318227946101?p=Hashed9x">Join the meeting now</a></p>` +
		`<p>Meeting ID: 318 227 946 101</p><p>Passcode: Pq7rSt</p>`
	m, _ := resolve(mustCompile(t, Settings{}, Spec{Name: "teams", Type: TypeTeams, Priority: 1}), testEvent(body,
		func(ev *calendar.Event) { ev.OnlineMeetingProvider = "teamsForBusiness" }))
	assert.Equal(t, "https://teams.microsoft.com/meet/318227946101?p=Hashed9x", m.Number, "the link as written wins over one we build")
}
