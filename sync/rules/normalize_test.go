package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func htmlText(src string) string {
	var b textBuilder
	b.writeHTML(src)
	return string(b.buf)
}

func plainText(src string) string {
	var b textBuilder
	b.writePlain(src)
	return string(b.buf)
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"blocks end lines", "<div>Meeting ID:</div><div>123 456</div><p>a</p>b<br>c", "Meeting ID:\n123 456\na\nb\nc"},
		{"cells are separated by a space", "<table><tr><td>Meeting ID:</td><td>123</td></tr><tr><td>Passcode:</td><td>x</td></tr></table>", "Meeting ID: 123\nPasscode: x"},
		{"white space collapses, labels ending in newline", "<span>Video ID:\n</span><span>111 222  333\t4</span>", "Video ID: 111 222 333 4"},
		{"entities", "a&amp;b &lt;c&gt; &quot;d&quot; &#64; &#x40; &eacute; &nbsp;x", "a&b <c> \"d\" @ @ é x"},
		{"unknown entity is text", "R&D &bogus; &", "R&D &bogus; &"},
		{"zero-width and soft hyphen dropped", "4477\u200b@vmr&#8203;.contoso.com&shy;", "4477@vmr.contoso.com"},
		{"head, style, script and comments skipped", "<html><head><title>T</title><style>p{color:red}</style></head><body><!-- c --><script>var x='<a>';</script>text</body></html>", "text"},
		{"Outlook conditional comments", "<!--[if !mso]><div>hidden</div><![endif]--><![if !vml]>shown<![endif]>", "shown"},
		{"quoted > in attributes", `<div style="a>b" title='x>y'>ok</div>`, "ok"},
		{"upper-case tags", "<DIV>A</DIV><BR>B", "A\nB"},
		{"a lone < is text", "1 < 2 and 3 <4", "1 < 2 and 3 <4"},
		{"pre keeps lines", "<pre>a\nb</pre>c", "a\nb\nc"},
		{"link target after its text", `<a href="https://zoom.us/j/123">Join</a> now`, "Join <https://zoom.us/j/123> now"},
		{"link shown as its own text is not repeated", `<a href="https://zoom.us/j/123">https://zoom.us/j/123</a>`, "https://zoom.us/j/123"},
		{"originalsrc wins over href", `<a href="https://nam12.safelinks.protection.outlook.com/?url=x" originalsrc="https://zoom.us/j/1">J</a>`, "J <https://zoom.us/j/1>"},
		{"href entities decoded", `<a href="https://x.example/?a=1&amp;b=2">go</a>`, "go <https://x.example/?a=1&b=2>"},
		{"mailto target kept only when not shown", `<a href="mailto:1@t.plcm.vc">1@t.plcm.vc</a> <a href="mailto:2@t.plcm.vc?subject=x">key</a>`, "1@t.plcm.vc key <mailto:2@t.plcm.vc>"},
		{"sip href", `<a href="sip:lab@video.example">Click to join</a>`, "Click to join <sip:lab@video.example>"},
		{"tel, javascript and fragments dropped", `<a href="tel:+1555">+1 555</a> <a href="javascript:x()">x</a> <a href="#top">top</a>`, "+1 555 x top"},
		{"unclosed anchor closes at the next one and at the end", `<a href="https://a.example/">A<a href="https://b.example/">B`, "A <https://a.example/>B <https://b.example/>"},
		{"Safe Links href without originalsrc is unwrapped", `<a href="https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F9&amp;data=x">Join</a>`, "Join <https://zoom.us/j/9>"},
		{"an unclosed head ends at the first body element", "<html><head><meta charset=utf-8><style>x</style><div>Join</div></html>", "Join"},
		{"an unclosed head ends at text", "<head><title>t</title>Dial 4455@vmr.example.com", "Dial 4455@vmr.example.com"},
		{"a body without html/body tags", "Join: <b>4477</b>@vmr.contoso.com", "Join: 4477@vmr.contoso.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, htmlText(tc.in))
		})
	}
}

func TestPlainText(t *testing.T) {
	assert.Equal(t, "a b\nc\nd", plainText("  a   b \r\n\r\n c\nd  "))
	assert.Equal(t, "x &amp; <y>", plainText("x &amp; <y>"), "plain text is not HTML")
}

func TestNormalisedTextHasNoStrayWhiteSpace(t *testing.T) {
	for _, c := range loadCorpus(t) {
		var d doc
		newDoc(&c.event, &d)
		for _, line := range strings.Split(d.text, "\n") {
			assert.Equal(t, strings.TrimSpace(line), line, "%s: line %q", c.name, line)
		}
		assert.NotContains(t, d.text, "  ", c.name)
		assert.NotContains(t, d.body(), "<style", c.name)
		assert.NotContains(t, d.body(), "font-family", c.name, "styles never reach the text")
	}
}

func TestLooksLikeHTML(t *testing.T) {
	assert.True(t, LooksLikeHTML("<html><body>x</body></html>"))
	assert.True(t, LooksLikeHTML("Hi,<br>join <a href=\"x\">here</a>"))
	assert.False(t, LooksLikeHTML("Join Zoom Meeting\nhttps://zoom.us/j/1"))
	assert.False(t, LooksLikeHTML("Join here<https://teams.microsoft.com/l/meetup-join/x>"))
}
