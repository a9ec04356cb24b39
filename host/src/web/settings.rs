//! Settings pages for admins (users, roles and teams, fields and types, plugins, theme; the
//! integrations' pages are in `integrations`) and for everyone (their account: name and time
//! zone; their API tokens), plus the theme API `/api/v1/admin/theme…`.
//!
//! The pages read directly; their forms change data through the JSON API (the theme's script
//! sends them), so every change passes the API's checks and lands in the audit log.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::display::{humanize, label};
use super::model::{look, template_override};
use super::themes::{MAX_OVERRIDE_BYTES, TOKENS, check_token};
use super::{Web, redirect};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::auth::model::{api_token, user};
use crate::auth::permissions::{self, Role, TypeGrant};
use crate::auth::{people, roles};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::extract::{ApiPath, JsonBody};
use crate::i18n::Language;
use crate::i18n::text;
use crate::records::now_micros;
use crate::records::schema::Schema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(|| async { redirect("/settings/users") }))
        .route("/settings/users", get(users_page))
        .route("/settings/roles", get(roles_page))
        .route("/settings/fields", get(fields_page))
        .route("/settings/plugins", get(plugins_page))
        .route("/settings/theme", get(theme_page))
        .route("/settings/tokens", get(tokens_page))
        .route("/settings/account", get(account_page).post(save_account))
}

pub fn api_routes() -> Routes {
    Routes::new()
        .route("/admin/theme", get(get_theme).put(put_theme))
        .route("/admin/theme/logo", put(put_logo).delete(delete_logo))
        .route("/admin/theme/templates", put(put_override))
        .route(
            "/admin/theme/templates/{name}",
            axum::routing::delete(delete_override),
        )
}

/// The settings sections, for the settings templates' own navigation.
fn sections(web: &Web, current: &str) -> Value {
    // Each section's label is the catalogue's `settings-<section>`.
    const ALL: &[(&str, &str)] = &[
        ("users", "settings-users"),
        ("roles", "settings-roles"),
        ("fields", "settings-fields"),
        ("plugins", "settings-plugins"),
        ("theme", "settings-theme"),
        ("mail", "settings-mail"),
        ("mailboxes", "settings-mailboxes"),
        ("webhooks", "settings-webhooks"),
        ("account", "settings-account"),
        ("tokens", "tokens-title"),
    ];
    Value::Array(
        ALL.iter()
            // Everyone manages their own account and tokens; the rest is for admins.
            .filter(|(key, _)| web.is_admin() || *key == "tokens" || *key == "account")
            .map(|(key, label)| json!({ "label": web.lang.t(label), "url": format!("/settings/{key}"), "active": *key == current }))
            .collect(),
    )
}

/// An admin's settings page: members get the refusal every admin page gives them; `body`
/// builds the page's context, to which the settings navigation is added.
pub(super) async fn admin_page(
    web: &Web,
    section: &str,
    template: &str,
    body: impl Future<Output = ApiResult<Value>>,
) -> Response {
    if let Err(error) = web.identity.require_admin() {
        return web.fail(error).await;
    }
    match body.await {
        Ok(mut context) => {
            context["sections"] = sections(web, section);
            web.render(template, context).await
        }
        Err(error) => web.fail(error).await,
    }
}

async fn users_page(web: Web) -> Response {
    admin_page(&web, "users", "settings/users.html", async {
        let rows = user::Entity::find()
            .filter(user::Column::WorkspaceId.eq(web.identity.workspace.0))
            .order_by_asc(user::Column::Email)
            .all(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let roles = role_names(&web).await?;
        let users: Vec<Value> = rows
            .iter()
            .map(|u| {
                let url = format!("/api/v1/admin/users/{}", u.id);
                json!({
                    "id": u.id,
                    "email": u.email,
                    "name": u.name,
                    "shown_name": people::shown_name(u),
                    "role": u.role,
                    "status": people::status(u),
                    "me": u.id == web.identity.user.0,
                    "url": url,
                    "deactivate_url": format!("{url}/deactivate"),
                    "reactivate_url": format!("{url}/reactivate"),
                    "invite_url": format!("{url}/invitation"),
                })
            })
            .collect();
        Ok(json!({ "users": users, "roles": roles }))
    })
    .await
}

async fn role_names(web: &Web) -> ApiResult<Vec<String>> {
    let roles = roles::list(&web.state.db.read, web.identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    Ok(roles.into_iter().map(|r| r.name).collect())
}

/// One role's levels per type as the matrix shows them: the effective grant (`*` applied),
/// so built-in roles show what they really allow.
fn role_matrix(role: &Role, schema: &Schema, lang: Language) -> Value {
    let row = |name: &str, label: &str, grant: TypeGrant| json!({ "entity": name, "label": label, "create": grant.create, "read": grant.read, "edit": grant.edit, "delete": grant.delete });
    let mut rows: Vec<Value> = schema
        .types()
        .iter()
        .map(|t| {
            row(
                &t.name,
                &super::display::type_label_plural(lang, t),
                role.grant(&t.name),
            )
        })
        .collect();
    rows.push(row(
        "*",
        &lang.t("roles-other-types"),
        role.types.get("*").copied().unwrap_or_default(),
    ));
    let fields: Vec<Value> = schema
        .types()
        .iter()
        .map(|t| {
            let t = &super::display::localized(t, lang);
            let fields: Vec<Value> = t
                .fields
                .iter()
                .map(|f| {
                    let rule = match role.field_rule(&t.name, &f.name) {
                        Some(r) if !r.read => "hidden",
                        Some(r) if !r.edit => "read_only",
                        _ => "visible",
                    };
                    json!({ "name": f.name, "label": label(f), "rule": rule })
                })
                .collect();
            let special = fields.iter().filter(|f| f["rule"] != "visible").count();
            json!({ "entity": t.name, "label": t.label_plural, "fields": fields, "special": special })
        })
        .collect();
    json!({ "grants": rows, "field_rules": fields })
}

async fn roles_page(web: Web) -> Response {
    admin_page(&web, "roles", "settings/roles.html", async {
        let all = roles::list(&web.state.db.read, web.identity.workspace)
            .await
            .map_err(ApiError::internal)?;
        let teams = roles::teams(&web.state.db.read, web.identity.workspace)
            .await
            .map_err(ApiError::internal)?;
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let users = user::Entity::find()
            .filter(user::Column::WorkspaceId.eq(web.identity.workspace.0))
            .order_by_asc(user::Column::Email)
            .all(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let roles: Vec<Value> = all
            .iter()
            .map(|r| {
                let mut role = role_matrix(r, &schema, web.lang);
                role["name"] = json!(r.name);
                role["admin"] = json!(r.admin);
                role["builtin"] = json!(r.builtin);
                role["url"] = json!(format!("/api/v1/admin/roles/{}", r.name));
                role
            })
            .collect();
        // A new role starts as a member: reads everything, changes their own records.
        let template = permissions::builtin_role("member")
            .map(|r| role_matrix(&r, &schema, web.lang))
            .unwrap_or_default();
        let teams: Vec<Value> = teams
            .iter()
            .map(|t| {
                let members: Vec<Value> = users
                    .iter()
                    .map(|u| json!({ "id": u.id, "name": people::shown_name(u), "email": u.email, "member": t.members.contains(&u.id), "deactivated": u.deactivated_at.is_some() }))
                    .collect();
                json!({ "id": t.id, "name": t.name, "count": t.members.len(), "members": members, "url": format!("/api/v1/admin/teams/{}/members", t.id) })
            })
            .collect();
        Ok(json!({ "roles": roles, "new_role": template, "levels": ["none", "own", "team", "all"], "teams": teams }))
    })
    .await
}

async fn fields_page(web: Web) -> Response {
    admin_page(&web, "fields", "settings/fields.html", async {
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let types: Vec<Value> = schema
            .types()
            .iter()
            .map(|t| {
                let t = super::display::localized(t, web.lang);
                let kind = |k: &str| web.lang.lookup(&format!("kind-{k}")).unwrap_or_else(|| humanize(k));
                let fields: Vec<Value> = t
                    .fields
                    .iter()
                    .map(|f| json!({ "name": f.name, "label": label(f), "kind": kind(f.kind.as_str()), "required": f.required, "indexed": f.indexed, "custom": f.custom, "source": f.source }))
                    .collect();
                json!({ "name": t.name, "plural": t.plural, "label": t.label_plural, "source": t.source, "fields": fields, "add_url": format!("/api/v1/meta/entities/{}/fields", t.plural) })
            })
            .collect();
        let kinds: Vec<Value> = crate::records::schema::FieldKind::ALL
            .iter()
            .map(|k| json!({ "value": k.as_str(), "label": web.lang.lookup(&format!("kind-{}", k.as_str())).unwrap_or_else(|| humanize(k.as_str())) }))
            .collect();
        // English reads `label`; every other language the app speaks may have its own.
        let label_languages: Vec<Value> = Language::ALL
            .iter()
            .filter(|l| **l != Language::default())
            .map(|l| json!({ "tag": l.tag(), "name": l.name() }))
            .collect();
        Ok(json!({ "types": types, "kinds": kinds, "label_languages": label_languages }))
    })
    .await
}

async fn plugins_page(web: Web) -> Response {
    admin_page(&web, "plugins", "settings/plugins.html", async {
        let list = web.state.plugins.list(web.identity.workspace).await?;
        let mut plugins = Vec::new();
        for info in list {
            let failures = web
                .state
                .plugins
                .failures(web.identity.workspace, &info.id, 10)
                .await?;
            let deliveries = crate::plugins::background::deliveries(
                web.state.plugins.services(),
                web.identity.workspace,
                &info.id,
                50,
            )
            .await
            .map_err(ApiError::internal)?;
            let at = |micros: i64| {
                super::display::local_stamp(crate::records::from_micros(micros), web.zone, web.lang)
            };
            let deliveries: Vec<Value> = deliveries
                .into_iter()
                .map(|(row, event)| {
                    let url = format!("/api/v1/plugins/{}/deliveries/{}", info.id, row.seq);
                    json!({
                        "seq": row.seq,
                        "what": event.map(|e| format!("{} {}", e.entity_type, e.event)),
                        "record": row.record_id,
                        "attempts": row.attempts,
                        "dead": row.dead_at.is_some(),
                        "when": at(row.dead_at.unwrap_or(row.next_at)),
                        "error": row.last_error,
                        "retry_url": format!("{url}/retry"),
                        "drop_url": url,
                    })
                })
                .collect();
            let describe = |p: &crate::plugins::manifest::Permissions| {
                let mut lines = Vec::new();
                if !p.read.is_empty() {
                    lines.push(web.lang.t_with("plugin-asks-read", &[("types", p.read.join(", ").into())]));
                }
                if !p.write.is_empty() {
                    lines.push(web.lang.t_with("plugin-asks-write", &[("types", p.write.join(", ").into())]));
                }
                if !p.http.is_empty() {
                    lines.push(web.lang.t_with("plugin-asks-http", &[("hosts", p.http.join(", ").into())]));
                }
                if p.mail > 0 {
                    lines.push(web.lang.t_with("plugin-asks-mail", &[("count", p.mail.into())]));
                }
                lines
            };
            plugins.push(json!({
                "id": info.id,
                "name": info.name,
                "description": info.description,
                "versions": info.versions,
                "enabled": info.enabled,
                "suspended": info.suspended,
                "asks": describe(&info.permissions),
                "grant": serde_json::to_string(&info.permissions).unwrap_or_default(),
                "enable_url": format!("/api/v1/plugins/{}/enable", info.id),
                "disable_url": format!("/api/v1/plugins/{}/disable", info.id),
                "deliveries": deliveries,
                "failures": failures.iter().map(|f| json!({ "kind": f.kind, "message": f.message, "at": super::display::local_stamp(crate::records::from_micros(f.at), web.zone, web.lang) })).collect::<Vec<_>>(),
            }));
        }
        Ok(json!({ "plugins": plugins }))
    })
    .await
}

async fn theme_page(web: Web) -> Response {
    admin_page(&web, "theme", "settings/theme.html", async {
        let data = theme_json(&web.state, &web.identity).await?;
        let tokens: Vec<Value> = TOKENS
            .iter()
            .map(|(name, kind, label)| {
                json!({
                    "name": name,
                    "label": label,
                    "value": web.look.tokens.get(*name),
                    "kind": format!("{kind:?}").to_lowercase(),
                    "changed": web.look.changed.contains_key(*name),
                })
            })
            .collect();
        let languages: Vec<Value> = Language::ALL
            .iter()
            .map(|l| json!({ "tag": l.tag(), "name": l.name() }))
            .collect();
        Ok(json!({ "look": data, "tokens": tokens, "languages": languages }))
    })
    .await
}

async fn tokens_page(web: Web) -> Response {
    let rows = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(web.identity.user.0))
        .filter(api_token::Column::RevokedAt.is_null())
        .order_by_desc(api_token::Column::CreatedAt)
        .all(&web.state.db.read)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => return web.fail(ApiError::internal(error)).await,
    };
    let at = |m: Option<i64>| {
        m.map(|m| super::display::local_stamp(crate::records::from_micros(m), web.zone, web.lang))
    };
    let tokens: Vec<Value> = rows
        .iter()
        .map(|t| json!({ "id": t.id, "name": t.name, "created": at(Some(t.created_at)), "last_used": at(t.last_used_at), "expires": at(t.expires_at), "revoke_url": format!("/api/v1/tokens/{}", t.id) }))
        .collect();
    let context = json!({ "tokens": tokens, "sections": sections(&web, "tokens") });
    web.render("settings/tokens.html", context).await
}

/// The time zones a person can pick: the IANA zones of places (`Europe/Berlin`) and UTC,
/// without the legacy aliases (`US/Eastern`, `Etc/GMT+1`).
fn zone_choices(current: &str) -> Vec<&'static str> {
    let mut zones: Vec<&'static str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| {
            *name == "UTC"
                || *name == current
                || (name.contains('/')
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
                    && !name.starts_with("Etc/")
                    && !name.starts_with("US/")
                    && !name.starts_with("SystemV/"))
        })
        .collect();
    zones.sort_unstable();
    zones
}

async fn account_context(
    web: &Web,
    errors: Value,
    posted: Option<(&str, &str, &str)>,
) -> ApiResult<Value> {
    let me = user::Entity::find_by_id(web.identity.user.0)
        .one(&web.state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, text!("api-web-no-such-user")))?;
    let (name, zone, language) = posted.unwrap_or((
        me.name.as_str(),
        me.time_zone.as_str(),
        me.language.as_deref().unwrap_or(""),
    ));
    let now = super::display::local_stamp(chrono::Utc::now(), web.zone, web.lang);
    let languages: Vec<Value> = Language::ALL
        .iter()
        .map(|l| json!({ "tag": l.tag(), "name": l.name() }))
        .collect();
    Ok(json!({
        "sections": sections(web, "account"),
        "email": me.email,
        "name": name,
        "time_zone": zone,
        "zones": zone_choices(zone),
        "language": language,
        "languages": languages,
        "local_now": now,
        "errors": errors,
    }))
}

/// `/settings/account`: the person's own name and time zone (a plain form).
async fn account_page(web: Web) -> Response {
    match account_context(&web, json!({}), None).await {
        Ok(context) => web.render("settings/account.html", context).await,
        Err(error) => web.fail(error).await,
    }
}

async fn save_account(web: Web, body: Bytes) -> Response {
    let form = match web.form(&body) {
        Ok(form) => form,
        Err(error) => return web.fail(error).await,
    };
    let name = form.get("name").unwrap_or("");
    let zone = form.get("time_zone").unwrap_or("");
    // A form without the language select (an older override) leaves the setting alone.
    let language = form.get("language");
    let patch = crate::auth::api::ProfilePatch {
        name: Some(name.to_owned()),
        time_zone: Some(zone.to_owned()),
        language: language.map(str::to_owned),
    };
    let mut errors = serde_json::Map::new();
    match crate::auth::api::update_profile_of(&web.state, &web.identity, web.identity.user, &patch)
        .await
    {
        Ok(()) => {
            // The notice is in the language just chosen.
            let lang = language.and_then(Language::parse).unwrap_or(web.lang);
            return super::redirect_with("/settings/account", "success", &lang.t("flash-saved"));
        }
        Err(error) => super::account::field_errors(error, web.lang, &mut errors),
    }
    match account_context(
        &web,
        Value::Object(errors),
        Some((name, zone, language.unwrap_or(""))),
    )
    .await
    {
        Ok(context) => {
            web.render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "settings/account.html",
                context,
            )
            .await
        }
        Err(error) => web.fail(error).await,
    }
}

// -- the theme API ------------------------------------------------------------------------------

async fn theme_json(state: &AppState, identity: &Identity) -> ApiResult<Value> {
    let look = state
        .themes
        .look(&state.db, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    let themes: Vec<Value> = state
        .themes
        .all()
        .map(|t| json!({ "name": t.name, "title": t.title, "description": t.description }))
        .collect();
    Ok(json!({
        "theme": look.theme.name,
        "themes": themes,
        "tokens": look.tokens,
        "changed": look.changed,
        "logo": look.logo.is_some(),
        "logo_url": look.logo_url(),
        "overrides": look.overrides.keys().collect::<Vec<_>>(),
        "language": look.language.map(Language::tag),
        "templates": look.theme.templates.keys().collect::<Vec<_>>(),
    }))
}

async fn get_theme(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    Ok(Json(
        json!({ "data": theme_json(&state, &identity).await? }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeChange {
    theme: Option<String>,
    /// Token values to set; `null` returns a token to the theme's value.
    #[serde(default)]
    tokens: BTreeMap<String, Option<String>>,
    /// The workspace's default language (`en`, `zh-CN`); empty for none (English).
    language: Option<String>,
}

/// The stored look row of a workspace (a default one when none is stored yet).
async fn look_row(state: &AppState, identity: &Identity) -> ApiResult<(look::Model, bool)> {
    let row = look::Entity::find_by_id(identity.workspace.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(match row {
        Some(row) => (row, true),
        None => (
            look::Model {
                workspace_id: identity.workspace.0,
                theme: super::themes::DEFAULT_THEME.to_owned(),
                tokens: json!({}),
                logo: None,
                logo_type: None,
                updated_at: now_micros(),
                language: None,
            },
            false,
        ),
    })
}

async fn save_look(
    state: &AppState,
    identity: &Identity,
    row: look::Model,
    stored: bool,
    what: &str,
) -> ApiResult<()> {
    let active = look::ActiveModel {
        workspace_id: Set(row.workspace_id),
        theme: Set(row.theme),
        tokens: Set(row.tokens),
        logo: Set(row.logo),
        logo_type: Set(row.logo_type),
        updated_at: Set(now_micros()),
        language: Set(row.language),
    };
    let result = if stored {
        look::Entity::update(active)
            .exec(&state.db.write)
            .await
            .map(|_| ())
    } else {
        look::Entity::insert(active)
            .exec_without_returning(&state.db.write)
            .await
            .map(|_| ())
    };
    result.map_err(ApiError::internal)?;
    state.themes.forget(identity.workspace);
    crate::changes::announce(&state.db, identity.workspace, crate::changes::Change::Look).await;
    audit(state, identity, what).await
}

async fn audit(state: &AppState, identity: &Identity, what: &str) -> ApiResult<()> {
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "workspace",
            identity.workspace.0,
            "theme_changed",
            json!({ "change": what }),
        )
        .await?;
    Ok(())
}

async fn put_theme(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(change): JsonBody<ThemeChange>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let mut errors = Vec::new();
    if let Some(theme) = &change.theme
        && state.themes.get(theme).is_none()
    {
        let known: Vec<String> = state.themes.all().map(|t| t.name.clone()).collect();
        errors.push(FieldError::new(
            "theme",
            "unknown_theme",
            text!(
                "api-web-unknown-theme",
                theme = theme.chars().take(64).collect::<String>(),
                known = known.join(", ")
            ),
        ));
    }
    for (name, value) in &change.tokens {
        if let Some(value) = value
            && let Err(message) = check_token(name, value)
        {
            errors.push(FieldError::new(
                format!("tokens.{name}"),
                "invalid_token",
                message,
            ));
        } else if value.is_none() && super::themes::token_kind(name).is_none() {
            errors.push(FieldError::new(
                format!("tokens.{name}"),
                "invalid_token",
                text!("api-web-unknown-token", name = name.as_str()),
            ));
        }
    }
    let language = match change.language.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(tag) => match Language::parse(tag) {
            Some(language) => Some(Some(language)),
            None => {
                let spoken: Vec<&str> = Language::ALL.iter().map(|l| l.tag()).collect();
                errors.push(FieldError::new(
                    "language",
                    "unknown_language",
                    text!("api-web-unknown-language", spoken = spoken.join(", ")),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (mut row, stored) = look_row(&state, &identity).await?;
    if let Some(language) = language {
        row.language = language.map(|l| l.tag().to_owned());
    }
    let mut tokens: BTreeMap<String, String> =
        serde_json::from_value(row.tokens.clone()).unwrap_or_default();
    for (name, value) in change.tokens {
        match value {
            Some(value) => tokens.insert(name, value),
            None => tokens.remove(&name),
        };
    }
    if let Some(theme) = change.theme {
        row.theme = theme;
    }
    // A value equal to the theme's own is no change: the settings form sends every token,
    // and a later switch of theme must not carry this theme's values along.
    if let Some(theme) = state.themes.get(&row.theme) {
        tokens.retain(|name, value| theme.tokens.get(name) != Some(value));
    }
    row.tokens = serde_json::to_value(&tokens).map_err(ApiError::internal)?;
    save_look(&state, &identity, row, stored, "theme").await?;
    Ok(Json(
        json!({ "data": theme_json(&state, &identity).await? }),
    ))
}

/// The longest logo accepted, in bytes.
const MAX_LOGO_BYTES: usize = 512 * 1024;

/// Uploads the workspace's logo: PNG, JPEG, WebP, GIF or SVG, sent as the body.
async fn put_logo(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let kind = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let looks_right = match kind.as_str() {
        "image/png" => body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => body.starts_with(b"\xff\xd8\xff"),
        "image/gif" => body.starts_with(b"GIF8"),
        "image/webp" => body.len() > 12 && &body[..4] == b"RIFF" && &body[8..12] == b"WEBP",
        "image/svg+xml" => std::str::from_utf8(&body).is_ok_and(|s| s.contains("<svg")),
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                text!("api-web-logo-type"),
            ));
        }
    };
    if body.is_empty() || body.len() > MAX_LOGO_BYTES {
        return Err(ApiError::validation(vec![FieldError::new(
            "logo",
            "invalid_size",
            text!("api-web-logo-size", max = MAX_LOGO_BYTES / 1024),
        )]));
    }
    if !looks_right {
        return Err(ApiError::validation(vec![FieldError::new(
            "logo",
            "invalid_image",
            text!("api-web-logo-not-image", kind = kind),
        )]));
    }
    let (mut row, stored) = look_row(&state, &identity).await?;
    row.logo = Some(body.to_vec());
    row.logo_type = Some(kind);
    save_look(&state, &identity, row, stored, "logo").await?;
    Ok(Json(
        json!({ "data": theme_json(&state, &identity).await? }),
    ))
}

async fn delete_logo(State(state): State<AppState>, identity: Identity) -> ApiResult<StatusCode> {
    identity.require_admin()?;
    let (mut row, stored) = look_row(&state, &identity).await?;
    if stored && row.logo.is_some() {
        row.logo = None;
        row.logo_type = None;
        save_look(&state, &identity, row, stored, "logo removed").await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    name: String,
    source: String,
}

/// Overrides one template. It is compiled and every sample page rendered with it first; a
/// failure is a 422 carrying the template error, and nothing is saved.
async fn put_override(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<Override>,
) -> ApiResult<Response> {
    identity.require_admin()?;
    let look = state
        .themes
        .look(&state.db, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    if !look.theme.templates.contains_key(body.name.as_str()) {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "unknown_template",
            text!(
                "api-web-no-template",
                name = body.name.chars().take(100).collect::<String>()
            ),
        )]));
    }
    if body.source.len() > MAX_OVERRIDE_BYTES {
        return Err(ApiError::validation(vec![FieldError::new(
            "source",
            "too_long",
            text!("api-web-template-too-long", max = MAX_OVERRIDE_BYTES / 1024),
        )]));
    }
    let mut overrides = look.overrides.clone();
    overrides.insert(body.name.clone(), body.source.clone());
    let (themes, theme, changed) = (
        state.themes.clone(),
        look.theme.name.clone(),
        look.changed.clone(),
    );
    let checked = tokio::task::spawn_blocking(move || {
        themes.build(&theme, changed, overrides, None).map(|_| ())
    })
    .await
    .map_err(ApiError::internal)?;
    if let Err(message) = checked {
        return Err(ApiError::validation(vec![FieldError::new(
            "source",
            "template_error",
            text!("api-web-template-error", detail = message),
        )]));
    }
    let now = now_micros();
    let row = template_override::ActiveModel {
        workspace_id: Set(identity.workspace.0),
        name: Set(body.name.clone()),
        source: Set(body.source),
        updated_by: Set(identity.user.0),
        updated_at: Set(now),
    };
    let existing = template_override::Entity::find_by_id((identity.workspace.0, body.name.clone()))
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    let saved = if existing.is_some() {
        template_override::Entity::update(row)
            .exec(&state.db.write)
            .await
            .map(|_| ())
    } else {
        template_override::Entity::insert(row)
            .exec_without_returning(&state.db.write)
            .await
            .map(|_| ())
    };
    saved.map_err(ApiError::internal)?;
    state.themes.forget(identity.workspace);
    crate::changes::announce(&state.db, identity.workspace, crate::changes::Change::Look).await;
    audit(&state, &identity, &format!("template {}", body.name)).await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "data": theme_json(&state, &identity).await? })),
    )
        .into_response())
}

async fn delete_override(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    identity.require_admin()?;
    let deleted = template_override::Entity::delete_many()
        .filter(template_override::Column::WorkspaceId.eq(identity.workspace.0))
        .filter(template_override::Column::Name.eq(name.as_str()))
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            text!(
                "api-web-no-override",
                name = name.chars().take(100).collect::<String>()
            ),
        ));
    }
    state.themes.forget(identity.workspace);
    crate::changes::announce(&state.db, identity.workspace, crate::changes::Change::Look).await;
    audit(&state, &identity, &format!("template {name} removed")).await?;
    Ok(StatusCode::NO_CONTENT)
}
