# otj-edge: set-up for integration contoso-m365 of site contoso-oslo, written by `otj-edge setup microsoft365`.
# Run it in Exchange Online PowerShell (module ExchangeOnlineManagement) as an Exchange administrator.
# Each step looks before it changes anything: running the script again changes nothing.
$ErrorActionPreference = 'Stop'
if (-not (Get-ConnectionInformation)) { Connect-ExchangeOnline }

$AppId = '3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17'   # Application (client) ID: client_id of integration contoso-m365
$ScopeName = 'otj-edge contoso-oslo rooms'

# WARNING: not checked whether the app also holds the application permission Calendars.Read with admin
# consent (run with --detect-consent to read its token). If it does, the scope below restricts nothing
# (Entra and Exchange grants add up): remove it in Entra (App registrations > API permissions).

# 1. Exchange's pointer to the app (the Object ID is the one on Entra's Enterprise applications page,
#    not the App registrations page).
$ObjectId = '<Enterprise application Object ID>'
if ($ObjectId -like '<*') { throw 'Set $ObjectId (or run otj-edge setup microsoft365 --object-id ...)' }
if (-not (Get-ServicePrincipal -Identity $AppId -ErrorAction SilentlyContinue)) {
    New-ServicePrincipal -AppId $AppId -ObjectId $ObjectId -DisplayName 'otj-edge contoso-oslo'
}

# 2. The management scope: the configured rooms and nothing else.
$Filter = "PrimarySmtpAddress -eq 'boardroom5@contoso.com' -or PrimarySmtpAddress -eq 'huddle3a@contoso.com' -or PrimarySmtpAddress -eq 'room-fjord@contoso.com'"
if (Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue) {
    Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $Filter
} else {
    New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $Filter
}

# 3. Read calendars, within that scope only (RBAC for Applications).
$Assignment = 'otj-edge contoso-oslo Calendars.Read'
if (-not (Get-ManagementRoleAssignment -Identity $Assignment -ErrorAction SilentlyContinue)) {
    New-ManagementRoleAssignment -Name $Assignment -App $AppId -Role 'Application Calendars.Read' -CustomResourceScope $ScopeName
}

# 4. Check: InScope must be True for every room (the assignment can take a while to apply).
Test-ServicePrincipalAuthorization -Identity $AppId -Resource 'boardroom5@contoso.com' | Format-Table RoleName,InScope
Test-ServicePrincipalAuthorization -Identity $AppId -Resource 'huddle3a@contoso.com' | Format-Table RoleName,InScope
Test-ServicePrincipalAuthorization -Identity $AppId -Resource 'room-fjord@contoso.com' | Format-Table RoleName,InScope

# 5. Calendar processing: keep subjects, bodies and the private flag, and accept invites.
#    huddle3a@contoso.com: not diagnosed yet (not synced); run again after the first sync, or use --all
#    room-fjord@contoso.com: the diagnosis found add_organizer_to_subject, delete_comments
Set-CalendarProcessing -Identity 'room-fjord@contoso.com' -AddOrganizerToSubject $false -DeleteSubject $false -DeleteComments $false

# 6. Admin consent for the app (Pexip Service's "copy consent link"): open this link as a Global Administrator.
#    https://login.microsoftonline.com/0b7d3c52-91aa-4e6f-8d2b-6c1e9f4a7b30/adminconsent?client_id=3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17
#    With RBAC for Applications the app needs no Calendars permission in Entra: consent only to what
#    room discovery uses (Place.Read.All), or skip this step.
