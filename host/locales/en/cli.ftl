# The command line's messages (host/src/cli.rs). Output meant for other programs (a token,
# tab-separated lists) is not translated.
cli-error = error: { $error }
cli-runtime = cannot start the runtime: { $error }
cli-data-dir = cannot create the data directory { $dir }
cli-migrated = migrations applied
cli-index-locked = cannot lock the search index in { $dir } (is kith serve running?)
cli-indexed = indexed { $count } records into { $dir }
cli-user-created = created user { $email } ({ $id }) with role { $role } in workspace `{ $workspace }`
cli-secret-key = cannot load the secret key
cli-bundled-plugin = a plugin bundled in this binary
cli-plugin-installed = installed { $id } { $version }
cli-plugin-already-installed = already installed: { $id } { $version }
cli-plugins-current = every installed plugin is built for plugin API { $api }
cli-plugin-outdated = { $id } { $version }: built for plugin API { $api }; this host runs it, the next release will refuse it: rebuild it with plugin-sdk { $current }
cli-no-workspace = no workspace `{ $workspace }`
cli-set-syntax = --set takes NAME=VALUE, not `{ $setting }`
cli-plugin-enabled = enabled { $id } { $version } in `{ $workspace }`, granting: read { $read }, write { $write }, http { $http }
cli-plugin-disabled = disabled { $id } in `{ $workspace }`
cli-no-admin = workspace `{ $workspace }` has no admin: create one with `kith user create --role admin`
cli-plugins-folder = cannot read the plugins folder { $dir }
cli-plugin-package = plugin package { $dir }
cli-plugin-demo-failed = plugin `{ $id }` demo data: { $error }
cli-plugin-demo-loaded = loaded the demo data of plugin { $id }
cli-demo-admin = created the demo admin { $email } with password { $password }
cli-running = Kith is running on http://{ $addr } ({ $data }; data in { $dir })
cli-running-token = API token for { $email }: { $token }
cli-running-try = try: { $command }
cli-demo-data-loaded = demo data loaded
cli-data-kept = existing data kept
cli-builtins-missing = the built-in types are missing
cli-demo-loaded = loaded { $companies } companies, { $contacts } contacts and { $activities } activities into `{ $workspace }`

# kith import / kith export
cli-no-user = No user { $email } in workspace { $workspace }.
cli-file-unreadable = Cannot read { $file }.
cli-file-unwritable = Cannot write { $file }.
cli-mapping-invalid = { $file } is not a mapping: a JSON object of column → field, or a plan with "mapping".
cli-import-counts = { $created } created, { $updated } updated, { $unchanged } unchanged, { $skipped } skipped, { $failed } failed.
cli-import-problem = row { $row }: { $problems }
cli-import-more-problems = … and { $count } more.
cli-import-resuming = Resuming the unfinished import of this file at row { $done } of { $total }.
cli-import-failed-rows = { $count } rows failed; every row's outcome is in { $file }.
cli-import-result = Every row's outcome is in { $file }.
cli-import-stopped = The import stopped ({ $status }).
cli-backup-written = Backed up { $rows } rows of { $tables } tables to { $file }.
cli-restored = Restored { $rows } rows from { $file } (a { $from } backup); indexed { $indexed } records for search.
