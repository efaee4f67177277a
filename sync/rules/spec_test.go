package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSpecValidate(t *testing.T) {
	ok := func(s Spec) Spec {
		if s.Name == "" {
			s.Name = "r"
		}
		if s.Priority == 0 {
			s.Priority = 10
		}
		return s
	}
	for _, tc := range []struct {
		name string
		spec Spec
		want []string // "field: message" prefixes; none means valid
	}{
		{"valid teams with domain", ok(Spec{Type: TypeTeams, Domain: Domains{"m.example.com"}}), nil},
		{"valid zoom with pin and H323", ok(Spec{Type: TypeZoom, IncludePIN: true, Protocol: "H323"}), nil},
		{"valid webex Spark", ok(Spec{Type: TypeWebex, Protocol: "Spark"}), nil},
		{"valid regex with named group", ok(Spec{Type: TypeRegex, Match: `(?P<id>[0-9]+)`, Replace: "${id}@vmr.example.com", Protocol: "SIP", Platform: "Other"}), nil},
		{"domain with scheme", ok(Spec{Type: TypeDomain, Domain: Domains{"https://vmr.example.com"}}), []string{`domain: "https://vmr.example.com": give the domain only, without a scheme`}},
		{"domain with @", ok(Spec{Type: TypeDomain, Domain: Domains{"1234@vmr.example.com"}}), []string{`domain: "1234@vmr.example.com": give the domain only, the part after @`}},
		{"single-label domain", ok(Spec{Type: TypeDomain, Domain: Domains{"localhost"}}), []string{`domain: "localhost" is not a fully qualified domain`}},
		{"bad character in domain", ok(Spec{Type: TypeDomain, Domain: Domains{"vmr_1.example.com"}}), []string{`domain: "vmr_1.example.com" is not a domain: "_" is not allowed`}},
		{"domain on a webex rule", ok(Spec{Type: TypeWebex, Domain: Domains{"acme.webex.com"}}), []string{"domain: does not apply to webex rules (only to teams, zoom, google_meet, pexip, domain, gotomeeting, s4b, pexipservice)"}},
		{"include_pin on teams", ok(Spec{Type: TypeTeams, IncludePIN: true}), []string{"include_pin: does not apply to teams rules (only to zoom, bluejeans)"}},
		{"protocol on teams", ok(Spec{Type: TypeTeams, Protocol: "SIP"}), []string{"protocol: does not apply to teams rules"}},
		{"Spark on zoom", ok(Spec{Type: TypeZoom, Protocol: "Spark"}), []string{`protocol: "Spark" does not apply to zoom rules (one of SIP, H323)`}},
		{"platform on zoom", ok(Spec{Type: TypeZoom, Platform: "Zoom"}), []string{"platform: does not apply to zoom rules (only to domain, regex, template)"}},
		{"company_id", ok(Spec{Type: TypeTeams, CompanyID: "12345"}), []string{"company_id: SIP Guest Join is not supported"}},
		{"replace names a missing group", ok(Spec{Type: TypeRegex, Match: `vmr/([0-9]+)`, Replace: "$2@vmr.example.com"}), []string{`replace: "$2@vmr.example.com" refers to group $2, which the match expression does not have (it has 1 group)`}},
		{"$1x is group 1x to RE2", ok(Spec{Type: TypeRegex, Match: `([0-9]+)`, Replace: "$1x"}), []string{`replace: "$1x" refers to group $1x`}},
		{"replace without match", ok(Spec{Type: TypeDomain, Domain: Domains{"vmr.example.com"}, Replace: "x"}), []string{"replace: only applies to regex rules"}},
		{"long name", ok(Spec{Type: TypeZoom, Name: strings.Repeat("n", 251)}), []string{"name: is 251 characters long; at most 250"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.spec.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(tc.want) == 0 {
				assert.Empty(t, got)
				return
			}
			assert.Len(t, got, len(tc.want), "%v", got)
			for i, w := range tc.want {
				if i < len(got) {
					assert.True(t, strings.HasPrefix(got[i], w), "got %q, want prefix %q", got[i], w)
				}
			}
		})
	}
}
