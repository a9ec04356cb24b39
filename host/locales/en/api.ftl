# The API's error messages (`{"error": {"message"}}`) and the refusals the web app shows
# from them. Keys start with `api-`; each area of the server keeps its own file
# (`api-<area>.ftl`).

api-invalid-field = { $field }: { $message }
api-invalid-fields = { $count } fields are invalid
api-internal = internal server error
api-unknown-entity = unknown entity type `{ $name }`
api-record-not-found = record not found
api-version-conflict = the record has changed: its current version is { $current }
api-invalid-cursor = the cursor is malformed or belongs to a different query
api-batch-too-large = a batch holds at most { $max } records
api-plugin-failed = plugin `{ $plugin }` failed: { $message }
api-plugin-suspended = plugin `{ $plugin }` checks these writes but is suspended after repeated failures; nothing was saved. An admin can enable it again or disable it
api-no-route = no route for { $path }
api-method-not-allowed = { $method } is not allowed on { $path }
