package poly

import (
	"bytes"
	"unicode/utf8"
)

// xmlWriter writes the service's responses. EWS clients are strict about element order (the
// schema uses xs:sequence), so responses are written element by element in schema order rather
// than marshalled from structs; the output is compact, as Exchange's is.
type xmlWriter struct {
	b bytes.Buffer
}

// start opens an element; attrs are name, value pairs (values escaped).
func (w *xmlWriter) start(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.attrs(attrs)
	w.b.WriteByte('>')
}

func (w *xmlWriter) attrs(attrs []string) {
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b.WriteByte(' ')
		w.b.WriteString(attrs[i])
		w.b.WriteString(`="`)
		escapeXML(&w.b, attrs[i+1], true)
		w.b.WriteByte('"')
	}
}

// end closes an element.
func (w *xmlWriter) end(name string) {
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

// empty writes a self-closing element.
func (w *xmlWriter) empty(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.attrs(attrs)
	w.b.WriteString("/>")
}

// leaf writes an element holding text.
func (w *xmlWriter) leaf(name, text string, attrs ...string) {
	w.start(name, attrs...)
	escapeXML(&w.b, text, false)
	w.end(name)
}

func (w *xmlWriter) raw(s string) { w.b.WriteString(s) }

func (w *xmlWriter) bytes() []byte { return w.b.Bytes() }

// escapeXML writes s escaped for XML text or attribute values. Characters XML 1.0 cannot carry
// (most control characters, invalid UTF-8) are dropped: a meeting subject comes from anyone who
// can send an invitation, and one stray byte must not make the whole response unreadable.
func escapeXML(b *bytes.Buffer, s string, attr bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			continue
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"' && attr:
			b.WriteString("&quot;")
		case r == '\r':
			b.WriteString("&#xD;")
		case (r == '\n' || r == '\t') && attr:
			if r == '\n' {
				b.WriteString("&#xA;")
			} else {
				b.WriteString("&#x9;")
			}
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			continue
		default:
			b.WriteRune(r)
		}
	}
}
