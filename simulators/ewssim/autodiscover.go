package ewssim

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Autodiscover: SOAP GetUserSettings (autodiscover.svc) and POX (autodiscover.xml). Known
// addresses are the rooms and the accounts' UPNs; both point at this server's EWS URL.

// MaxUsersPerGetUserSettings is how many users one GetUserSettings request may name: Exchange's
// autodiscover service defaults MaxUsersPerGetUserSettingsRequest to 90 and answers more with
// the Response ErrorCode InvalidRequest.
const MaxUsersPerGetUserSettings = 90

const (
	nsAutodiscover = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
	nsPOXResponse  = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsPOXOutlook   = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// knownAddress reports a display name for a mailbox or an account's UPN.
func (s *Server) knownAddress(addr string) (string, bool) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if name, ok := s.gs.MailboxName(addr); ok {
		return name, true
	}
	if u, d, ok := strings.Cut(addr, "@"); ok && strings.EqualFold(d, s.opts.DNSDomain) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if a := s.accounts[u]; a != nil {
			return a.User, true
		}
	}
	return "", false
}

func (s *Server) userSetting(name, addr, display string) (string, bool) {
	ews := s.EWSURL()
	switch name {
	case "UserDisplayName":
		return display, true
	case "UserDN":
		return "/o=First Organization/ou=Exchange Administrative Group/cn=Recipients/cn=" + strings.Split(addr, "@")[0], true
	case "UserDeploymentId":
		return "5f3c2b1a-9d8e-4f70-8a6b-1c2d3e4f5a6b", true
	case "InternalEwsUrl", "ExternalEwsUrl":
		return ews, true
	case "EwsSupportedSchemas":
		return "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2015, Exchange2016", true
	case "CasVersion":
		return "15.02.1544.004", true
	case "GroupingInformation":
		return s.Backend(addr), true
	case "InternalMailboxServer", "ExternalMailboxServer":
		return strings.ToLower(s.Backend(addr)) + "." + s.opts.DNSDomain, true
	}
	return "", false
}

func (s *Server) serveAutodiscoverSOAP(w http.ResponseWriter, r *http.Request, _ string) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var env node
	if err := xml.NewDecoder(bytes.NewReader(raw)).Decode(&env); err != nil || env.find("GetUserSettingsRequestMessage") == nil {
		writeXML(w, http.StatusBadRequest, `<?xml version="1.0"?><s:Envelope xmlns:s="`+nsSOAP+`"><s:Body><s:Fault><faultcode>s:Client</faultcode>`+
			`<faultstring>This simulator answers GetUserSettings only.</faultstring></s:Fault></s:Body></s:Envelope>`)
		return
	}
	req := env.find("GetUserSettingsRequestMessage").child("Request")
	var names []string
	for _, n := range req.child("RequestedSettings").all("Setting") {
		names = append(names, n.text())
	}
	if n := len(req.child("Users").all("User")); n > MaxUsersPerGetUserSettings {
		writeXML(w, http.StatusOK, autodiscoverResponse(`<ErrorCode>InvalidRequest</ErrorCode><ErrorMessage>The request exceeds the maximum of `+
			strconv.Itoa(MaxUsersPerGetUserSettings)+` users per GetUserSettings request.</ErrorMessage><UserResponses/>`))
		return
	}
	var users strings.Builder
	for _, u := range req.child("Users").all("User") {
		addr := u.child("Mailbox").text()
		display, ok := s.knownAddress(addr)
		if !ok {
			users.WriteString(`<UserResponse><ErrorCode>InvalidUser</ErrorCode><ErrorMessage>Invalid user: '` + esc(addr) +
				`'</ErrorMessage><RedirectTarget i:nil="true"/><UserSettingErrors/><UserSettings/></UserResponse>`)
			continue
		}
		var set, errs strings.Builder
		for _, name := range names {
			if v, ok := s.userSetting(name, addr, display); ok {
				set.WriteString(`<UserSetting i:type="StringSetting"><Name>` + esc(name) + `</Name><Value>` + esc(v) + `</Value></UserSetting>`)
			} else {
				errs.WriteString(`<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode><ErrorMessage>User setting '` + esc(name) +
					`' is not available. </ErrorMessage><SettingName>` + esc(name) + `</SettingName></UserSettingError>`)
			}
		}
		users.WriteString(`<UserResponse><ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage><RedirectTarget i:nil="true"/>` +
			`<UserSettingErrors>` + errs.String() + `</UserSettingErrors><UserSettings>` + set.String() + `</UserSettings></UserResponse>`)
	}
	writeXML(w, http.StatusOK, autodiscoverResponse(`<ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses>`+users.String()+`</UserResponses>`))
}

// autodiscoverResponse wraps a GetUserSettings Response's content in its envelope.
func autodiscoverResponse(inner string) string {
	return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="http://www.w3.org/2005/08/addressing">` +
		`<s:Header><a:Action s:mustUnderstand="1">` + nsAutodiscover + `/Autodiscover/GetUserSettingsResponse</a:Action>` +
		`<h:ServerVersionInfo xmlns:h="` + nsAutodiscover + `" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><h:MajorVersion>15</h:MajorVersion>` +
		`<h:MinorVersion>2</h:MinorVersion><h:MajorBuildNumber>1544</h:MajorBuildNumber><h:MinorBuildNumber>4</h:MinorBuildNumber>` +
		`<h:Version>Exchange2015</h:Version></h:ServerVersionInfo></s:Header><s:Body><GetUserSettingsResponseMessage xmlns="` + nsAutodiscover + `">` +
		`<Response xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` + inner + `</Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>`
}

func (s *Server) serveAutodiscoverPOX(w http.ResponseWriter, r *http.Request, _ string) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var req node
	_ = xml.NewDecoder(bytes.NewReader(raw)).Decode(&req)
	addr := req.path("Request", "EMailAddress").text()
	display, ok := s.knownAddress(addr)
	if !ok {
		writeXML(w, http.StatusOK, `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="`+nsPOXResponse+`"><Response>`+
			`<Error Time="00:00:00.0000000" Id="2477272013"><ErrorCode>500</ErrorCode><Message>The email address can't be found.</Message>`+
			`<DebugData/></Error></Response></Autodiscover>`)
		return
	}
	server := strings.ToLower(DefaultComputer) + "." + s.opts.DNSDomain
	doc := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="` + nsPOXResponse + `"><Response xmlns="` + nsPOXOutlook + `">` +
		`<User><DisplayName>` + esc(display) + `</DisplayName><AutoDiscoverSMTPAddress>` + esc(strings.ToLower(addr)) + `</AutoDiscoverSMTPAddress>` +
		`<DeploymentId>5f3c2b1a-9d8e-4f70-8a6b-1c2d3e4f5a6b</DeploymentId></User><Account><AccountType>email</AccountType><Action>settings</Action>` +
		`<MicrosoftOnline>False</MicrosoftOnline><Protocol><Type>EXCH</Type><Server>` + server + `</Server><ASUrl>` + esc(s.EWSURL()) +
		`</ASUrl><EwsUrl>` + esc(s.EWSURL()) + `</EwsUrl></Protocol><Protocol><Type>EXPR</Type><Server>` + server + `</Server><ASUrl>` +
		esc(s.EWSURL()) + `</ASUrl><EwsUrl>` + esc(s.EWSURL()) + `</EwsUrl><GroupingInformation>` + s.Backend(addr) +
		`</GroupingInformation></Protocol></Account></Response></Autodiscover>`
	writeXML(w, http.StatusOK, doc)
}
