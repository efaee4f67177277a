package googlesim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"html"
	"regexp"
	"strings"
)

// The Google-side overlay of an event (conferenceData, an emptied description) and the
// conferenceData derived from invites: Meet links as hangoutsMeet, Zoom and Webex as the
// add-on conferencing their Calendar add-ons write.

// Overlay is what Google stores beside a graphsim event. Keyed by the graphsim id of the
// single event or series master (its occurrences share it).
type Overlay struct {
	Conference *Conference `json:"conference,omitempty"`
	// NoConference suppresses derived conferenceData (a plain meeting whose body mentions a link).
	NoConference bool `json:"no_conference,omitempty"`
	// EmptyDescription serves the event with no description (a Meet meeting created in Google
	// Calendar: the link lives in conferenceData only).
	EmptyDescription bool `json:"empty_description,omitempty"`
}

// Conference is an event's conferenceData.
type Conference struct {
	Type         string            `json:"type"` // hangoutsMeet or addOn
	Name         string            `json:"name"` // Google Meet, Zoom Meeting, Webex
	ConferenceID string            `json:"conference_id"`
	EntryPoints  []EntryPoint      `json:"entry_points"`
	Notes        string            `json:"notes,omitempty"`
	Parameters   map[string]string `json:"parameters,omitempty"` // addOnParameters.parameters
}

// EntryPoint is one way to join (entryPointType video, phone, sip or more).
type EntryPoint struct {
	Type        string `json:"type"`
	URI         string `json:"uri"`
	Label       string `json:"label,omitempty"`
	MeetingCode string `json:"meeting_code,omitempty"`
	AccessCode  string `json:"access_code,omitempty"`
	Passcode    string `json:"passcode,omitempty"`
	Password    string `json:"password,omitempty"`
	Pin         string `json:"pin,omitempty"`
	RegionCode  string `json:"region_code,omitempty"`
}

// MeetConference is Google Meet's conferenceData for a meeting code (aaa-bbbb-ccc). With sip,
// it carries the SIP entry point a Meet hardware interop subscription adds.
func MeetConference(code string, sip bool) *Conference {
	h := sha256.Sum256([]byte("meet/" + code))
	n := binary.BigEndian.Uint64(h[:8])
	pin := fmt.Sprintf("%09d", n%1_000_000_000)
	c := &Conference{Type: "hangoutsMeet", Name: "Google Meet", ConferenceID: code, EntryPoints: []EntryPoint{
		{Type: "video", URI: "https://meet.google.com/" + code, Label: "meet.google.com/" + code},
		{Type: "phone", URI: "tel:+1-555-555-0142", Label: "+1 555-555-0142", Pin: pin, RegionCode: "US"},
		{Type: "more", URI: "https://tel.meet/" + code + "?pin=" + fmt.Sprintf("%013d", n%10_000_000_000_000), Pin: fmt.Sprintf("%013d", n%10_000_000_000_000)},
	}}
	if sip {
		sipPin := fmt.Sprintf("%013d", (n>>7)%10_000_000_000_000)
		c.EntryPoints = append(c.EntryPoints, EntryPoint{Type: "sip", URI: "sip:" + sipPin + "@gmeet.redclient.com", Label: sipPin + "@gmeet.redclient.com", Pin: sipPin})
	}
	return c
}

// SetOverlay stores an event's overlay (event: graphsim id of a single or series master, or
// its Google id); the zero Overlay removes it.
func (s *Server) SetOverlay(calendar, event string, o Overlay) error {
	mb, ok := s.resolve(calendar)
	if !ok {
		return fmt.Errorf("calendar %s: not found", calendar)
	}
	id, err := s.storedID(mb, event)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overlaySeq++
	if o.Conference == nil && !o.NoConference && !o.EmptyDescription {
		delete(s.overlays, id)
	} else {
		s.overlays[id] = o
	}
	return nil
}

// Overlays lists the overlays by graphsim id.
func (s *Server) Overlays() map[string]Overlay {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Overlay{}
	for k, v := range s.overlays {
		out[k] = v
	}
	return out
}

// storedID resolves a graphsim or Google event id to the graphsim id of the stored event.
func (s *Server) storedID(mb, event string) (string, error) {
	if it, err := s.gs.SharedItemByID(mb, event); err == nil {
		if it.MasterID != "" {
			return it.MasterID, nil
		}
		return it.ID, nil
	}
	gid, _, _ := strings.Cut(event, "_")
	s.mu.Lock()
	id, ok := s.googleIDs[gid]
	s.mu.Unlock()
	if !ok {
		items, err := s.gs.StoredItems(mb)
		if err != nil {
			return "", err
		}
		for _, it := range items {
			if googleID(it.ID) == gid {
				return it.ID, nil
			}
		}
		return "", fmt.Errorf("event %s: not found", event)
	}
	return id, nil
}

var (
	meetRE      = regexp.MustCompile(`https://meet\.google\.com/([a-z]{3}-[a-z]{4}-[a-z]{3})`)
	zoomRE      = regexp.MustCompile(`https://([a-z0-9]+)\.zoom\.us/j/(\d{9,11})(?:\?pwd=([A-Za-z0-9._-]+))?`)
	zoomPassRE  = regexp.MustCompile(`Passcode: ([A-Za-z0-9]+)`)
	zoomSIPRE   = regexp.MustCompile(`(\d{9,11})@(zoomcrc\.com|[a-z.]*zmeu\.us)`)
	webexRE     = regexp.MustCompile(`https://([a-z0-9-]+)\.webex\.com/[a-z0-9-]+/j\.php\?MTID=(m[A-Za-z0-9]+)`)
	webexSIPRE  = regexp.MustCompile(`Dial (\d{9,11})@([a-z0-9-]+\.webex\.com)`)
	bodyInnerRE = regexp.MustCompile(`(?is)<body[^>]*>(.*)</body>`)
)

// conference decides an event's conferenceData: the overlay's, else derived from its body
// (Meet, Zoom and Webex links), else Meet for a share of the meetings with no link at all.
func (s *Server) conference(graphID, body string, ov Overlay, meetShare float64) *Conference {
	if ov.Conference != nil {
		return ov.Conference
	}
	if ov.NoConference {
		return nil
	}
	text := html.UnescapeString(body)
	if !s.opts.NoConferenceDetection {
		if m := meetRE.FindStringSubmatch(text); m != nil {
			return MeetConference(m[1], s.opts.MeetSIP)
		}
		if m := zoomRE.FindStringSubmatch(text); m != nil {
			return zoomConference(text, m)
		}
		if m := webexRE.FindStringSubmatch(text); m != nil {
			return webexConference(text, m)
		}
	}
	if meetShare <= 0 || strings.Contains(text, "https://") {
		return nil
	}
	h := sha256.Sum256([]byte("meet-share/" + graphID))
	if float64(binary.BigEndian.Uint32(h[:4]))/float64(1<<32) >= meetShare {
		return nil
	}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	code := make([]byte, 0, 12)
	for i, b := range h[4:14] {
		if i == 3 || i == 7 {
			code = append(code, '-')
		}
		code = append(code, letters[int(b)%26])
	}
	return MeetConference(string(code), s.opts.MeetSIP)
}

func zoomConference(text string, m []string) *Conference {
	link, id := m[0], m[2]
	pass := ""
	if p := zoomPassRE.FindStringSubmatch(text); p != nil {
		pass = p[1]
	}
	c := &Conference{Type: "addOn", Name: "Zoom Meeting", ConferenceID: id,
		EntryPoints: []EntryPoint{{Type: "video", URI: link, Label: strings.TrimPrefix(link, "https://"), MeetingCode: id, Passcode: pass},
			{Type: "phone", URI: "tel:+15555550100,," + id + "#", Label: "+1 555-555-0100", MeetingCode: id, Passcode: pass, RegionCode: "US"}},
		Parameters: map[string]string{"meetingType": "2", "realMeetingId": id}}
	if sm := zoomSIPRE.FindStringSubmatch(text); sm != nil {
		c.EntryPoints = append(c.EntryPoints, EntryPoint{Type: "sip", URI: "sip:" + sm[1] + "@" + sm[2], Label: sm[1] + "@" + sm[2], MeetingCode: id, Passcode: pass})
	}
	return c
}

func webexConference(text string, m []string) *Conference {
	link := m[0]
	c := &Conference{Type: "addOn", Name: "Webex", ConferenceID: m[2],
		EntryPoints: []EntryPoint{{Type: "video", URI: link, Label: strings.TrimPrefix(link, "https://")}}}
	if sm := webexSIPRE.FindStringSubmatch(text); sm != nil {
		c.ConferenceID = sm[1]
		c.EntryPoints[0].MeetingCode = sm[1]
		c.EntryPoints = append(c.EntryPoints, EntryPoint{Type: "sip", URI: "sip:" + sm[1] + "@" + sm[2], Label: sm[1] + "@" + sm[2], MeetingCode: sm[1]})
	}
	return c
}

// json renders conferenceData as the Calendar API does.
func (c *Conference) json() map[string]any {
	eps := make([]any, 0, len(c.EntryPoints))
	for _, e := range c.EntryPoints {
		m := map[string]any{"entryPointType": e.Type, "uri": e.URI}
		for k, v := range map[string]string{"label": e.Label, "meetingCode": e.MeetingCode, "accessCode": e.AccessCode,
			"passcode": e.Passcode, "password": e.Password, "pin": e.Pin, "regionCode": e.RegionCode} {
			if v != "" {
				m[k] = v
			}
		}
		eps = append(eps, m)
	}
	icon := "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"
	if c.Type == "addOn" {
		icon = "https://lh3.googleusercontent.com/addon-icon/" + strings.ToLower(strings.Fields(c.Name)[0]) + ".png"
	}
	out := map[string]any{"entryPoints": eps, "conferenceId": c.ConferenceID,
		"conferenceSolution": map[string]any{"key": map[string]any{"type": c.Type}, "name": c.Name, "iconUri": icon}}
	if c.Notes != "" {
		out["notes"] = c.Notes
	}
	if len(c.Parameters) > 0 {
		ps := map[string]any{}
		for k, v := range c.Parameters {
			ps[k] = v
		}
		out["parameters"] = map[string]any{"addOnParameters": map[string]any{"parameters": ps}}
	}
	if c.Type == "hangoutsMeet" {
		out["createRequest"] = map[string]any{"requestId": c.ConferenceID, "conferenceSolutionKey": map[string]any{"type": "hangoutsMeet"},
			"status": map[string]any{"statusCode": "success"}}
	}
	return out
}

// videoURI is the conference's video entry point (hangoutLink for Meet).
func (c *Conference) videoURI() string {
	for _, e := range c.EntryPoints {
		if e.Type == "video" {
			return e.URI
		}
	}
	return ""
}

// descriptionHTML is what Google shows of an Outlook-style body: the inside of <body>.
func descriptionHTML(body string) string {
	if m := bodyInnerRE.FindStringSubmatch(body); m != nil {
		return strings.TrimSpace(m[1])
	}
	return body
}
