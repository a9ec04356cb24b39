# Refusals of the web app's own endpoints: settings, themes, logos, template overrides,
# merges and bulk actions.

api-web-no-such-user = no such user
api-web-unknown-theme = no theme `{ $theme }`: use one of { $known }
api-web-unknown-token = unknown token `{ $name }`
api-web-unknown-token-use = unknown token `{ $name }`: use one of { $known }
api-web-token-not-colour = `{ $value }` is not a valid colour (use #rgb or #rrggbb)
api-web-token-not-font = `{ $value }` is not a valid font stack (letters, digits, spaces, commas, dashes and double quotes)
api-web-token-not-radius = `{ $value }` is not a valid radius (0 to 32px, or 0 to 2rem)
api-web-token-not-density = `{ $value }` is not a valid density (compact, comfortable or spacious)
api-web-unknown-language = not a language Kith speaks: use { $spoken } or empty
api-web-logo-type = send the logo as image/png, image/jpeg, image/webp, image/gif or image/svg+xml
api-web-logo-size = a logo must be 1 byte to { $max } KB
api-web-logo-not-image = the body is not a { $kind } image
api-web-no-template = the theme has no template `{ $name }`
api-web-template-too-long = a template may be at most { $max } KB
api-web-template-error = { $detail }
api-web-no-override = no override of `{ $name }`
api-web-no-static-file = no static file { $file }
api-web-no-such-webhook = no such webhook
api-web-merge-choose = choose the record to merge into this one
api-web-merge-itself = a record cannot be merged into itself
api-web-not-bulk-action = `{ $action }` is not a bulk action
api-web-no-record-with-id = no record has this id
api-web-view-name = a view needs a name of 1 to 80 characters
api-web-view-share-admins = only admins share views with the workspace
api-web-no-such-view = no such view
api-web-view-remove-owner = only its owner or an admin removes a shared view
api-web-board-no-field = { $label } has no select or reference field `{ $field }`
api-web-board-no-fields = { $label } have no select or reference field to show as a board
api-web-not-editable-field = field must be an editable field of this type
api-web-no-action = no action `{ $action }` on { $label }
api-web-form-not-object = the form's `{ $name }` is not a JSON object of field values
api-web-skipped-time = does not exist in { $zone } (the clocks skip it): choose another time
api-web-not-whole-number = must be a whole number
api-web-not-number = must be a number
api-web-not-json = is not valid JSON: { $detail }
