# The API's refusals about access and its plumbing: accounts, sessions and tokens, users,
# roles and teams (auth), mail and mailboxes (mail), webhooks and outbound hosts
# (integrations). Keys start with `api-access-`.

## Accounts

api-access-unknown-role = unknown role `{ $role }`: use admin, manager, member, read_only or a custom role of the workspace
api-access-invalid-email = `{ $email }` is not a valid email address
api-access-weak-password = the password must be at least 8 characters
api-access-invalid-slug = invalid workspace slug `{ $slug }`: use lowercase letters, digits and dashes
api-access-duplicate-user = a user with the email { $email } already exists in workspace `{ $workspace }`
api-access-unknown-user = no user with the email { $email } in workspace `{ $workspace }`
api-access-unknown-workspace = no workspace `{ $workspace }`
api-access-no-such-user = no such user
api-access-invalid-time-zone = `{ $zone }` is not a time zone: use an IANA name such as Europe/Berlin or America/New_York
api-access-invalid-name = a name is at most 100 characters, without line breaks
api-access-last-admin = this would leave the workspace without an active admin: make someone else admin first
api-access-own-account = admins cannot deactivate themselves
api-access-deactivated = this user is deactivated: reactivate them first
api-access-already-joined = this user has already set a password: there is nothing to invite them to

## Signing in

api-access-admin-only = this needs the admin role
api-access-bad-authorization = the Authorization header must be `Bearer <token>`
api-access-bad-token = the token is invalid, expired or revoked
api-access-session-ended = the session has expired or was ended: log in again
api-access-csrf-failed = missing or wrong X-CSRF-Token header
api-access-not-logged-in = log in, or send an `Authorization: Bearer <token>` header
api-access-bad-credentials = invalid email or password
api-access-too-many-logins = too many failed logins: wait and try again
api-access-account-deactivated = this account is deactivated: ask an admin of the workspace
api-access-wrong-password = the current password is wrong

## Users, tokens, roles and teams

# $what is `token`, `user` or `team`.
api-access-no-such-id = no { $what } has the id `{ $id }`
api-access-bad-language = use `en`, `zh-CN`, or an empty string for the browser's language
api-access-token-name = a token name is 1 to 100 characters
api-access-token-days = from 1 to 3650 days
api-access-no-such-token = no such token
api-access-no-such-workspace = no such workspace
api-access-own-role = admins cannot change their own role
api-access-role-name-mismatch = the body's name must match the path
api-access-builtin-role = built-in roles cannot be redefined
api-access-not-a-type-name = not an entity type name
api-access-team-name = a team name is 1 to 100 characters
api-access-team-exists = a team with this name exists
api-access-no-such-team = no such team
api-access-no-such-member = no user of this workspace has the id { $id }

## Mail

api-access-address-control = an address may not contain line breaks or control characters
api-access-address-length = an address is 1 to 254 characters
api-access-not-an-address = `{ $address }` is not an email address
api-access-header-control = may not contain line breaks or control characters
api-access-too-many-characters = at most { $max } characters
api-access-mail-not-set-up = mail is not set up in this workspace: an admin saves the SMTP settings first (PUT /api/v1/admin/mail)
api-access-port = a port is 1 to 65535
api-access-smtp-security = one of starttls, tls or none
api-access-password-too-long = at most 1,024 bytes
api-access-address-count = { $min } to 50 addresses
api-access-body-too-large = at most 1 MiB
api-access-not-a-record-id = not a record id
api-access-no-reply-to = no such message in this workspace
api-access-mail-status = status must be queued, sent, failed, receiving or received
api-access-mail-direction = direction must be in or out
api-access-no-such-message = no such message
api-access-no-such-attachment = no such attachment
api-access-no-failed-message = no failed message with this id
api-access-raw-message = send the raw message as message/rfc822
api-access-not-a-message = the body is not an RFC 822 message (it has none of From, Subject, Date or Message-ID)

## Mailboxes

api-access-mailbox-name = a name is 1 to 100 characters
api-access-imap-security = one of tls, starttls or none
api-access-login-required = the login name is required
api-access-folder-required = a folder name such as INBOX
api-access-poll-seconds = poll every 10 to 86,400 seconds
api-access-password-required = the login's password is required
api-access-too-many-mailboxes = a workspace polls at most { $max } mailboxes
api-access-no-such-mailbox = no such mailbox
api-access-mailbox-needs-password = a mailbox needs a password
api-access-mailbox-disabled = the mailbox is disabled: enable it first

## Outbound hosts

api-access-not-a-host = `{ $entry }` is not a host name or an IP address (write it without scheme, port or path)
api-access-url-too-long = the URL is longer than 2,048 characters
# $error is the URL parser's own words.
api-access-not-a-url = not a URL: { $error }
api-access-url-scheme = the URL must start with https:// or http://
api-access-url-credentials = the URL may not carry a user name or password
api-access-url-no-host = the URL has no host
api-access-resolve-timeout = cannot resolve { $host } within { $seconds } s
# $error is the resolver's own words.
api-access-resolve-failed = cannot resolve { $host }: { $error }
api-access-no-address = { $host } has no address
api-access-private-host = { $host } is a private address ({ $address }); an admin must allow the host first (PUT /api/v1/admin/outbound-hosts)
api-access-too-many-hosts = at most { $max } hosts

## Webhooks

api-access-no-events = name at least one event type, such as `contact.created` or `*`
api-access-too-many-events = at most { $max } event types
api-access-not-an-event = `{ $event }` is not an event type: write `<type>.<action>`, such as `contact.created`, or `*`
api-access-not-an-entity-type = `{ $entity }` is not an entity type of this workspace
api-access-not-an-action = `{ $action }` is not an action; one of { $actions } or *
api-access-no-such-webhook = no such webhook
api-access-too-many-webhooks = a workspace has at most { $max } webhooks
api-access-delivery-status = status must be pending, delivered or failed
api-access-delivery-before = before must be an event_seq from the log
api-access-no-such-delivery = no such delivery
