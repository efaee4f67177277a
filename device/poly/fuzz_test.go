package poly

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// FuzzSOAPRequest feeds arbitrary bytes to the SOAP request parser and the operations behind
// it, without handleSOAP's recover: nothing may panic, every input gets either a response or a
// fault, and whatever is sent back is well-formed XML. Run it a while with
// `go test ./device/poly -run '^$' -fuzz FuzzSOAPRequest -fuzztime 5m`.
func FuzzSOAPRequest(f *testing.F) {
	for _, tc := range goldenCases {
		if tc.path == "" {
			f.Add([]byte(envelope(expandIDs(tc.body))))
		}
	}
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><soap:Envelope xmlns:soap="` + nsSOAP + `"><soap:Body>&a;</soap:Body></soap:Envelope>`))
	f.Add([]byte(`<soap:Envelope xmlns:soap="` + nsSOAP + `"><soap:Body><m:GetItem xmlns:m="` + nsMsgs + `"><m:ItemIds/></m:GetItem></soap:Body></soap:Envelope>`))
	f.Add([]byte(`<a:Envelope xmlns:a="` + nsSOAP + `"><a:Header/><a:Body><b:FindItem xmlns:b="` + nsMsgs + `"><b:CalendarView MaxEntriesReturned="-1"/></b:FindItem></a:Body></a:Envelope>`))
	f.Add([]byte("<\x00>"))
	f.Add([]byte(strings.Repeat("<a>", 100)))

	fx := newFixture(f)
	fx.opts.Logger = slog.New(slog.DiscardHandler)
	svc, err := NewService(fx.opts)
	if err != nil {
		f.Fatal(err)
	}
	acc := svc.accts.lookup(userA)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxRequestBytes {
			return // refused before parsing (413)
		}
		resp, fault := svc.answerSOAP(t.Context(), acc, body)
		switch {
		case resp == nil && fault == nil:
			t.Fatal("neither a response nor a fault")
		case resp != nil && fault != nil:
			t.Fatal("both a response and a fault")
		case fault != nil:
			if fault.code == "" || fault.msg == "" || fault.soapCode == "" {
				t.Fatalf("incomplete fault %+v", fault)
			}
			if fault.soapCode == "Server" {
				t.Fatalf("input blamed on the server: %+v", fault)
			}
			resp = faultBody(fault)
		}
		if err := wellFormed(resp); err != nil {
			t.Fatalf("response is not well-formed XML: %v\n%s", err, resp)
		}
	})
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestParserLimits checks each parser limit directly.
func TestParserLimits(t *testing.T) {
	deep := strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)
	wide := "<a>" + strings.Repeat("<b/>", maxElements) + "</a>"
	attrs := "<a" + strings.Repeat(" x=\"1\"", 0) + ">"
	for i := range maxAttrs + 1 {
		attrs = strings.Replace(attrs, ">", " a"+itoa(i)+`="1">`, 1)
	}
	attrs += "</a>"
	for name, tc := range map[string]struct{ in, want string }{
		"deep":          {deep, "deeper than 32"},
		"wide":          {wide, "more than 20000 elements"},
		"attributes":    {attrs, "more than 32 attributes"},
		"dtd":           {`<!DOCTYPE a><a/>`, "DTD"},
		"entity":        {`<a>&ent;</a>`, "not well-formed"},
		"two roots":     {`<a/><b/>`, "more than one root"},
		"trailing text": {`<a/>junk`, "text outside"},
		"pi":            {`<a><?php echo 1 ?></a>`, "processing instruction"},
		"unclosed":      {`<a><b>`, "not well-formed"},
		"empty":         {``, "empty"},
		"latin1":        {`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, "not well-formed"},
	} {
		_, err := parseXML(strings.NewReader(tc.in))
		var fe *faultError
		if !errors.As(err, &fe) {
			t.Errorf("%s: want a fault, got %v", name, err)
			continue
		}
		if !strings.Contains(fe.msg, tc.want) {
			t.Errorf("%s: fault %q does not say %q", name, fe.msg, tc.want)
		}
	}
	// Exactly at the limits is fine.
	ok := strings.Repeat("<a>", maxDepth) + strings.Repeat("</a>", maxDepth)
	if _, err := parseXML(strings.NewReader(ok)); err != nil {
		t.Errorf("depth %d refused: %v", maxDepth, err)
	}
}
