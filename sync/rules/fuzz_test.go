package rules

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// The matcher and the normaliser read text written by anyone who can send a room an invite.
// The fuzz tests check that nothing panics and that what comes out is well formed; the huge
// inputs check that nothing is worse than linear. Linearity is structural: every scanner makes
// one forward pass (or looks a bounded distance around a position), matching uses RE2 only,
// and the body is capped at maxBodyBytes. BenchmarkAdversarial measures it (ns/byte at 1 MB
// and at 10 MB should be about the same).

// fuzzProfile has every rule type, so every matcher sees the input. The Pexip-named types
// come first: they rarely match, so the others still run after them.
func fuzzProfile(t testing.TB) *Profile {
	p, err := Compile(Settings{}, []Spec{
		{Name: "gotomeeting", Type: TypeGoToMeeting, Priority: 1},
		{Name: "s4b", Type: TypeS4B, Priority: 2, Template: "{{.ConferenceID}}@{{.Gateway}}", Domain: Domains{"gw.contoso.com"}},
		{Name: "pexipservice", Type: TypePexipService, Priority: 3, Domain: Domains{"video.contoso.com"}},
		{Name: "domains", Type: TypeDomain, Priority: 4, Domain: Domains{"gk.contoso.com", "video.fabrikam.com"}},
		{Name: "teams", Type: TypeTeams, Priority: 10},
		{Name: "zoom", Type: TypeZoom, Priority: 20, IncludePIN: true},
		{Name: "zoom-h323", Type: TypeZoom, Priority: 21, Protocol: "H323", Enabled: ptr(false)},
		{Name: "webex", Type: TypeWebex, Priority: 30},
		{Name: "meet", Type: TypeGoogleMeet, Priority: 40, Domain: Domains{"meet.contoso.com"}},
		{Name: "pexip", Type: TypePexip, Priority: 50},
		{Name: "skype", Type: TypeSkype, Priority: 60},
		{Name: "goto", Type: TypeGoTo, Priority: 70, Protocol: "H323"},
		{Name: "bluejeans", Type: TypeBlueJeans, Priority: 80, IncludePIN: true},
		{Name: "vmr", Type: TypeDomain, Priority: 90, Domain: Domains{"vmr.contoso.com"}},
		{Name: "re", Type: TypeRegex, Priority: 100, Match: `(?i)room[- ]?code:? *([0-9]{4,8})`, Replace: "$1@vmr.contoso.com"},
		{Name: "tmpl", Type: TypeTemplate, Priority: 110, Template: `{{with find "lifesizecloud\\.com/([0-9]+)" .Body}}{{.}}@lifesizecloud.com{{end}}`},
	})
	require.NoError(t, err)
	return p
}

func checkMeeting(t *testing.T, m calendar.Meeting, d Decision) {
	t.Helper()
	if len(m.ID) > 128 || m.ID == "" {
		t.Fatalf("booking id %q", m.ID)
	}
	if m.Join {
		if m.Number == "" || strings.ContainsAny(m.Number, " \t\r\n") || len(m.Number) > maxJoinURLLen {
			t.Fatalf("bad number %q", m.Number)
		}
		switch m.Protocol {
		case "SIP", "H323", "WebRTC", "Spark":
		default:
			t.Fatalf("protocol %q", m.Protocol)
		}
		switch m.Platform {
		case "MicrosoftTeams", "Zoom", "Webex", "GoogleMeet", "Other":
		default:
			t.Fatalf("platform %q", m.Platform)
		}
	} else if d.Show() && m.Reason == "" {
		t.Fatal("a meeting without Join has no reason")
	}
	if !utf8.ValidString(m.Reason) || !utf8.ValidString(m.Number) {
		t.Fatalf("invalid UTF-8 out: %q %q", m.Reason, m.Number)
	}
}

func seedCorpus(f *testing.F, add func(body string)) {
	cases := loadCorpus(f)
	for _, c := range cases {
		add(c.event.BodyText())
	}
	for _, s := range []string{"", "<", "<a href=", "<a href='x", "&#", "&#x110000;", "&amp", "<!--", "<style>", "a@b.c 1234567890",
		"sip:", "h323:", "https://urldefense.com/v3/__x**", "**A", "\xff\xfe<div>\xc3</div>", ",,123456789#,,,,*1#"} {
		add(s)
	}
}

func FuzzNormalizeHTML(f *testing.F) {
	seedCorpus(f, func(b string) { f.Add(b) })
	f.Fuzz(func(t *testing.T, src string) {
		for _, out := range []string{htmlText(src), plainText(src)} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of %q", src)
			}
			if strings.Contains(out, "\n\n") || strings.HasPrefix(out, "\n") {
				t.Fatalf("blank line in %q", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.TrimSpace(line) != line && strings.Trim(line, " ") != line {
					t.Fatalf("stray space in line %q", line)
				}
			}
			for _, r := range out {
				if r < ' ' && r != '\n' || r == 0x7f {
					t.Fatalf("control character %U in %q", r, out)
				}
			}
		}
	})
}

func FuzzResolve(f *testing.F) {
	seedCorpus(f, func(b string) { f.Add(b, "", true) })
	f.Add("Join: https://acme.zoom.us/j/81234567890", "sip:1@x.example", false)
	p := fuzzProfile(f)
	f.Fuzz(func(t *testing.T, body, location string, html bool) {
		ct := "text"
		if html {
			ct = "html"
		}
		ev := calendar.Event{
			ID: "fuzz", Subject: location, Body: &calendar.ItemBody{ContentType: ct, Content: body},
			Location: &calendar.Location{DisplayName: location},
			Start:    calendar.FromTime(t0), End: calendar.FromTime(t0.Add(time.Hour)),
		}
		m, d := p.Explain("room@contoso.com", ev, t0)
		checkMeeting(t, m, d)
	})
}

// adversarialInputs are 10 MB (size) worst cases for each scanner.
func adversarialInputs(size int) map[string]string {
	rep := func(s string) string { return strings.Repeat(s, size/len(s)+1)[:size] }
	return map[string]string{
		"unclosed quote":          `<a href="` + rep("x"),
		"angle brackets":          rep("<"),
		"tags":                    rep("<div><a href=x>"),
		"anchors with long text":  rep(`<a href="https://zoom.us/j/123456789">` + strings.Repeat("y", 500)),
		"entities":                rep("&#1234567"),
		"comments":                rep("<!--"),
		"unclosed style":          "<style>" + rep("x"),
		"at signs":                rep("a@"),
		"dotted at signs":         rep("@a."),
		"schemes":                 rep("http://"),
		"one long URL":            "https://" + rep("a"),
		"safe links escapes":      "https://nam12.safelinks.protection.outlook.com/?url=" + rep("%25"),
		"digit run":               rep("1 "),
		"sip schemes":             rep("sip:"),
		"one-tap lines":           "https://zoom.us/j/123456789 " + rep(",,123456789#"),
		"meeting ids on one line": "https://zoom.us/j/123456789 " + rep("123 456 789 x "),
		"hashes":                  "https://global.gotomeeting.com/join/1 " + rep("1.2.3.4##"),
		"underscores":             "https://teams.microsoft.com/l/meetup-join/x " + rep("_"),
		"tenant keys":             "https://teams.microsoft.com/l/meetup-join/x " + rep("a@b.co 1234567890 "),
		"teams links":             rep("https://teams.microsoft.com/l/meetup-join/19%3a "),
		"pluses":                  rep("+1"),
		"colons":                  rep("::"),
		"zero width":              rep("\u200b"),
		"invalid utf8":            rep("\xff"),
		// The Pexip-named types and the Teams Meeting ID fallback.
		"teams meeting id lines":  "Microsoft Teams " + rep("Meeting ID: 123 456 789 012<br>"),
		"meeting id and passcode": "Microsoft Teams " + rep("Meeting ID: 123 456 789 012<br>Passcode: x!<br>"),
		"skype meet links":        rep("https://meet.contoso.com/a/ "),
		"focus uris":              rep("sip:a@b.co;gruu;opaque=app:conf:focus:id:X "),
		"goto room lines":         rep("1234567@1.2.3.4 1.2.3.4##7654321 "),
		"pexip service keys":      rep("teams@x.onpexip.com "),
	}
}

func TestHugeAdversarialInputsAreProcessed(t *testing.T) {
	size := 10 << 20
	if testing.Short() || raceEnabled {
		size = 1 << 20
	}
	p := fuzzProfile(t)
	small := adversarialInputs(1 << 20) // the plain-text path shares the scanners: 1 MB is enough
	for name, body := range adversarialInputs(size) {
		for _, ct := range []string{"html", "text"} {
			if ct == "text" {
				body = small[name]
			}
			t.Run(fmt.Sprintf("%s/%s", name, ct), func(t *testing.T) {
				ev := calendar.Event{ID: "big", Body: &calendar.ItemBody{ContentType: ct, Content: body},
					Location: &calendar.Location{DisplayName: body[:min(len(body), 4096)]},
					Start:    calendar.FromTime(t0), End: calendar.FromTime(t0.Add(time.Hour))}
				m, d := p.Resolve("room@contoso.com", ev, t0)
				checkMeeting(t, m, d)
			})
		}
	}
}

func TestBodyLargerThanTheCapIsTruncatedWithAReason(t *testing.T) {
	body := strings.Repeat("x", maxBodyBytes) + " sip:late@vmr.example.com"
	m, _ := fuzzProfile(t).Resolve("r", calendar.Event{ID: "big", Body: &calendar.ItemBody{ContentType: "text", Content: body},
		Start: calendar.FromTime(t0), End: calendar.FromTime(t0.Add(time.Hour))}, t0)
	require.False(t, m.Join)
	require.Contains(t, m.Reason, "only the first 16 MiB of the body were read")
}

// benchAdversarial are the worst cases BenchmarkAdversarial measures by default (the slowest
// per byte); OTJ_ADVERSARIAL=all measures every one.
var benchAdversarial = []string{"angle brackets", "at signs", "colons", "digit run", "entities", "meeting ids on one line", "safe links escapes", "tenant keys"}

// BenchmarkAdversarial reports ns/byte for worst-case inputs at 1 MB and 10 MB: linear code has
// about the same ns/byte at both sizes (make bench reports the largest ratio as
// rules_linearity_10mb_vs_1mb).
func BenchmarkAdversarial(b *testing.B) {
	p := fuzzProfile(b)
	for _, size := range []int{1 << 20, 10 << 20} {
		inputs := adversarialInputs(size)
		names := benchAdversarial
		if os.Getenv("OTJ_ADVERSARIAL") == "all" {
			names = names[:0:0]
			for n := range inputs {
				names = append(names, n)
			}
			sort.Strings(names)
		}
		for _, name := range names {
			body := inputs[name]
			b.Run(fmt.Sprintf("%s/%dMB", strings.ReplaceAll(name, " ", "_"), size>>20), func(b *testing.B) {
				ev := calendar.Event{ID: "big", Body: &calendar.ItemBody{ContentType: "html", Content: body},
					Start: calendar.FromTime(t0), End: calendar.FromTime(t0.Add(time.Hour))}
				b.SetBytes(int64(size))
				for i := 0; i < b.N; i++ {
					p.Resolve("r", ev, t0)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/byte")
			})
		}
	}
}
