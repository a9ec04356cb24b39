//! An in-memory host for a plugin's own unit tests, natively (`cargo test`, no WebAssembly, no
//! server). In a native build every import of the SDK goes to the [`TestHost`] installed on
//! the current thread: records, search, kv, settings, log, outbound HTTP and the clock.
//!
//! It enforces what the host enforces of the plugin itself — the grant (`[permissions]` and
//! the plugin's own `[[entities]]`, read from `plugin.toml`), no writes in before-save — and
//! understands the filter language (relative dates aside), sorts, cursors and aggregates. It
//! does not know the workspace's schema: values are stored as given, not validated, and there
//! are no roles (the test acts as a user who may do anything the grant allows). Test those
//! with the plugin installed in a real server.
//!
//! ```no_run
//! use plugin_sdk::prelude::*;
//! use plugin_sdk::testing::TestHost;
//! # struct Hello;
//! # impl Plugin for Hello {}
//!
//! #[test]
//! fn blocked_domains_are_refused() {
//!     let host = TestHost::from_manifest(include_str!("../plugin.toml"))
//!         .with_setting("blocked_domain", "example.com")
//!         .install();
//!     let change = TestHost::create_change("contact", fields([("email", "eve@example.com")]));
//!     let verdicts = Hello::before_save(host.context(), vec![change]).unwrap();
//!     assert!(matches!(verdicts[0], Verdict::Reject(_)));
//! }
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::bindings::kith::plugin::http_out::{Request, Response};
use crate::bindings::kith::plugin::log::Level;
use crate::bindings::kith::plugin::mail::{Outgoing, Queued};
use crate::bindings::kith::plugin::records::{AggregateQuery, Group, Page, Query};
use crate::bindings::kith::plugin::search::Hit;
use crate::filter::Filter;
use crate::{
    Change, Context, Event, Field, FieldChange, HostError, HttpRequest, Money, Operation, Record,
    Value,
};

thread_local! {
    static HOST: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// Runs `f` with the test host of this thread; panics with what to do when none is installed.
pub(crate) fn with_host<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let host = HOST.with(|h| h.borrow().clone()).unwrap_or_else(|| {
        panic!(
            "a plugin import was called natively without a test host: install one with \
             plugin_sdk::testing::TestHost::…install() (imports reach a real host only in \
             WebAssembly)"
        )
    });
    let mut state = host.borrow_mut();
    f(&mut state)
}

/// What the test host holds.
#[derive(Default)]
pub(crate) struct State {
    plugin: String,
    read: Vec<String>,
    write: Vec<String>,
    http: Vec<String>,
    mail: u32,
    own: Vec<String>,
    settings: BTreeMap<String, String>,
    records: BTreeMap<String, Vec<Record>>,
    kv: BTreeMap<String, Vec<u8>>,
    logs: Vec<(Level, String)>,
    responses: Vec<(String, Response)>,
    requests: Vec<Request>,
    sent: Vec<Outgoing>,
    now: i64,
    next_id: u64,
    writes_refused: bool,
}

/// The manifest keys the test host reads.
#[derive(Deserialize)]
struct Manifest {
    id: String,
    #[serde(default)]
    permissions: Permissions,
    #[serde(default)]
    entities: Vec<Named>,
    #[serde(default)]
    settings: Vec<Setting>,
}

#[derive(Deserialize, Default)]
struct Permissions {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    http: Vec<String>,
    #[serde(default)]
    mail: u32,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Setting {
    name: String,
    default: Option<String>,
}

/// A test host being set up; [`TestHost::install`] makes it the current thread's.
pub struct TestHost {
    state: State,
}

/// The installed test host: what the plugin did can be read from it. Dropping it uninstalls
/// it.
pub struct Installed {
    state: Rc<RefCell<State>>,
}

impl TestHost {
    /// A host granting the plugin `plugin.toml`'s permissions, with its settings' defaults.
    pub fn from_manifest(manifest: &str) -> TestHost {
        let manifest: Manifest =
            toml::from_str(manifest).unwrap_or_else(|e| panic!("plugin.toml does not parse: {e}"));
        let settings = (manifest.settings.into_iter())
            .filter_map(|s| Some((s.name, s.default?)))
            .collect();
        TestHost {
            state: State {
                plugin: manifest.id,
                read: manifest.permissions.read,
                write: manifest.permissions.write,
                http: manifest.permissions.http,
                mail: manifest.permissions.mail,
                own: manifest.entities.into_iter().map(|e| e.name).collect(),
                settings,
                now: 1_795_000_000_000_000,
                ..State::default()
            },
        }
    }

    /// Sets a setting, as an admin would.
    pub fn with_setting(mut self, name: &str, value: &str) -> TestHost {
        self.state
            .settings
            .insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the clock (microseconds since the Unix epoch).
    pub fn at(mut self, micros: i64) -> TestHost {
        self.state.now = micros;
        self
    }

    /// Answers outbound requests whose URL starts with `prefix` with `response`.
    pub fn responding(mut self, prefix: &str, response: Response) -> TestHost {
        self.state.responses.push((prefix.to_owned(), response));
        self
    }

    /// Installs the host on the current thread (each test runs on its own thread).
    pub fn install(self) -> Installed {
        let state = Rc::new(RefCell::new(self.state));
        HOST.with(|h| *h.borrow_mut() = Some(state.clone()));
        Installed { state }
    }

    /// A create as before-save receives it.
    pub fn create_change(entity_type: &str, fields: Vec<Field>) -> Change {
        Change {
            operation: Operation::Create,
            entity_type: entity_type.to_owned(),
            id: None,
            changed: fields.iter().map(|f| f.name.clone()).collect(),
            fields,
            old_fields: Vec::new(),
            references: Vec::new(),
        }
    }

    /// An update of `record` setting `patch` (a null clears a field), as before-save receives
    /// it: the fields after, the fields before, the names set.
    pub fn update_change(record: &Record, patch: Vec<Field>) -> Change {
        let mut fields = record.fields.clone();
        for field in &patch {
            fields.retain(|f| f.name != field.name);
            if !field.value.is_null() {
                fields.push(field.clone());
            }
        }
        Change {
            operation: Operation::Update,
            entity_type: record.entity_type.clone(),
            id: Some(record.id.clone()),
            fields,
            old_fields: record.fields.clone(),
            changed: patch.iter().map(|f| f.name.clone()).collect(),
            references: Vec::new(),
        }
    }

    /// A delete of `record`, as before-save receives it.
    pub fn delete_change(record: &Record) -> Change {
        Change {
            operation: Operation::Delete,
            entity_type: record.entity_type.clone(),
            id: Some(record.id.clone()),
            fields: record.fields.clone(),
            old_fields: record.fields.clone(),
            changed: Vec::new(),
            references: Vec::new(),
        }
    }

    /// A request to one of the plugin's routes (`path` may carry a `?query`).
    pub fn request(method: &str, path: &str, body: &[u8]) -> HttpRequest {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }
}

impl Installed {
    /// The context a call of the plugin gets.
    pub fn context(&self) -> Context {
        Context {
            workspace: "test-workspace".to_owned(),
            user: "test-user".to_owned(),
            plugin: self.state.borrow().plugin.clone(),
            plugin_version: "0.0.0".to_owned(),
        }
    }

    /// Stores a record as the test's own data (no grant asked): the plugin may then read it.
    pub fn insert(&self, entity_type: &str, fields: Vec<Field>) -> Record {
        self.state.borrow_mut().store(entity_type, fields)
    }

    /// The records of a type, in creation order.
    pub fn records(&self, entity_type: &str) -> Vec<Record> {
        (self.state.borrow().records.get(entity_type))
            .cloned()
            .unwrap_or_default()
    }

    /// The value stored under a key of the plugin's key-value store.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        self.state.borrow().kv.get(key).cloned()
    }

    /// What the plugin logged.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state.borrow().logs.clone()
    }

    /// The outbound requests the plugin made.
    pub fn requests(&self) -> Vec<Request> {
        self.state.borrow().requests.clone()
    }

    /// The emails the plugin sent (`mail::send`), in order.
    pub fn sent_mail(&self) -> Vec<Outgoing> {
        self.state.borrow().sent.clone()
    }

    /// Refuses writes from now on, as the host does in before-save (on by default off).
    pub fn in_before_save(&self, refused: bool) {
        self.state.borrow_mut().writes_refused = refused;
    }

    /// The event after-save would get for the latest change of `record`: `action` (created,
    /// updated, deleted), and each field set with its value before and after.
    pub fn event(&self, record: &Record, action: &str, before: &[Field]) -> Event {
        let changes = (record.fields.iter())
            .filter(|f| {
                before.iter().find(|b| b.name == f.name).map(|b| &b.value) != Some(&f.value)
            })
            .map(|f| FieldChange {
                name: f.name.clone(),
                old: (before.iter().find(|b| b.name == f.name))
                    .map_or(Value::Null, |b| b.value.clone()),
                new: f.value.clone(),
            })
            .collect::<Vec<_>>();
        let mut state = self.state.borrow_mut();
        state.next_id += 1;
        Event {
            id: i64::try_from(state.next_id).unwrap_or(i64::MAX),
            entity_type: record.entity_type.clone(),
            record_id: record.id.clone(),
            action: action.to_owned(),
            version: record.version,
            changed: changes.iter().map(|c| c.name.clone()).collect(),
            changes,
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        HOST.with(|h| *h.borrow_mut() = None);
    }
}

fn refusal(code: &str, message: impl Into<String>) -> HostError {
    HostError {
        code: code.to_owned(),
        message: message.into(),
        details: Vec::new(),
    }
}

/// The imports, as the test host answers them.
impl State {
    fn may(&self, entity_type: &str, write: bool) -> Result<(), HostError> {
        let list = if write { &self.write } else { &self.read };
        if self.own.iter().any(|t| t == entity_type)
            || list.iter().any(|t| t == "*" || t == entity_type)
        {
            Ok(())
        } else {
            Err(refusal(
                "forbidden",
                format!(
                    "plugin `{}` was not granted {} access to `{entity_type}`",
                    self.plugin,
                    if write { "write" } else { "read" }
                ),
            ))
        }
    }

    fn may_write(&self, entity_type: &str) -> Result<(), HostError> {
        if self.writes_refused {
            return Err(refusal("forbidden", "a before-save call may not write"));
        }
        self.may(entity_type, true)
    }

    fn store(&mut self, entity_type: &str, fields: Vec<Field>) -> Record {
        self.next_id += 1;
        let at = crate::Value::from(
            chrono::DateTime::from_timestamp_micros(self.now).unwrap_or_default(),
        );
        let at = at.as_datetime().unwrap_or_default().to_owned();
        let record = Record {
            id: format!("{entity_type}-{}", self.next_id),
            entity_type: entity_type.to_owned(),
            version: 1,
            owner: Some("test-user".to_owned()),
            created_at: at.clone(),
            updated_at: at,
            fields: fields.into_iter().filter(|f| !f.value.is_null()).collect(),
        };
        self.records
            .entry(entity_type.to_owned())
            .or_default()
            .push(record.clone());
        record
    }

    pub(crate) fn get(&mut self, entity_type: &str, id: &str) -> Result<Option<Record>, HostError> {
        self.may(entity_type, false)?;
        Ok(self
            .records
            .get(entity_type)
            .and_then(|all| all.iter().find(|r| r.id == id))
            .cloned())
    }

    fn matching(&self, entity_type: &str, filter: Option<&str>) -> Result<Vec<Record>, HostError> {
        self.may(entity_type, false)?;
        let filter = filter
            .map(Filter::parse)
            .transpose()
            .map_err(|e| refusal("invalid_filter", e.0))?;
        Ok((self.records.get(entity_type).into_iter().flatten())
            .filter(|r| filter.as_ref().is_none_or(|f| holds(f, r)))
            .cloned()
            .collect())
    }

    pub(crate) fn find(&mut self, entity_type: &str, query: &Query) -> Result<Page, HostError> {
        if query.limit > 1000 {
            return Err(refusal("invalid_parameter", "limit is at most 1000"));
        }
        let mut found = self.matching(entity_type, query.filter.as_deref())?;
        if let Some(sort) = query.sort.as_deref().filter(|s| !s.is_empty()) {
            let keys: Vec<(bool, &str)> = (sort.split(','))
                .map(|k| k.strip_prefix('-').map_or((false, k), |k| (true, k)))
                .collect();
            found.sort_by(|a, b| {
                for (descending, key) in &keys {
                    let order = compare(sort_value(a, key), sort_value(b, key));
                    let order = if *descending { order.reverse() } else { order };
                    if order.is_ne() {
                        return order;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let start: usize = match query.cursor.as_deref() {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| refusal("invalid_cursor", "the cursor is malformed"))?,
            None => 0,
        };
        let limit = if query.limit == 0 {
            50
        } else {
            query.limit as usize
        };
        let page: Vec<Record> = found.iter().skip(start).take(limit).cloned().collect();
        let next = start + page.len();
        Ok(Page {
            next_cursor: (next < found.len()).then(|| next.to_string()),
            records: page,
        })
    }

    pub(crate) fn aggregate(
        &mut self,
        entity_type: &str,
        query: &AggregateQuery,
    ) -> Result<Vec<Group>, HostError> {
        let found = self.matching(entity_type, query.filter.as_deref())?;
        let mut groups: BTreeMap<Vec<String>, Tally> = BTreeMap::new();
        for record in &found {
            let keys: Vec<Value> = query
                .group_by
                .iter()
                .map(|k| group_key(record, k))
                .collect();
            let sort: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
            let entry = groups.entry(sort).or_insert_with(|| Tally {
                keys,
                count: 0,
                sums: vec![None; query.sum.len()],
                currency: None,
            });
            entry.count += 1;
            for (i, field) in query.sum.iter().enumerate() {
                let (amount, currency) = match record.get(field) {
                    Some(Value::Integer(n)) => (Some(Decimal::from(*n)), None),
                    Some(Value::Number(n)) => (Decimal::try_from(*n).ok(), None),
                    Some(Value::Money(m)) => (m.decimal(), Some(m.currency.clone())),
                    _ => (None, None),
                };
                if let Some(currency) = currency
                    && entry.currency.get_or_insert(currency.clone()) != &currency
                {
                    return Err(refusal(
                        "invalid_parameter",
                        format!("the group mixes currencies in `{field}`"),
                    ));
                }
                if let Some(amount) = amount {
                    entry.sums[i] = Some(entry.sums[i].unwrap_or_default() + amount);
                }
            }
        }
        Ok(groups
            .into_values()
            .map(
                |Tally {
                     keys,
                     count,
                     sums,
                     currency,
                 }| Group {
                    keys,
                    count,
                    sums: (sums.into_iter().zip(&query.sum))
                        .map(|(sum, field)| {
                            match (sum, &currency, found.iter().find_map(|r| r.get(field))) {
                                (None, ..) => Value::Null,
                                (Some(sum), Some(currency), _) => {
                                    Value::Money(Money::from_decimal(sum, currency.clone()))
                                }
                                (Some(sum), None, Some(Value::Integer(_))) => Value::Integer(
                                    i64::try_from(sum.trunc().mantissa()).unwrap_or(i64::MAX),
                                ),
                                (Some(sum), ..) => Value::from(sum),
                            }
                        })
                        .collect(),
                },
            )
            .collect())
    }

    pub(crate) fn create(
        &mut self,
        entity_type: &str,
        fields: &[Field],
    ) -> Result<Record, HostError> {
        self.may_write(entity_type)?;
        Ok(self.store(entity_type, fields.to_vec()))
    }

    pub(crate) fn update(
        &mut self,
        entity_type: &str,
        id: &str,
        fields: &[Field],
        expected: Option<i64>,
    ) -> Result<Record, HostError> {
        self.may_write(entity_type)?;
        let record = (self.records.get_mut(entity_type).into_iter().flatten())
            .find(|r| r.id == id)
            .ok_or_else(|| refusal("record_not_found", "no live record has this id"))?;
        if expected.is_some_and(|v| v != record.version) {
            return Err(refusal(
                "version_conflict",
                format!("the record is at version {}", record.version),
            ));
        }
        for field in fields {
            record.fields.retain(|f| f.name != field.name);
            if !field.value.is_null() {
                record.fields.push(field.clone());
            }
        }
        record.version += 1;
        Ok(record.clone())
    }

    pub(crate) fn delete(&mut self, entity_type: &str, id: &str) -> Result<(), HostError> {
        self.may_write(entity_type)?;
        let all = self.records.entry(entity_type.to_owned()).or_default();
        let before = all.len();
        all.retain(|r| r.id != id);
        if all.len() == before {
            return Err(refusal("record_not_found", "no live record has this id"));
        }
        Ok(())
    }

    pub(crate) fn search(
        &mut self,
        query: &str,
        entity_types: &[String],
        limit: u32,
    ) -> Result<Vec<Hit>, HostError> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Err(refusal("invalid_parameter", "the query is empty"));
        }
        let mut hits = Vec::new();
        for (entity, records) in &self.records {
            let readable = self.may(entity, false).is_ok();
            if !readable || !(entity_types.is_empty() || entity_types.contains(entity)) {
                continue;
            }
            for record in records {
                let text: String = (record.fields.iter())
                    .filter_map(|f| match &f.value {
                        Value::Text(t) => Some(t.to_lowercase()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                if words.iter().all(|w| text.contains(w.as_str())) {
                    let title = (record.fields.iter())
                        .find_map(|f| f.value.as_text())
                        .unwrap_or_default();
                    hits.push(Hit {
                        entity_type: entity.clone(),
                        id: record.id.clone(),
                        title: title.to_owned(),
                        score: 1.0,
                    });
                }
            }
        }
        hits.truncate(limit.clamp(1, 100) as usize);
        Ok(hits)
    }

    pub(crate) fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.kv.get(key).cloned())
    }

    pub(crate) fn kv_set(&mut self, key: &str, value: &[u8]) -> Result<(), HostError> {
        if self.writes_refused {
            return Err(refusal("forbidden", "a before-save call may not write"));
        }
        if key.is_empty() || key.len() > 200 {
            return Err(refusal("invalid_parameter", "keys are 1 to 200 bytes"));
        }
        if value.len() > 1024 * 1024 {
            return Err(refusal(
                "payload_too_large",
                "values are at most 1048576 bytes",
            ));
        }
        self.kv.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    pub(crate) fn kv_delete(&mut self, key: &str) -> Result<(), HostError> {
        self.kv.remove(key);
        Ok(())
    }

    pub(crate) fn kv_keys(&mut self, prefix: &str) -> Result<Vec<String>, HostError> {
        Ok(self
            .kv
            .keys()
            .filter(|k| k.starts_with(prefix))
            .take(1000)
            .cloned()
            .collect())
    }

    pub(crate) fn config_get(&mut self, name: &str) -> Option<String> {
        self.settings.get(name).cloned()
    }

    pub(crate) fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    pub(crate) fn fetch(&mut self, request: &Request) -> Result<Response, HostError> {
        let host = (request
            .url
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .split('/')
            .next())
        .unwrap_or_default()
        .to_owned();
        let bare = host.split(':').next().unwrap_or_default();
        if !self.http.iter().any(|h| *h == host || h == bare) {
            return Err(refusal(
                "forbidden",
                format!(
                    "plugin `{}` was not granted http access to {host}",
                    self.plugin
                ),
            ));
        }
        self.requests.push(request.clone());
        (self.responses.iter())
            .find(|(prefix, _)| request.url.starts_with(prefix.as_str()))
            .map(|(_, response)| response.clone())
            .ok_or_else(|| {
                refusal(
                    "http_failed",
                    format!("the test host has no answer for {}", request.url),
                )
            })
    }

    /// Like the host: the manifest's `permissions.mail` an hour (the test host's clock does
    /// not move, so the whole test is one hour), not in before-save, at least one recipient.
    pub(crate) fn mail_send(&mut self, message: &Outgoing) -> Result<Queued, HostError> {
        if self.mail == 0 || self.writes_refused {
            return Err(refusal(
                "forbidden",
                format!("plugin `{}` may not send email here", self.plugin),
            ));
        }
        if self.sent.len() >= self.mail as usize {
            return Err(refusal(
                "rate_limited",
                format!("at most {} emails an hour", self.mail),
            ));
        }
        if message.to.is_empty()
            || message
                .to
                .iter()
                .chain(&message.cc)
                .any(|a| !a.contains('@'))
        {
            return Err(refusal("validation_failed", "to: 1 to 50 email addresses"));
        }
        self.sent.push(message.clone());
        self.next_id += 1;
        let id = format!("00000000-0000-7000-8000-{:012x}", self.next_id);
        let message_id = format!("{}@test.invalid", self.next_id);
        Ok(Queued {
            id: id.clone(),
            thread_id: message
                .reply_to
                .clone()
                .unwrap_or_else(|| message_id.clone()),
            message_id,
            activity_id: id,
        })
    }

    pub(crate) fn now(&mut self) -> i64 {
        self.now
    }
}

/// A record's value of `field` as the filter language compares it: text, or a number.
fn text_of(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Text(t)
        | Value::Date(t)
        | Value::Datetime(t)
        | Value::Reference(t)
        | Value::User(t)
        | Value::Json(t) => vec![t.clone()],
        Value::Integer(n) => vec![n.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Boolean(b) => vec![b.to_string()],
        Value::Money(m) => vec![m.amount.clone()],
        Value::Texts(items) => items.clone(),
    }
}

fn field_texts(record: &Record, field: &str) -> Vec<String> {
    match field {
        "id" => vec![record.id.clone()],
        "owner" => record.owner.iter().cloned().collect(),
        _ => record.get(field).map(text_of).unwrap_or_default(),
    }
}

fn compare(a: Option<String>, b: Option<String>) -> std::cmp::Ordering {
    match (
        a.as_deref().map(str::parse::<Decimal>),
        b.as_deref().map(str::parse::<Decimal>),
    ) {
        (Some(Ok(x)), Some(Ok(y))) => x.cmp(&y),
        _ => a.cmp(&b),
    }
}

fn sort_value(record: &Record, field: &str) -> Option<String> {
    field_texts(record, field).into_iter().next()
}

/// Whether a record matches a filter.
fn holds(filter: &Filter, record: &Record) -> bool {
    match filter {
        Filter::And(all) => all.iter().all(|f| holds(f, record)),
        Filter::Or(any) => any.iter().any(|f| holds(f, record)),
        Filter::Not(one) => !holds(one, record),
        Filter::Cond { field, op, values } => {
            let have = field_texts(record, field);
            let want = values.first().cloned().unwrap_or_default();
            let cmp = |o: fn(std::cmp::Ordering) -> bool| {
                have.first()
                    .is_some_and(|h| o(compare(Some(h.clone()), Some(want.clone()))))
            };
            match *op {
                "eq" => have
                    .iter()
                    .any(|h| compare(Some(h.clone()), Some(want.clone())).is_eq()),
                "neq" => !have
                    .iter()
                    .any(|h| compare(Some(h.clone()), Some(want.clone())).is_eq()),
                "lt" => cmp(std::cmp::Ordering::is_lt),
                "lte" => cmp(std::cmp::Ordering::is_le),
                "gt" => cmp(std::cmp::Ordering::is_gt),
                "gte" => cmp(std::cmp::Ordering::is_ge),
                "in" => have.iter().any(|h| values.contains(h)),
                "contains" => have
                    .iter()
                    .any(|h| h.to_lowercase().contains(&want.to_lowercase())),
                "starts_with" => have
                    .iter()
                    .any(|h| h.to_lowercase().starts_with(&want.to_lowercase())),
                "is_empty" => have.is_empty(),
                _ => false,
            }
        }
    }
}

/// A record's group key: a field, `owner`, `field:month`, `field:year` or `field:currency`.
fn group_key(record: &Record, key: &str) -> Value {
    let (field, part) = key.split_once(':').unwrap_or((key, ""));
    let value = match field {
        "owner" => record.owner.clone().map_or(Value::Null, Value::User),
        _ => record.get(field).cloned().unwrap_or(Value::Null),
    };
    match (part, &value) {
        ("month", Value::Date(t) | Value::Datetime(t)) => Value::Text(t.chars().take(7).collect()),
        ("year", Value::Date(t) | Value::Datetime(t)) => Value::Text(t.chars().take(4).collect()),
        ("currency", Value::Money(m)) => Value::Text(m.currency.clone()),
        _ => value,
    }
}

/// One group of an aggregate as the test host adds it up.
struct Tally {
    keys: Vec<Value>,
    count: u64,
    sums: Vec<Option<Decimal>>,
    /// The currency of the money summed, which every record of the group must share.
    currency: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::TestHost;
    use crate::filter::Filter;
    use crate::prelude::*;

    const MANIFEST: &str = r#"
id = "t"
name = "T"
version = "0.1.0"
api_version = "0.4.1"
[permissions]
read = ["contact"]
[[entities]]
name = "widget"
plural = "widgets"
[[settings]]
name = "greeting"
default = "hello"
"#;

    #[test]
    fn the_test_host_sends_mail_only_as_the_manifest_asks() {
        use crate::mail::{self, Outgoing};
        let message = Outgoing::new(["ada@example.com"], "Hi", "Hello").reply_to("m1@x");
        let host = TestHost::from_manifest(MANIFEST).install();
        assert_eq!(mail::send(&message).unwrap_err().code, "forbidden");
        drop(host);
        let asking = MANIFEST.replace("read = [\"contact\"]", "read = [\"contact\"]\nmail = 1");
        let host = TestHost::from_manifest(&asking).install();
        let queued = mail::send(&message).unwrap();
        assert_eq!(queued.thread_id, "m1@x");
        assert_eq!(mail::send(&message).unwrap_err().code, "rate_limited");
        assert_eq!(host.sent_mail(), [message]);
    }

    #[test]
    fn the_test_host_keeps_the_grant_and_answers_queries() {
        let host = TestHost::from_manifest(MANIFEST).install();
        assert_eq!(config::get("greeting").as_deref(), Some("hello"));
        host.insert(
            "contact",
            fields([("last_name", "Lovelace"), ("score", "3")]),
        );
        host.insert("contact", fields([("last_name", "Babbage")]));
        let found = records::find(
            "contact",
            &Query::new().filter(Filter::eq("last_name", "Babbage")),
        )
        .unwrap();
        assert_eq!(found.records.len(), 1);
        let all: Vec<_> =
            records::find_all("contact", Query::new().limit(1).sort("-last_name")).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].as_ref().unwrap().text("last_name"), Some("Lovelace"));
        let first = records::first("contact", Query::new().sort("last_name")).unwrap();
        assert_eq!(first.unwrap().text("last_name"), Some("Babbage"));
        let none = Query::new().filter(Filter::eq("last_name", "Hopper"));
        assert!(records::first("contact", none).unwrap().is_none());
        assert_eq!(
            records::create("contact", &fields([("x", "y")]))
                .unwrap_err()
                .code,
            "forbidden"
        );
        let widget = records::create("widget", &fields([("name", "Sprocket")])).unwrap();
        assert_eq!(
            records::get("widget", &widget.id)
                .unwrap()
                .unwrap()
                .text("name"),
            Some("Sprocket")
        );
        assert_eq!(
            records::find("company", &Query::new()).unwrap_err().code,
            "forbidden"
        );
        assert_eq!(
            records::find("contact", &Query::new().filter("last_name[zz]:1"))
                .unwrap_err()
                .code,
            "invalid_filter"
        );
        host.in_before_save(true);
        assert_eq!(kv::set("a", b"b").unwrap_err().code, "forbidden");
        let change = TestHost::update_change(&widget, fields([("name", "Gear")]));
        assert_eq!(
            change.old("name").and_then(Value::as_text),
            Some("Sprocket")
        );
        assert!(change.moved("name"));
    }
}
