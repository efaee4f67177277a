package rules

import (
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnwrap(t *testing.T) {
	teams := "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NzQ%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"
	zoom := "https://acme.zoom.us/j/81234567890?pwd=AbC.1"
	v3cut := base64.RawURLEncoding.EncodeToString([]byte("?#"))
	for _, tc := range []struct {
		name, in, want string
		wrapper        wrapper
	}{
		{"safe links", "https://nam12.safelinks.protection.outlook.com/?url=" + url.QueryEscape(teams) + "&data=05%7C02%7Cuser%40contoso.com%7C&sdata=x%3D&reserved=0", teams, wrapSafeLinks},
		{"safe links /ap/ path", "https://nam12.safelinks.protection.outlook.com/ap/t-59584e83/?url=" + url.QueryEscape(teams) + "&data=05", teams, wrapSafeLinks},
		{"safe links GCC", "https://gcc02.safelinks.protection.office365.us/?url=" + url.QueryEscape(zoom) + "&data=x", zoom, wrapSafeLinks},
		{"safe links China", "https://can01.safelinks.protection.outlook.cn/?url=" + url.QueryEscape(zoom), zoom, wrapSafeLinks},
		{"proofpoint v1", "https://urldefense.proofpoint.com/v1/url?u=" + url.QueryEscape(zoom) + "&k=abc%3D%0A&r=x", zoom, wrapProofpoint},
		{"proofpoint v2", "https://urldefense.proofpoint.com/v2/url?u=https-3A__acme.zoom.us_j_81234567890-3Fpwd-3DAbC.1&d=DwMFaQ&c=x&r=y&m=z&s=w&e=", zoom, wrapProofpoint},
		{"proofpoint v3 single *", "https://urldefense.com/v3/__https://acme.zoom.us/j/81234567890*pwd=AbC.1__;Pw!!BhdT!sig$", zoom, wrapProofpoint},
		{"proofpoint v3 run **X", "https://urldefense.com/v3/__https://ex.example/o/owa**Afrag__;" + v3cut + "!!x!y$", "https://ex.example/o/owa?#frag", wrapProofpoint},
		{"proofpoint v3 Proofpoint's example", "https://urldefense.com/v3/__https://ex.example/o/owa*2Findex.html?x=1*frag__;JSM!!Cust!sig$", "https://ex.example/o/owa%2Findex.html?x=1#frag", wrapProofpoint},
		{"barracuda", "https://linkprotect.cudasvc.com/url?a=https%3a%2f%2facme.zoom.us%2fj%2f81234567890%3fpwd%3dAbC.1&c=E,1,tok&typo=1", zoom, wrapBarracuda},
		{"cisco secure email", "https://secure-web.cisco.com/1AbC_dEf-123/https%3A%2F%2Facme.zoom.us%2Fj%2F81234567890%3Fpwd%3DAbC.1", zoom, wrapCiscoSecure},
		{"google redirect", "https://www.google.com/url?q=https://meet.google.com/abc-defg-hij&sa=D&source=calendar", "https://meet.google.com/abc-defg-hij", wrapGoogle},
		{"teams launcher", "https://teams.microsoft.com/dl/launcher/launcher.html?url=%2F_%23%2Fl%2Fmeetup-join%2F19%3Ameeting_NzQ%40thread.v2%2F0%3Fcontext%3D%257b%257d&type=meetup-join",
			"https://teams.microsoft.com/l/meetup-join/19%3ameeting_NzQ%40thread.v2/0?context=%7b%7d", wrapTeamsLauncher},
		{"nested: Safe Links around Proofpoint", "https://eur01.safelinks.protection.outlook.com/?url=" +
			url.QueryEscape("https://urldefense.proofpoint.com/v2/url?u=https-3A__acme.zoom.us_j_81234567890-3Fpwd-3DAbC.1&d=x") + "&data=1", zoom, wrapSafeLinks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wrapper, wrapperOf(tc.in))
			got, ok := unwrap(tc.in)
			assert.True(t, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestUnwrapLeavesOthersAlone(t *testing.T) {
	for _, in := range []string{
		"https://acme.zoom.us/j/81234567890",
		"https://protect-eu.mimecast.com/s/AbCdEf?domain=acme.zoom.us", // cannot be decoded offline
		"https://url.uk.m.mimecastprotect.com/s/AbCdEf",
		"https://nam12.safelinks.protection.outlook.com/?data=no-url-param",
		"https://urldefense.com/v3/__broken", // no __; terminator
		"https://www.google.com/search?q=zoom",
		"mailto:someone@example.com",
		"https://secure-web.cisco.com/token/not-a-url",
	} {
		got, ok := unwrap(in)
		assert.False(t, ok, in)
		assert.Equal(t, in, got)
	}
	assert.Equal(t, wrapMimecast, wrapperOf("https://protect-us.mimecast.com/s/AbCdEf?domain=zoom.us"))
	assert.Equal(t, wrapMimecast, wrapperOf("https://url.us.m.mimecastprotect.com/s/AbCdEf"))
	assert.Equal(t, "acme.zoom.us", mimecastHost("https://protect-eu.mimecast.com/s/AbCdEf?domain=acme.zoom.us"))
	assert.Equal(t, "", mimecastHost("https://url.us.m.mimecastprotect.com/s/AbCdEf"))
}

func TestUnwrapStopsAtNestingLimit(t *testing.T) {
	u := "https://acme.zoom.us/j/81234567890"
	for range maxUnwrap + 2 {
		u = "https://www.google.com/url?q=" + url.QueryEscape(u)
	}
	got, ok := unwrap(u)
	assert.True(t, ok)
	assert.Equal(t, wrapGoogle, wrapperOf(got), "after %d layers the rest stays wrapped", maxUnwrap)
}
