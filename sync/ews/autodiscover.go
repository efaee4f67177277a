package ews

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Autodiscover, when the config names no EWS URL: SOAP GetUserSettings first, then POX, at
// the configured autodiscover URL or the domain's usual candidates (research §A4). Only
// https endpoints are asked, so credentials never go out in clear.

type discovered struct {
	url string
	via string // the autodiscover URL that answered, and how
}

// autodiscoverCandidates are the services to ask, in order: SOAP (.svc) and POX (.xml) of the
// configured URL or of https://<domain> and https://autodiscover.<domain>.
func autodiscoverCandidates(in Integration, email string) []string {
	if u := in.AutodiscoverURL; u != "" {
		base := u
		for _, suf := range []string{"/autodiscover.svc", "/autodiscover.xml"} {
			if strings.HasSuffix(strings.ToLower(base), suf) {
				base = base[:len(base)-len(suf)]
			}
		}
		return []string{base + "/autodiscover.svc", base + "/autodiscover.xml"}
	}
	_, domain, _ := strings.Cut(email, "@")
	var out []string
	for _, host := range []string{domain, "autodiscover." + domain} {
		out = append(out, "https://"+host+"/autodiscover/autodiscover.svc", "https://"+host+"/autodiscover/autodiscover.xml")
	}
	return out
}

// autodiscover finds the EWS URL for the integration's mailbox.
func autodiscover(ctx context.Context, hc *http.Client, in Integration) (discovered, error) {
	email := firstNonEmpty(in.AutodiscoverEmail, in.Username)
	if !strings.Contains(email, "@") {
		return discovered{}, &ewsError{op: "autodiscover", code: "no_address", message: "no address to autodiscover: set autodiscover_email"}
	}
	var last error
	for _, u := range autodiscoverCandidates(in, email) {
		if !strings.HasPrefix(strings.ToLower(u), "https://") {
			continue
		}
		var url string
		var err error
		if strings.HasSuffix(strings.ToLower(u), ".svc") {
			url, err = getUserSettings(ctx, hc, in, u, email)
		} else {
			url, err = poxAutodiscover(ctx, hc, in, u, email)
		}
		if err == nil && url != "" {
			kind := "SOAP GetUserSettings"
			if strings.HasSuffix(strings.ToLower(u), ".xml") {
				kind = "POX"
			}
			return discovered{url: url, via: u + " (" + kind + ")"}, nil
		}
		if err != nil {
			last = err
			if e, ok := err.(*ewsError); ok && e.status == http.StatusUnauthorized {
				return discovered{}, err // the same credentials will not do better elsewhere
			}
		}
	}
	if last == nil {
		last = &ewsError{op: "autodiscover", code: "not_found", message: "no autodiscover service answered with an EWS URL"}
	}
	return discovered{}, last
}

func postXML(ctx context.Context, hc *http.Client, in Integration, url, body, contentType string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, &ewsError{op: "autodiscover", err: err}
	}
	req.Header.Set("Content-Type", contentType)
	req.SetBasicAuth(in.Username, in.Password.Value())
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &ewsError{op: "autodiscover", err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, &ewsError{op: "autodiscover", status: 401, code: "401", scheme: strings.Join(resp.Header.Values("WWW-Authenticate"), ", "), ntlm: true}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &ewsError{op: "autodiscover", status: resp.StatusCode, code: fmt.Sprint(resp.StatusCode), message: "autodiscover at " + url + " answered " + resp.Status}
	}
	return sanitize(raw), nil
}

type getUserSettingsResponse struct {
	Body struct {
		Resp struct {
			ErrorCode string `xml:"Response>ErrorCode"`
			Message   string `xml:"Response>ErrorMessage"`
			Users     []struct {
				ErrorCode string `xml:"ErrorCode"`
				Message   string `xml:"ErrorMessage"`
				Settings  []struct {
					Name  string `xml:"Name"`
					Value string `xml:"Value"`
				} `xml:"UserSettings>UserSetting"`
			} `xml:"Response>UserResponses>UserResponse"`
		} `xml:"GetUserSettingsResponseMessage"`
	} `xml:"Body"`
}

func getUserSettings(ctx context.Context, hc *http.Client, in Integration, url, email string) (string, error) {
	users, err := getUsersSettings(ctx, hc, in, url, []string{email}, "InternalEwsUrl", "ExternalEwsUrl")
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.code != "" {
			return "", &ewsError{op: "autodiscover", code: u.code, message: firstNonEmpty(u.message, u.code)}
		}
		// The agent sits on the site's network: the internal URL first.
		if v := firstNonEmpty(u.settings["InternalEwsUrl"], u.settings["ExternalEwsUrl"]); v != "" {
			return v, nil
		}
	}
	return "", nil
}

// userSettings is one user's answer to GetUserSettings: its settings by name, or its error.
type userSettings struct {
	code, message string // "" when the user was found
	settings      map[string]string
}

// getUsersSettings asks GetUserSettings for several users at once (at most
// maxUsersPerGetUserSettings); the answers come in the order of the users.
func getUsersSettings(ctx context.Context, hc *http.Client, in Integration, url string, emails []string, names ...string) ([]userSettings, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover" xmlns:wsa="http://www.w3.org/2005/08/addressing">` +
		`<soap:Header><a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>` +
		`<wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>` +
		`<wsa:To>` + esc(url) + `</wsa:To></soap:Header><soap:Body><a:GetUserSettingsRequestMessage><a:Request><a:Users>`)
	for _, e := range emails {
		b.WriteString(`<a:User><a:Mailbox>` + esc(e) + `</a:Mailbox></a:User>`)
	}
	b.WriteString(`</a:Users><a:RequestedSettings>`)
	for _, n := range names {
		b.WriteString(`<a:Setting>` + esc(n) + `</a:Setting>`)
	}
	b.WriteString(`</a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage></soap:Body></soap:Envelope>`)
	raw, err := postXML(ctx, hc, in, url, b.String(), "text/xml; charset=utf-8")
	if err != nil {
		return nil, err
	}
	var r getUserSettingsResponse
	if err := xml.Unmarshal(raw, &r); err != nil {
		return nil, &ewsError{op: "autodiscover", code: "garbage", message: "GetUserSettings answer is not XML: " + err.Error()}
	}
	if c := r.Body.Resp.ErrorCode; c != "" && c != "NoError" {
		return nil, &ewsError{op: "autodiscover", code: c, message: "GetUserSettings: " + firstNonEmpty(r.Body.Resp.Message, c)}
	}
	out := make([]userSettings, 0, len(r.Body.Resp.Users))
	for _, u := range r.Body.Resp.Users {
		us := userSettings{settings: map[string]string{}}
		if u.ErrorCode != "" && u.ErrorCode != "NoError" {
			us.code, us.message = u.ErrorCode, u.Message
		}
		for _, st := range u.Settings {
			us.settings[st.Name] = strings.TrimSpace(st.Value)
		}
		out = append(out, us)
	}
	return out, nil
}

type poxResponse struct {
	Response struct {
		Error struct {
			Message string `xml:"Message"`
		} `xml:"Error"`
		Account struct {
			Action    string `xml:"Action"`
			Protocols []struct {
				Type   string `xml:"Type"`
				EwsURL string `xml:"EwsUrl"`
			} `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

func poxAutodiscover(ctx context.Context, hc *http.Client, in Integration, url, email string) (string, error) {
	body := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">` +
		`<Request><EMailAddress>` + esc(email) + `</EMailAddress><AcceptableResponseSchema>` +
		`http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	raw, err := postXML(ctx, hc, in, url, body, "text/xml; charset=utf-8")
	if err != nil {
		return "", err
	}
	var r poxResponse
	if err := xml.Unmarshal(raw, &r); err != nil {
		return "", &ewsError{op: "autodiscover", code: "garbage", message: "POX answer is not XML: " + err.Error()}
	}
	if m := r.Response.Error.Message; m != "" {
		return "", &ewsError{op: "autodiscover", code: "pox_error", message: m}
	}
	var external string
	for _, p := range r.Response.Account.Protocols {
		switch p.Type {
		case "EXCH":
			if p.EwsURL != "" {
				return strings.TrimSpace(p.EwsURL), nil
			}
		case "EXPR":
			external = strings.TrimSpace(p.EwsURL)
		}
	}
	return external, nil
}
