# otj-edge: set-up for integration contoso-m365 of site contoso-oslo, written by `otj-edge setup microsoft365`.
# Run it in Exchange Online PowerShell (module ExchangeOnlineManagement) as an Exchange administrator.
# Each step looks before it changes anything: running the script again changes nothing.
$ErrorActionPreference = 'Stop'
if (-not (Get-ConnectionInformation)) { Connect-ExchangeOnline }

$AppId = '3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17'   # Application (client) ID: client_id of integration contoso-m365
$ScopeName = 'otj-edge contoso-oslo rooms'

# 1. The mail-enabled security group of the rooms, with exactly the configured rooms in it.
$Group = 'otj-edge-contoso-oslo@contoso.com'
if (-not (Get-DistributionGroup -Identity $Group -ErrorAction SilentlyContinue)) {
    New-DistributionGroup -Name 'otj-edge contoso-oslo rooms' -PrimarySmtpAddress $Group -Type Security
}
$Members = @(Get-DistributionGroupMember -Identity $Group -ResultSize Unlimited | ForEach-Object { $_.PrimarySmtpAddress.ToString().ToLower() })
if ($Members -notcontains 'boardroom5@contoso.com') { Add-DistributionGroupMember -Identity $Group -Member 'boardroom5@contoso.com' }
if ($Members -notcontains 'huddle3a@contoso.com') { Add-DistributionGroupMember -Identity $Group -Member 'huddle3a@contoso.com' }
if ($Members -notcontains 'room-fjord@contoso.com') { Add-DistributionGroupMember -Identity $Group -Member 'room-fjord@contoso.com' }

# 2. The application access policy (legacy: Microsoft says to use RBAC for Applications for new set-ups).
if (-not (Get-ApplicationAccessPolicy | Where-Object { $_.AppId -eq $AppId -and $_.AccessRight -eq 'RestrictAccess' })) {
    New-ApplicationAccessPolicy -AppId $AppId -PolicyScopeGroupId $Group -AccessRight RestrictAccess -Description 'otj-edge contoso-oslo: the room mailboxes only'
}

# 3. Check: AccessCheckResult must be Granted for every room (a policy can take an hour to apply).
Test-ApplicationAccessPolicy -Identity 'boardroom5@contoso.com' -AppId $AppId | Format-Table Mailbox,AccessCheckResult
Test-ApplicationAccessPolicy -Identity 'huddle3a@contoso.com' -AppId $AppId | Format-Table Mailbox,AccessCheckResult
Test-ApplicationAccessPolicy -Identity 'room-fjord@contoso.com' -AppId $AppId | Format-Table Mailbox,AccessCheckResult

# 4. Calendar processing: keep subjects, bodies and the private flag, and accept invites.
#    huddle3a@contoso.com: not diagnosed yet (not synced); run again after the first sync, or use --all
#    room-fjord@contoso.com: the diagnosis found add_organizer_to_subject, delete_comments
Set-CalendarProcessing -Identity 'room-fjord@contoso.com' -AddOrganizerToSubject $false -DeleteSubject $false -DeleteComments $false

# 5. Admin consent for the app (Pexip Service's "copy consent link"): open this link as a Global Administrator.
#    https://login.microsoftonline.com/0b7d3c52-91aa-4e6f-8d2b-6c1e9f4a7b30/adminconsent?client_id=3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17
#    The access policy limits the app's Calendars.Read application permission, which needs this consent.
