package poly

import (
	"io"
	"strings"
	"time"
)

// POX autodiscover (README "Poly endpoints"): an endpoint whose installer typed this agent as
// the discover domain asks POST /autodiscover/autodiscover.xml for the EWS URL. Corporate DNS
// autodiscover points at Microsoft, so this is a hedge; it answers only for the caller's room.
const (
	nsAutodiscoverReq  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsAutodiscoverResp = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsOutlookResp      = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// autodiscover answers one POX request; host is the Host the client reached us by.
func autodiscover(body io.Reader, a *account, host string, now time.Time) []byte {
	root, err := parseXML(body)
	if err != nil {
		return autodiscoverError(now, "600", "Invalid Request")
	}
	req := root.child(nsAutodiscoverReq, "Request")
	if root.Local != "Autodiscover" || root.Space != nsAutodiscoverReq || req == nil {
		return autodiscoverError(now, "600", "Invalid Request")
	}
	if schema := req.child(nsAutodiscoverReq, "AcceptableResponseSchema").text(); schema != "" && schema != nsOutlookResp {
		return autodiscoverError(now, "601", "Provider is not available for the requested schema")
	}
	if !a.owns(req.child(nsAutodiscoverReq, "EMailAddress").text()) {
		return autodiscoverError(now, "500", "The e-mail address cannot be found.")
	}
	ews := "https://" + host + "/EWS/Exchange.asmx"
	local, _, _ := strings.Cut(a.room, "@")
	var w xmlWriter
	w.raw(`<?xml version="1.0" encoding="utf-8"?>`)
	w.start("Autodiscover", "xmlns", nsAutodiscoverResp)
	w.start("Response", "xmlns", nsOutlookResp)
	w.start("User")
	w.leaf("DisplayName", local)
	w.leaf("AutoDiscoverSMTPAddress", a.room)
	w.end("User")
	w.start("Account")
	w.leaf("AccountType", "email")
	w.leaf("Action", "settings")
	for _, typ := range []string{"EXCH", "EXPR"} {
		w.start("Protocol")
		w.leaf("Type", typ)
		w.leaf("Server", hostOnly(host))
		if typ == "EXPR" {
			w.leaf("SSL", "On")
			w.leaf("AuthPackage", "Basic")
		}
		w.leaf("ASUrl", ews)
		w.leaf("EwsUrl", ews)
		w.leaf("OOFUrl", ews)
		w.end("Protocol")
	}
	w.end("Account")
	w.end("Response")
	w.end("Autodiscover")
	return w.bytes()
}

func autodiscoverError(now time.Time, code, msg string) []byte {
	var w xmlWriter
	w.raw(`<?xml version="1.0" encoding="utf-8"?>`)
	w.start("Autodiscover", "xmlns", nsAutodiscoverResp)
	w.start("Response")
	w.start("Error", "Time", now.UTC().Format("15:04:05.0000000"), "Id", "0")
	w.leaf("ErrorCode", code)
	w.leaf("Message", msg)
	w.empty("DebugData")
	w.end("Error")
	w.end("Response")
	w.end("Autodiscover")
	return w.bytes()
}

// hostOnly drops the port from a Host header.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}
