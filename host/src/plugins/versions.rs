//! Every plugin API version the host still runs (as Zed's extension host keeps one set of
//! bindings per version): a plugin built for an older contract runs unchanged on this host.
//!
//! The host's logic speaks only the current contract (`runtime::bindings`). A component is
//! instantiated with the bindings of the version it was built against ([`Pre`]), and the
//! exports of an older one are called through [`Guest`], which converts the current types to
//! that version's at the edge (what it cannot see, it is not given) and its answers back. Its
//! imports are served by the current host imports, converted the same way. `types` has not
//! changed since 0.3.0, so its records, values and errors are the same Rust types in every
//! version.
//!
//! | version | what changed | supported |
//! |---|---|---|
//! | 0.4.1 | the `mail` import (additive: 0.4.0 plugins run on these bindings, the linker
//!   matching their 0.4.0 imports to 0.4.1's) | current |
//! | 0.4.0 | `change.old-fields`, `event.changes` (values before and after) | yes |
//! | 0.3.0 | `change.references` | yes |
//! | 0.2.0, 0.1.0 | (before the host kept older versions) | no: rebuild with the SDK |

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::runtime::State;
use super::runtime::bindings as latest;
use super::runtime::bindings_v0_3 as v0_3;
use latest::exports::kith::plugin::guest;
use latest::kith::plugin::types::{Context, EntityRecord, HostError};

/// The API versions this host runs, newest first.
pub const SUPPORTED: &[&str] = &["0.4.1", "0.3.0"];

/// A compiled component, ready to instantiate with the bindings of its version.
#[derive(Clone)]
pub enum Pre {
    Latest(latest::PluginPre<State>),
    V0_3(v0_3::PluginPre<State>),
}

/// An instance of a component, of one of the supported versions.
pub enum Guest {
    Latest(latest::Plugin),
    V0_3(v0_3::Plugin),
}

/// Adds every supported version's imports to the linker.
pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    latest::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(linker, |s| s)?;
    v0_3::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(linker, |s| s)?;
    Ok(())
}

impl Pre {
    /// Pre-instantiates a component with the bindings of `api_version` (its
    /// `kith:api-version` section).
    pub fn new(
        linker: &Linker<State>,
        component: &Component,
        api_version: &str,
    ) -> Result<Pre, String> {
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|e| format!("{e:#}"))?;
        let minor = api_version.split('.').take(2).collect::<Vec<_>>().join(".");
        match minor.as_str() {
            "0.4" => latest::PluginPre::new(instance_pre)
                .map(Pre::Latest)
                .map_err(|e| format!("{e:#}")),
            "0.3" => v0_3::PluginPre::new(instance_pre)
                .map(Pre::V0_3)
                .map_err(|e| format!("{e:#}")),
            other => Err(format!(
                "plugin API {other} is not supported by this host (it runs {})",
                SUPPORTED.join(", ")
            )),
        }
    }

    pub async fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Guest> {
        Ok(match self {
            Pre::Latest(pre) => Guest::Latest(pre.instantiate_async(store).await?),
            Pre::V0_3(pre) => Guest::V0_3(pre.instantiate_async(store).await?),
        })
    }
}

type Answer<T> = wasmtime::Result<Result<T, String>>;

impl Guest {
    pub async fn before_save(
        &self,
        store: &mut Store<State>,
        ctx: &Context,
        changes: &[guest::Change],
    ) -> Answer<Vec<guest::Verdict>> {
        match self {
            Guest::Latest(p) => {
                p.kith_plugin_guest()
                    .call_before_save(store, ctx, changes)
                    .await
            }
            Guest::V0_3(p) => {
                let changes: Vec<_> = changes.iter().map(to_v0_3::change).collect();
                let verdicts = (p.kith_plugin_guest())
                    .call_before_save(store, ctx, &changes)
                    .await?;
                Ok(verdicts.map(|v| v.into_iter().map(from_v0_3::verdict).collect()))
            }
        }
    }

    pub async fn after_save(
        &self,
        store: &mut Store<State>,
        ctx: &Context,
        events: &[guest::Event],
    ) -> Answer<()> {
        match self {
            Guest::Latest(p) => {
                p.kith_plugin_guest()
                    .call_after_save(store, ctx, events)
                    .await
            }
            Guest::V0_3(p) => {
                let events: Vec<_> = events.iter().map(to_v0_3::event).collect();
                (p.kith_plugin_guest())
                    .call_after_save(store, ctx, &events)
                    .await
            }
        }
    }

    pub async fn handle_http(
        &self,
        store: &mut Store<State>,
        ctx: &Context,
        request: &guest::HttpRequest,
    ) -> Answer<guest::HttpResponse> {
        match self {
            Guest::Latest(p) => {
                p.kith_plugin_guest()
                    .call_handle_http(store, ctx, request)
                    .await
            }
            Guest::V0_3(p) => {
                let request = to_v0_3::http_request(request);
                let answer = (p.kith_plugin_guest())
                    .call_handle_http(store, ctx, &request)
                    .await?;
                Ok(answer.map(from_v0_3::http_response))
            }
        }
    }

    pub async fn run_job(
        &self,
        store: &mut Store<State>,
        ctx: &Context,
        job: &str,
        cursor: Option<&str>,
    ) -> Answer<guest::JobStep> {
        match self {
            Guest::Latest(p) => {
                (p.kith_plugin_guest())
                    .call_run_job(store, ctx, job, cursor)
                    .await
            }
            Guest::V0_3(p) => {
                let step = (p.kith_plugin_guest())
                    .call_run_job(store, ctx, job, cursor)
                    .await?;
                Ok(step.map(|s| guest::JobStep {
                    cursor: s.cursor,
                    done: s.done,
                }))
            }
        }
    }

    pub async fn render_panel(
        &self,
        store: &mut Store<State>,
        ctx: &Context,
        panel: &str,
        record: Option<&EntityRecord>,
    ) -> Answer<guest::Panel> {
        match self {
            Guest::Latest(p) => {
                (p.kith_plugin_guest())
                    .call_render_panel(store, ctx, panel, record)
                    .await
            }
            Guest::V0_3(p) => {
                let built = (p.kith_plugin_guest())
                    .call_render_panel(store, ctx, panel, record)
                    .await?;
                Ok(built.map(|b| guest::Panel {
                    template: b.template,
                    context: b.context,
                }))
            }
        }
    }

    pub async fn run_action(
        &self,
        store: &mut Store<State>,
        ctx: &Context,
        action: &str,
        input: &str,
    ) -> wasmtime::Result<Result<String, guest::ActionError>> {
        match self {
            Guest::Latest(p) => {
                (p.kith_plugin_guest())
                    .call_run_action(store, ctx, action, input)
                    .await
            }
            Guest::V0_3(p) => {
                let answer = (p.kith_plugin_guest())
                    .call_run_action(store, ctx, action, input)
                    .await?;
                Ok(answer.map_err(|e| match e {
                    v0_3::exports::kith::plugin::guest::ActionError::Refused(r) => {
                        guest::ActionError::Refused(r)
                    }
                    v0_3::exports::kith::plugin::guest::ActionError::Failed(m) => {
                        guest::ActionError::Failed(m)
                    }
                }))
            }
        }
    }

    pub async fn on_enable(&self, store: &mut Store<State>, ctx: &Context) -> Answer<()> {
        match self {
            Guest::Latest(p) => p.kith_plugin_guest().call_on_enable(store, ctx).await,
            Guest::V0_3(p) => p.kith_plugin_guest().call_on_enable(store, ctx).await,
        }
    }
}

/// The current contract's values as 0.3.0's: what 0.3.0 has no place for is left out.
mod to_v0_3 {
    use super::guest;
    use super::v0_3::exports::kith::plugin::guest as old;

    fn operation(op: guest::Operation) -> old::Operation {
        match op {
            guest::Operation::Create => old::Operation::Create,
            guest::Operation::Update => old::Operation::Update,
            guest::Operation::Delete => old::Operation::Delete,
        }
    }

    pub fn change(change: &guest::Change) -> old::Change {
        old::Change {
            operation: operation(change.operation),
            entity_type: change.entity_type.clone(),
            id: change.id.clone(),
            fields: change.fields.clone(),
            changed: change.changed.clone(),
            references: change.references.clone(),
        }
    }

    pub fn event(event: &guest::Event) -> old::Event {
        old::Event {
            id: event.id,
            entity_type: event.entity_type.clone(),
            record_id: event.record_id.clone(),
            action: event.action.clone(),
            version: event.version,
            changed: event.changed.clone(),
        }
    }

    pub fn http_request(request: &guest::HttpRequest) -> old::HttpRequest {
        old::HttpRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        }
    }
}

/// 0.3.0's answers as the current contract's.
mod from_v0_3 {
    use super::guest;
    use super::v0_3::exports::kith::plugin::guest as old;

    pub fn verdict(verdict: old::Verdict) -> guest::Verdict {
        match verdict {
            old::Verdict::Proceed => guest::Verdict::Proceed,
            old::Verdict::Patch(fields) => guest::Verdict::Patch(fields),
            old::Verdict::Reject(errors) => guest::Verdict::Reject(errors),
        }
    }

    pub fn http_response(response: old::HttpResponse) -> guest::HttpResponse {
        guest::HttpResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }
}

// -- the imports of 0.3.0, served by the current ones ---------------------------------------

use latest::kith::plugin as now;
use v0_3::kith::plugin as then;

type HostResult<T> = wasmtime::Result<Result<T, HostError>>;

impl then::records::Host for State {
    async fn get(&mut self, entity_type: String, id: String) -> HostResult<Option<EntityRecord>> {
        now::records::Host::get(self, entity_type, id).await
    }

    async fn aggregate(
        &mut self,
        entity_type: String,
        query: then::records::AggregateQuery,
    ) -> HostResult<Vec<then::records::Group>> {
        let query = now::records::AggregateQuery {
            filter: query.filter,
            group_by: query.group_by,
            sum: query.sum,
        };
        let groups = now::records::Host::aggregate(self, entity_type, query).await?;
        Ok(groups.map(|groups| {
            (groups.into_iter())
                .map(|g| then::records::Group {
                    keys: g.keys,
                    count: g.count,
                    sums: g.sums,
                })
                .collect()
        }))
    }

    async fn find(
        &mut self,
        entity_type: String,
        query: then::records::Query,
    ) -> HostResult<then::records::Page> {
        let query = now::records::Query {
            filter: query.filter,
            sort: query.sort,
            limit: query.limit,
            cursor: query.cursor,
        };
        let page = now::records::Host::find(self, entity_type, query).await?;
        Ok(page.map(|page| then::records::Page {
            records: page.records,
            next_cursor: page.next_cursor,
        }))
    }

    async fn create(
        &mut self,
        entity_type: String,
        fields: Vec<now::types::Field>,
    ) -> HostResult<EntityRecord> {
        now::records::Host::create(self, entity_type, fields).await
    }

    async fn update(
        &mut self,
        entity_type: String,
        id: String,
        fields: Vec<now::types::Field>,
        expected_version: Option<i64>,
    ) -> HostResult<EntityRecord> {
        now::records::Host::update(self, entity_type, id, fields, expected_version).await
    }

    async fn delete(&mut self, entity_type: String, id: String) -> HostResult<()> {
        now::records::Host::delete(self, entity_type, id).await
    }
}

impl then::search::Host for State {
    async fn search(
        &mut self,
        query: String,
        entity_types: Vec<String>,
        limit: u32,
    ) -> HostResult<Vec<then::search::Hit>> {
        let hits = now::search::Host::search(self, query, entity_types, limit).await?;
        Ok(hits.map(|hits| {
            (hits.into_iter())
                .map(|h| then::search::Hit {
                    entity_type: h.entity_type,
                    id: h.id,
                    title: h.title,
                    score: h.score,
                })
                .collect()
        }))
    }
}

impl then::kv::Host for State {
    async fn get(&mut self, key: String) -> HostResult<Option<Vec<u8>>> {
        now::kv::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> HostResult<()> {
        now::kv::Host::set(self, key, value).await
    }

    async fn delete(&mut self, key: String) -> HostResult<()> {
        now::kv::Host::delete(self, key).await
    }

    async fn keys(&mut self, prefix: String) -> HostResult<Vec<String>> {
        now::kv::Host::keys(self, prefix).await
    }
}

impl then::config::Host for State {
    async fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        now::config::Host::get(self, name).await
    }
}

impl then::log::Host for State {
    async fn log(&mut self, level: then::log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            then::log::Level::Debug => now::log::Level::Debug,
            then::log::Level::Info => now::log::Level::Info,
            then::log::Level::Warn => now::log::Level::Warn,
            then::log::Level::Error => now::log::Level::Error,
        };
        now::log::Host::log(self, level, message).await
    }
}

impl then::clock::Host for State {
    async fn now(&mut self) -> wasmtime::Result<i64> {
        now::clock::Host::now(self).await
    }
}

impl then::http_out::Host for State {
    async fn fetch(
        &mut self,
        request: then::http_out::Request,
    ) -> HostResult<then::http_out::Response> {
        let request = now::http_out::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        };
        let response = now::http_out::Host::fetch(self, request).await?;
        Ok(response.map(|r| then::http_out::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }))
    }
}
