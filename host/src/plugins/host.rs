//! The host imports a plugin calls (records, search, kv, config, log, http-out, mail, clock). Each
//! call is counted against the invocation's limits, checked against what an admin granted the
//! plugin in this workspace, and then made as the acting user through the record store — so the
//! user's own permissions apply too, and nothing reaches another workspace.

use std::sync::Arc;

use super::convert::{self, api_host_error, fields_to_map, host_error, record_to_wit, refusal};
use super::kv as kv_store;
use super::registry::Enabled;
use super::registry::Enablements;
use super::runtime::bindings::kith::plugin::{
    clock, config, http_out, kv as kv_import, log, mail as mail_import, records, search, types,
};
use super::runtime::{CallKind, LimitExceeded, MAX_VALUE_BYTES, Revoked};
use crate::db::Db;
use crate::ids::RecordId;
use crate::records::aggregate::AggregateQuery;
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{Actor, ListQuery, Store, UpdateItem};
use crate::search::SearchIndex;
use crate::secrets::Sealer;

type HostResult<T> = wasmtime::Result<Result<T, types::HostError>>;

/// The value of a check, or the host's refusal handed back to the plugin (not a trap).
macro_rules! or_refuse {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(refusal) => return Ok(Err(refusal)),
        }
    };
}

/// What host imports need from the server.
pub struct Services {
    pub store: Arc<Store>,
    pub search: SearchIndex,
    pub db: Db,
    pub http: reqwest::Client,
    /// The server's own runtime, where plugins' writes run (see [`CallState::on_server`]).
    pub server: tokio::runtime::Handle,
    /// What is enabled where, shared with the registry: every host call checks it.
    pub enablements: Enablements,
    /// Opens the workspace's SMTP password for the `mail` import.
    pub sealer: Arc<Sealer>,
}

/// An error of work done for a plugin, as the plugin is told it.
trait ToHostError {
    fn to_host_error(self) -> types::HostError;
}

impl ToHostError for crate::records::RecordError {
    fn to_host_error(self) -> types::HostError {
        host_error(self)
    }
}

impl ToHostError for crate::error::ApiError {
    fn to_host_error(self) -> types::HostError {
        api_host_error(self)
    }
}

/// One invocation's view of the world: who acts, for which plugin, and what it has used.
pub struct CallState {
    pub services: Arc<Services>,
    pub enabled: Arc<Enabled>,
    pub actor: Actor,
    pub kind: CallKind,
    used: Used,
}

#[derive(Default)]
struct Used {
    host_calls: usize,
    writes: usize,
    rows: usize,
    http_calls: usize,
    log_bytes: usize,
    kv_bytes: usize,
}

/// Adds `n` to one of a call's counters; past `limit` the invocation traps, saying what it
/// did (`what(limit)`, e.g. "more than 100 host calls") in which kind of call.
fn tally(
    counter: &mut usize,
    n: usize,
    limit: impl TryInto<usize>,
    kind: CallKind,
    what: impl FnOnce(usize) -> String,
) -> wasmtime::Result<()> {
    let limit = limit.try_into().unwrap_or(usize::MAX);
    *counter = counter.saturating_add(n);
    if *counter > limit {
        return Err(wasmtime::Error::new(LimitExceeded(format!(
            "{} in one {} call",
            what(limit),
            kind.as_str()
        ))));
    }
    Ok(())
}

impl CallState {
    pub fn new(
        services: Arc<Services>,
        enabled: Arc<Enabled>,
        actor: Actor,
        kind: CallKind,
    ) -> Self {
        CallState {
            services,
            enabled,
            actor,
            kind,
            used: Used::default(),
        }
    }

    fn plugin(&self) -> &str {
        &self.enabled.plugin.manifest.id
    }

    /// Counts a host call; past the limit the invocation traps.
    fn count_call(&mut self) -> wasmtime::Result<()> {
        let limit = self.kind.limits().host_calls;
        tally(&mut self.used.host_calls, 1, limit, self.kind, |l| {
            format!("more than {l} host calls")
        })
    }

    fn count_rows(&mut self, rows: usize) -> wasmtime::Result<()> {
        let limit = self.kind.limits().rows;
        tally(&mut self.used.rows, rows, limit, self.kind, |l| {
            format!("read more than {l} records")
        })
    }

    /// A write is refused (before-save hooks may not write) or counted.
    fn count_write(&mut self) -> wasmtime::Result<Result<(), types::HostError>> {
        let limit = self.kind.limits().writes;
        if limit == 0 {
            return Ok(Err(refusal(
                "forbidden",
                format!("a {} call may not write", self.kind.as_str()),
            )));
        }
        tally(&mut self.used.writes, 1, limit, self.kind, |l| {
            format!("more than {l} writes")
        })?;
        Ok(Ok(()))
    }

    /// What a write needs to run on the server's threads: the store, the actor, and the type
    /// (a second handle to it, to convert the written record).
    fn writer(&self, ty: &Arc<EntityType>) -> (Arc<Store>, Actor, Arc<EntityType>) {
        (self.services.store.clone(), self.actor.clone(), ty.clone())
    }

    /// Runs a plugin's write on the server's own threads rather than the plugin threads: the
    /// write runs the before-save hooks of its type, whose deadline is wall-clock time, and on
    /// a busy CPU the plugin threads' low priority would starve them past it — failing a
    /// write for no fault of any plugin.
    async fn on_server<T: Send + 'static, E: ToHostError + Send + 'static>(
        &self,
        write: impl Future<Output = Result<T, E>> + Send + 'static,
    ) -> Result<T, types::HostError> {
        match self.services.server.spawn(write).await {
            Ok(result) => result.map_err(ToHostError::to_host_error),
            Err(e) => Err(refusal(
                "internal",
                format!("the write did not finish: {e}"),
            )),
        }
    }

    /// The entity type `name` as the acting user sees it, if the plugin was granted `write`
    /// (or read) access to it.
    async fn entity(&self, name: &str, write: bool) -> Result<Arc<EntityType>, types::HostError> {
        if !self.enabled.may_access(name, write) {
            return Err(refusal(
                "forbidden",
                format!(
                    "plugin `{}` was not granted {} access to `{}`",
                    self.plugin(),
                    if write { "write" } else { "read" },
                    name.chars().take(64).collect::<String>()
                ),
            ));
        }
        let schema = self
            .services
            .store
            .schema(self.actor.workspace)
            .await
            .map_err(host_error)?;
        let ty = schema
            .by_name(name)
            .ok_or_else(|| refusal("unknown_entity", format!("unknown entity type `{name}`")))?;
        self.services
            .store
            .view(&self.actor, &ty.plural)
            .await
            .map_err(host_error)
    }
}

fn check_size(what: &str, bytes: usize) -> wasmtime::Result<()> {
    if bytes > MAX_VALUE_BYTES {
        return Err(wasmtime::Error::new(LimitExceeded(format!(
            "{what} of {bytes} bytes is over the {MAX_VALUE_BYTES}-byte limit"
        ))));
    }
    Ok(())
}

fn fields_size(fields: &[types::Field]) -> usize {
    fields
        .iter()
        .map(|f| {
            f.name.len()
                + match &f.value {
                    types::Value::Text(s)
                    | types::Value::Date(s)
                    | types::Value::Datetime(s)
                    | types::Value::Reference(s)
                    | types::Value::User(s)
                    | types::Value::Json(s) => s.len(),
                    types::Value::Money(m) => m.amount.len() + m.currency.len(),
                    types::Value::Texts(items) => items.iter().map(String::len).sum(),
                    _ => 8,
                }
        })
        .sum()
}

/// A plugin's fields as a record body; malformed values are a validation refusal.
fn body_of(
    fields: &[types::Field],
) -> Result<serde_json::Map<String, serde_json::Value>, types::HostError> {
    fields_to_map(fields)
        .map_err(|details| convert::api_host_error(crate::error::ApiError::validation(details)))
}

fn parse_id(id: &str) -> Result<RecordId, types::HostError> {
    uuid::Uuid::parse_str(id)
        .map(RecordId)
        .map_err(|_| refusal("invalid_id", "not a record id"))
}

impl super::runtime::State {
    /// What every host import does first: the invocation this store serves, with one more host
    /// call counted against its limits. A call whose plugin was disabled, suspended or given
    /// another grant since it began ends there.
    fn begin_host_call(&mut self) -> wasmtime::Result<&mut CallState> {
        let call = &mut self.call;
        if !call.services.enablements.is_current(&call.enabled) {
            return Err(wasmtime::Error::new(Revoked));
        }
        call.count_call()?;
        Ok(call)
    }
}

impl types::Host for super::runtime::State {}

impl records::Host for super::runtime::State {
    async fn get(
        &mut self,
        entity_type: String,
        id: String,
    ) -> HostResult<Option<types::EntityRecord>> {
        let call = self.begin_host_call()?;
        let ty = or_refuse!(call.entity(&entity_type, false).await);
        let id = match parse_id(&id) {
            Ok(id) => id,
            Err(_) => return Ok(Ok(None)),
        };
        match call.services.store.get(&call.actor, &ty, id).await {
            Ok(record) => {
                call.count_rows(1)?;
                Ok(Ok(Some(record_to_wit(&ty, &record))))
            }
            Err(crate::records::RecordError::NotFound) => Ok(Ok(None)),
            Err(e) => Ok(Err(host_error(e))),
        }
    }

    async fn aggregate(
        &mut self,
        entity_type: String,
        query: records::AggregateQuery,
    ) -> HostResult<Vec<records::Group>> {
        let call = self.begin_host_call()?;
        check_size(
            "a query",
            query.filter.as_ref().map_or(0, String::len)
                + query
                    .group_by
                    .iter()
                    .chain(&query.sum)
                    .map(String::len)
                    .sum::<usize>(),
        )?;
        let ty = or_refuse!(call.entity(&entity_type, false).await);
        let request = AggregateQuery {
            filter: query.filter,
            group_by: query.group_by,
            sum: query.sum,
        };
        let found = match call
            .services
            .store
            .aggregate(&call.actor, &ty, &request)
            .await
        {
            Ok(found) => found,
            Err(e) => return Ok(Err(host_error(e))),
        };
        call.count_rows(found.groups.len())?;
        let kinds: Vec<Option<(FieldKind, bool)>> = found
            .key_kinds
            .iter()
            .map(|kind| Some((kind.unwrap_or(FieldKind::User), false)))
            .collect();
        Ok(Ok(found
            .groups
            .iter()
            .map(|group| records::Group {
                keys: group
                    .keys
                    .iter()
                    .zip(&kinds)
                    .map(|(key, kind)| convert::to_wit(*kind, key))
                    .collect(),
                count: group.count,
                sums: group
                    .sums
                    .iter()
                    .zip(&request.sum)
                    .map(|(sum, name)| {
                        convert::to_wit(ty.field(name).map(|f| (f.kind, false)), sum)
                    })
                    .collect(),
            })
            .collect()))
    }

    async fn find(
        &mut self,
        entity_type: String,
        query: records::Query,
    ) -> HostResult<records::Page> {
        let call = self.begin_host_call()?;
        check_size(
            "a query",
            query.filter.as_ref().map_or(0, String::len)
                + query.sort.as_ref().map_or(0, String::len),
        )?;
        let ty = or_refuse!(call.entity(&entity_type, false).await);
        let limit = match query.limit {
            0 => 50,
            n if n <= 1000 => u64::from(n),
            _ => return Ok(Err(refusal("invalid_parameter", "limit is at most 1000"))),
        };
        let request = ListQuery {
            filter: query.filter,
            sort: query.sort,
            limit,
            cursor: query.cursor,
            total: false,
            deleted: false,
        };
        match call.services.store.list(&call.actor, &ty, &request).await {
            Ok(page) => {
                call.count_rows(page.records.len())?;
                Ok(Ok(records::Page {
                    records: page.records.iter().map(|r| record_to_wit(&ty, r)).collect(),
                    next_cursor: page.next_cursor,
                }))
            }
            Err(e) => Ok(Err(host_error(e))),
        }
    }

    async fn create(
        &mut self,
        entity_type: String,
        fields: Vec<types::Field>,
    ) -> HostResult<types::EntityRecord> {
        let call = self.begin_host_call()?;
        check_size("a record", fields_size(&fields))?;
        or_refuse!(call.count_write()?);
        let ty = or_refuse!(call.entity(&entity_type, true).await);
        let body = or_refuse!(body_of(&fields));
        let (store, actor, wit_ty) = call.writer(&ty);
        Ok(call
            .on_server(async move { store.create(&actor, &ty, body).await })
            .await
            .map(|r| record_to_wit(&wit_ty, &r)))
    }

    async fn update(
        &mut self,
        entity_type: String,
        id: String,
        fields: Vec<types::Field>,
        expected_version: Option<i64>,
    ) -> HostResult<types::EntityRecord> {
        let call = self.begin_host_call()?;
        check_size("a record", fields_size(&fields))?;
        or_refuse!(call.count_write()?);
        let ty = or_refuse!(call.entity(&entity_type, true).await);
        let id = or_refuse!(parse_id(&id));
        let patch = or_refuse!(body_of(&fields));
        let item = UpdateItem {
            id,
            patch,
            if_match: expected_version,
        };
        let (store, actor, wit_ty) = call.writer(&ty);
        Ok(call
            .on_server(async move { store.update(&actor, &ty, item).await })
            .await
            .map(|r| record_to_wit(&wit_ty, &r)))
    }

    async fn delete(&mut self, entity_type: String, id: String) -> HostResult<()> {
        let call = self.begin_host_call()?;
        or_refuse!(call.count_write()?);
        let ty = or_refuse!(call.entity(&entity_type, true).await);
        let id = or_refuse!(parse_id(&id));
        let (store, actor, _) = call.writer(&ty);
        Ok(call
            .on_server(async move { store.delete(&actor, &ty, id, None).await })
            .await
            .map(|_| ()))
    }
}

impl search::Host for super::runtime::State {
    async fn search(
        &mut self,
        query: String,
        entity_types: Vec<String>,
        limit: u32,
    ) -> HostResult<Vec<search::Hit>> {
        let call = self.begin_host_call()?;
        check_size("a query", query.len())?;
        let schema = match call.services.store.schema(call.actor.workspace).await {
            Ok(schema) => schema,
            Err(e) => return Ok(Err(host_error(e))),
        };
        // The types asked for that the plugin may read; the acting user's permissions and
        // field rules apply in `find`, as for every search.
        let types: Vec<Arc<EntityType>> = (schema.types().iter())
            .filter(|ty| entity_types.is_empty() || entity_types.contains(&ty.name))
            .filter(|ty| call.enabled.may_access(&ty.name, false))
            .cloned()
            .collect();
        if types.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let limit = usize::try_from(limit.clamp(1, 100)).unwrap_or(20);
        let services = call.services.clone();
        let found = crate::search::find::find(
            &services.store,
            &services.search,
            &call.actor,
            &query,
            Some(types),
            limit,
        )
        .await;
        match found {
            Ok(found) => {
                call.count_rows(found.len())?;
                Ok(Ok(found
                    .into_iter()
                    .map(|found| search::Hit {
                        entity_type: found.hit.entity,
                        id: found.hit.id.to_string(),
                        title: found.hit.title,
                        score: found.hit.score,
                    })
                    .collect()))
            }
            Err(crate::search::find::FindError::Record(e)) => Ok(Err(host_error(e))),
            Err(crate::search::find::FindError::Search(error)) => {
                Ok(Err(refusal("invalid_parameter", error.to_string())))
            }
            Err(error) => Ok(Err(refusal("internal_error", error.to_string()))),
        }
    }
}

impl CallState {
    fn kv_scope(&self) -> (uuid::Uuid, String) {
        (self.actor.workspace.0, self.plugin().to_owned())
    }

    /// Counts the bytes a key-value write sends; past the call's limit the invocation traps.
    fn count_kv_bytes(&mut self, bytes: usize) -> wasmtime::Result<()> {
        let limit = self.kind.limits().kv_bytes;
        tally(&mut self.used.kv_bytes, bytes, limit, self.kind, |l| {
            format!("wrote more than {l} bytes to the key-value store")
        })
    }
}

fn check_key(key: &str) -> Result<(), types::HostError> {
    if key.is_empty() || key.len() > kv_store::MAX_KEY {
        return Err(refusal(
            "invalid_parameter",
            format!("keys are 1 to {} bytes", kv_store::MAX_KEY),
        ));
    }
    Ok(())
}

fn kv_refusal(error: kv_store::KvError) -> types::HostError {
    match error {
        kv_store::KvError::Quota { .. } => refusal("quota_exceeded", error.to_string()),
        kv_store::KvError::Database(error) => db_refusal(&error),
    }
}

impl kv_import::Host for super::runtime::State {
    async fn get(&mut self, key: String) -> HostResult<Option<Vec<u8>>> {
        let call = self.begin_host_call()?;
        or_refuse!(check_key(&key));
        let (workspace, plugin) = call.kv_scope();
        let found = kv_store::get(&call.services.db, workspace, &plugin, &key).await;
        Ok(found.map_err(|e| db_refusal(&e)))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> HostResult<()> {
        let call = self.begin_host_call()?;
        or_refuse!(call.count_write()?);
        or_refuse!(check_key(&key));
        if value.len() > kv_store::MAX_VALUE {
            return Ok(Err(refusal(
                "payload_too_large",
                format!("values are at most {} bytes", kv_store::MAX_VALUE),
            )));
        }
        call.count_kv_bytes(key.len() + value.len())?;
        let (workspace, plugin) = call.kv_scope();
        let result = kv_store::set(&call.services.db, workspace, &plugin, &key, value).await;
        Ok(result.map_err(kv_refusal))
    }

    async fn delete(&mut self, key: String) -> HostResult<()> {
        let call = self.begin_host_call()?;
        or_refuse!(call.count_write()?);
        let (workspace, plugin) = call.kv_scope();
        let result = kv_store::delete(&call.services.db, workspace, &plugin, &key).await;
        Ok(result.map_err(kv_refusal))
    }

    async fn keys(&mut self, prefix: String) -> HostResult<Vec<String>> {
        let call = self.begin_host_call()?;
        let (workspace, plugin) = call.kv_scope();
        match kv_store::keys(&call.services.db, workspace, &plugin, &prefix, 1000).await {
            Ok(keys) => {
                call.count_rows(keys.len())?;
                Ok(Ok(keys))
            }
            Err(e) => Ok(Err(db_refusal(&e))),
        }
    }
}

fn db_refusal(error: &sea_orm::DbErr) -> types::HostError {
    tracing::error!(%error, "database error in a plugin's key-value call");
    refusal("internal_error", "the key-value store is unavailable")
}

impl config::Host for super::runtime::State {
    async fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        let call = self.begin_host_call()?;
        Ok(call.enabled.setting(&name))
    }
}

impl log::Host for super::runtime::State {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let call = self.begin_host_call()?;
        let limit = call.kind.limits().log_bytes;
        tally(
            &mut call.used.log_bytes,
            message.len(),
            limit,
            call.kind,
            |l| format!("logged more than {l} bytes"),
        )?;
        let plugin = call.plugin();
        let workspace = call.actor.workspace.0;
        match level {
            log::Level::Debug => tracing::debug!(plugin, %workspace, "{message}"),
            log::Level::Info => tracing::info!(plugin, %workspace, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, %workspace, "{message}"),
            log::Level::Error => tracing::error!(plugin, %workspace, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for super::runtime::State {
    async fn now(&mut self) -> wasmtime::Result<i64> {
        self.begin_host_call()?;
        Ok(crate::records::now_micros())
    }
}

/// A plugin's emails are counted over this window against its hourly grant.
const MAIL_WINDOW_MICROS: i64 = 3_600_000_000;

impl mail_import::Host for super::runtime::State {
    async fn send(&mut self, message: mail_import::Outgoing) -> HostResult<mail_import::Queued> {
        let call = self.begin_host_call()?;
        let size = (message.to.iter().chain(&message.cc).chain(&message.links))
            .map(String::len)
            .sum::<usize>()
            + message.subject.len()
            + message.body.len();
        check_size("an email", size)?;
        let per_hour = call.enabled.granted.mail;
        if per_hour == 0 {
            return Ok(Err(refusal(
                "forbidden",
                format!(
                    "plugin `{}` was not granted mail in this workspace",
                    call.plugin()
                ),
            )));
        }
        // Sending writes (the queue, the activity): not in before-save, counted as a write.
        or_refuse!(call.count_write()?);
        let plugin = call.plugin().to_owned();
        let (store, sealer, actor) = (
            call.services.store.clone(),
            call.services.sealer.clone(),
            call.actor.clone(),
        );
        let body = crate::mail::api::SendBody {
            to: message.to,
            cc: message.cc,
            subject: message.subject,
            body: message.body,
            links: message.links,
            reply_to: message.reply_to,
        };
        let sent = call
            .on_server(async move {
                let since = crate::records::now_micros() - MAIL_WINDOW_MICROS;
                let sent = crate::mail::send::sent_by_plugin_since(
                    store.db(),
                    actor.workspace,
                    &plugin,
                    since,
                )
                .await
                .map_err(crate::error::ApiError::internal)?;
                if sent >= u64::from(per_hour) {
                    return Ok(Err(refusal(
                        "rate_limited",
                        format!(
                            "plugin `{plugin}` sent its {per_hour} emails of the last hour here; \
                             an admin may grant more"
                        ),
                    )));
                }
                crate::mail::api::send(&store, &sealer, &actor, Some(&plugin), body)
                    .await
                    .map(Ok)
            })
            .await;
        Ok(match sent {
            Ok(Ok(queued)) => Ok(mail_import::Queued {
                id: queued.id.to_string(),
                message_id: queued.message_id,
                thread_id: queued.thread_id,
                activity_id: queued.activity_id.to_string(),
            }),
            Ok(Err(refused)) | Err(refused) => Err(refused),
        })
    }
}

/// Outbound calls wait at most this long.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl http_out::Host for super::runtime::State {
    async fn fetch(&mut self, request: http_out::Request) -> HostResult<http_out::Response> {
        let call = self.begin_host_call()?;
        check_size("a request body", request.body.len())?;
        let limit = call.kind.limits().http_calls;
        if limit == 0 {
            return Ok(Err(refusal(
                "forbidden",
                format!("a {} call may not make http calls", call.kind.as_str()),
            )));
        }
        tally(&mut call.used.http_calls, 1, limit, call.kind, |l| {
            format!("more than {l} http calls")
        })?;
        let url = match reqwest::Url::parse(&request.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Ok(Err(refusal(
                    "invalid_parameter",
                    "the url must be https:// or http://",
                )));
            }
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(80);
        if !call.enabled.may_call_host(&host, port) {
            return Ok(Err(refusal(
                "forbidden",
                format!(
                    "plugin `{}` was not granted http access to {host}:{port}",
                    call.plugin()
                ),
            )));
        }
        let method =
            match reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes()) {
                Ok(method) => method,
                Err(_) => return Ok(Err(refusal("invalid_parameter", "unknown http method"))),
            };
        let mut outgoing = call
            .services
            .http
            .request(method, url)
            .timeout(HTTP_TIMEOUT)
            .body(request.body);
        for (name, value) in request.headers {
            outgoing = outgoing.header(name, value);
        }
        let response = match outgoing.send().await {
            Ok(response) => response,
            Err(error) => return Ok(Err(refusal("http_failed", error.to_string()))),
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
            .collect();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_VALUE_BYTES as u64)
        {
            return Ok(Err(refusal(
                "payload_too_large",
                "the response body is over 4 MiB",
            )));
        }
        let mut body = Vec::new();
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_VALUE_BYTES {
                        return Ok(Err(refusal(
                            "payload_too_large",
                            "the response body is over 4 MiB",
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => return Ok(Err(refusal("http_failed", error.to_string()))),
            }
        }
        Ok(Ok(http_out::Response {
            status,
            headers,
            body,
        }))
    }
}
