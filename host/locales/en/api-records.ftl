# The records area's API error messages (records, filters and sorts, aggregates, merges,
# request bodies and parameters, search): `{"error": {"message"}}` and `details[].message`.

## Requests: bodies, parameters and headers

api-records-limit = limit must be a whole number from 1 to { $max }
api-records-upsert-needs-key = an upsert needs `key`, the field to match records by
api-records-batch-item-needs-id = each item needs the `id` of the record to update
api-records-instant-parameter = { $name } must be a date, a datetime or a relative date like today-7d
api-records-audit-format = format must be json or csv, not `{ $format }`
api-records-id-parameter = { $name } must be an id
api-records-cursor-malformed = the cursor is malformed
api-records-body-not-object = the body must be a JSON object
# `detail` is the JSON parser's own (English) words.
api-records-body-shape = { $detail }
api-records-body-syntax = { $detail }
api-records-body-media-type = send the body as application/json
api-records-body-too-large = the body is larger than { $max } bytes
api-records-body-empty = the body is empty: send a JSON document
# `detail` is the web framework's own (English) words, as are the next two's.
api-records-body-unreadable = { $detail }
api-records-bad-query = { $detail }
api-records-bad-path = { $detail }
api-records-if-match = If-Match must be a record version such as "3"

## Search

api-records-search-unknown-type = unknown entity type `{ $name }` in types
api-records-search-query-required = q is required: the words to search for
api-records-search-query-too-long = the query is longer than { $max } characters

## Record values (`details[].message` of `validation_failed`)

api-records-not-a-user-id = not a user id
api-records-expected-user-id = expected a user id
api-records-system-key-read-only = system keys are set by the server
api-records-no-such-field = `{ $plural }` has no such field
api-records-field-read-only = your role may not change this field
api-records-value-required = a value is required
api-records-expected-whole-number = expected a whole number
api-records-expected-number = expected a number
api-records-expected-boolean = expected true or false
api-records-expected-date = expected a date like 2026-11-22
api-records-json-too-large = at most { $max } bytes
api-records-expected-list = expected a list
api-records-list-too-long = at most { $max } entries
api-records-expected-string-list = expected a list of strings
api-records-invalid-tag = tags are 1 to 64 characters
api-records-expected-string = expected a string
api-records-text-too-long = at most { $max } characters
api-records-control-characters = control characters are not allowed
api-records-expected-option = expected one of: { $options }
api-records-invalid-email = expected an email address like ada@example.com
api-records-invalid-phone = expected a phone number such as +1 (555) 010-2030
api-records-invalid-url = expected an http(s) URL like https://example.com
api-records-invalid-datetime = expected an RFC 3339 date and time like 2026-11-22T14:30:00Z
api-records-invalid-money = expected { "{" }"amount": "1250.00", "currency": "EUR"{ "}" }
api-records-invalid-currency = expected an ISO 4217 currency code such as EUR
api-records-expected-record-id = expected a record id

## Entity type and field definitions

api-records-invalid-name = `{ $name }` is not a valid name: use 1 to 48 lowercase letters, digits and underscores, starting with a letter
api-records-system-key-name = `{ $name }` is a system key
api-records-options-required = a select field needs options
api-records-options-not-allowed = only select and multi_select fields have options
api-records-option-length = option values are 1 to 100 characters
api-records-option-twice = option `{ $option }` is listed twice
api-records-unknown-target = no entity type is named `{ $target }`
api-records-target-not-allowed = only reference fields have a target
api-records-multiple-not-allowed = only reference fields can hold several ids
api-records-max-length-too-small = must be at least 1
api-records-invalid-default = the default is not a valid value of this field: { $message }
api-records-index-not-allowed = list and json fields cannot be indexed
api-records-plural-same-as-name = must differ from `name`
api-records-name-taken = the name is taken
api-records-plural-taken = the plural is taken
api-records-plural-reserved = the plural is reserved
api-records-field-declared-twice = the field is declared twice
api-records-not-a-field-of-type = `{ $key }` is not a field of the type
api-records-too-many-indexes = at most { $max } indexes per type
api-records-index-keys = an index has 1 to { $max } keys
api-records-index-key-twice = `{ $key }` is listed twice
api-records-index-unknown-key = `{ $key }` is neither a field of the type nor `owner`
api-records-index-unindexable = `{ $key }` cannot be indexed: it holds long text, json or a list
api-records-unknown-language = `{ $language }` is not a language Kith speaks: use { $languages }
api-records-invalid-label = a label is 1 to { $max } characters, without control characters
api-records-label-twice = the language is given twice

## The record store: schema changes, references and permissions

api-records-forbidden-read-type = your role may not read { $plural }
api-records-field-exists = `{ $plural }` already has a field `{ $field }`
api-records-field-exists-conflict = the field already exists
api-records-type-exists-conflict = the entity type already exists
# Completed by api-records-claimed-type or api-records-claimed-field as `what`.
api-records-claimed = { $what } belongs to plugin `{ $plugin }` (declared when it was enabled; its data is kept while it is disabled)
api-records-claimed-type = the type name `{ $entity }`
api-records-claimed-field = the field `{ $field }` of `{ $entity }`
api-records-no-tags-field = `{ $plural }` has no tags field `{ $field }`
api-records-forbidden-read-records = your role may not read these records
api-records-reference-not-found = no live record has the id { $id }
api-records-wrong-reference-type = { $id } is a { $found }, not a { $target }
api-records-user-not-found = no user of this workspace has the id { $id }

## Writes and batches

api-records-no-live-record = no live record has this id
api-records-at-version = the record is at version { $current }
api-records-batch-empty = the batch is empty
api-records-batch-same-record-twice = the batch changes the record { $id } twice
api-records-ambiguous-key = several records have this value; merge them first
api-records-upsert-key-unusable = `{ $key }` is not a field of `{ $plural }` that records can be matched by
api-records-upsert-key-required = the upsert key needs a value
api-records-upsert-key-repeated = another item of the batch has the same key
api-records-forbidden-create-type = your role may not create { $plural }
api-records-forbidden-create-for-owner = your role may not create records for this owner
api-records-forbidden-change-by-key = your role may not change the record with this key
api-records-forbidden-change = your role may not change this record (or give it to that owner)
api-records-forbidden-delete = your role may not delete this record
api-records-forbidden-restore = your role may not restore this record
api-records-not-deleted = the record is not deleted

## Duplicates, merges and aggregates

api-records-no-duplicate-key = `{ $plural }` has no duplicate key
api-records-unknown-field = `{ $plural }` has no field `{ $field }`
api-records-merge-count = merge 1 to { $max } records at a time
api-records-merge-ids = the merged ids must be distinct and differ from the survivor
api-records-forbidden-change-survivor = your role may not change the surviving record
api-records-merge-not-found = no live { $entity } has the id { $id }
api-records-forbidden-merge-away = your role may not merge away { $id }
api-records-group-money = cannot group by `{ $field }`: group by a single value (money: `field:currency`)
api-records-group-single-value = cannot group by `{ $field }`: group by a single value (text, select, reference, user, number, boolean or date fields)
api-records-group-reference-list = cannot group by `{ $field }`: it holds a list of references
api-records-group-key = `{ $key }` is not a group key: use a field, `owner`, `field:month` or `field:year` of a date, or `field:currency` of money
api-records-sum-kind = cannot sum `{ $field }`: only integer, number and money fields add up
api-records-too-many-groups = more than { $max } groups: group by fewer keys or filter
api-records-too-many-terms = at most { $max } group keys and { $max } sums
api-records-mixed-currencies = `{ $field }` mixes currencies in a group: group by `{ $field }:currency` too
api-records-cannot-add-up = cannot add up `{ $field }`

## Filters (`filter=`) and sorts (`sort=`)

api-records-filter-too-long = the filter is longer than { $max } bytes
# A syntax error: `expected` is one of the api-records-filter-expected-* messages, `found`
# api-records-filter-found or api-records-filter-found-end.
api-records-filter-at = at position { $position }: { $expected }, found { $found }
api-records-filter-found = `{ $text }`
api-records-filter-found-end = the end
api-records-filter-expected-end = expected the end of the filter
api-records-filter-expected-name = expected a field name or and(…), or(…), not(…)
api-records-filter-expected-comma = expected `,` or `)`
api-records-filter-not-a-group = `{ $name }(` is not and(, or( or not(
api-records-filter-expected-operator = expected `[operator]` after the field name
api-records-filter-expected-bracket = expected `]`
api-records-filter-expected-value = expected `:value`
api-records-filter-expected-quote = expected a closing `"`
api-records-filter-expected-escaped = expected a character after `\`
api-records-filter-depth = filters nest at most { $max } deep
api-records-filter-not-arity = not(…) takes exactly one condition
api-records-filter-unknown-operator = unknown operator `{ $operator }`: use eq, neq, lt, lte, gt, gte, in, contains, starts_with or is_empty
api-records-filter-too-many = a filter holds at most { $max } conditions
api-records-filter-operator = operator { $operator } does not apply to `{ $field }` ({ $kind })
api-records-filter-operator-system = operator { $operator } does not apply to `{ $field }` (system key)
api-records-filter-is-empty = is_empty takes true or false, not `{ $value }`
api-records-not-a-record-id = `{ $id }` is not a record id
# `what` is one of the api-records-filter-want-* messages.
api-records-filter-expects = `{ $field }` expects { $what }, got `{ $value }`
api-records-filter-want-integer = a whole number
api-records-filter-want-instant = a date, a datetime or a relative date like today-7d
api-records-filter-want-boolean = true or false
api-records-filter-want-number = a number
api-records-filter-want-datetime = a datetime or a relative date like now-7d
api-records-filter-want-date = a date or a relative date like today+7d
api-records-sort-list = cannot sort by the list or json field `{ $field }`
api-records-sort-twice = `{ $field }` appears twice
api-records-sort-id-descending = sorting by id is ascending only
api-records-sort-too-many = at most { $max } sort keys
