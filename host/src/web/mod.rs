//! The web app (DESIGN §6): server-rendered pages for the people who work in Kith all day.
//!
//! Pages read through the same store, search and plugin functions as the API, as the signed-in
//! user, so every permission applies unchanged. Every page reads without JavaScript; record
//! forms, notes, saved views and a task's box post plain HTML forms (with the session's
//! CSRF token in `_csrf`). The small script of the theme adds inline editing, the board's
//! moves (drag and drop, and a select per card for the keyboard), search as you type and the
//! settings forms, which call the JSON API.
//!
//! `themes` owns the look; `pages` the record pages; `account` login and passwords;
//! `settings` the admin pages and the theme API; `integrations` the settings pages of email,
//! mailboxes and webhooks; `display` turns values into what a page shows and form input back
//! into values; `samples` holds the sample context of every page (override checks and render
//! tests).

mod account;
mod bulk;
mod conflict;
pub mod display;
mod imports;
mod integrations;
mod merge;
mod model;
mod pages;
mod pick;
pub mod samples;
mod settings;
pub mod themes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use self::themes::Look;
use crate::app::{AppState, Routes};
use crate::auth::model::{user, workspace};
use crate::auth::permissions::{Operation, Scope};
use crate::auth::{Identity, load_access, session};
use crate::error::{ApiError, ErrorCode};
use crate::i18n::Language;
use crate::i18n::text;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", post(account::logout))
        .route(
            "/account/password",
            get(account::password_page).post(account::change_password),
        )
        .route(
            "/invite/{token}",
            get(account::invitation_page).post(account::accept_invitation),
        )
        .route("/search", get(pages::search))
        .route("/records/{plural}", get(pages::list))
        .route("/records/{plural}/board", get(pages::board))
        .route("/records/{plural}/pick", get(pick::pick))
        .route("/records/{plural}/values/{field}", get(pick::values))
        .route("/records/{plural}/views", post(pages::save_view))
        .route("/records/{plural}/bulk", post(bulk::bulk))
        .route(
            "/records/{plural}/views/{id}/delete",
            post(pages::delete_view),
        )
        .route(
            "/records/{plural}/new",
            get(pages::new_form).post(pages::create),
        )
        .route("/records/{plural}/{id}", get(pages::record))
        .route(
            "/records/{plural}/{id}/edit",
            get(pages::edit_form).post(pages::update),
        )
        .route("/records/{plural}/{id}/delete", post(pages::delete))
        .route(
            "/records/{plural}/{id}/merge",
            get(merge::merge_form).post(merge::merge),
        )
        .route("/records/{plural}/{id}/set", post(pages::set_field))
        .route(
            "/records/{plural}/{id}/activities",
            post(pages::add_activity),
        )
        .route("/records/{plural}/{id}/email", post(pages::send_email))
        .route(
            "/records/{plural}/{id}/actions/{plugin}/{action}",
            get(pages::action_form).post(pages::run_action),
        )
        .merge(settings::routes())
        .merge(imports::routes())
        .merge(integrations::routes())
        .route("/theme.css", get(theme_css))
        .route("/theme/logo", get(theme_logo))
        .route("/static/{theme}/{*file}", get(static_file))
}

/// The admin API of themes (`/api/v1/admin/theme…`), nested under `/api/v1` by the app.
pub fn api_routes() -> Routes {
    settings::api_routes()
}

/// A signed-in person's request: who they are, their session's CSRF token and their
/// workspace's look. Without a live session the page redirects to the login page.
pub struct Web {
    pub state: AppState,
    pub identity: Identity,
    pub csrf: String,
    pub look: Arc<Look>,
    /// The person's time zone: datetimes are shown and read in it.
    pub zone: chrono_tz::Tz,
    /// The language pages are shown in (`i18n::Language::choose`).
    pub lang: Language,
    /// How that language writes figures.
    pub locale: crate::locale::Locale,
    /// The path and query of this request (where to come back after logging in).
    pub here: String,
    flash: Option<Value>,
}

impl FromRequestParts<AppState> for Web {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let to_login = || redirect(&format!("/login?next={}", encode(&here)));
        let Some(secret) = session::cookie(&parts.headers) else {
            return Err(to_login());
        };
        let found = session::lookup(&state.db, &secret)
            .await
            .map_err(|e| plain_error(ApiError::internal(e)))?;
        let Some(session::Live {
            principal,
            csrf,
            time_zone,
            language,
        }) = found
        else {
            return Err(to_login());
        };
        let access = load_access(&state.db, &principal)
            .await
            .map_err(|e| plain_error(ApiError::internal(e)))?;
        let identity = Identity {
            user: principal.user,
            workspace: principal.workspace,
            role: principal.role,
            access: Arc::new(access),
            session: Some(crate::auth::hash_token(&secret)),
        };
        let look = state
            .themes
            .look(&state.db, identity.workspace)
            .await
            .map_err(|e| plain_error(ApiError::internal(e)))?;
        let lang = Language::choose(
            language.as_deref(),
            &parts.headers,
            look.language.map(Language::tag),
        );
        Ok(Web {
            state: state.clone(),
            identity,
            csrf,
            look,
            zone: crate::auth::people::zone(&time_zone),
            lang,
            locale: lang.locale(),
            here,
            flash: read_flash(&parts.headers),
        })
    }
}

/// The signed-in person, if any (for pages that also serve visitors: the theme's CSS).
impl OptionalFromRequestParts<AppState> for Web {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Response> {
        match <Web as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(web) => Ok(Some(web)),
            Err(response) if response.status() == StatusCode::SEE_OTHER => Ok(None),
            Err(response) => Err(response),
        }
    }
}

impl Web {
    /// Renders a page: `context` plus the globals every template sees.
    pub async fn render(&self, template: &str, context: Value) -> Response {
        self.render_status(StatusCode::OK, template, context).await
    }

    pub async fn render_status(
        &self,
        status: StatusCode,
        template: &str,
        mut context: Value,
    ) -> Response {
        match self.globals().await {
            Ok(globals) => {
                if let (Value::Object(context), Value::Object(globals)) = (&mut context, globals) {
                    for (key, value) in globals {
                        context.entry(key).or_insert(value);
                    }
                }
            }
            Err(error) => return plain_error(error),
        }
        let mut response = render_with(&self.look, self.lang, status, template, context);
        if self.flash.is_some() {
            response
                .headers_mut()
                .append(SET_COOKIE, HeaderValue::from_static(CLEAR_FLASH));
        }
        response
    }

    /// The error page for a failed request: 404s and refusals keep their status.
    pub async fn fail(&self, error: ApiError) -> Response {
        let status = error.code.status();
        let message = shown_message(&error, self.lang);
        self.render_status(
            status,
            "error.html",
            json!({ "status": status.as_u16(), "message": message }),
        )
        .await
    }

    /// A posted form, once its CSRF token is checked: every form post of a page reads its
    /// body through this.
    pub fn form(&self, body: &[u8]) -> Result<Form, ApiError> {
        let form = Form::parse(body);
        match form.get("_csrf") {
            Some(sent) if session::same_secret(sent, &self.csrf) => Ok(form),
            _ => Err(ApiError::new(
                ErrorCode::CsrfFailed,
                text!("error-form-expired"),
            )),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.identity.is_admin()
    }

    pub fn actor(&self) -> crate::records::Actor {
        self.identity.actor()
    }

    async fn globals(&self) -> Result<Value, ApiError> {
        let db = &self.state.db.read;
        let me = user::Entity::find_by_id(self.identity.user.0)
            .one(db)
            .await
            .map_err(ApiError::internal)?;
        let space = workspace::Entity::find_by_id(self.identity.workspace.0)
            .one(db)
            .await
            .map_err(ApiError::internal)?;
        let schema = self.state.store.schema(self.identity.workspace).await?;
        let path = self.here.split('?').next().unwrap_or("/");
        let mut nav =
            vec![json!({ "label": self.lang.t("nav-home"), "url": "/", "active": path == "/" })];
        // Types that configure the others sit under Settings.
        let mut setup_nav = Vec::new();
        for ty in schema.types() {
            if matches!(
                self.identity.access.scope(Operation::Read, &ty.name),
                Scope::Nothing
            ) {
                continue;
            }
            let url = format!("/records/{}", ty.plural);
            let active = path == url || path.starts_with(&format!("{url}/"));
            let item = json!({ "label": display::type_label_plural(self.lang, ty), "url": url, "active": active });
            if ty.setup {
                setup_nav.push(item)
            } else {
                nav.push(item)
            }
        }
        let in_setup = setup_nav.iter().any(|i| i["active"] == true);
        if self.is_admin() || !setup_nav.is_empty() {
            let url = if self.is_admin() {
                "/settings"
            } else {
                "/settings/tokens"
            };
            nav.push(json!({ "label": self.lang.t("nav-settings"), "url": url, "active": path.starts_with("/settings") || in_setup, "children": setup_nav }));
        }
        let name = me
            .as_ref()
            .map(crate::auth::people::shown_name)
            .unwrap_or_default();
        let email = me.map(|u| u.email).unwrap_or_default();
        let (slug, space_name) = space.map(|w| (w.slug, w.name)).unwrap_or_default();
        Ok(json!({
            "user": {
                "id": self.identity.user,
                "email": email,
                "name": name,
                "time_zone": self.zone.name(),
                "role": self.identity.role,
                "is_admin": self.is_admin(),
            },
            "workspace": { "slug": slug, "name": space_name },
            "csrf": self.csrf,
            "nav": nav,
            "theme": look_globals(&self.look),
            "static": static_prefix(&self.look),
            "flash": self.flash,
        }))
    }
}

fn look_globals(look: &Look) -> Value {
    json!({ "name": look.theme.name, "logo_url": look.logo_url(), "version": look.theme.version, "css_version": look.css_tag })
}

fn static_prefix(look: &Look) -> String {
    format!("/static/{}/", look.theme.name)
}

/// Renders with a look; a template that fails even after the fallback is a plain 500.
///
/// Each page gets a fresh `csp_nonce` (a global of every template): its content security
/// policy lets only script tags carrying it run, and `layout.html` puts it on the theme's.
pub fn render_with(
    look: &Look,
    lang: Language,
    status: StatusCode,
    template: &str,
    mut context: Value,
) -> Response {
    let Ok(nonce) = crate::auth::random_hex(16) else {
        return plain_error(ApiError::new(ErrorCode::Internal, text!("api-internal")));
    };
    if let Value::Object(map) = &mut context {
        map.insert("csp_nonce".into(), Value::String(nonce.clone()));
        // The page's language: `<html lang>`, and what `t(…)` reads.
        map.insert("lang".into(), Value::String(lang.tag().to_owned()));
        map.insert(
            "script_messages".into(),
            Value::Object(crate::i18n::script_messages(lang)),
        );
    }
    match look.render(
        template,
        minijinja::Value::from(minijinja::value::Serde(&context)),
    ) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(policy) = HeaderValue::from_str(&crate::app::page_policy(&nonce)) {
                headers.insert("content-security-policy", policy);
            }
            response
        }
        Err(error) => {
            tracing::error!(template, error = %format!("{error:#}"), "page template failed");
            plain_error(ApiError::new(ErrorCode::Internal, text!("api-internal")))
        }
    }
}

/// Renders a page outside any workspace (the login page) with the default theme, in the
/// browser's language.
pub fn render_plain(
    state: &AppState,
    lang: Language,
    status: StatusCode,
    template: &str,
    mut context: Value,
) -> Response {
    let look = state.themes.plain();
    if let Value::Object(map) = &mut context {
        map.insert("theme".into(), look_globals(&look));
        map.insert("static".into(), Value::String(static_prefix(&look)));
        map.insert("nav".into(), json!([]));
    }
    render_with(&look, lang, status, template, context)
}

/// What a page tells a person about a failure: the message of a refusal, nothing internal.
pub fn shown_message(error: &ApiError, lang: Language) -> String {
    if error.code.status().is_server_error() {
        lang.t("error-server-trouble")
    } else {
        error.message.render(lang)
    }
}

/// A last-resort error answer that needs no template.
fn plain_error(error: ApiError) -> Response {
    let status = error.code.status();
    let text = shown_message(&error, Language::default());
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// 303 See Other: after a form post, the browser GETs the next page.
pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A redirect that shows a one-line notice on the next page.
pub fn redirect_with(to: &str, kind: &str, text: &str) -> Response {
    let mut response = redirect(to);
    let cookie = format!(
        "{FLASH_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60",
        encode(&format!("{kind}:{text}"))
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

const FLASH_COOKIE: &str = "kith_flash";
const CLEAR_FLASH: &str = "kith_flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";

fn read_flash(headers: &HeaderMap) -> Option<Value> {
    let raw = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLASH_COOKIE)
        .map(|(_, value)| value.to_owned())?;
    let decoded: String = form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    let (kind, text) = decoded.split_once(':')?;
    let kind = if kind == "error" { "error" } else { "success" };
    Some(json!({ "kind": kind, "text": text.chars().take(300).collect::<String>() }))
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A posted form or a query string as ordered pairs (a field may repeat).
#[derive(Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `/theme.css`: the CSS variables of the visitor's workspace look (the default theme's
/// before login).
async fn theme_css(
    axum::extract::State(state): axum::extract::State<AppState>,
    web: Option<Web>,
    headers: HeaderMap,
) -> Response {
    let look = web.map_or_else(|| state.themes.plain(), |w| w.look);
    cached(
        &headers,
        &look.css_tag,
        "text/css; charset=utf-8",
        "private, max-age=0, must-revalidate",
        look.css.clone().into_bytes(),
    )
}

/// `/theme/logo`: the workspace's uploaded logo. SVG logos are served sandboxed.
async fn theme_logo(web: Web, headers: HeaderMap) -> Response {
    let Some((bytes, kind, tag)) = &web.look.logo else {
        return web
            .fail(ApiError::new(ErrorCode::NotFound, text!("error-no-logo")))
            .await;
    };
    let mut response = cached(&headers, tag, kind, "private, max-age=86400", bytes.clone());
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    response
}

/// `/static/{theme}/{file}`: a theme's static files (`default`'s when the theme lacks one);
/// URLs carry the theme's version, so they may be cached for a year.
async fn static_file(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path((theme, file)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let found = state
        .themes
        .get(&theme)
        .and_then(|t| t.static_file(&file).map(|bytes| (t.version.clone(), bytes)));
    let Some((version, bytes)) = found else {
        return plain_error(ApiError::new(
            ErrorCode::NotFound,
            text!(
                "api-web-no-static-file",
                file = file.chars().take(100).collect::<String>()
            ),
        ));
    };
    let kind = match file.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" => "application/json",
        _ => "application/octet-stream",
    };
    cached(
        &headers,
        &version,
        kind,
        "public, max-age=31536000, immutable",
        bytes.to_vec(),
    )
}

/// A body with its ETag, or 304 when the client has it.
fn cached(
    headers: &HeaderMap,
    tag: &str,
    kind: &str,
    policy: &'static str,
    body: Vec<u8>,
) -> Response {
    let etag = format!("\"{tag}\"");
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, kind.to_owned())], body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    response
}
