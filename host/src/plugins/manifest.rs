//! The plugin manifest, `plugin.toml` (DESIGN §4): its format as Rust types, parsing with
//! errors that point at the line and key at fault, the semantic checks that need no workspace
//! (the check against a workspace's schema happens when the plugin is enabled), and the
//! questions the host asks of a loaded manifest: which hooks run, which route serves a request,
//! what the plugin may read, write and call, and whether a new version asks for more.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use semver::Version;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use crate::records::schema::{EntityType, FieldKind, FieldSpec, check_identifier};

/// The newest plugin API this host provides. It also runs every version of
/// `versions::SUPPORTED`: a plugin's `api_version` is compatible with one of them when its major
/// and minor numbers are equal (0.x minor bumps are breaking) and its patch is not higher.
pub const API_VERSION: &str = "0.4.1";

/// The file name the manifest has in a package, and in error messages by default.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// Longest `name`, `title` and `label`, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Longest `description`, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest route path and template path, in characters.
const MAX_PATH_CHARS: usize = 200;
/// The message for keys of types and fields that only the host sets.
const HOST_SET: &str = "is set by the host: leave it out";

/// A parsed and checked `plugin.toml`. Stored by the host as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's id (an identifier: `hello`); its routes live under `/p/{id}/`.
    pub id: String,
    pub name: String,
    /// A semantic version (`1.2.3`).
    pub version: String,
    /// The plugin API the plugin was written against (see `API_VERSION`).
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the plugin asks to be granted; its own entity types need no grant.
    #[serde(default)]
    pub permissions: Permissions,
    /// Entity types the plugin declares.
    #[serde(default)]
    pub entities: Vec<EntityType>,
    /// Fields the plugin adds to other entity types, by type name.
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<FieldSpec>>,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub jobs: Vec<Job>,
    #[serde(default)]
    pub panels: Vec<Panel>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub settings: Vec<Setting>,
    /// Who after-save acts as: the user who made the change (the default), or the plugin
    /// itself — its grant, with the permissions of the admin who enabled it — for plugins
    /// whose after-save writes what the users who trigger it may not.
    #[serde(default, skip_serializing_if = "ActAs::is_user")]
    pub after_save_as: ActAs,
}

/// Who a plugin's after-save acts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActAs {
    #[default]
    User,
    Plugin,
}

impl ActAs {
    fn is_user(&self) -> bool {
        *self == ActAs::User
    }
}

/// Requested (in a manifest) or granted (by an admin) access: entity type names to read and
/// write (`"*"` for all), outbound HTTP hosts (`host` or `host:port`), and how many emails an
/// hour it may send from the workspace's address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Permissions {
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub http: Vec<String>,
    /// Emails per hour, per workspace (0: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub mail: u32,
}

/// Most emails an hour a plugin may ask for.
pub const MAX_MAIL_PER_HOUR: u32 = 10_000;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Record changes the plugin's `before-save` and `after-save` are called for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The entity type's name (singular).
    pub entity: String,
    #[serde(default = "HookOperation::all")]
    pub operations: Vec<HookOperation>,
    /// The fields the hook reads; empty means all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Which of the plugin's exports the hook calls: `before_save` inside the write,
    /// `after_save` once it committed. Both unless the manifest says otherwise.
    #[serde(default = "HookPhase::both")]
    pub phases: Vec<HookPhase>,
    /// Reference fields whose records before-save gets with each change (`Change::references`),
    /// read by the host with the write instead of by the plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// When a hook runs: inside the write, or after it committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPhase {
    BeforeSave,
    AfterSave,
}

impl HookPhase {
    fn both() -> Vec<HookPhase> {
        vec![Self::BeforeSave, Self::AfterSave]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeSave => "before_save",
            Self::AfterSave => "after_save",
        }
    }
}

impl fmt::Display for HookPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookOperation {
    Create,
    Update,
    Delete,
}

impl HookOperation {
    pub const ALL: [HookOperation; 3] = [Self::Create, Self::Update, Self::Delete];

    fn all() -> Vec<HookOperation> {
        Self::ALL.to_vec()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for HookOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP route served by the plugin's `handle-http`, under `/p/{plugin-id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `/hello`, or `/kv/*` for every path under `/kv/`.
    pub path: String,
    #[serde(default = "default_methods")]
    pub methods: Vec<HttpMethod>,
}

fn default_methods() -> Vec<HttpMethod> {
    vec![HttpMethod::Get]
}

impl Route {
    /// The prefix a `…/*` route serves (ending in `/`), or `None` for an exact route.
    pub fn prefix(&self) -> Option<&str> {
        self.path.strip_suffix('*')
    }

    /// Whether the route serves `path` (for any of its methods).
    pub fn matches(&self, path: &str) -> bool {
        match self.prefix() {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        }
    }

    pub fn allows(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.as_str() == method)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheduled call of the plugin's `run-job`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    /// A 5-field cron expression, evaluated in UTC.
    pub schedule: String,
}

impl Job {
    pub fn cron(&self) -> Result<Cron, String> {
        parse_schedule(&self.schedule)
    }
}

/// A panel the plugin renders (`render-panel`) with one of its templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    pub name: String,
    pub title: String,
    pub location: PanelLocation,
    /// A file under the package's `templates/` (`summary.html`, `panels/deal.html`).
    pub template: String,
}

/// Where a panel appears: `dashboard`, or `record:<entity type>` on each record of a type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PanelLocation {
    Dashboard,
    Record(String),
}

impl TryFrom<String> for PanelLocation {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        if value == "dashboard" {
            return Ok(Self::Dashboard);
        }
        match value.strip_prefix("record:") {
            Some(entity) => {
                check_identifier(entity)?;
                Ok(Self::Record(entity.to_owned()))
            }
            None => Err(format!(
                "`{}` is not a panel location: use `dashboard` or `record:<entity type>`",
                value.chars().take(80).collect::<String>()
            )),
        }
    }
}

impl From<PanelLocation> for String {
    fn from(location: PanelLocation) -> String {
        location.to_string()
    }
}

impl fmt::Display for PanelLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dashboard => f.write_str("dashboard"),
            Self::Record(entity) => write!(f, "record:{entity}"),
        }
    }
}

/// An action users and workflows can run (`run-action`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The entity type whose records the action applies to; `None` for a global action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// What the action asks before it runs: the web app shows these fields as a dialog and
    /// adds the answers to the input beside `id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSpec>,
    /// A filter (the filter language) the record must match for the web app to offer the
    /// action: `status[neq]:converted`. Only what is shown; the action still checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The dialog's starting values come from the plugin: the action is first run with
    /// `{"id": …, "prefill": true}` and answers an object of field values, changing nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefill: bool,
}

/// A value an admin sets per workspace, read by the plugin through the config import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Stored encrypted, never shown back.
    #[serde(default)]
    pub secret: bool,
    /// The plugin cannot be enabled until it is set.
    #[serde(default)]
    pub required: bool,
}

/// A manifest that could not be parsed or failed a check: where (file, line, column, key) and
/// what. Displayed as `plugin.toml:LINE:COL: KEY: message`, leaving out what is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The file shown in the message: `plugin.toml` unless set with `in_file`.
    pub file: String,
    /// The dotted path of the key at fault (`hooks[1].operations`).
    pub key: Option<String>,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
}

impl ManifestError {
    /// The same error, naming the file it was read from.
    pub fn in_file(mut self, file: impl fmt::Display) -> Self {
        self.file = file.to_string();
        self
    }

    fn new(message: impl Into<String>) -> Self {
        Self {
            file: MANIFEST_FILE.to_owned(),
            key: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn at_offset(mut self, text: &str, offset: usize) -> Self {
        let (line, column) = line_and_column(text, offset);
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ManifestError {}

/// A failed semantic check: the dotted key path and the message.
struct Problem {
    key: String,
    message: String,
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

type Checked = Result<(), Problem>;

impl Manifest {
    /// Parses and checks a manifest. Unknown keys are errors everywhere, so typos are caught.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let document = DeTable::parse(text).map_err(|error| {
            let located = ManifestError::new(error.message());
            match error.span() {
                Some(span) => located.at_offset(text, span.start),
                None => located,
            }
        })?;
        let root = document.get_ref();
        let manifest: Manifest = toml::from_str(text).map_err(|error| {
            let mut located = ManifestError::new(error.message());
            // A missing top-level key is reported at 0..0: no position is better than 1:1.
            if let Some(span) = error.span().filter(|span| *span != (0..0)) {
                located.key = key_at(root, "", &span);
                located = located.at_offset(text, span.start);
            }
            located
        })?;
        manifest.check().map_err(|problem| {
            let mut located = ManifestError::new(problem.message);
            if let Some(offset) = offset_of(root, &problem.key) {
                located = located.at_offset(text, offset);
            }
            located.key = Some(problem.key);
            located
        })?;
        Ok(manifest)
    }

    /// Whether the plugin declares the entity type `entity`.
    pub fn declares(&self, entity: &str) -> bool {
        self.entities.iter().any(|e| e.name == entity)
    }

    /// The hooks to call for an `op` on a record of `entity`.
    pub fn hooks_for<'a>(
        &'a self,
        entity: &'a str,
        op: HookOperation,
        phase: HookPhase,
    ) -> impl Iterator<Item = &'a Hook> + 'a {
        self.hooks.iter().filter(move |hook| {
            hook.entity == entity && hook.operations.contains(&op) && hook.phases.contains(&phase)
        })
    }

    /// Whether any hook runs after saves (else the plugin gets no events to deliver).
    pub fn hooks_after_save(&self) -> bool {
        (self.hooks.iter()).any(|hook| hook.phases.contains(&HookPhase::AfterSave))
    }

    /// The route serving `method` on `path` (the part after `/p/{plugin-id}`): an exact route,
    /// else the prefix route with the longest prefix.
    pub fn route(&self, method: &str, path: &str) -> Option<&Route> {
        (self.routes.iter())
            .filter(|route| route.allows(method) && route.matches(path))
            .max_by_key(|route| route.prefix().map_or(usize::MAX, str::len))
    }

    /// Whether the plugin asks to read records of `entity` (its own types always).
    pub fn may_read(&self, entity: &str) -> bool {
        self.declares(entity) || grants(&self.permissions.read, entity)
    }

    /// Whether the plugin asks to write records of `entity` (its own types always).
    pub fn may_write(&self, entity: &str) -> bool {
        self.declares(entity) || grants(&self.permissions.write, entity)
    }

    /// Whether the plugin asks to call `host` on `port` (an entry without a port allows any).
    pub fn may_call_host(&self, host: &str, port: u16) -> bool {
        self.permissions.may_call_host(host, port)
    }

    /// What the plugin asks an admin to grant, normalised (sorted, deduplicated, without its
    /// own entity types, `"*"` alone when present, hosts in one spelling), to compare with a
    /// grant.
    pub fn permissions_summary(&self) -> Permissions {
        // Its own types are the plugin's by declaring them: an admin is never asked for them.
        let foreign = |list: &[String]| {
            normalise_entities(
                (list.iter())
                    .filter(|name| !self.entities.iter().any(|e| &&e.name == name))
                    .cloned(),
            )
        };
        Permissions {
            read: foreign(&self.permissions.read),
            write: foreign(&self.permissions.write),
            http: normalise_hosts(&self.permissions.http),
            mail: self.permissions.mail,
        }
    }

    fn check(&self) -> Checked {
        check_identifier(&self.id).map_err(|m| problem("id", m))?;
        check_text("name", &self.name, MAX_NAME_CHARS)?;
        if let Err(error) = Version::parse(&self.version) {
            return Err(problem(
                "version",
                format!(
                    "`{}` is not a semantic version like 1.2.3: {error}",
                    self.version
                ),
            ));
        }
        check_api_version(&self.api_version).map_err(|m| problem("api_version", m))?;
        if let Some(description) = &self.description {
            check_length("description", description, MAX_DESCRIPTION_CHARS)?;
        }
        self.check_permissions()?;
        self.check_entities()?;
        self.check_added_fields()?;
        self.check_hooks()?;
        self.check_routes()?;
        self.check_jobs()?;
        self.check_panels()?;
        self.check_actions()?;
        self.check_settings()
    }

    fn check_permissions(&self) -> Checked {
        for (list, names) in [
            ("read", &self.permissions.read),
            ("write", &self.permissions.write),
        ] {
            for (i, name) in names.iter().enumerate() {
                if name != "*" {
                    check_identifier(name)
                        .map_err(|m| problem(format!("permissions.{list}[{i}]"), m))?;
                }
            }
        }
        for (i, entry) in self.permissions.http.iter().enumerate() {
            parse_http_target(entry).map_err(|m| problem(format!("permissions.http[{i}]"), m))?;
        }
        if self.permissions.mail > MAX_MAIL_PER_HOUR {
            return Err(problem(
                "permissions.mail",
                format!("at most {MAX_MAIL_PER_HOUR} emails an hour"),
            ));
        }
        Ok(())
    }

    fn check_entities(&self) -> Checked {
        // Names and plurals share one namespace: `/api/v1/{plural}` and `{name}` references.
        let mut taken: HashMap<&str, usize> = HashMap::new();
        for (i, entity) in self.entities.iter().enumerate() {
            let key = format!("entities[{i}]");
            check_identifier(&entity.name).map_err(|m| problem(format!("{key}.name"), m))?;
            check_identifier(&entity.plural).map_err(|m| problem(format!("{key}.plural"), m))?;
            if entity.name == entity.plural {
                return Err(problem(format!("{key}.plural"), "must differ from `name`"));
            }
            // `source` defaults to "custom"; the host sets it to the plugin's.
            if entity.source != "custom" {
                return Err(problem(format!("{key}.source"), HOST_SET));
            }
            for (part, value) in [("name", &entity.name), ("plural", &entity.plural)] {
                if let Some(other) = taken.insert(value, i) {
                    return Err(problem(
                        format!("{key}.{part}"),
                        format!("`{value}` is already used by entities[{other}]"),
                    ));
                }
            }
            check_field_list(&entity.fields, &format!("{key}.fields"))?;
            entity.check_indexes().map_err(|(index, message)| {
                let at = index.map_or(String::new(), |i| format!("[{i}]"));
                problem(format!("{key}.indexes{at}"), message)
            })?;
        }
        Ok(())
    }

    fn check_added_fields(&self) -> Checked {
        for (entity, fields) in &self.fields {
            let key = format!("fields.{entity}");
            check_identifier(entity).map_err(|m| problem(&key, m))?;
            if self.declares(entity) {
                return Err(problem(
                    key,
                    format!(
                        "`{entity}` is declared by this plugin: list its fields in its \
                         [[entities]] entry"
                    ),
                ));
            }
            check_field_list(fields, &key)?;
        }
        Ok(())
    }

    fn check_hooks(&self) -> Checked {
        let mut hooked: HashMap<(&str, HookOperation, HookPhase), usize> = HashMap::new();
        for (i, hook) in self.hooks.iter().enumerate() {
            let key = format!("hooks[{i}]");
            check_identifier(&hook.entity).map_err(|m| problem(format!("{key}.entity"), m))?;
            self.check_readable(&hook.entity, &format!("{key}.entity"), "a hook")?;
            if hook.operations.is_empty() {
                let message = "list at least one of `create`, `update`, `delete` (or leave the \
                               key out for all three)";
                return Err(problem(format!("{key}.operations"), message));
            }
            check_no_repeats(&hook.operations, &format!("{key}.operations"))?;
            if hook.phases.is_empty() {
                let message = "list at least one of `before_save`, `after_save` (or leave the \
                               key out for both)";
                return Err(problem(format!("{key}.phases"), message));
            }
            check_no_repeats(&hook.phases, &format!("{key}.phases"))?;
            for (j, op) in hook.operations.iter().enumerate() {
                for phase in &hook.phases {
                    if let Some(other) = hooked.insert((&hook.entity, *op, *phase), i) {
                        let message = format!(
                            "hooks[{other}] already hooks `{op}` on `{}` ({phase})",
                            hook.entity
                        );
                        return Err(problem(format!("{key}.operations[{j}]"), message));
                    }
                }
            }
            let own = self.entities.iter().find(|e| e.name == hook.entity);
            for (j, field) in hook.fields.iter().enumerate() {
                let field_key = format!("{key}.fields[{j}]");
                check_identifier(field).map_err(|m| problem(&field_key, m))?;
                if let Some(entity) = own
                    && entity.field(field).is_none()
                {
                    let message = format!("`{}` has no field `{field}`", entity.name);
                    return Err(problem(field_key, message));
                }
            }
            check_no_repeats(&hook.fields, &format!("{key}.fields"))?;
            self.check_hook_references(hook, &key)?;
        }
        Ok(())
    }

    /// A hook's `references`: names of reference fields of its entity (checked where this
    /// plugin declares them) whose target types it may read, for before-save.
    fn check_hook_references(&self, hook: &Hook, key: &str) -> Checked {
        if !hook.references.is_empty() && !hook.phases.contains(&HookPhase::BeforeSave) {
            let message = "the referenced records go to before-save: add `before_save` to `phases`";
            return Err(problem(format!("{key}.references"), message));
        }
        let declared = (self.entities.iter())
            .find(|e| e.name == hook.entity)
            .map(|e| e.fields.as_slice())
            .or_else(|| self.fields.get(&hook.entity).map(Vec::as_slice));
        for (j, name) in hook.references.iter().enumerate() {
            let field_key = format!("{key}.references[{j}]");
            check_identifier(name).map_err(|m| problem(&field_key, m))?;
            let Some(fields) = declared else {
                continue;
            };
            let Some(field) = fields.iter().find(|f| &f.name == name) else {
                // Another type's own field: the host checks it when the hook runs.
                if self.entities.iter().any(|e| e.name == hook.entity) {
                    let message = format!("`{}` has no field `{name}`", hook.entity);
                    return Err(problem(field_key, message));
                }
                continue;
            };
            if field.kind != FieldKind::Reference {
                let message = format!(
                    "`{name}` is not a reference field (its type is `{}`)",
                    field.kind.as_str()
                );
                return Err(problem(field_key, message));
            }
            if let Some(target) = &field.target {
                self.check_readable(target, &field_key, "a hook's references")?;
            }
        }
        check_no_repeats(&hook.references, &format!("{key}.references"))
    }

    fn check_routes(&self) -> Checked {
        let mut served: HashMap<(&str, HttpMethod), usize> = HashMap::new();
        for (i, route) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            check_route_path(&route.path).map_err(|m| problem(format!("{key}.path"), m))?;
            if route.methods.is_empty() {
                let message = "list at least one method (or leave the key out for GET)";
                return Err(problem(format!("{key}.methods"), message));
            }
            check_no_repeats(&route.methods, &format!("{key}.methods"))?;
            for (j, method) in route.methods.iter().enumerate() {
                if let Some(other) = served.insert((&route.path, *method), i) {
                    let message = format!("routes[{other}] already serves {method} {}", route.path);
                    return Err(problem(format!("{key}.methods[{j}]"), message));
                }
            }
        }
        Ok(())
    }

    fn check_jobs(&self) -> Checked {
        check_unique_names("jobs", self.jobs.iter().map(|j| &j.name))?;
        for (i, job) in self.jobs.iter().enumerate() {
            job.cron()
                .map_err(|m| problem(format!("jobs[{i}].schedule"), m))?;
        }
        Ok(())
    }

    fn check_panels(&self) -> Checked {
        check_unique_names("panels", self.panels.iter().map(|p| &p.name))?;
        for (i, panel) in self.panels.iter().enumerate() {
            let key = format!("panels[{i}]");
            check_text(&format!("{key}.title"), &panel.title, MAX_NAME_CHARS)?;
            if let PanelLocation::Record(entity) = &panel.location {
                self.check_readable(entity, &format!("{key}.location"), "a record panel")?;
            }
            check_template_path(&panel.template)
                .map_err(|m| problem(format!("{key}.template"), m))?;
        }
        Ok(())
    }

    fn check_actions(&self) -> Checked {
        check_unique_names("actions", self.actions.iter().map(|a| &a.name))?;
        for (i, action) in self.actions.iter().enumerate() {
            let key = format!("actions[{i}]");
            check_text(&format!("{key}.title"), &action.title, MAX_NAME_CHARS)?;
            if let Some(description) = &action.description {
                check_length(
                    &format!("{key}.description"),
                    description,
                    MAX_DESCRIPTION_CHARS,
                )?;
            }
            if let Some(entity) = &action.entity {
                let entity_key = format!("{key}.entity");
                check_identifier(entity).map_err(|m| problem(&entity_key, m))?;
                self.check_readable(entity, &entity_key, "an action")?;
            }
            if (!action.fields.is_empty() || action.when.is_some() || action.prefill)
                && action.entity.is_none()
            {
                return Err(problem(
                    format!("{key}.entity"),
                    "`fields`, `when` and `prefill` are for actions on a record: name its entity",
                ));
            }
            check_field_list(&action.fields, &format!("{key}.fields"))?;
            for (j, field) in action.fields.iter().enumerate() {
                let target_key = format!("{key}.fields[{j}].target");
                match (&field.target, field.kind) {
                    (Some(target), _) => self.check_readable(target, &target_key, "a field")?,
                    (None, FieldKind::Reference) => {
                        return Err(problem(target_key, "a reference field needs a `target`"));
                    }
                    (None, _) => {}
                }
            }
            if let Some(when) = &action.when {
                crate::records::query::parse_filter(when)
                    .map_err(|e| problem(format!("{key}.when"), e.to_string()))?;
            }
        }
        Ok(())
    }

    fn check_settings(&self) -> Checked {
        check_unique_names("settings", self.settings.iter().map(|s| &s.name))?;
        for (i, setting) in self.settings.iter().enumerate() {
            let key = format!("settings[{i}]");
            if let Some(label) = &setting.label {
                check_text(&format!("{key}.label"), label, MAX_NAME_CHARS)?;
            }
            if setting.secret && setting.default.is_some() {
                return Err(problem(
                    format!("{key}.default"),
                    "a secret setting cannot have a default: the manifest is public",
                ));
            }
        }
        Ok(())
    }

    fn check_readable(&self, entity: &str, key: &str, what: &str) -> Checked {
        if self.may_read(entity) {
            Ok(())
        } else {
            Err(problem(
                key,
                format!(
                    "{what} on `{entity}` needs `{entity}` (or \"*\") in permissions.read, \
                     or an [[entities]] entry declaring it"
                ),
            ))
        }
    }
}

impl Permissions {
    /// Whether everything asked here is within `granted`: each entity type is granted by name
    /// or by `"*"`, each host by the same entry or by the host without a port.
    pub fn is_covered_by(&self, granted: &Permissions) -> bool {
        self.missing_from(granted).is_empty()
    }

    /// Whether `http` allows calling `host` (as in a URL: any case, IPv6 with or without
    /// brackets) on `port`; an entry without a port allows any.
    pub fn may_call_host(&self, host: &str, port: u16) -> bool {
        let Some(host) = HostName::from_request(host) else {
            return false;
        };
        (self.http.iter())
            .filter_map(|entry| parse_http_target(entry).ok())
            .any(|target| target.host == host && target.port.is_none_or(|p| p == port))
    }

    /// What is asked here and not within `granted`, as `read: contact`, `write: *`,
    /// `http: api.example.com:443`.
    pub fn missing_from(&self, granted: &Permissions) -> Vec<String> {
        let read = self.read.iter().filter(|e| !grants(&granted.read, e));
        let write = self.write.iter().filter(|e| !grants(&granted.write, e));
        let http = (self.http.iter())
            .filter(|wanted| !granted.http.iter().any(|g| http_covers(g, wanted)));
        let mail = (self.mail > granted.mail).then(|| format!("mail: {} an hour", self.mail));
        (read.map(|e| format!("read: {e}")))
            .chain(write.map(|e| format!("write: {e}")))
            .chain(http.map(|h| format!("http: {h}")))
            .chain(mail)
            .collect()
    }
}

fn grants(list: &[String], entity: &str) -> bool {
    list.iter()
        .any(|granted| granted == "*" || granted == entity)
}

fn http_covers(granted: &str, wanted: &str) -> bool {
    if granted == wanted {
        return true;
    }
    match (parse_http_target(granted), parse_http_target(wanted)) {
        (Ok(granted), Ok(wanted)) => {
            granted.host == wanted.host && granted.port.is_none_or(|p| Some(p) == wanted.port)
        }
        _ => false,
    }
}

fn normalise_entities(names: impl Iterator<Item = String>) -> Vec<String> {
    let names: BTreeSet<String> = names.collect();
    if names.contains("*") {
        vec!["*".to_owned()]
    } else {
        names.into_iter().collect()
    }
}

fn normalise_hosts(entries: &[String]) -> Vec<String> {
    let targets: Vec<HttpTarget> = entries
        .iter()
        .filter_map(|e| parse_http_target(e).ok())
        .collect();
    let any_port: HashSet<&HostName> = targets
        .iter()
        .filter(|t| t.port.is_none())
        .map(|t| &t.host)
        .collect();
    let kept: BTreeSet<String> = targets
        .iter()
        .filter(|t| t.port.is_none() || !any_port.contains(&t.host))
        .map(|t| t.to_string())
        .collect();
    kept.into_iter().collect()
}

/// Whether a plugin written against API `version` runs on this host (see `API_VERSION`).
pub fn api_compatible(version: &str) -> bool {
    check_api_version(version).is_ok()
}

/// Checks that `version` is a semantic version compatible with `API_VERSION`.
pub fn check_api_version(version: &str) -> Result<(), String> {
    let parsed = Version::parse(version)
        .map_err(|e| format!("`{version}` is not a semantic version like 1.2.3: {e}"))?;
    let runs = |supported: &&str| {
        Version::parse(supported).is_ok_and(|s| {
            s.major == parsed.major && s.minor == parsed.minor && parsed.patch <= s.patch
        })
    };
    if super::versions::SUPPORTED.iter().any(runs) {
        Ok(())
    } else {
        Err(format!(
            "the plugin needs API {version}; this host runs {} (major and minor must be \
             equal to one of them, the patch at most its patch): rebuild the plugin with a \
             newer plugin-sdk",
            super::versions::SUPPORTED.join(", ")
        ))
    }
}

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week, UTC).
pub fn parse_schedule(schedule: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|e| {
            format!(
                "`{}` is not a 5-field cron schedule (minute hour day month weekday): {e}",
                schedule.chars().take(80).collect::<String>()
            )
        })
}

/// Checks a route path: `/`, `/a/b.json`, or a prefix `/a/*`; segments of `[a-z0-9_.-]`.
pub fn check_route_path(path: &str) -> Result<(), String> {
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(format!(
            "a route path is at most {MAX_PATH_CHARS} characters"
        ));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("`{path}` must start with `/`"));
    };
    let rest = match rest.strip_suffix('*') {
        Some("") => return Ok(()),
        Some(before) => match before.strip_suffix('/') {
            Some(before) => before,
            None => return Err("a wildcard is only allowed as a last segment `/*`".to_owned()),
        },
        None => rest,
    };
    if rest.is_empty() {
        return Ok(());
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(format!("`{path}` has an empty segment"));
        }
        if segment.contains('*') {
            return Err("a wildcard is only allowed as a last segment `/*`".to_owned());
        }
        if segment == "." || segment == ".." {
            return Err(format!("`{path}` has a `{segment}` segment"));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-'))
        {
            return Err(format!(
                "`{c}` is not allowed in a route path: use lowercase letters, digits, `_`, \
                 `.` and `-`"
            ));
        }
    }
    Ok(())
}

/// Checks a template's name, relative to the package's `templates/` (`panels/deal.html`).
pub fn check_template_path(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a template name cannot be empty".to_owned());
    }
    if name.chars().count() > MAX_PATH_CHARS {
        return Err(format!(
            "a template name is at most {MAX_PATH_CHARS} characters"
        ));
    }
    if name.starts_with('/') {
        return Err(format!(
            "`{name}` must be relative to templates/ (no leading `/`)"
        ));
    }
    if name.contains('\\') {
        return Err(format!("`{name}` must separate folders with `/`"));
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(format!("`{name}` has an empty path segment")),
            "." | ".." => return Err(format!("`{name}` must not contain `{segment}`")),
            _ => {}
        }
    }
    if name.chars().any(char::is_control) {
        return Err("a template name cannot hold control characters".to_owned());
    }
    Ok(())
}

/// A host the plugin may call, as written in `permissions.http`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HttpTarget {
    host: HostName,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HostName {
    Dns(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl HostName {
    /// The host a plugin asks to connect to (from a URL: any case, IPv6 with or without
    /// brackets, a trailing dot).
    fn from_request(host: &str) -> Option<HostName> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host);
        if let Ok(v6) = bare.parse::<Ipv6Addr>() {
            return Some(HostName::V6(v6));
        }
        if let Ok(v4) = bare.parse::<Ipv4Addr>() {
            return Some(HostName::V4(v4));
        }
        check_dns_name(bare)
            .ok()
            .map(|()| HostName::Dns(bare.to_owned()))
    }
}

impl fmt::Display for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostName::Dns(name) => f.write_str(name)?,
            HostName::V4(addr) => write!(f, "{addr}")?,
            HostName::V6(addr) => write!(f, "[{addr}]")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// Parses a `permissions.http` entry: `host` or `host:port`, the host a lowercase DNS name,
/// an IPv4 address or a bracketed IPv6 address.
fn parse_http_target(entry: &str) -> Result<HttpTarget, String> {
    let shown: String = entry.chars().take(80).collect();
    if entry.contains("://") {
        return Err(format!(
            "`{shown}` has a scheme: write the host alone, like `api.example.com`"
        ));
    }
    if entry.contains('/') {
        return Err(format!(
            "`{shown}` has a path: write the host alone, like `api.example.com`"
        ));
    }
    if entry.contains('*') {
        return Err(format!("`{shown}` has a wildcard: list each host by name"));
    }
    if entry.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("`{shown}` must be lowercase"));
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(format!("`{shown}` opens `[` without closing it"));
        };
        let v6 = inside
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("`{inside}` is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(format!("`{shown}` has text after `]`: use `[addr]:port`")),
            },
        };
        (HostName::V6(v6), port)
    } else {
        if entry.matches(':').count() > 1 {
            return Err(format!(
                "`{shown}` looks like an IPv6 address: write it in brackets, like `[::1]:8080`"
            ));
        }
        let (host, port) = match entry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        };
        let host = match host.parse::<Ipv4Addr>() {
            Ok(v4) => HostName::V4(v4),
            Err(_) => {
                check_dns_name(host)?;
                HostName::Dns(host.to_owned())
            }
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 && text.chars().all(|c| c.is_ascii_digit()) => Some(port),
            _ => return Err(format!("`{text}` is not a port number (1 to 65535)")),
        },
    };
    Ok(HttpTarget { host, port })
}

/// Checks a lowercase DNS name: dot-separated labels of `[a-z0-9-]`, 1 to 63 characters, not
/// starting or ending with `-`, at most 253 in all; the last label is not all digits (that
/// would be a malformed IPv4 address).
fn check_dns_name(name: &str) -> Result<(), String> {
    let shown: String = name.chars().take(80).collect();
    if name.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if name.len() > 253 {
        return Err(format!("`{shown}` is longer than 253 characters"));
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(format!(
                "`{shown}` is not a host name: use a lowercase DNS name, an IPv4 address or \
                 an IPv6 address in brackets"
            ));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("`{shown}` is not a valid IPv4 address"));
    }
    Ok(())
}

fn check_text(key: &str, value: &str, max: usize) -> Checked {
    if value.trim().is_empty() {
        return Err(problem(key, "cannot be empty"));
    }
    check_length(key, value, max)
}

fn check_length(key: &str, value: &str, max: usize) -> Checked {
    if value.chars().count() > max {
        Err(problem(key, format!("is longer than {max} characters")))
    } else {
        Ok(())
    }
}

fn check_field_list(fields: &[FieldSpec], key: &str) -> Checked {
    for (j, field) in fields.iter().enumerate() {
        if field.source.is_some() {
            return Err(problem(format!("{key}[{j}].source"), HOST_SET));
        }
        let field_key = format!("{key}[{j}].name");
        check_identifier(&field.name).map_err(|m| problem(&field_key, m))?;
        if fields[..j].iter().any(|f| f.name == field.name) {
            return Err(problem(
                field_key,
                format!("the field `{}` is declared twice", field.name),
            ));
        }
    }
    Ok(())
}

/// Refuses a list holding an item twice, at the second one.
fn check_no_repeats<T: PartialEq + fmt::Display>(items: &[T], key: &str) -> Checked {
    match (0..items.len()).find(|&j| items[..j].contains(&items[j])) {
        Some(j) => Err(problem(
            format!("{key}[{j}]"),
            format!("`{}` is listed twice", items[j]),
        )),
        None => Ok(()),
    }
}

fn check_unique_names<'a>(list: &str, names: impl Iterator<Item = &'a String>) -> Checked {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        let key = format!("{list}[{i}].name");
        check_identifier(name).map_err(|m| problem(&key, m))?;
        if let Some(other) = seen.insert(name, i) {
            return Err(problem(
                key,
                format!("`{name}` is already used by {list}[{other}]"),
            ));
        }
    }
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

type Node<'i> = toml::Spanned<DeValue<'i>>;

/// One step of a key path.
enum Step<'k> {
    Key(&'k str),
    Index(usize),
}

/// Splits `hooks[1].operations[0]` into its steps.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut indexes) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        steps.push(Step::Key(key));
        while let Some(rest) = indexes.strip_prefix('[') {
            let Some((index, after)) = rest.split_once(']') else {
                break;
            };
            if let Ok(index) = index.parse() {
                steps.push(Step::Index(index));
            }
            indexes = after;
        }
    }
    steps
}

fn entry<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Node<'i>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(_, v)| v)
}

/// Where the value at `path` starts (or the nearest enclosing value that is written).
fn offset_of(root: &DeTable<'_>, path: &str) -> Option<usize> {
    let mut found: Option<usize> = None;
    let mut node: Option<&Node<'_>> = None;
    for step in steps(path) {
        let next = match (step, node) {
            (Step::Key(key), None) => entry(root, key),
            (Step::Key(key), Some(n)) => n.get_ref().as_table().and_then(|t| entry(t, key)),
            (Step::Index(i), Some(n)) => n.get_ref().as_array().and_then(|a| a.get(i)),
            (Step::Index(_), None) => None,
        };
        match next {
            Some(next) => {
                found = Some(next.span().start);
                node = Some(next);
            }
            None => break,
        }
    }
    found
}

/// The dotted path of the key or value at `span`, where deserialization errors point (an
/// unknown key, a value of the wrong type, the table that misses a key); the deepest wins.
fn key_at(table: &DeTable<'_>, prefix: &str, span: &Range<usize>) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let path = match prefix {
            "" => key.get_ref().to_string(),
            _ => format!("{prefix}.{}", key.get_ref()),
        };
        if key.span() == *span {
            return Some(path);
        }
        value_key_at(value, path, span)
    })
}

fn value_key_at(value: &Node<'_>, path: String, span: &Range<usize>) -> Option<String> {
    let inner = match value.get_ref() {
        DeValue::Table(table) => key_at(table, &path, span),
        DeValue::Array(array) => (array.iter().enumerate())
            .find_map(|(i, item)| value_key_at(item, format!("{path}[{i}]"), span)),
        _ => None,
    };
    inner.or_else(|| (value.span() == *span).then_some(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FULL: &str = r#"
id = "hello"
name = "Hello"
version = "0.1.0"
api_version = "0.3.0"
description = "Says hello."

[permissions]
read = ["contact"]
write = ["contact"]
http = ["127.0.0.1:9000", "api.example.com", "[::1]:8080"]

[[entities]]
name = "widget"
plural = "widgets"
fields = [ { name = "name", type = "text", required = true } ]

[[fields.contact]]
name = "score"
type = "integer"

[[hooks]]
entity = "contact"
operations = ["create", "update"]
fields = ["email"]

[[hooks]]
entity = "widget"

[[routes]]
path = "/hello"
methods = ["GET"]

[[routes]]
path = "/kv/*"
methods = ["GET", "PUT", "DELETE"]

[[jobs]]
name = "recount"
schedule = "*/5 * * * *"

[[panels]]
name = "summary"
title = "Summary"
location = "record:contact"
template = "summary.html"

[[panels]]
name = "overview"
title = "Overview"
location = "dashboard"
template = "panels/overview.html"

[[actions]]
name = "tag"
title = "Tag contact"
description = "Adds a tag."
entity = "contact"

[[settings]]
name = "greeting"
label = "Greeting"
default = "hello"
secret = false
required = false

[[settings]]
name = "api_key"
secret = true
required = true
"#;

    const MINIMAL: &str = r#"
id = "hello"
name = "Hello"
version = "0.1.0"
api_version = "0.3.0"
"#;

    fn full() -> Manifest {
        Manifest::parse(FULL).unwrap_or_else(|e| panic!("{e}"))
    }

    /// MINIMAL followed by `extra`, parsed.
    fn with(extra: &str) -> Manifest {
        Manifest::parse(&format!("{MINIMAL}{extra}")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The error of MINIMAL followed by `extra`.
    fn error_of(extra: &str) -> ManifestError {
        Manifest::parse(&format!("{MINIMAL}{extra}")).unwrap_err()
    }

    /// Checks refusals written as TOML lines (added to MINIMAL), each case followed by a line
    /// `=> KEY: WORDS`: the case is refused at KEY with a message holding WORDS.
    fn refused(cases: &str) {
        let mut toml = String::new();
        for line in cases.lines() {
            let Some(expected) = line.trim().strip_prefix("=> ") else {
                toml.push_str(line);
                toml.push('\n');
                continue;
            };
            let (key, words) = expected.split_once(": ").unwrap();
            let error = error_of(&toml);
            assert_eq!(error.key.as_deref(), Some(key), "{toml}{error}");
            assert!(error.message.contains(words), "{toml}{error}");
            toml.clear();
        }
    }

    /// One test per rule, each a list of cases for `refused`.
    macro_rules! refusals {
        ($($name:ident: $cases:literal)*) => {
            $(#[test] fn $name() { refused($cases) })*
        };
    }

    refusals! {
        unknown_keys_are_refused_at_any_depth: r#"
            colour = "red"
            => colour: unknown field `colour`
            hooks = [{ operations = ["create"] }]
            => hooks[0]: missing field `entity`
            permissions.exec = []
            => permissions.exec: unknown field `exec`
            entities = [{ name = "w", plural = "ws", fields = [{ name = "a", type = "text", requird = true }] }]
            => entities[0].fields[0].requird: unknown field `requird`
        "#

        invalid_permission_entity_is_refused: r#"
            permissions.read = ["contact", "Deals"]
            => permissions.read[1]: not a valid name
            permissions.write = [""]
            => permissions.write[0]: not a valid name
        "#

        http_host_with_scheme_path_or_wildcard_is_refused: r#"
            permissions.http = ["https://api.example.com"]
            => permissions.http[0]: has a scheme
            permissions.http = ["api.example.com/v1"]
            => permissions.http[0]: has a path
            permissions.http = ["*.example.com"]
            => permissions.http[0]: has a wildcard
            permissions.http = ["ok.example.com", "Api.example.com"]
            => permissions.http[1]: must be lowercase
        "#

        http_host_that_is_not_a_name_or_address_is_refused: r#"
            permissions.http = ["::1"]
            => permissions.http[0]: write it in brackets
            permissions.http = ["[::g]"]
            => permissions.http[0]: not an IPv6 address
            permissions.http = ["[::1]x"]
            => permissions.http[0]: has text after `]`
            permissions.http = ["999.1.1.1"]
            => permissions.http[0]: not a valid IPv4 address
            permissions.http = ["under_score.example.com"]
            => permissions.http[0]: not a host name
            permissions.http = ["-bad.example.com"]
            => permissions.http[0]: not a host name
            permissions.http = ["a..b"]
            => permissions.http[0]: not a host name
            permissions.http = [""]
            => permissions.http[0]: the host is empty
        "#

        http_host_with_a_bad_port_is_refused: r#"
            permissions.http = ["api.example.com:0"]
            => permissions.http[0]: `0` is not a port number
            permissions.http = ["api.example.com:70000"]
            => permissions.http[0]: `70000` is not a port number
            permissions.http = ["api.example.com:+80"]
            => permissions.http[0]: `+80` is not a port number
        "#

        entity_with_invalid_name_or_plural_is_refused: r#"
            entities = [{ name = "Widget", plural = "widgets" }]
            => entities[0].name: not a valid name
            entities = [{ name = "widget", plural = "wid gets" }]
            => entities[0].plural: not a valid name
        "#

        entity_whose_plural_equals_its_name_is_refused: r#"
            entities = [{ name = "sheep", plural = "sheep" }]
            => entities[0].plural: must differ from `name`
        "#

        entity_declared_twice_is_refused: r#"
            entities = [{ name = "widget", plural = "widgets" }, { name = "widget", plural = "x" }]
            => entities[1].name: `widget` is already used by entities[0]
            entities = [{ name = "widget", plural = "widgets" }, { name = "x", plural = "widgets" }]
            => entities[1].plural: `widgets` is already used by entities[0]
            entities = [{ name = "widget", plural = "widgets" }, { name = "widgets", plural = "x" }]
            => entities[1].name: `widgets` is already used by entities[0]
        "#

        entity_field_with_invalid_name_or_kind_is_refused: r#"
            entities = [{ name = "w", plural = "ws", fields = [{ name = "A b", type = "text" }] }]
            => entities[0].fields[0].name: not a valid name
            entities = [{ name = "w", plural = "ws", fields = [{ name = "a", type = "txt" }] }]
            => entities[0].fields[0].type: unknown variant `txt`
        "#

        entity_index_over_unknown_repeated_or_unindexable_keys_is_refused: r#"
            entities = [{ name = "w", plural = "ws", fields = [{ name = "a", type = "text" }], indexes = [["a", "b"]] }]
            => entities[0].indexes[0]: `b` is neither a field of the type nor `owner`
            entities = [{ name = "w", plural = "ws", fields = [{ name = "a", type = "text" }], indexes = [["a"], ["owner", "a", "owner"]] }]
            => entities[0].indexes[1]: `owner` is listed twice
            entities = [{ name = "w", plural = "ws", fields = [{ name = "j", type = "json" }], indexes = [["j"]] }]
            => entities[0].indexes[0]: `j` cannot be indexed
            entities = [{ name = "w", plural = "ws", indexes = [[]] }]
            => entities[0].indexes[0]: an index has 1 to 8 keys
            entities = [{ name = "w", plural = "ws", indexes = [["owner"], ["owner"], ["owner"], ["owner"], ["owner"]] }]
            => entities[0].indexes: at most 4 indexes per type
        "#

        keys_only_the_host_sets_are_refused: r#"
            entities = [{ name = "w", plural = "ws", source = "plugin:other" }]
            => entities[0].source: is set by the host
            entities = [{ name = "w", plural = "ws", fields = [{ name = "a", type = "text", source = "builtin" }] }]
            => entities[0].fields[0].source: is set by the host
            fields.contact = [{ name = "a", type = "text", source = "plugin:other" }]
            => fields.contact[0].source: is set by the host
        "#

        added_field_with_invalid_name_is_refused: r#"
            fields.contact = [{ name = "Score", type = "integer" }]
            => fields.contact[0].name: not a valid name
        "#

        added_field_declared_twice_is_refused: r#"
            fields.contact = [{ name = "score", type = "integer" }, { name = "score", type = "text" }]
            => fields.contact[1].name: the field `score` is declared twice
        "#

        added_fields_on_an_invalid_type_name_are_refused: r#"
            fields.Contact = [{ name = "score", type = "integer" }]
            => fields.Contact: not a valid name
        "#

        added_fields_on_an_own_entity_are_refused: r#"
            entities = [{ name = "widget", plural = "widgets" }]
            fields.widget = [{ name = "score", type = "integer" }]
            => fields.widget: `widget` is declared by this plugin
        "#

        hook_with_bad_entity_or_operations_is_refused: r#"
            permissions.read = ["*"]
            hooks = [{ entity = "Deal" }]
            => hooks[0].entity: not a valid name
            permissions.read = ["*"]
            hooks = [{ entity = "contact", operations = ["create", "upsert"] }]
            => hooks[0].operations[1]: unknown variant `upsert`
            permissions.read = ["*"]
            hooks = [{ entity = "contact", operations = ["create", "create"] }]
            => hooks[0].operations[1]: `create` is listed twice
            permissions.read = ["*"]
            hooks = [{ entity = "contact", operations = [] }]
            => hooks[0].operations: list at least one
        "#

        hook_with_bad_phases_is_refused: r#"
            permissions.read = ["*"]
            hooks = [{ entity = "contact", phases = ["before-save"] }]
            => hooks[0].phases[0]: unknown variant `before-save`
            permissions.read = ["*"]
            hooks = [{ entity = "contact", phases = [] }]
            => hooks[0].phases: list at least one
            permissions.read = ["*"]
            hooks = [{ entity = "contact", phases = ["after_save", "after_save"] }]
            => hooks[0].phases[1]: `after_save` is listed twice
            permissions.read = ["*"]
            hooks = [{ entity = "contact", phases = ["after_save"] }, { entity = "contact" }]
            => hooks[1].operations[0]: hooks[0] already hooks `create` on `contact` (after_save)
        "#

        hook_references_are_checked: r#"
            permissions.read = ["contact"]
            hooks = [{ entity = "contact", references = ["Company"] }]
            => hooks[0].references[0]: not a valid name
            permissions.read = ["contact"]
            hooks = [{ entity = "contact", references = ["company", "company"] }]
            => hooks[0].references[1]: `company` is listed twice
            permissions.read = ["contact"]
            hooks = [{ entity = "contact", phases = ["after_save"], references = ["company"] }]
            => hooks[0].references: the referenced records go to before-save
            entities = [{ name = "widget", plural = "widgets", fields = [{ name = "size", type = "integer" }] }]
            hooks = [{ entity = "widget", references = ["owner_company"] }]
            => hooks[0].references[0]: `widget` has no field `owner_company`
            entities = [{ name = "widget", plural = "widgets", fields = [{ name = "size", type = "integer" }] }]
            hooks = [{ entity = "widget", references = ["size"] }]
            => hooks[0].references[0]: `size` is not a reference field (its type is `integer`)
            entities = [{ name = "widget", plural = "widgets", fields = [{ name = "maker", type = "reference", target = "company" }] }]
            hooks = [{ entity = "widget", references = ["maker"] }]
            => hooks[0].references[0]: a hook's references on `company` needs `company`
            permissions.read = ["contact"]
            fields.contact = [{ name = "maker", type = "reference", target = "company" }]
            hooks = [{ entity = "contact", references = ["maker"] }]
            => hooks[0].references[0]: a hook's references on `company` needs `company`
        "#

        overlapping_hooks_are_refused: r#"
            permissions.read = ["contact"]
            hooks = [{ entity = "contact", operations = ["update"] }, { entity = "contact" }]
            => hooks[1].operations[1]: hooks[0] already hooks `update` on `contact`
        "#

        hook_fields_are_checked: r#"
            permissions.read = ["contact"]
            hooks = [{ entity = "contact", fields = ["Email"] }]
            => hooks[0].fields[0]: not a valid name
            permissions.read = ["contact"]
            hooks = [{ entity = "contact", fields = ["email", "x", "email"] }]
            => hooks[0].fields[2]: `email` is listed twice
        "#

        hook_field_missing_from_own_entity_is_refused: r#"
            entities = [{ name = "w", plural = "ws", fields = [{ name = "a", type = "text" }] }]
            hooks = [{ entity = "w", fields = ["a", "b"] }]
            => hooks[0].fields[1]: `w` has no field `b`
        "#

        route_path_rules_are_enforced: r#"
            routes = [{ path = "hello" }]
            => routes[0].path: must start with `/`
            routes = [{ path = "/Hello" }]
            => routes[0].path: `H` is not allowed
            routes = [{ path = "/a b" }]
            => routes[0].path: ` ` is not allowed
            routes = [{ path = "/a?x=1" }]
            => routes[0].path: `?` is not allowed
            routes = [{ path = "/a//b" }]
            => routes[0].path: empty segment
            routes = [{ path = "/a/" }]
            => routes[0].path: empty segment
            routes = [{ path = "/a/../b" }]
            => routes[0].path: `..` segment
            routes = [{ path = "/a*" }]
            => routes[0].path: only allowed as a last segment
            routes = [{ path = "/*/a" }]
            => routes[0].path: only allowed as a last segment
        "#

        route_method_rules_are_enforced: r#"
            routes = [{ path = "/a", methods = ["get"] }]
            => routes[0].methods[0]: unknown variant `get`
            routes = [{ path = "/a", methods = ["POST", "POST"] }]
            => routes[0].methods[1]: `POST` is listed twice
            routes = [{ path = "/a", methods = [] }]
            => routes[0].methods: list at least one method
        "#

        duplicate_route_is_refused: r#"
            routes = [{ path = "/a", methods = ["GET", "POST"] }, { path = "/a", methods = ["POST"] }]
            => routes[1].methods[0]: routes[0] already serves POST /a
        "#

        job_with_invalid_schedule_is_refused: r#"
            jobs = [{ name = "recount", schedule = "*/5 * * *" }]
            => jobs[0].schedule: not a 5-field cron schedule
            jobs = [{ name = "recount", schedule = "0 */5 * * * *" }]
            => jobs[0].schedule: not a 5-field cron schedule
            jobs = [{ name = "recount", schedule = "61 * * * *" }]
            => jobs[0].schedule: not a 5-field cron schedule
            jobs = [{ name = "recount", schedule = "every minute" }]
            => jobs[0].schedule: not a 5-field cron schedule
        "#

        duplicate_or_invalid_job_name_is_refused: r#"
            jobs = [{ name = "a", schedule = "* * * * *" }, { name = "a", schedule = "0 * * * *" }]
            => jobs[1].name: `a` is already used by jobs[0]
            jobs = [{ name = "A", schedule = "* * * * *" }]
            => jobs[0].name: not a valid name
        "#

        panel_with_unknown_location_is_refused: r#"
            panels = [{ name = "p", title = "P", location = "sidebar", template = "p.html" }]
            => panels[0].location: `sidebar` is not a panel location
            panels = [{ name = "p", title = "P", location = "record:", template = "p.html" }]
            => panels[0].location: not a valid name
        "#

        record_panel_on_ungranted_entity_is_refused: r#"
            panels = [{ name = "p", title = "P", location = "record:deal", template = "p.html" }]
            => panels[0].location: a record panel on `deal` needs `deal`
        "#

        panel_with_escaping_template_path_is_refused: r#"
            panels = [{ name = "p", title = "P", location = "dashboard", template = "../x.html" }]
            => panels[0].template: must not contain `..`
            panels = [{ name = "p", title = "P", location = "dashboard", template = "/etc/passwd" }]
            => panels[0].template: no leading `/`
            panels = [{ name = "p", title = "P", location = "dashboard", template = "a//b.html" }]
            => panels[0].template: empty path segment
            panels = [{ name = "p", title = "P", location = "dashboard", template = 'a\b.html' }]
            => panels[0].template: separate folders with `/`
            panels = [{ name = "p", title = "P", location = "dashboard", template = "" }]
            => panels[0].template: cannot be empty
        "#

        panel_names_and_titles_are_checked: r#"
            panels = [{ name = "p", title = "P", location = "dashboard", template = "p.html" },
                      { name = "p", title = "Q", location = "dashboard", template = "q.html" }]
            => panels[1].name: `p` is already used by panels[0]
            panels = [{ name = "p", title = "", location = "dashboard", template = "p.html" }]
            => panels[0].title: cannot be empty
        "#

        action_rules_are_enforced: r#"
            actions = [{ name = "tag", title = "Tag" }, { name = "tag", title = "T" }]
            => actions[1].name: `tag` is already used by actions[0]
            actions = [{ name = "tag", title = " " }]
            => actions[0].title: cannot be empty
            actions = [{ name = "tag", title = "Tag", entity = "contact" }]
            => actions[0].entity: an action on `contact` needs `contact`
            actions = [{ name = "tag", title = "Tag", entity = "Contact" }]
            => actions[0].entity: not a valid name
        "#

        setting_rules_are_enforced: r#"
            settings = [{ name = "a" }, { name = "a" }]
            => settings[1].name: `a` is already used by settings[0]
            settings = [{ name = "api-key" }]
            => settings[0].name: not a valid name
            settings = [{ name = "key", secret = true, default = "abc" }]
            => settings[0].default: a secret setting cannot have a default
            settings = [{ name = "a", label = "" }]
            => settings[0].label: cannot be empty
            settings = [{ name = "a", default = 3 }]
            => settings[0].default: invalid type
        "#
    }

    #[test]
    fn the_newest_api_version_is_the_first_supported_and_older_ones_still_run() {
        assert_eq!(super::super::versions::SUPPORTED[0], API_VERSION);
        for (version, runs) in [
            ("0.4.1", true),
            ("0.4.0", true),
            ("0.3.0", true),
            ("0.4.2", false),
            ("0.2.0", false),
            ("1.4.0", false),
            ("0.5.0", false),
        ] {
            assert_eq!(api_compatible(version), runs, "{version}");
        }
    }

    #[test]
    fn full_manifest_parses() {
        let m = full();
        assert_eq!((m.id.as_str(), m.version.as_str()), ("hello", "0.1.0"));
        assert_eq!(m.entities[0].fields[0].name, "name");
        assert_eq!(m.fields["contact"][0].name, "score");
        assert_eq!(
            m.hooks[0].operations,
            [HookOperation::Create, HookOperation::Update]
        );
        assert_eq!(m.hooks[1].operations, HookOperation::ALL);
        assert_eq!(
            m.panels[0].location,
            PanelLocation::Record("contact".to_owned())
        );
        assert_eq!(m.panels[1].location, PanelLocation::Dashboard);
        assert!(m.settings[1].secret && m.settings[1].required && !m.settings[0].secret);
        let m = with("");
        assert_eq!(m.permissions, Permissions::default());
        assert!(m.entities.is_empty() && m.hooks.is_empty() && m.description.is_none());
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let m = full();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
        assert!(json.contains(r#""location":"record:contact""#), "{json}");
    }

    #[test]
    fn unknown_key_is_reported_with_its_line() {
        let error = error_of("\n[[hooks]]\nentity = \"contact\"\noperation = [\"create\"]\n");
        assert_eq!((error.line, error.column), (Some(9), Some(1)));
        assert_eq!(error.key.as_deref(), Some("hooks[0].operation"));
        assert!(
            error.message.contains("unknown field `operation`"),
            "{error}"
        );
        let expected = format!("plugin.toml:9:1: hooks[0].operation: {}", error.message);
        assert_eq!(error.to_string(), expected);
        let shown = error.in_file("/srv/hello/plugin.toml").to_string();
        assert!(
            shown.starts_with("/srv/hello/plugin.toml:9:1: hooks[0]"),
            "{shown}"
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let error =
            Manifest::parse("id = \"hello\"\nname = \"Hello\nversion = \"1\"\n").unwrap_err();
        assert_eq!((error.line, error.key.as_deref()), (Some(2), None));
        assert!(error.to_string().starts_with("plugin.toml:2:"), "{error}");
    }

    #[test]
    fn wrong_type_is_reported_at_the_value() {
        let error = error_of("[[jobs]]\nname = \"x\"\nschedule = 5\n");
        assert_eq!(error.key.as_deref(), Some("jobs[0].schedule"));
        assert_eq!((error.line, error.column), (Some(8), Some(12)));
        assert!(error.message.contains("invalid type"), "{error}");
    }

    #[test]
    fn missing_key_is_named_without_a_position() {
        let error = Manifest::parse("id = \"a\"\nname = \"A\"\nversion = \"0.1.0\"\n").unwrap_err();
        assert!(
            error.message.contains("missing field `api_version`"),
            "{error}"
        );
        assert_eq!(error.to_string(), format!("plugin.toml: {}", error.message));
    }

    #[test]
    fn invalid_id_is_refused() {
        let error = Manifest::parse(&MINIMAL.replace("\"hello\"", "\"Hello-World\"")).unwrap_err();
        assert_eq!(error.key.as_deref(), Some("id"));
        assert_eq!((error.line, error.column), (Some(2), Some(6)));
        assert!(error.message.contains("not a valid name"), "{error}");
    }

    #[test]
    fn empty_or_long_name_is_refused() {
        for name in ["\"  \"".to_owned(), format!("\"{}\"", "n".repeat(101))] {
            let error = Manifest::parse(&MINIMAL.replace("\"Hello\"", &name)).unwrap_err();
            assert_eq!(error.key.as_deref(), Some("name"), "{error}");
        }
    }

    #[test]
    fn invalid_version_is_refused() {
        let text = MINIMAL.replace("\nversion = \"0.1.0\"", "\nversion = \"1.0\"");
        let error = Manifest::parse(&text).unwrap_err();
        assert_eq!(
            (error.key.as_deref(), error.line),
            (Some("version"), Some(4))
        );
    }

    #[test]
    fn incompatible_api_version_is_refused() {
        for bad in ["0.5.0", "1.3.0", "0.3.1", "0.2.0"] {
            let text = MINIMAL.replace(
                "api_version = \"0.3.0\"",
                &format!("api_version = \"{bad}\""),
            );
            let error = Manifest::parse(&text).unwrap_err();
            assert_eq!(error.key.as_deref(), Some("api_version"), "{error}");
            assert!(
                error.message.contains("this host runs 0.4.1, 0.3.0"),
                "{error}"
            );
        }
        assert!(api_compatible("0.3.0") && api_compatible("0.3.0-rc.1"));
        assert!(!api_compatible("0.3") && api_compatible("0.4.0") && api_compatible("0.4.1"));
    }

    #[test]
    fn long_texts_are_refused() {
        let long = |n| "x".repeat(n);
        refused(&format!(
            "description = \"{}\"\n=> description: longer than 1000",
            long(1001)
        ));
        refused(&format!(
            "actions = [{{ name = \"a\", title = \"A\", description = \"{}\" }}]\n\
             => actions[0].description: longer than 1000",
            long(1001)
        ));
        refused(&format!(
            "routes = [{{ path = \"/{}\" }}]\n=> routes[0].path: at most 200",
            long(200)
        ));
        refused(&format!(
            "panels = [{{ name = \"p\", title = \"P\", location = \"dashboard\", \
             template = \"{}.html\" }}]\n=> panels[0].template: at most 200",
            long(200)
        ));
    }

    #[test]
    fn http_hosts_of_every_form_are_accepted() {
        let m = with(
            r#"permissions.http = ["localhost", "api.example.com:443", "10.0.0.1",
               "[2001:db8::1]:8443", "[::1]", "xn--bcher-kva.example"]"#,
        );
        assert_eq!(m.permissions.http.len(), 6);
    }

    #[test]
    fn entity_field_declared_twice_is_reported_at_its_line() {
        let error = error_of(
            "[[entities]]\nname = \"widget\"\nplural = \"widgets\"\nfields = [\n\
             { name = \"a\", type = \"text\" },\n{ name = \"a\", type = \"integer\" },\n]\n",
        );
        assert_eq!(error.key.as_deref(), Some("entities[0].fields[1].name"));
        assert_eq!(error.line, Some(11));
        assert!(error.message.contains("declared twice"), "{error}");
    }

    #[test]
    fn hook_on_ungranted_entity_is_refused() {
        let error = error_of("[[hooks]]\nentity = \"contact\"\n");
        assert_eq!(error.key.as_deref(), Some("hooks[0].entity"));
        assert_eq!((error.line, error.column), (Some(7), Some(10)));
        assert!(error.message.contains("permissions.read"), "{error}");
        let m = with("permissions.read = [\"*\"]\nhooks = [{ entity = \"deal\" }]");
        assert_eq!(
            m.hooks_for("deal", HookOperation::Delete, HookPhase::AfterSave)
                .count(),
            1
        );
    }

    #[test]
    fn hooks_run_in_the_phases_they_name() {
        let m = with(
            "permissions.read = [\"*\"]\nhooks = [\n\
             { entity = \"deal\", phases = [\"before_save\"] },\n\
             { entity = \"deal\", phases = [\"after_save\"], operations = [\"delete\"] },\n]",
        );
        let count = |op, phase| m.hooks_for("deal", op, phase).count();
        assert_eq!(count(HookOperation::Update, HookPhase::BeforeSave), 1);
        assert_eq!(count(HookOperation::Update, HookPhase::AfterSave), 0);
        assert_eq!(count(HookOperation::Delete, HookPhase::AfterSave), 1);
        assert!(m.hooks_after_save());
        let before_only = with(
            "permissions.read = [\"*\"]\nhooks = [{ entity = \"deal\", phases = [\"before_save\"] }]",
        );
        assert!(!before_only.hooks_after_save());
        assert!(full().hooks_after_save());
    }

    #[test]
    fn hooks_name_the_references_they_get() {
        let m = with(
            "permissions.read = [\"contact\", \"company\"]\n\
             entities = [{ name = \"widget\", plural = \"widgets\", fields = [\n\
               { name = \"maker\", type = \"reference\", target = \"company\" },\n\
               { name = \"buyer\", type = \"reference\" },\n] }]\n\
             hooks = [\n\
               { entity = \"widget\", references = [\"maker\", \"buyer\"] },\n\
               { entity = \"contact\", references = [\"company\"] },\n]",
        );
        let references = |entity| {
            let mut hooks = m.hooks_for(entity, HookOperation::Update, HookPhase::BeforeSave);
            hooks.next().map(|hook| hook.references.clone())
        };
        assert_eq!(
            references("widget"),
            Some(vec!["maker".into(), "buyer".into()])
        );
        // Fields of the host's types are checked when the hook runs.
        assert_eq!(references("contact"), Some(vec!["company".into()]));
        assert!(full().hooks.iter().all(|hook| hook.references.is_empty()));
    }

    #[test]
    fn hooks_for_selects_by_entity_and_operation() {
        let m = full();
        let count = |entity, op| m.hooks_for(entity, op, HookPhase::BeforeSave).count();
        assert_eq!(count("contact", HookOperation::Create), 1);
        assert_eq!(count("contact", HookOperation::Delete), 0);
        assert_eq!(count("widget", HookOperation::Delete), 1);
        assert_eq!(count("company", HookOperation::Create), 0);
    }

    #[test]
    fn accepted_route_paths_and_methods() {
        for path in ["/", "/*", "/a.json", "/v1/items-2_x", "/kv/*"] {
            assert!(check_route_path(path).is_ok(), "{path}");
        }
        let m = with(r#"routes = [{ path = "/a" }, { path = "/a", methods = ["PUT"] }]"#);
        assert_eq!(m.routes[0].methods, [HttpMethod::Get]);
    }

    #[test]
    fn route_matches_exact_and_prefix_paths() {
        let m = full();
        let path = |method, p| m.route(method, p).map(|r| r.path.as_str());
        assert_eq!(path("GET", "/hello"), Some("/hello"));
        assert_eq!(path("POST", "/hello"), None);
        assert_eq!(path("GET", "/hello/x"), None);
        assert_eq!(path("PUT", "/kv/a/b"), Some("/kv/*"));
        assert_eq!(path("GET", "/kv/"), Some("/kv/*"));
        assert_eq!(path("GET", "/kvx"), None);
        assert_eq!(path("GET", "/kv"), None);
        assert_eq!(path("PATCH", "/kv/a"), None);
    }

    #[test]
    fn route_prefers_exact_then_longest_prefix() {
        let m = with(r#"routes = [{ path = "/*" }, { path = "/a/*" }, { path = "/a/b" }]"#);
        let path = |p| m.route("GET", p).map(|r| r.path.as_str());
        assert_eq!(path("/a/b"), Some("/a/b"));
        assert_eq!(path("/a/c"), Some("/a/*"));
        assert_eq!(path("/z"), Some("/*"));
    }

    #[test]
    fn job_schedule_gives_a_cron() {
        assert!(full().jobs[0].cron().is_ok());
        assert!(parse_schedule("@hourly").is_ok() && parse_schedule("0 9 * * MON-FRI").is_ok());
    }

    #[test]
    fn own_entities_are_readable_and_writable() {
        let m = full();
        assert!(m.may_read("widget") && m.may_write("widget"));
        assert!(m.may_read("contact") && m.may_write("contact"));
        assert!(!m.may_read("company") && !m.may_write("company"));
        let star = with("permissions.read = [\"*\"]");
        assert!(star.may_read("anything") && !star.may_write("anything"));
    }

    #[test]
    fn may_call_host_matches_host_and_port() {
        let m = full();
        assert!(m.may_call_host("127.0.0.1", 9000) && !m.may_call_host("127.0.0.1", 9001));
        assert!(m.may_call_host("api.example.com", 443));
        assert!(m.may_call_host("API.Example.com.", 8080));
        assert!(!m.may_call_host("evil.example.com", 443) && !m.may_call_host("example.com", 443));
        assert!(m.may_call_host("[::1]", 8080) && m.may_call_host("0:0::1", 8080));
        assert!(!m.may_call_host("::1", 80) && !m.may_call_host("not a host", 80));
        let any_port = Permissions {
            http: vec!["[::1]".into()],
            ..Permissions::default()
        };
        assert!(any_port.may_call_host("[::1]", 443) && any_port.may_call_host("::1", 80));
    }

    #[test]
    fn permissions_summary_is_normalised() {
        let m = with(
            r#"entities = [{ name = "widget", plural = "widgets" }]
permissions.read = ["deal", "contact", "deal"]
permissions.write = ["*", "deal"]
permissions.http = ["b.example.com:443", "b.example.com", "a.example.com:80", "[0:0::1]:8080"]"#,
        );
        let summary = m.permissions_summary();
        assert_eq!(
            summary.read,
            ["contact", "deal"],
            "its own types are never asked for"
        );
        assert_eq!(summary.write, ["*"]);
        assert_eq!(
            summary.http,
            ["[::1]:8080", "a.example.com:80", "b.example.com"]
        );
    }

    fn permissions(read: &[&str], write: &[&str], http: &[&str]) -> Permissions {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Permissions {
            read: list(read),
            write: list(write),
            http: list(http),
            mail: 0,
        }
    }

    #[test]
    fn permissions_covered_by_same_or_wider_grant() {
        let wanted = permissions(
            &["contact", "widget"],
            &["widget"],
            &["api.example.com:443"],
        );
        let wider = permissions(&["*"], &["deal", "widget"], &["api.example.com"]);
        assert!(wanted.is_covered_by(&wanted) && wanted.is_covered_by(&wider));
        assert!(!wider.is_covered_by(&wanted));
        let missing = wider.missing_from(&wanted);
        assert_eq!(missing, ["read: *", "write: deal", "http: api.example.com"]);
        assert!(Permissions::default().is_covered_by(&Permissions::default()));
        let mailer = Permissions {
            mail: 100,
            ..wanted.clone()
        };
        assert_eq!(mailer.missing_from(&wanted), ["mail: 100 an hour"]);
        assert!(mailer.is_covered_by(&Permissions {
            mail: 500,
            ..wanted.clone()
        }));
    }

    #[test]
    fn permissions_growth_is_not_covered() {
        let granted = full().permissions_summary();
        assert!(full().permissions_summary().is_covered_by(&granted));
        let summary = |text: &str| Manifest::parse(text).unwrap().permissions_summary();
        let more_read = FULL.replace("read = [\"contact\"]", "read = [\"contact\", \"company\"]");
        assert!(!summary(&more_read).is_covered_by(&granted));
        let new_type =
            "[[entities]]\nname = \"gadget\"\nplural = \"gadgets\"\n\n[[fields.contact]]";
        let new_entity = FULL.replace("[[fields.contact]]", new_type);
        assert!(
            summary(&new_entity).is_covered_by(&granted),
            "a new type of its own needs no new grant"
        );
        let other_port = FULL.replace("127.0.0.1:9000", "127.0.0.1:9001");
        assert!(!summary(&other_port).is_covered_by(&granted));
    }

    #[test]
    fn key_paths_locate_nested_values() {
        let document = DeTable::parse(FULL).unwrap();
        let root = document.get_ref();
        let at = |path: &str| offset_of(root, path).map(|offset| line_and_column(FULL, offset));
        assert_eq!(at("id"), Some((2, 6)));
        assert_eq!(at("hooks[1].entity"), Some((28, 10)));
        assert_eq!(at("routes[1].methods[2]"), Some((36, 26)));
        // A key left out points at its table.
        assert_eq!(at("hooks[1].operations"), Some((27, 1)));
        assert_eq!(at("nothing"), None);
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_and_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_and_column("", 0), (1, 1));
        assert_eq!(line_and_column("a", 99), (1, 2));
    }
}
