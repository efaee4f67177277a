package pexipimport

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func importTestdata(t *testing.T) *Result {
	t.Helper()
	e, err := ReadPaths([]string{"testdata/export"})
	require.NoError(t, err)
	res, err := Import(e, Options{Site: "contoso-oslo", Source: "testdata/export"})
	require.NoError(t, err)
	return res
}

// writeImported writes the config into a new directory with the key files the report asks
// for (as an admin following the report would), and returns the config's path.
func writeImported(t *testing.T, res *Result) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range res.Report.KeyFiles {
		name, _, _ := strings.Cut(f, " ")
		key := `{"type": "service_account", "client_email": "otj-rooms@contoso-otj.iam.gserviceaccount.com",
 "client_id": "104223344556677889900", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n",
 "token_uri": "https://oauth2.googleapis.com/token"}`
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(key), 0o600))
	}
	path := filepath.Join(dir, "site.yaml")
	require.NoError(t, os.WriteFile(path, res.Config, 0o600))
	return path
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
	res := importTestdata(t)
	golden(t, "contoso.yaml", res.Config)
	golden(t, "contoso.report", []byte(res.Report.String()))
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

// TestImportedConfigLoads: the written config passes the loader and its offline checks, with
// the secrets and key files the report names provided.
func TestImportedConfigLoads(t *testing.T) {
	res := importTestdata(t)
	path := writeImported(t, res)
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

	// Google and Webex are written live with their real keys.
	ws := cfg.Integration("contoso-workspace")
	require.NotNil(t, ws)
	require.Equal(t, "google", ws.Type)
	require.Equal(t, filepath.Join(filepath.Dir(path), "contoso-workspace-key.json"), ws.Google().ServiceAccountKeyFile)
	require.Equal(t, "otj-rooms@contoso-otj.iam.gserviceaccount.com", ws.Google().ServiceAccountEmail)
	require.Equal(t, "contoso-workspace", cfg.Profile("workspace-rooms").Integration)
	require.NotNil(t, cfg.Endpoint("workspace-atrium"), "the Google profile's rooms are live")
	require.Len(t, cfg.Webex, 1)
	require.Equal(t, "oslo-hq-webex", cfg.Webex[0].Name)
	desk := cfg.Endpoint("desk-pro-7")
	require.NotNil(t, desk)
	require.Equal(t, "webex", desk.Type)
	require.Equal(t, "oslo-hq-webex", desk.Webex)
	require.Equal(t, "Y2lzY29zcGFyazovL3VybjpURUFNOnVzLXdlc3QtMl9yL0RFVklDRS8xYjJjM2Q0ZQ", desk.DeviceID)

	// Pexip's meeting types land on the rules engine's types of the same name.
	byName := map[string]rules.Spec{}
	for _, r := range p.RuleSpecs() {
		byName[r.Name] = r
	}
	require.Equal(t, "gotomeeting", byName["GoTo"].Type)
	require.Equal(t, "pexipservice", byName["Pexip Service"].Type)
	require.Equal(t, "s4b", byName["Skype for Business"].Type)
	require.Equal(t, rules.Domains{"contoso.com"}, byName["Skype for Business"].Domain, "the s4b rule keeps Pexip's domain (the gateway)")
	require.Equal(t, rules.DefaultS4BTemplate, byName["Skype for Business"].Template)
	require.Equal(t, "domain", byName["Internal VMRs"].Type)
	require.Equal(t, rules.Domains{"vmr.contoso.com", "vmr2.contoso.com"}, byName["Internal VMRs"].Domain, "a domain rule takes Pexip's whole list")
	for _, refused := range []string{"Teams SIP Guest Join", "Meet SIP Guest Join", "Poly S4B body"} {
		require.NotContains(t, byName, refused)
	}
	for _, w := range cfg.Warnings {
		t.Logf("warning: %s", w)
	}
}

// TestReportListsEveryUnmappedField: every field the export gives that the config does not
// carry is named in the report, with a reason.
func TestReportListsEveryUnmappedField(t *testing.T) {
	res := importTestdata(t)
	rep := res.Report.String()
	for _, want := range []string{
		`mjx_graph_deployment "Contoso M365" disable_proxy: no equivalent`,
		`mjx_endpoint_group "Oslo Cisco rooms" system_location: no equivalent`,
		`mjx_endpoint_group "Oslo Poly and Webex" disable_proxy`,
		`mjx_meeting_processing_rule "Teams SIP Guest Join" company_id: no equivalent`,
		`mjx_meeting_processing_rule "Meet SIP Guest Join" company_id: no equivalent`,
		`mjx_meeting_processing_rule "Room number" default_processing_enabled: no equivalent`,
		`mjx_meeting_processing_rule "Webex" include_pin: no equivalent`,
		`mjx_endpoint "Huddle 3A" poly_raise_alarms_for_this_endpoint: no equivalent`,
		`mjx_exchange_deployment "Stavanger Exchange 2016" kerberos_realm: no equivalent`,
		`mjx_integration "Oslo HQ" webex_redirect_uri: no equivalent`,
		`mjx_exchange_deployment "Stavanger Exchange 2016" authentication_method: KERBEROS`,
		`mjx_meeting_processing_rule "Room number" match_string: match_string is not valid RE2`,
		`mjx_meeting_processing_rule "Macro" custom_template: not translated, line 1`,
		`mjx_integration "Bergen" replace_subject_template: not translated`,
		`mjx_meeting_processing_rule "Skype for Business" transform_rule:`,
		`mjx_meeting_processing_rule "Teams (Cisco body)" priority: 10 is shared`,
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
	_, err = Import(e, Options{Site: "x"})
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
	withSecrets, err := Import(mustRead(t), Options{Site: "x", IncludeSecrets: true})
	require.NoError(t, err)
	require.Contains(t, string(withSecrets.Config), "Local-Pa55word!", "--include-secrets writes what the export holds")
}

func mustRead(t *testing.T) *Export {
	e, err := ReadPaths([]string{"testdata/export"})
	require.NoError(t, err)
	return e
}

// TestRefusedRuleTypesNeedADecision: Pexip's SIP Guest Join rules are written commented out
// with the rules engine's own reason, and nothing in the report or config says a type is
// missing from "this build" or waits for a branch.
func TestRefusedRuleTypesNeedADecision(t *testing.T) {
	res := importTestdata(t)
	rep := res.Report.String()
	for rule, typ := range map[string]string{"Teams SIP Guest Join": rules.TypeTeamsSIPGuestJoin, "Meet SIP Guest Join": rules.TypeMeetSIPGuestJoin} {
		var why string
		for _, e := range (rules.Spec{Name: rule, Type: typ, Priority: 1}).Validate() {
			if e.Field == "type" {
				why = e.Msg
			}
		}
		require.NotEmpty(t, why, "the rules engine refuses %s", typ)
		decisions := rep[strings.Index(rep, "Needs a decision"):strings.Index(rep, "Kept commented out")]
		require.Contains(t, decisions, `mjx_meeting_processing_rule "`+rule+`" meeting_type: `+typ+": "+why)
		require.Regexp(t, `(?m)^#\s+type: `+typ+`$`, string(res.Config), "the refused rule is in the config, commented out")
	}
	require.Contains(t, rep, "Pexip's SIP Guest Join for Teams is not supported: Pexip does not publish how its guest-join alias encodes")
	require.Contains(t, rep, `mjx_meeting_processing_rule "Poly S4B body" meeting_type: polys4bbody has no otj-edge rule type`)
	for _, text := range []string{rep, string(res.Config)} {
		for _, stale := range []string{"this build", "branch", "issue 19", "issue 20", "issue 21"} {
			require.NotContains(t, text, stale)
		}
	}
}
