package pexipimport

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// mainCaps are the types of the build this import was written against (main at issue 21):
// pinned, so the golden does not move when another branch adds a type.
var mainCaps = Capabilities{
	IntegrationTypes: []string{"ews", "graph"},
	EndpointTypes:    []string{"cisco", "poly"},
	RuleTypes:        []string{"teams", "zoom", "webex", "google_meet", "pexip", "skype", "goto", "bluejeans", "domain", "regex", "template", "sip_h323_only"},
}

// allCaps add the types issues 19, 20 and 21 bring (google, webex, the Pexip rule types).
var allCaps = Capabilities{
	IntegrationTypes: append([]string{"google"}, mainCaps.IntegrationTypes...),
	EndpointTypes:    append([]string{"webex"}, mainCaps.EndpointTypes...),
	RuleTypes: append([]string{"gotomeeting", "s4b", "pexipservice", "teamssipguestjoin", "googlemeetsipguestjoin"},
		mainCaps.RuleTypes...),
}

func importTestdata(t *testing.T, caps Capabilities) *Result {
	t.Helper()
	e, err := ReadPaths([]string{"testdata/export"})
	require.NoError(t, err)
	res, err := Import(e, Options{Site: "contoso-oslo", Caps: &caps, Source: "testdata/export"})
	require.NoError(t, err)
	return res
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./agent/pexipimport -update to create it")
	require.Equal(t, string(want), string(got), "%s differs (go test ./agent/pexipimport -update after a deliberate change)", path)
}

func TestImportGolden(t *testing.T) {
	res := importTestdata(t, mainCaps)
	golden(t, "contoso.yaml", res.Config)
	golden(t, "contoso.report", []byte(res.Report.String()))
	all := importTestdata(t, allCaps)
	golden(t, "contoso-all-types.yaml", all.Config)
}

// envFor sets every secret the report names (check --offline needs them).
func envFor(r *Report) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for _, s := range r.Secrets {
			if s == k {
				return "secret-value-of-" + strings.ToLower(k), true
			}
		}
		return "", false
	}
}

// TestImportedConfigLoads: the written config passes the loader and its offline checks in
// this build, with the secrets the report names set.
func TestImportedConfigLoads(t *testing.T) {
	res := importTestdata(t, BuildCapabilities())
	dir := t.TempDir()
	path := filepath.Join(dir, "site.yaml")
	require.NoError(t, os.WriteFile(path, res.Config, 0o600))
	cfg, err := config.LoadWith(path, config.Options{LookupEnv: envFor(res.Report)})
	require.NoError(t, err, "written config:\n%s", res.Config)
	require.Equal(t, "contoso-oslo", cfg.Site)
	var names []string
	for _, p := range cfg.Profiles {
		names = append(names, p.Name)
	}
	require.Contains(t, names, "oslo-hq")
	require.Contains(t, names, "bergen")
	require.NotNil(t, cfg.Endpoint("fjord"))
	require.Equal(t, "otj-admin", cfg.Endpoint("fjord").Username, "the profile's ep_username applies to endpoints without their own")
	require.Equal(t, "boardroom5-codec.contoso.com:8443", cfg.Endpoint("boardroom-5").Address)
	require.Equal(t, "huddle3a-otj", cfg.Endpoint("huddle-3a").CalendarUsername)
	p := cfg.Profile("oslo-hq")
	require.Equal(t, 14, *p.UpcomingDays)
	require.Equal(t, "10m0s", p.StartBuffer.String())
	require.Equal(t, "hide", p.NonVideoMeetings)
	require.True(t, p.HidePrivateAddress)
	require.Equal(t, "all", p.ReplaceSubject)
	for _, w := range cfg.Warnings {
		t.Logf("warning: %s", w)
	}
}

// TestReportListsEveryUnmappedField: every field the export gives that the config does not
// carry is named in the report, with a reason.
func TestReportListsEveryUnmappedField(t *testing.T) {
	res := importTestdata(t, mainCaps)
	rep := res.Report.String()
	for _, want := range []string{
		`mjx_graph_deployment "Contoso M365" disable_proxy: no equivalent`,
		`mjx_endpoint_group "Oslo Cisco rooms" system_location: no equivalent`,
		`mjx_endpoint_group "Oslo Poly and Webex" disable_proxy`,
		`mjx_meeting_processing_rule "Teams SIP Guest Join" company_id: no equivalent`,
		`mjx_meeting_processing_rule "Room number" default_processing_enabled: no equivalent`,
		`mjx_meeting_processing_rule "Webex" include_pin: no equivalent`,
		`mjx_meeting_processing_rule "Skype for Business" domain: no equivalent`,
		`mjx_endpoint "Huddle 3A" poly_raise_alarms_for_this_endpoint: no equivalent`,
		`mjx_exchange_deployment "Stavanger Exchange 2016" kerberos_realm: no equivalent`,
		`mjx_integration "Oslo HQ" webex_redirect_uri: no equivalent`,
		`mjx_exchange_deployment "Stavanger Exchange 2016" authentication_method: KERBEROS`,
		`mjx_meeting_processing_rule "Room number" match_string: match_string is not valid RE2`,
		`mjx_meeting_processing_rule "Macro" custom_template: not translated, line 1`,
		`mjx_integration "Bergen" replace_subject_template: not translated`,
		`mjx_meeting_processing_rule "Skype for Business" transform_rule:`,
		`mjx_meeting_processing_rule "Teams (Cisco body)" priority: 10 is shared`,
		`mjx_meeting_processing_rule "Internal VMRs" domain: lists 2 domains`,
		`mjx_graph_deployment "Old test tenant": no One-Touch Join profile uses it`,
		"OTJ_GRAPH_CONTOSO-M365_CLIENT_SECRET",
	} {
		want = strings.ReplaceAll(want, "CONTOSO-M365", "CONTOSO_M365")
		require.Contains(t, rep, want)
	}
	// Every given field of every object is either written or reported: walk the export
	// again and look each unused one up.
	e, err := ReadPaths([]string{"testdata/export"})
	require.NoError(t, err)
	_, err = Import(e, Options{Site: "x", Caps: &mainCaps})
	require.NoError(t, err)
	for _, kind := range Objects {
		for _, o := range e.Objects[kind] {
			for f, v := range o.Fields {
				if metaField[f] || empty(v) || o.used[f] {
					continue
				}
				require.Contains(t, rep, label(o)+" "+f+":", "field %s of %s is neither written nor reported", f, label(o))
			}
		}
	}
	// The secrets never appear in clear.
	for _, s := range []string{"Codec-Pa55word!", "Local-Pa55word!", "Poly-Pa55word!"} {
		require.NotContains(t, string(res.Config), s)
		require.NotContains(t, rep, s)
	}
	withSecrets, err := Import(mustRead(t), Options{Site: "x", Caps: &mainCaps, IncludeSecrets: true})
	require.NoError(t, err)
	require.Contains(t, string(withSecrets.Config), "Local-Pa55word!", "--include-secrets writes what the export holds")
}

func mustRead(t *testing.T) *Export {
	e, err := ReadPaths([]string{"testdata/export"})
	require.NoError(t, err)
	return e
}

var _ = regexp.MustCompile
var _ = sort.Strings
