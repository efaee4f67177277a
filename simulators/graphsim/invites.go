package graphsim

import (
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"strings"
)

// Invite providers the scenario generator writes (README "Meeting processing rules"; every sample is our own
// reconstruction with made-up numbers: structure and labels, not anyone's text).
const (
	ProviderTeams            = "teams"              // Teams join link, no video-device block
	ProviderTeamsCVIWebex    = "teams-cvi-webex"    // Teams + Cisco Webex CVI (tenant@m.webex.com + Video ID)
	ProviderTeamsCVIPexip    = "teams-cvi-pexip"    // Teams + Pexip Service CVI (teams@<dom> + ID)
	ProviderTeamsCVIPoly     = "teams-cvi-poly"     // Teams + Poly RealConnect CVI (<tenant>@t.plcm.vc + ID)
	ProviderTeamsCVIInfinity = "teams-cvi-infinity" // Teams + Pexip Infinity CVI (IVR alias + /teams/?conf= link)
	ProviderZoom             = "zoom"
	ProviderWebex            = "webex" // scheduled Webex meeting ("Join by video system")
	ProviderWebexPersonal    = "webex-personal"
	ProviderMeet             = "google-meet"
	ProviderPexip            = "pexip" // Pexip VMR
	ProviderSIP              = "sip"   // a plain SIP URI in the location
	ProviderAudio            = "audio" // phone dial-in only
	ProviderNone             = "none"  // in-person meeting, no online details
)

// providerMix is how often each provider appears (weights).
var providerMix = []struct {
	name   string
	weight int
}{
	{ProviderTeams, 24}, {ProviderTeamsCVIWebex, 8}, {ProviderTeamsCVIPexip, 5}, {ProviderTeamsCVIPoly, 5},
	{ProviderTeamsCVIInfinity, 3}, {ProviderZoom, 12}, {ProviderWebex, 7}, {ProviderWebexPersonal, 3},
	{ProviderMeet, 6}, {ProviderPexip, 6}, {ProviderSIP, 5}, {ProviderAudio, 5}, {ProviderNone, 11},
}

func pickProvider(rng *rand.Rand) string {
	total := 0
	for _, p := range providerMix {
		total += p.weight
	}
	n := rng.IntN(total)
	for _, p := range providerMix {
		if n < p.weight {
			return p.name
		}
		n -= p.weight
	}
	return ProviderTeams
}

// invite is the online-meeting part of a generated event.
type invite struct {
	provider string
	subject  string
	body     string // HTML
	location string // location display name ("" = the room only)
	online   bool   // Teams: isOnlineMeeting with onlineMeeting.joinUrl
	joinURL  string
	confID   string // Teams PSTN conference id
}

var (
	firstNames = []string{"Alice", "Bjørn", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Ingrid", "Jonas", "Kofi", "Lena",
		"Mateo", "Nora", "Omar", "Priya", "Rasmus", "Sofia", "Tomás", "Uma", "Viktor", "Wen", "Yusuf", "Zoe"}
	lastNames = []string{"Andersen", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Haugen", "Ito", "Johansen", "Kowalski",
		"Larsen", "Moreau", "Nakamura", "Olsen", "Patel", "Quinn", "Rossi", "Svensson", "Tanaka", "Urbina", "Vik", "Weber", "Yilmaz"}
	externalDomains = []string{"fabrikam.example", "northwind.example", "adventure-works.example", "tailspin.example", "wingtip.example"}
	topics          = []string{"Weekly sync", "Project Aurora review", "Budget planning Q3", "Design critique", "Customer call", "Hiring panel",
		"Sprint planning", "Retrospective", "Board prep", "Vendor briefing", "Quarterly business review", "Architecture deep dive",
		"Onboarding: new starters", "Incident review", "Partner workshop", "All hands rehearsal", "Roadmap alignment", "1:1",
		"Product demo", "Security standup", "Launch readiness", "Steering committee", "Team lunch & learn", "Interview debrief"}
)

type person struct{ name, addr string }

func randomPerson(rng *rand.Rand, domain string) person {
	f, l := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
	local := strings.ToLower(asciiFold(f) + "." + asciiFold(l))
	return person{name: f + " " + l, addr: local + "@" + domain}
}

func asciiFold(s string) string {
	r := strings.NewReplacer("ø", "o", "Ø", "O", "é", "e", "á", "a", "í", "i", "ñ", "n", "ó", "o", "ç", "c")
	return r.Replace(s)
}

func digits(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		d := rng.IntN(10)
		if i == 0 && d == 0 {
			d = 1 + rng.IntN(9)
		}
		b.WriteByte(byte('0' + d))
	}
	return b.String()
}

func alnum(rng *rand.Rand, n int) string {
	const chars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

// group writes digits in groups ("119856328 6" style: sizes as given).
func group(d string, sizes ...int) string {
	var parts []string
	for _, n := range sizes {
		if len(d) < n {
			break
		}
		parts = append(parts, d[:n])
		d = d[n:]
	}
	if d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, " ")
}

func randGUID(rng *rand.Rand) string {
	h := func(n int) string {
		const x = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = x[rng.IntN(16)]
		}
		return string(b)
	}
	return h(8) + "-" + h(4) + "-4" + h(3) + "-a" + h(3) + "-" + h(12)
}

const underscores = "________________________________________________________________________________"

// safeLink wraps a URL the way Microsoft Defender Safe Links rewrites it in a mailbox.
func safeLink(rng *rand.Rand, u string) string {
	return "https://eur01.safelinks.protection.outlook.com/ap/t-59584e83/?url=" + url.QueryEscape(u) +
		"&data=05%7C02%7Croom%40contoso.example%7C" + alnum(rng, 20) + "%7C" + digits(rng, 18) + "&sdata=" + alnum(rng, 40) + "%3D&reserved=0"
}

// anchor renders a link, optionally as Safe Links rewrote it (keeping Outlook's originalsrc).
func anchor(href, text string, wrapped bool, rng *rand.Rand, attrs string) string {
	if wrapped {
		return fmt.Sprintf(`<a href="%s" originalsrc="%s" shash="%s" %s>%s</a>`, html.EscapeString(safeLink(rng, href)),
			html.EscapeString(href), alnum(rng, 24), attrs, html.EscapeString(text))
	}
	return fmt.Sprintf(`<a href="%s" %s>%s</a>`, html.EscapeString(href), attrs, html.EscapeString(text))
}

func htmlDoc(inner string) string {
	return `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><meta name="Generator" content="Microsoft Exchange Server">` +
		`<style>.me-email-text{color:#242424}.me-email-text-secondary{color:#616161}</style></head><body><div>` + inner + `</div></body></html>`
}

func agenda(rng *rand.Rand, topic string) string {
	lines := []string{
		"Hi all, let's use this slot for " + strings.ToLower(topic) + ".",
		"Agenda: 1) status 2) risks 3) next steps.",
		"Please read the pre-read before we meet.",
		"Looking forward to it.",
	}
	n := 1 + rng.IntN(3)
	var b strings.Builder
	for _, l := range lines[:n] {
		b.WriteString("<div>" + html.EscapeString(l) + "</div>")
	}
	return b.String()
}

// teamsJoinURL is a Teams join link, classic deep link or the newer short form.
func teamsJoinURL(rng *rand.Rand, tenant string) string {
	if rng.IntN(10) < 4 {
		return "https://teams.microsoft.com/meet/" + digits(rng, 14) + "?p=" + alnum(rng, 16)
	}
	return "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + alnum(rng, 48) + "%40thread.v2/0?context=%7b%22Tid%22%3a%22" +
		tenant + "%22%2c%22Oid%22%3a%22" + randGUID(rng) + "%22%7d"
}

// cviBlock is the "join on a video conferencing device" part of a Teams invite, per provider.
func cviBlock(rng *rand.Rand, provider string, newLayout bool) string {
	videoID := digits(rng, 10)
	var key, link string
	switch provider {
	case ProviderTeamsCVIWebex:
		key = "contoso@m.webex.com"
		link = "https://www.webex.com/msteams?confid=" + videoID + "&tenantkey=contoso&domain=m.webex.com"
	case ProviderTeamsCVIPexip:
		key = "teams@contoso.onpexip.com"
		link = "https://pexip.me/teams/contoso.onpexip.com/" + videoID
	case ProviderTeamsCVIPoly:
		tenantID := digits(rng, 9)
		key = tenantID + "@t.plcm.vc"
		link = "https://dialin.plcm.vc/teams/?key=" + tenantID + "&conf=" + videoID
	case ProviderTeamsCVIInfinity:
		key = "teams@vc.contoso.example"
		link = "https://pexip.contoso.example/teams/?conf=" + videoID + "&ivr=teams&d=vc.contoso.example&ip=192.0.2.10&prefix=55&w"
	default:
		return ""
	}
	grouped := group(videoID, 3, 3, 3)
	if newLayout {
		return `<div style="margin-bottom:12px"><span class="me-email-headline">Join on a video conferencing device</span></div>` +
			`<div><span class="me-email-text-secondary">Tenant key: </span><a href="mailto:` + key + `" class="me-email-link">` + key + `</a></div>` +
			`<div><span class="me-email-text-secondary">Video ID: </span><span class="me-email-text">` + grouped + `</span></div>` +
			`<div><a href="` + html.EscapeString(link) + `" class="me-email-link">More info</a></div>`
	}
	return `<div>Join with a video conferencing device</div><div>` + key + `</div>` +
		`<div>Video Conference ID: ` + grouped + `</div><div><a href="` + html.EscapeString(link) + `">Alternate VTC instructions</a></div>`
}

// teamsInvite writes a Teams invite in the 2024+ ("Join the meeting now") or the 2020–2024
// ("Microsoft Teams meeting") layout, with a CVI block for the CVI providers.
func teamsInvite(rng *rand.Rand, provider, tenant, topic string) invite {
	join := teamsJoinURL(rng, tenant)
	meetingID := group(digits(rng, 12+rng.IntN(2)), 3, 3, 3, 3)
	pass := alnum(rng, 8)
	confID := digits(rng, 9)
	wrapped := rng.IntN(100) < 15
	newLayout := rng.IntN(3) > 0
	var b strings.Builder
	b.WriteString(agenda(rng, topic))
	b.WriteString(`<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">` + underscores + `</span></div>`)
	b.WriteString(`<div class="me-email-text" lang="en-US" style="color:#242424;font-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif">`)
	if newLayout {
		b.WriteString(`<div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">Microsoft Teams</span> ` +
			`<a href="https://aka.ms/JoinTeamsMeeting?omkt=en-US" class="me-email-link">Need help?</a></div>`)
		b.WriteString(`<div style="margin-bottom:20px">` + anchor(join, "Join the meeting now", wrapped, rng,
			`class="me-email-headline" title="Meeting join link" style="font-size:20px;font-weight:600;color:#5B5FC7"`) + `</div>`)
		b.WriteString(`<div style="margin-bottom:20px"><div><span class="me-email-text-secondary">Meeting ID: </span><span class="me-email-text">` +
			meetingID + `</span></div><div><span class="me-email-text-secondary">Passcode: </span><span class="me-email-text">` + pass + `</span></div></div>`)
		b.WriteString(`<div style="margin-bottom:24px;max-width:532px"><hr style="border:0;background:#D1D1D1;height:1px"></div>`)
		b.WriteString(`<div><span class="me-email-text-secondary">Dial in by phone</span></div><div><a href="tel:+15555550100,,` + confID +
			`#" class="me-email-link">+1 555-555-0100,,` + confID + `#</a> United States, Seattle</div>` +
			`<div><span class="me-email-text-secondary">Phone conference ID: </span><span class="me-email-text">` + group(confID, 3, 3, 3) + `#</span></div>`)
		b.WriteString(cviBlock(rng, provider, true))
		b.WriteString(`<div style="margin-top:24px"><span class="me-email-text-secondary">For organizers: </span>` +
			`<a href="https://teams.microsoft.com/meetingOptions/?organizerId=` + randGUID(rng) + `" class="me-email-link">Meeting options</a> | ` +
			`<a href="https://dialin.teams.microsoft.com/usp/pstnconferencing" class="me-email-link">Reset dial-in PIN</a></div>`)
	} else {
		b.WriteString(`<div style="font-size:24px">Microsoft Teams meeting</div>`)
		b.WriteString(`<div><b>Join on your computer, mobile app or room device</b></div>`)
		b.WriteString(`<div>` + anchor(join, "Click here to join the meeting", wrapped, rng, `target="_blank"`) + `</div>`)
		b.WriteString(`<div>Meeting ID: ` + meetingID + `<br>Passcode: ` + pass + `</div>`)
		b.WriteString(`<div><a href="https://www.microsoft.com/en-us/microsoft-teams/download-app">Download Teams</a> | ` +
			`<a href="https://www.microsoft.com/microsoft-teams/join-a-meeting">Join on the web</a></div>`)
		b.WriteString(cviBlock(rng, provider, false))
		b.WriteString(`<div><b>Or call in (audio only)</b></div><div>+1 555-555-0100,,` + confID + `# United States, Seattle</div>` +
			`<div>Phone Conference ID: ` + group(confID, 3, 3, 3) + `#</div>`)
		b.WriteString(`<div><a href="https://aka.ms/JoinTeamsMeeting">Learn More</a> | <a href="https://teams.microsoft.com/meetingOptions/">Meeting options</a></div>`)
	}
	b.WriteString(`</div><div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">` + underscores + `</span></div>`)
	return invite{provider: provider, subject: topic, body: htmlDoc(b.String()), location: "Microsoft Teams Meeting",
		online: true, joinURL: join, confID: confID}
}

func zoomInvite(rng *rand.Rand, topic, host string) invite {
	id := digits(rng, 10+rng.IntN(2))
	pwd := alnum(rng, 32) + ".1"
	numericPass := digits(rng, 6+rng.IntN(3))
	webPass := numericPass
	if rng.IntN(2) == 0 {
		webPass = alnum(rng, 8)
	}
	sipDomain := "zoomcrc.com"
	if rng.IntN(4) == 0 {
		sipDomain = "fr.zmeu.us"
	}
	link := "https://" + host + ".zoom.us/j/" + id + "?pwd=" + pwd
	groupedID := group(id, 3, 4, 4)
	text := []string{
		"Join Zoom Meeting", `<a href="` + html.EscapeString(link) + `">` + html.EscapeString(link) + `</a>`, "",
		"Meeting ID: " + groupedID, "Passcode: " + webPass, "", "---", "", "One tap mobile",
		"+15555550100,," + id + "#,,,,*" + numericPass + "# US", "", "---", "",
		"Join by SIP", "• " + id + "@" + sipDomain, "", "Join by H.323",
		"• 162.255.37.11 (US West)", "• 213.19.144.110 (Amsterdam Netherlands)", "Meeting ID: " + groupedID, "Passcode: " + numericPass,
	}
	inv := invite{provider: ProviderZoom, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div><br>" + strings.Join(text, "<br>") + "</div>")}
	if rng.IntN(2) == 0 {
		inv.location = link
	}
	return inv
}

func webexInvite(rng *rand.Rand, topic, site string) invite {
	number := digits(rng, 11)
	link := "https://" + site + ".webex.com/" + site + "/j.php?MTID=m" + alnum(rng, 32)
	text := []string{
		"When it's time, join the Webex meeting here.", `<a href="` + html.EscapeString(link) + `">Join meeting</a>`, "",
		"Meeting number: " + group(number, 4, 3, 4), "Password: " + alnum(rng, 11), "",
		"<b>Join by video system</b>", "Dial " + number + "@" + site + ".webex.com",
		"You can also dial 173.243.2.68 and enter your meeting number.", "",
		"<b>Join by phone</b>", "+1-555-555-0199 United States Toll", "Access code: " + group(number, 4, 3, 4),
	}
	return invite{provider: ProviderWebex, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div><br>" + strings.Join(text, "<br>") + "</div>")}
}

func webexPersonalInvite(rng *rand.Rand, topic, site string, host person) invite {
	name, _, _ := strings.Cut(host.addr, "@")
	name = strings.ReplaceAll(name, ".", "")
	link := "https://" + site + ".webex.com/meet/" + name
	text := []string{
		"Join my Personal Room:", `<a href="` + html.EscapeString(link) + `">` + link + `</a>`, "",
		"<b>Join from a video system or application</b>", "Dial " + name + "@" + site + ".webex.com and enter your host PIN if you are the host.",
	}
	return invite{provider: ProviderWebexPersonal, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div><br>" + strings.Join(text, "<br>") + "</div>"), location: link}
}

func meetInvite(rng *rand.Rand, topic string) invite {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	code := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(26)]
		}
		return string(b)
	}
	meet := code(3) + "-" + code(4) + "-" + code(3)
	link := "https://meet.google.com/" + meet
	tel := "https://tel.meet/" + meet + "?pin=" + digits(rng, 13)
	text := []string{
		"-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-",
		`Join with Google Meet: <a href="https://www.google.com/url?q=` + url.QueryEscape(link) + `&amp;sa=D&amp;source=calendar&amp;usg=` + alnum(rng, 28) + `">` + link + `</a>`,
		"Or dial: (US) +1 555-555-0142 PIN: " + digits(rng, 9) + "#",
		`More phone numbers: <a href="` + html.EscapeString(tel) + `">` + tel + `</a>`, "",
		"Learn more about Meet at: https://support.google.com/a/users/answer/9282720", "",
		"Please do not edit this section.",
		"-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-",
	}
	return invite{provider: ProviderMeet, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div><br>" + strings.Join(text, "<br>") + "</div>")}
}

func pexipInvite(rng *rand.Rand, topic string, host person) invite {
	local, _, _ := strings.Cut(host.addr, "@")
	alias := "meet." + strings.ReplaceAll(local, ".", "") + "@vc.contoso.example"
	web := "https://pexip.contoso.example/webapp/#/?conference=" + alias
	if rng.IntN(2) == 0 {
		web = "https://pexip.contoso.example/webapp/m/" + alias
	}
	text := []string{
		"Please join my video meeting:", "",
		"From a video conferencing system or Skype for Business: " + alias,
		`From a browser: <a href="` + html.EscapeString(web) + `">` + html.EscapeString(web) + `</a>`,
		`From the Pexip app: <a href="pexip://` + alias + `">pexip://` + alias + `</a>`,
		"From a phone: +1 555 555 0177, then conference ID " + digits(rng, 6) + "#",
	}
	return invite{provider: ProviderPexip, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div><br>" + strings.Join(text, "<br>") + "</div>")}
}

func sipInvite(rng *rand.Rand, topic string) invite {
	rooms := []string{"boardroom", "vmr.sales", "townhall", "bridge.ops", "exec.vmr"}
	uri := "sip:" + rooms[rng.IntN(len(rooms))] + "@vc.contoso.example"
	return invite{provider: ProviderSIP, subject: topic, location: uri,
		body: htmlDoc(agenda(rng, topic) + "<div>Video: call " + uri + " from the room system.</div>")}
}

func audioInvite(rng *rand.Rand, topic string) invite {
	code := digits(rng, 9)
	text := []string{"Audio conference", "Dial-in: +1 555 555 0123 (US), +44 20 7946 0321 (UK)", "Conference code: " + group(code, 3, 3, 3) + "#", "No video for this one."}
	return invite{provider: ProviderAudio, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div><br>" + strings.Join(text, "<br>") + "</div>")}
}

func plainInvite(rng *rand.Rand, topic string) invite {
	return invite{provider: ProviderNone, subject: topic, body: htmlDoc(agenda(rng, topic) + "<div>In person; coffee provided.</div>")}
}

// makeInvite writes an invite of the given provider.
func makeInvite(rng *rand.Rand, provider, tenant, topic string, host person) invite {
	switch provider {
	case ProviderTeams, ProviderTeamsCVIWebex, ProviderTeamsCVIPexip, ProviderTeamsCVIPoly, ProviderTeamsCVIInfinity:
		return teamsInvite(rng, provider, tenant, topic)
	case ProviderZoom:
		return zoomInvite(rng, topic, []string{"contoso", "us02web", "fabrikam"}[rng.IntN(3)])
	case ProviderWebex:
		return webexInvite(rng, topic, []string{"contoso", "fabrikam"}[rng.IntN(2)])
	case ProviderWebexPersonal:
		return webexPersonalInvite(rng, topic, "contoso", host)
	case ProviderMeet:
		return meetInvite(rng, topic)
	case ProviderPexip:
		return pexipInvite(rng, topic, host)
	case ProviderSIP:
		return sipInvite(rng, topic)
	case ProviderAudio:
		return audioInvite(rng, topic)
	}
	return plainInvite(rng, topic)
}
