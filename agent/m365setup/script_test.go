package m365setup

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var rooms = []Room{
	{Mailbox: "room-fjord@contoso.com", Diagnosed: true, Findings: []store.Finding{
		{Flag: "add_organizer_to_subject", Fix: "Set-CalendarProcessing -Identity room-fjord@contoso.com -AddOrganizerToSubject $false -DeleteSubject $false"},
		{Flag: "delete_comments", Fix: "Set-CalendarProcessing -Identity room-fjord@contoso.com -DeleteComments $false"},
		{Flag: "process_external_meeting_messages", Fix: "Set-CalendarProcessing -Identity room-fjord@contoso.com -ProcessExternalMeetingMessages $true"},
	}},
	{Mailbox: "boardroom5@contoso.com", Diagnosed: true},
	{Mailbox: "huddle3a@contoso.com"},
}

func plan(mode Mode) Plan {
	return Plan{Site: "contoso-oslo", Integration: "contoso-m365", AppID: "3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17",
		TenantID: "0b7d3c52-91aa-4e6f-8d2b-6c1e9f4a7b30", Account: `CONTOSO\svc-otj`, Mode: mode, Rooms: rooms}
}

var variants = map[string]func() Plan{
	"rbac": func() Plan { return plan(RBAC) },
	"rbac-group": func() Plan {
		p := plan(RBAC)
		p.Group = "otj-rooms@contoso.com"
		p.ObjectID = "6a7b8c9d-0000-4000-8000-112233445566"
		return p
	},
	"rbac-all-consent": func() Plan {
		p := plan(RBAC)
		p.All = true
		p.Consent = ConsentTenantWide
		p.Roles = []string{"Calendars.Read", "Place.Read.All"}
		return p
	},
	"legacy-policy":     func() Plan { return plan(LegacyPolicy) },
	"ews-impersonation": func() Plan { return plan(EWSImpersonation) },
	"ews-delegate":      func() Plan { return plan(EWSDelegate) },
}

func TestScriptGolden(t *testing.T) {
	for name, mk := range variants {
		t.Run(name, func(t *testing.T) {
			got := Script(mk())
			path := filepath.Join("testdata", name+".ps1")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "go test ./agent/m365setup -update creates it")
			require.Equal(t, string(want), got)
		})
	}
}

// allowed are the cmdlets a set-up script may run: reading, and the few that grant exactly
// what otj-edge needs. Nothing removes or grants beyond.
var allowed = map[string]bool{
	"Get-ConnectionInformation": true, "Connect-ExchangeOnline": true,
	"Get-ServicePrincipal": true, "New-ServicePrincipal": true,
	"Get-ManagementScope": true, "New-ManagementScope": true, "Set-ManagementScope": true,
	"Get-ManagementRoleAssignment": true, "New-ManagementRoleAssignment": true,
	"Test-ServicePrincipalAuthorization": true, "Format-Table": true, "ForEach-Object": true, "Where-Object": true,
	"Get-DistributionGroup": true, "New-DistributionGroup": true, "Get-DistributionGroupMember": true, "Add-DistributionGroupMember": true,
	"Get-ApplicationAccessPolicy": true, "New-ApplicationAccessPolicy": true, "Test-ApplicationAccessPolicy": true,
	"Get-MailboxFolderPermission": true, "Add-MailboxFolderPermission": true,
	"Set-CalendarProcessing": true,
}

var cmdletRE = regexp.MustCompile(`\b[A-Z][a-z]+-[A-Z][A-Za-z]+\b`)

// TestScriptStructure stands in for a PowerShell parser (no pwsh here): quotes and braces
// balance, only allowed cmdlets run, every New-/Add- is behind a Get- guard, and each room
// appears exactly where the mode puts it.
func TestScriptStructure(t *testing.T) {
	for name, mk := range variants {
		p := mk()
		s := Script(p)
		code := stripComments(s)
		t.Run(name, func(t *testing.T) {
			require.Zero(t, strings.Count(code, "{")-strings.Count(code, "}"), "braces balance")
			require.Zero(t, strings.Count(code, "(")-strings.Count(code, ")"), "parentheses balance")
			for i, line := range strings.Split(code, "\n") {
				require.Zero(t, strings.Count(strings.ReplaceAll(line, "''", ""), "'")%2, "line %d: single quotes balance: %s", i+1, line)
				require.Zero(t, strings.Count(line, `"`)%2, "line %d: double quotes balance: %s", i+1, line)
				for _, c := range cmdletRE.FindAllString(line, -1) {
					require.True(t, allowed[c], "line %d runs %s, not on the allow-list", i+1, c)
				}
				// Idempotence: a New-/Add- is inside an if that looked first (a Get- or a
				// -notcontains on the line before, or the same line).
				if strings.Contains(line, "New-") || strings.Contains(line, "Add-") {
					prev := strings.Split(code, "\n")[max(i-1, 0)]
					guarded := strings.Contains(prev, "if (") || strings.Contains(line, "if (") || strings.Contains(prev, "} else {")
					require.True(t, guarded, "line %d changes without looking first: %s", i+1, line)
				}
			}
			for _, r := range p.Rooms {
				q := "'" + r.Mailbox + "'"
				n := strings.Count(code, q) + strings.Count(code, "'"+r.Mailbox+":\\Calendar'")
				want := 0
				switch p.Mode {
				case RBAC:
					want = 2 // the scope filter (or the group) and Test-ServicePrincipalAuthorization
					if p.Group != "" {
						want = 3 // -notcontains, Add-DistributionGroupMember, Test-
					}
				case LegacyPolicy:
					want = 3 // -notcontains, Add-DistributionGroupMember, Test-ApplicationAccessPolicy
				case EWSImpersonation:
					want = 1 // the scope filter
				case EWSDelegate:
					want = 2 // Get- and Add-MailboxFolderPermission
				}
				fixes := 0
				for _, f := range r.Findings {
					if f.Flag != "process_external_meeting_messages" {
						fixes++
					}
				}
				if p.All || fixes > 0 {
					want++ // its Set-CalendarProcessing
				}
				require.Equal(t, want, n, "room %s appears %d times in the code:\n%s", r.Mailbox, n, code)
			}
			require.NotContains(t, code, "ProcessExternalMeetingMessages", "the organisation's choice is never changed")
		})
	}
	s := Script(plan(RBAC))
	require.Contains(t, s, "-DeleteComments $false", "the room whose diagnosis found deleted bodies gets the fix")
	require.Contains(t, s, "huddle3a@contoso.com: not diagnosed yet")
	require.Contains(t, s, "WARNING: not checked whether the app also holds")
	require.Contains(t, Script(variants["rbac-all-consent"]()), "the scope below restricts nothing")
	require.Contains(t, s, "https://login.microsoftonline.com/0b7d3c52-91aa-4e6f-8d2b-6c1e9f4a7b30/adminconsent?client_id=3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17")
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if i := strings.Index(l, "   # "); i >= 0 {
			l = l[:i]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func fakeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(b) + "." + enc([]byte("sig"))
}

func TestDetectConsent(t *testing.T) {
	var token string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		if r.PostForm.Get("client_secret") != "the-secret-value" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3599})
	}))
	defer srv.Close()
	req := TokenRequest{TokenURL: srv.URL + "/tenant/oauth2/v2.0/token", ClientID: "app", ClientSecret: "the-secret-value",
		Scope: "https://graph.microsoft.com/.default", Client: srv.Client()}

	token = fakeJWT(map[string]any{"roles": []string{"Place.Read.All", "Calendars.Read"}})
	c, roles, err := DetectConsent(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, ConsentTenantWide, c)
	require.Contains(t, roles, "Calendars.Read")

	token = fakeJWT(map[string]any{"roles": []string{"Place.Read.All"}})
	c, _, err = DetectConsent(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, ConsentNone, c)

	token = "opaque-simulator-token"
	c, _, err = DetectConsent(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, ConsentUnknown, c, "a token that is not a JWT tells nothing")

	req.ClientSecret = "wrong"
	_, _, err = DetectConsent(context.Background(), req)
	require.ErrorContains(t, err, "401")
	require.NotContains(t, err.Error(), "wrong")
}
