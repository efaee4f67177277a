// Package m365setup writes the PowerShell an Exchange or Entra administrator runs so that
// otj-edge may read exactly the configured room mailboxes: RBAC for Applications (the
// default), the legacy application access policy, or EWS on premises (impersonation scoped to
// the rooms, or folder permissions). Every step checks before it changes anything, so the
// script can be run again. It also warns when the app's tenant-wide consent would make the
// scope meaningless (consent.go).
package m365setup

import (
	"fmt"
	"sort"
	"strings"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/exchange"
)

// Mode is what the script sets up.
type Mode int

const (
	RBAC             Mode = iota // RBAC for Applications (Exchange Online, Graph app-only)
	LegacyPolicy                 // New-ApplicationAccessPolicy (tenants that still use one)
	EWSImpersonation             // Exchange Server: ApplicationImpersonation scoped to the rooms
	EWSDelegate                  // Exchange Server: Reviewer on each room's calendar
)

// Consent is what is known of the app's tenant-wide application permissions.
type Consent int

const (
	ConsentUnknown    Consent = iota // not checked, or the token could not be read
	ConsentNone                      // the token carries no Calendars.* application permission
	ConsentTenantWide                // the token carries Calendars.Read (or ReadWrite): every mailbox
)

// Room is a configured room and what the diagnosis of its calendar processing found.
type Room struct {
	Mailbox   string
	Diagnosed bool // the store holds a diagnosis (the room was synced)
	Findings  []store.Finding
}

// Plan is everything the script is made from.
type Plan struct {
	Site        string
	Integration string
	AppID       string // client_id (Graph modes)
	ObjectID    string // the Enterprise application's Object ID; "" leaves a placeholder
	TenantID    string // from token_url, for the consent URL
	Account     string // the EWS service account (EWS modes)
	Group       string // mail-enabled security group; "" scopes by address
	All         bool   // Set-CalendarProcessing on every room, diagnosed or not
	Mode        Mode
	Consent     Consent
	Roles       []string // the token's roles, when read
	Rooms       []Room
}

// psq quotes s for PowerShell (single quotes, doubled inside).
func psq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// filterValue quotes a value of an OPATH filter written inside a double-quoted PowerShell
// string: OPATH doubles single quotes; PowerShell would expand $ and ` there.
func filterValue(s string) string {
	s = strings.NewReplacer("'", "''", "`", "``", "$", "`$").Replace(s)
	return "'" + s + "'"
}

type writer struct{ b strings.Builder }

func (w *writer) p(format string, args ...any) { fmt.Fprintf(&w.b, format+"\n", args...) }

// Script returns the whole PowerShell script for the plan.
func Script(p Plan) string {
	rooms := append([]Room(nil), p.Rooms...)
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].Mailbox < rooms[j].Mailbox })
	w := &writer{}
	ews := p.Mode == EWSImpersonation || p.Mode == EWSDelegate
	w.p("# otj-edge: set-up for integration %s of site %s, written by `otj-edge setup microsoft365`.", p.Integration, p.Site)
	if ews {
		w.p("# Run it in the Exchange Management Shell (Exchange Server) as an organization administrator.")
	} else {
		w.p("# Run it in Exchange Online PowerShell (module ExchangeOnlineManagement) as an Exchange administrator.")
	}
	w.p("# Each step looks before it changes anything: running the script again changes nothing.")
	w.p("$ErrorActionPreference = 'Stop'")
	if !ews {
		w.p("if (-not (Get-ConnectionInformation)) { Connect-ExchangeOnline }")
	}
	w.p("")
	scope := "otj-edge " + p.Site + " rooms"
	switch p.Mode {
	case RBAC, LegacyPolicy:
		w.p("$AppId = %s   # Application (client) ID: client_id of integration %s", psq(p.AppID), p.Integration)
	default:
		w.p("$Account = %s   # the service account: username of integration %s", psq(p.Account), p.Integration)
	}
	w.p("$ScopeName = %s", psq(scope))
	w.p("")
	if p.Mode == RBAC && p.Consent == ConsentTenantWide {
		w.p("# WARNING: the app's token carries the application permission %s (admin consent in Entra):", strings.Join(calendarRoles(p.Roles), ", "))
		w.p("# grants in Entra and in Exchange add up, so the scope below restricts nothing: the app can read every")
		w.p("# mailbox. Remove that permission and revoke its consent (Entra: App registrations > API permissions)")
		w.p("# once Test-ServicePrincipalAuthorization below shows the rooms InScope.")
		w.p("")
	} else if p.Mode == RBAC && p.Consent == ConsentUnknown {
		w.p("# WARNING: not checked whether the app also holds the application permission Calendars.Read with admin")
		w.p("# consent (run with --detect-consent to read its token). If it does, the scope below restricts nothing")
		w.p("# (Entra and Exchange grants add up): remove it in Entra (App registrations > API permissions).")
		w.p("")
	}
	step := 0
	next := func(title string) { step++; w.p("# %d. %s", step, title) }

	if p.Mode == RBAC {
		next("Exchange's pointer to the app (the Object ID is the one on Entra's Enterprise applications page,")
		w.p("#    not the App registrations page).")
		obj := p.ObjectID
		if obj == "" {
			obj = "<Enterprise application Object ID>"
		}
		w.p("$ObjectId = %s", psq(obj))
		if p.ObjectID == "" {
			w.p("if ($ObjectId -like '<*') { throw 'Set $ObjectId (or run otj-edge setup microsoft365 --object-id ...)' }")
		}
		w.p("if (-not (Get-ServicePrincipal -Identity $AppId -ErrorAction SilentlyContinue)) {")
		w.p("    New-ServicePrincipal -AppId $AppId -ObjectId $ObjectId -DisplayName %s", psq("otj-edge "+p.Site))
		w.p("}")
		w.p("")
	}
	if p.Group != "" || p.Mode == LegacyPolicy {
		group := p.Group
		if group == "" {
			group = "otj-edge-" + p.Site + "@" + domainOf(rooms)
		}
		next("The mail-enabled security group of the rooms, with exactly the configured rooms in it.")
		w.p("$Group = %s", psq(group))
		w.p("if (-not (Get-DistributionGroup -Identity $Group -ErrorAction SilentlyContinue)) {")
		w.p("    New-DistributionGroup -Name %s -PrimarySmtpAddress $Group -Type Security", psq(scope))
		w.p("}")
		w.p("$Members = @(Get-DistributionGroupMember -Identity $Group -ResultSize Unlimited | ForEach-Object { $_.PrimarySmtpAddress.ToString().ToLower() })")
		for _, r := range rooms {
			w.p("if ($Members -notcontains %s) { Add-DistributionGroupMember -Identity $Group -Member %s }", psq(r.Mailbox), psq(r.Mailbox))
		}
		w.p("")
	}
	if p.Mode != LegacyPolicy && p.Mode != EWSDelegate {
		next("The management scope: the configured rooms and nothing else.")
		if p.Group != "" {
			w.p("$Filter = \"MemberOfGroup -eq '$((Get-DistributionGroup -Identity $Group).DistinguishedName)'\"")
		} else {
			var terms []string
			for _, r := range rooms {
				terms = append(terms, "PrimarySmtpAddress -eq "+filterValue(r.Mailbox))
			}
			w.p("$Filter = \"%s\"", strings.Join(terms, " -or "))
		}
		w.p("if (Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue) {")
		w.p("    Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $Filter")
		w.p("} else {")
		w.p("    New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $Filter")
		w.p("}")
		w.p("")
	}
	switch p.Mode {
	case RBAC:
		next("Read calendars, within that scope only (RBAC for Applications).")
		w.p("$Assignment = %s", psq("otj-edge "+p.Site+" Calendars.Read"))
		w.p("if (-not (Get-ManagementRoleAssignment -Identity $Assignment -ErrorAction SilentlyContinue)) {")
		w.p("    New-ManagementRoleAssignment -Name $Assignment -App $AppId -Role 'Application Calendars.Read' -CustomResourceScope $ScopeName")
		w.p("}")
		w.p("")
		next("Check: InScope must be True for every room (the assignment can take a while to apply).")
		for _, r := range rooms {
			w.p("Test-ServicePrincipalAuthorization -Identity $AppId -Resource %s | Format-Table RoleName,InScope", psq(r.Mailbox))
		}
		w.p("")
	case LegacyPolicy:
		next("The application access policy (legacy: Microsoft says to use RBAC for Applications for new set-ups).")
		w.p("if (-not (Get-ApplicationAccessPolicy | Where-Object { $_.AppId -eq $AppId -and $_.AccessRight -eq 'RestrictAccess' })) {")
		w.p("    New-ApplicationAccessPolicy -AppId $AppId -PolicyScopeGroupId $Group -AccessRight RestrictAccess -Description %s", psq("otj-edge "+p.Site+": the room mailboxes only"))
		w.p("}")
		w.p("")
		next("Check: AccessCheckResult must be Granted for every room (a policy can take an hour to apply).")
		for _, r := range rooms {
			w.p("Test-ApplicationAccessPolicy -Identity %s -AppId $AppId | Format-Table Mailbox,AccessCheckResult", psq(r.Mailbox))
		}
		w.p("")
	case EWSImpersonation:
		next("Impersonation of the rooms in that scope, for the service account (access: impersonation).")
		w.p("$Assignment = %s", psq("otj-edge "+p.Site+" impersonation"))
		w.p("if (-not (Get-ManagementRoleAssignment -Identity $Assignment -ErrorAction SilentlyContinue)) {")
		w.p("    New-ManagementRoleAssignment -Name $Assignment -Role ApplicationImpersonation -User $Account -CustomRecipientWriteScope $ScopeName")
		w.p("}")
		w.p("")
	case EWSDelegate:
		next("Reviewer on each room's calendar, for the service account (access: delegate).")
		for _, r := range rooms {
			cal := psq(r.Mailbox + ":\\Calendar")
			w.p("if (-not (Get-MailboxFolderPermission -Identity %s -User $Account -ErrorAction SilentlyContinue)) {", cal)
			w.p("    Add-MailboxFolderPermission -Identity %s -User $Account -AccessRights Reviewer", cal)
			w.p("}")
		}
		w.p("")
	}
	calendarProcessing(w, next, rooms, p.All)
	if p.Mode == RBAC || p.Mode == LegacyPolicy {
		next("Admin consent for the app (Pexip Service's \"copy consent link\"): open this link as a Global Administrator.")
		tenant := p.TenantID
		if tenant == "" {
			tenant = "organizations"
		}
		w.p("#    https://login.microsoftonline.com/%s/adminconsent?client_id=%s", tenant, p.AppID)
		if p.Mode == RBAC {
			w.p("#    With RBAC for Applications the app needs no Calendars permission in Entra: consent only to what")
			w.p("#    room discovery uses (Place.Read.All), or skip this step.")
		} else {
			w.p("#    The access policy limits the app's Calendars.Read application permission, which needs this consent.")
		}
	}
	return w.b.String()
}

// calendarProcessing writes Set-CalendarProcessing for the rooms the diagnosis flagged (or all).
func calendarProcessing(w *writer, next func(string), rooms []Room, all bool) {
	next("Calendar processing: keep subjects, bodies and the private flag, and accept invites.")
	full := "-AutomateProcessing AutoAccept -AddOrganizerToSubject $false -DeleteSubject $false -DeleteComments $false -RemovePrivateProperty $false"
	wrote := false
	for _, r := range rooms {
		var args []string
		var why []string
		for _, f := range r.Findings {
			if f.Flag == exchange.FlagProcessExternal {
				continue // informational: the organisation's choice
			}
			_, a, ok := strings.Cut(f.Fix, " "+r.Mailbox+" ")
			if !ok {
				continue
			}
			args = append(args, a)
			why = append(why, f.Flag)
		}
		switch {
		case all:
			w.p("Set-CalendarProcessing -Identity %s %s", psq(r.Mailbox), full)
			wrote = true
		case len(args) > 0:
			w.p("#    %s: the diagnosis found %s", r.Mailbox, strings.Join(why, ", "))
			w.p("Set-CalendarProcessing -Identity %s %s", psq(r.Mailbox), strings.Join(args, " "))
			wrote = true
		case !r.Diagnosed:
			w.p("#    %s: not diagnosed yet (not synced); run again after the first sync, or use --all", r.Mailbox)
		}
	}
	if !wrote {
		w.p("#    Nothing to change: no room's diagnosis found a problem (--all sets every room anyway).")
	}
	w.p("")
}

func calendarRoles(roles []string) []string {
	var out []string
	for _, r := range roles {
		if strings.HasPrefix(r, "Calendars.") {
			out = append(out, r)
		}
	}
	return out
}

func domainOf(rooms []Room) string {
	for _, r := range rooms {
		if _, d, ok := strings.Cut(r.Mailbox, "@"); ok {
			return d
		}
	}
	return "example.com"
}
