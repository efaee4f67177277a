# otj-edge: set-up for integration contoso-m365 of site contoso-oslo, written by `otj-edge setup microsoft365`.
# Run it in the Exchange Management Shell (Exchange Server) as an organization administrator.
# Each step looks before it changes anything: running the script again changes nothing.
$ErrorActionPreference = 'Stop'

$Account = 'CONTOSO\svc-otj'   # the service account: username of integration contoso-m365
$ScopeName = 'otj-edge contoso-oslo rooms'

# 1. Reviewer on each room's calendar, for the service account (access: delegate).
if (-not (Get-MailboxFolderPermission -Identity 'boardroom5@contoso.com:\Calendar' -User $Account -ErrorAction SilentlyContinue)) {
    Add-MailboxFolderPermission -Identity 'boardroom5@contoso.com:\Calendar' -User $Account -AccessRights Reviewer
}
if (-not (Get-MailboxFolderPermission -Identity 'huddle3a@contoso.com:\Calendar' -User $Account -ErrorAction SilentlyContinue)) {
    Add-MailboxFolderPermission -Identity 'huddle3a@contoso.com:\Calendar' -User $Account -AccessRights Reviewer
}
if (-not (Get-MailboxFolderPermission -Identity 'room-fjord@contoso.com:\Calendar' -User $Account -ErrorAction SilentlyContinue)) {
    Add-MailboxFolderPermission -Identity 'room-fjord@contoso.com:\Calendar' -User $Account -AccessRights Reviewer
}

# 2. Calendar processing: keep subjects, bodies and the private flag, and accept invites.
#    huddle3a@contoso.com: not diagnosed yet (not synced); run again after the first sync, or use --all
#    room-fjord@contoso.com: the diagnosis found add_organizer_to_subject, delete_comments
Set-CalendarProcessing -Identity 'room-fjord@contoso.com' -AddOrganizerToSubject $false -DeleteSubject $false -DeleteComments $false

