package ewssim

import (
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"strings"
)

// Namespaces as real servers send them (http, not the https of the docs' rewrite).
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// node is a generic XML element: requests are read as trees, by local name.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []node     `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local {
			return &n.Nodes[i]
		}
	}
	return nil
}

// path follows children by local name.
func (n *node) path(locals ...string) *node {
	for _, l := range locals {
		n = n.child(l)
	}
	return n
}

func (n *node) all(local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local {
			out = append(out, &n.Nodes[i])
		}
	}
	return out
}

func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// find is the first descendant with the local name (depth first).
func (n *node) find(local string) *node {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local {
			return &n.Nodes[i]
		}
		if f := n.Nodes[i].find(local); f != nil {
			return f
		}
	}
	return nil
}

// versions are the RequestServerVersion values of the schema Exchange 2019 accepts.
var versions = map[string]bool{
	"Exchange2007": true, "Exchange2007_SP1": true, "Exchange2010": true, "Exchange2010_SP1": true,
	"Exchange2010_SP2": true, "Exchange2013": true, "Exchange2013_SP1": true, "Exchange2015": true, "Exchange2016": true,
}

// serverVersionInfo is the SOAP header every EWS response carries.
func serverVersionInfo() string {
	return fmt.Sprintf(`<h:ServerVersionInfo MajorVersion="%d" MinorVersion="%d" MajorBuildNumber="%d" MinorBuildNumber="%d" Version="%s" xmlns:h="%s" xmlns="%s" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`,
		MajorVersion, MinorVersion, MajorBuildNumber, MinorBuildNumber, SchemaVersion, nsTypes, nsTypes)
}

// envelope wraps a body element.
func envelope(body string) string {
	return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `"><s:Header>` + serverVersionInfo() +
		`</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
		body + `</s:Body></s:Envelope>`
}

func writeXML(w http.ResponseWriter, status int, doc string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(doc))
}

// fault is a request-level failure: SOAP 1.1 Fault, HTTP 500.
type fault struct {
	code    string // ResponseCode, e.g. ErrorImpersonateUserDenied
	message string
	values  [][2]string // MessageXml t:Value Name=… entries
	soap    string      // faultcode prefix: "a:" codes are Exchange's; "s:Client" for malformed SOAP
}

func (f *fault) Error() string { return f.code + ": " + f.message }

func writeFault(w http.ResponseWriter, f *fault) {
	code := "a:" + f.code
	if f.soap != "" {
		code = f.soap
	}
	var mx string
	if len(f.values) > 0 {
		var b strings.Builder
		b.WriteString(`<t:MessageXml xmlns:t="` + nsTypes + `">`)
		for _, v := range f.values {
			b.WriteString(`<t:Value Name="` + esc(v[0]) + `">` + esc(v[1]) + `</t:Value>`)
		}
		b.WriteString(`</t:MessageXml>`)
		mx = b.String()
	}
	body := `<s:Fault><faultcode xmlns:a="` + nsTypes + `">` + code + `</faultcode><faultstring xml:lang="en-US">` + esc(f.message) +
		`</faultstring><detail><e:ResponseCode xmlns:e="` + nsErrors + `">` + f.code + `</e:ResponseCode><e:Message xmlns:e="` + nsErrors + `">` +
		esc(f.message) + `</e:Message>` + mx + `</detail></s:Fault>`
	// Faults carry no ServerVersionInfo header in Exchange's answers.
	writeXML(w, http.StatusInternalServerError, `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="`+nsSOAP+`"><s:Body>`+body+`</s:Body></s:Envelope>`)
}

func esc(s string) string { return html.EscapeString(s) }

// respMsg is one ResponseMessage of a batch.
type respMsg struct {
	code    string // "" or NoError: success
	message string
	inner   string // success payload (or extra error elements)
}

func (m respMsg) render(op string) string {
	if m.code == "" || m.code == "NoError" {
		return `<m:` + op + `ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` + m.inner + `</m:` + op + `ResponseMessage>`
	}
	return `<m:` + op + `ResponseMessage ResponseClass="Error"><m:MessageText>` + esc(m.message) + `</m:MessageText><m:ResponseCode>` +
		m.code + `</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>` + m.inner + `</m:` + op + `ResponseMessage>`
}

func opResponse(op string, msgs []respMsg) string {
	var b strings.Builder
	b.WriteString(`<m:` + op + `Response xmlns:m="` + nsMessages + `" xmlns:t="` + nsTypes + `"><m:ResponseMessages>`)
	for _, m := range msgs {
		b.WriteString(m.render(op))
	}
	b.WriteString(`</m:ResponseMessages></m:` + op + `Response>`)
	return b.String()
}

// errMsg makes an error ResponseMessage with Exchange's text for the code.
func errMsg(code string) respMsg { return respMsg{code: code, message: messages[code]} }

var messages = map[string]string{
	"ErrorAccessDenied":                           "Access is denied. Check credentials and try again.",
	"ErrorNonExistentMailbox":                     "The SMTP address has no mailbox associated with it.",
	"ErrorImpersonateUserDenied":                  "The account does not have permission to impersonate the requested user.",
	"ErrorInvalidExchangeImpersonationHeaderData": "The impersonation header data is invalid.",
	"ErrorInvalidSyncStateData":                   "Synchronization state data is corrupt or otherwise invalid.",
	"ErrorCalendarViewRangeTooBig":                "The calendar view range exceeds the maximum allowed, currently 2 years.",
	"ErrorCalendarEndDateIsEarlierThanStartDate":  "EndDate is earlier than StartDate",
	"ErrorExceededFindCountLimit":                 "The result set contains too many calendar entries. The allowed size = 1000; the actual size = %d",
	"ErrorItemNotFound":                           "The specified object was not found in the store.",
	"ErrorInvalidIdMalformed":                     "Id is malformed.",
	"ErrorFolderNotFound":                         "The specified folder could not be found in the store.",
	"ErrorMissingEmailAddress":                    "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folders.",
	"ErrorCalendarFolderIsInvalidForCalendarView": "Calendar view is only valid for calendar folders.",
	"ErrorInvalidPropertyRequest":                 "The property can't be used in FindItem or SyncFolderItems requests.",
	"ErrorSubscriptionDelegateAccessNotSupported": "Delegate access isn't supported for subscriptions. Use impersonation instead.",
	"ErrorInvalidSubscriptionRequest":             "A subscription can only be created for a single mailbox.",
	"ErrorSubscriptionNotFound":                   "The specified subscription was not found.",
	"ErrorExceededConnectionCount":                "You have exceeded the available concurrent connections for your account. Try again once your other requests have completed.",
	"ErrorInvalidRequest":                         "The request is invalid.",
	"ErrorInvalidServerVersion":                   "The specified server version is invalid.",
	"ErrorSchemaValidation":                       "The request failed schema validation.",
	"ErrorInvalidOperation":                       "The operation is not supported by this simulator.",
	"ErrorServerBusy":                             "The server cannot service this request right now. Try again later.",
}
