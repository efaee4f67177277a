package poly

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// XML namespaces, exactly as Exchange uses them. Some of Microsoft's own samples print
// https:// variants; those are wrong and are refused (README "Poly endpoints").
const (
	nsSOAP   = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsMsgs   = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsTypes  = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsErrors = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// Parser limits. A Poly endpoint's requests are a few kilobytes and at most seven elements
// deep (Envelope/Body/FindItem/ParentFolderIds/DistinguishedFolderId/Mailbox/EmailAddress);
// a GetItem for a thousand ids stays near 150 KiB. Anything beyond these is not a calendar
// client, so it is refused before it costs memory or time.
const (
	// maxRequestBytes caps a request body (413 beyond it).
	maxRequestBytes = 256 << 10
	// maxDepth caps element nesting (EWS restrictions nest, but not this deep).
	maxDepth = 32
	// maxElements caps the number of elements in one request.
	maxElements = 20000
	// maxAttrs caps attributes on one element.
	maxAttrs = 32
)

// node is one element of a parsed request: namespace-resolved name, attributes, its text
// (character data directly inside it) and children.
type node struct {
	Space, Local string
	Attrs        []xml.Attr
	Text         string
	Children     []*node
}

// child returns the first child with the name, or nil.
func (n *node) child(space, local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Local == local && c.Space == space {
			return c
		}
	}
	return nil
}

// childrenNamed returns every child with the name.
func (n *node) childrenNamed(space, local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.Children {
		if c.Local == local && c.Space == space {
			out = append(out, c)
		}
	}
	return out
}

// attr returns an unqualified attribute's value.
func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == local && (a.Name.Space == "" || a.Name.Space == n.Space) {
			return a.Value
		}
	}
	return ""
}

// text is the element's text without surrounding white space.
func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// faultError is a request the service refuses with a SOAP fault: code is the EWS response code
// (ErrorSchemaValidation, ErrorInvalidRequest…), msg says what is wrong.
type faultError struct {
	soapCode string // soap Client, Server or VersionMismatch
	code     string
	msg      string
	backOff  time.Duration // sent as MessageXml BackOffMilliseconds, as Exchange does when busy
	cause    error         // a Server fault's own error, for the log only (never sent)
}

func (e *faultError) Error() string { return e.code + ": " + e.msg }

func clientFault(code, format string, args ...any) *faultError {
	return &faultError{soapCode: "Client", code: code, msg: fmt.Sprintf(format, args...)}
}

// parseXML reads one XML document into a tree, refusing DTDs (so no entity is ever defined,
// let alone expanded), undeclared entities, documents deeper than maxDepth or larger than
// maxElements, and anything after the root element.
func parseXML(r io.Reader) (*node, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	// Entity stays nil: only the five predefined entities and character references exist.
	// Each open element collects its own text, so a parent with thousands of children costs
	// linear time.
	type frame struct {
		n    *node
		text strings.Builder
	}
	var stack []*frame
	var root *node
	elements := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, clientFault("ErrorSchemaValidation", "the request is not well-formed XML: %s", trimXMLErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, clientFault("ErrorSchemaValidation", "the request has more than one root element")
			}
			if len(stack) >= maxDepth {
				return nil, clientFault("ErrorSchemaValidation", "the request nests elements deeper than %d", maxDepth)
			}
			elements++
			if elements > maxElements {
				return nil, clientFault("ErrorSchemaValidation", "the request has more than %d elements", maxElements)
			}
			if len(t.Attr) > maxAttrs {
				return nil, clientFault("ErrorSchemaValidation", "element %s has more than %d attributes", t.Name.Local, maxAttrs)
			}
			n := &node{Space: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				n.Attrs = append(n.Attrs, a)
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1].n
				p.Children = append(p.Children, n)
			} else {
				root = n
			}
			stack = append(stack, &frame{n: n})
		case xml.EndElement:
			f := stack[len(stack)-1]
			f.n.Text = f.text.String()
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, clientFault("ErrorSchemaValidation", "the request has text outside its root element")
				}
				continue
			}
			stack[len(stack)-1].text.Write(t)
		case xml.Directive:
			return nil, clientFault("ErrorSchemaValidation", "the request carries a DTD or other directive; they are not accepted")
		case xml.ProcInst:
			if t.Target != "xml" || root != nil {
				return nil, clientFault("ErrorSchemaValidation", "the request carries a processing instruction <?%s?>; it is not accepted", t.Target)
			}
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, clientFault("ErrorSchemaValidation", "the request is empty")
	}
	if len(stack) > 0 {
		return nil, clientFault("ErrorSchemaValidation", "the request ends before its elements are closed")
	}
	return root, nil
}

func trimXMLErr(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("line %d: %s", se.Line, se.Msg)
	}
	return err.Error()
}

// request is a parsed EWS SOAP request.
type request struct {
	// Version is the RequestServerVersion the client asked for (any is accepted).
	Version string
	// Op is the operation: the local name of the first element in the SOAP body.
	Op string
	// Body is that element.
	Body *node
	// Impersonate is the SMTP address of an ExchangeImpersonation header, if any.
	Impersonate string
}

// parseRequest reads a SOAP 1.1 envelope. Prefixes do not matter; namespaces must be exact.
func parseRequest(r io.Reader) (*request, error) {
	root, err := parseXML(r)
	if err != nil {
		return nil, err
	}
	if root.Local != "Envelope" {
		return nil, clientFault("ErrorSchemaValidation", "the request is not a SOAP envelope (root element %q)", root.Local)
	}
	switch root.Space {
	case nsSOAP:
	case nsSOAP12:
		return nil, &faultError{soapCode: "VersionMismatch", code: "ErrorSchemaValidation", msg: "SOAP 1.2 is not supported; send SOAP 1.1 (" + nsSOAP + ")"}
	default:
		return nil, &faultError{soapCode: "VersionMismatch", code: "ErrorSchemaValidation", msg: fmt.Sprintf("the envelope's namespace %q is not SOAP 1.1 (%s)", root.Space, nsSOAP)}
	}
	req := &request{}
	if h := root.child(nsSOAP, "Header"); h != nil {
		if v := h.child(nsTypes, "RequestServerVersion"); v != nil {
			req.Version = v.attr("Version")
		}
		if imp := h.child(nsTypes, "ExchangeImpersonation"); imp != nil {
			sid := imp.child(nsTypes, "ConnectingSID")
			for _, k := range []string{"PrimarySmtpAddress", "SmtpAddress", "PrincipalName"} {
				if v := sid.child(nsTypes, k).text(); v != "" {
					req.Impersonate = v
					break
				}
			}
			if req.Impersonate == "" {
				return nil, clientFault("ErrorSchemaValidation", "ExchangeImpersonation names no SMTP address")
			}
		}
	}
	body := root.child(nsSOAP, "Body")
	if body == nil {
		return nil, clientFault("ErrorSchemaValidation", "the envelope has no SOAP Body")
	}
	if len(body.Children) == 0 {
		return nil, clientFault("ErrorSchemaValidation", "the SOAP Body is empty")
	}
	op := body.Children[0]
	if op.Space != nsMsgs {
		return nil, clientFault("ErrorSchemaValidation", "the operation %s is not in the EWS messages namespace (%s); got %q", op.Local, nsMsgs, op.Space)
	}
	req.Op, req.Body = op.Local, op
	return req, nil
}
