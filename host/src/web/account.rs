//! Login, logout, the password change page and invitation links: plain forms over the same
//! functions as `/api/v1/auth/…`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Form, Web, redirect, redirect_with, render_plain};
use crate::app::AppState;
use crate::auth::api::{SignIn, behind_https, change_password_of, sign_out};
use crate::auth::{DEFAULT_WORKSPACE, people, session};
use crate::error::ApiError;
use crate::extract::ClientAddr;
use crate::i18n::Language;

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    next: Option<String>,
}

/// Only paths of this site: never send a person elsewhere after logging in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(params): Query<LoginParams>,
    headers: HeaderMap,
) -> Response {
    login_form(
        &state,
        browser_language(&headers),
        StatusCode::OK,
        "",
        DEFAULT_WORKSPACE,
        params.next.as_deref(),
        None,
    )
}

/// The language of a page outside any workspace: the browser's, else English.
fn browser_language(headers: &HeaderMap) -> Language {
    Language::of_request(headers).unwrap_or_default()
}

fn login_form(
    state: &AppState,
    lang: Language,
    status: StatusCode,
    email: &str,
    workspace: &str,
    next: Option<&str>,
    error: Option<String>,
) -> Response {
    render_plain(
        state,
        lang,
        status,
        "login.html",
        json!({
            "email": email,
            "workspace_slug": workspace,
            "next": safe_next(next),
            "error": error,
        }),
    )
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let lang = browser_language(&headers);
    if !same_origin(&headers) {
        // Login CSRF: another site must not sign a visitor into an account of its choosing.
        let error = lang.t("login-cross-site");
        return login_form(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            "",
            DEFAULT_WORKSPACE,
            None,
            Some(error),
        );
    }
    let email = form.get("email").unwrap_or("").trim().to_owned();
    let workspace = form
        .get("workspace")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .unwrap_or(DEFAULT_WORKSPACE)
        .to_owned();
    let next = form.get("next");
    let password = form.get("password").unwrap_or("");
    if email.is_empty() || password.is_empty() {
        let error = lang.t("login-enter-both");
        return login_form(
            &state,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &email,
            &workspace,
            next,
            Some(error),
        );
    }
    match crate::auth::api::sign_in(&state, addr, &workspace, &email, password).await {
        Ok(SignIn::Done { secret, .. }) => {
            let mut response = redirect(&safe_next(next));
            if let Some(cookie) = session::set_cookie(&secret, behind_https(&headers)) {
                response.headers_mut().insert(SET_COOKIE, cookie);
            }
            response
        }
        Ok(SignIn::Throttled(wait)) => {
            let error = lang.t_with(
                "login-throttled",
                &[("seconds", wait.as_secs().max(1).into())],
            );
            login_form(
                &state,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                &email,
                &workspace,
                next,
                Some(error),
            )
        }
        Err(error) => {
            let status = error.code.status();
            let message = if status.is_server_error() {
                lang.t("error-server-trouble")
            } else if status == StatusCode::FORBIDDEN {
                // The right password of a deactivated account.
                lang.t("login-deactivated")
            } else {
                // The API's answer is the same for an unknown email and a wrong password.
                lang.t("login-wrong")
            };
            login_form(
                &state,
                lang,
                status,
                &email,
                &workspace,
                next,
                Some(message),
            )
        }
    }
}

/// Whether a form post came from this site: browsers name the page's origin in `Origin` (and
/// say `Sec-Fetch-Site`); a post from another site's page is refused. Clients that send
/// neither (scripts, tests) are not browsers a third-party page could drive.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site == "cross-site" || site == "same-site") {
        return false;
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

pub async fn logout(web: Web, body: Bytes) -> Response {
    // The form carries nothing but its CSRF token.
    if let Err(error) = web.form(&body) {
        return web.fail(error).await;
    }
    if let Err(error) = sign_out(&web.state, &web.identity).await {
        return web.fail(error).await;
    }
    let mut response = redirect("/login");
    response
        .headers_mut()
        .insert(SET_COOKIE, session::clear_cookie());
    response
}

pub async fn password_page(web: Web) -> Response {
    web.render("password.html", json!({ "errors": {}, "done": false }))
        .await
}

pub async fn change_password(web: Web, body: Bytes) -> Response {
    let form = match web.form(&body) {
        Ok(form) => form,
        Err(error) => return web.fail(error).await,
    };
    let current = form.get("current_password").unwrap_or("");
    let new = form.get("new_password").unwrap_or("");
    let mut errors = Map::new();
    if form.get("confirm_password").unwrap_or("") != new {
        errors.insert(
            "confirm_password".into(),
            web.lang.t("password-differ-new").into(),
        );
    } else {
        match change_password_of(&web.state, &web.identity, current, new).await {
            Ok(()) => {
                return redirect_with(
                    "/account/password",
                    "success",
                    &web.lang.t("flash-password-changed"),
                );
            }
            Err(error) => new_password_errors(error, web.lang, &mut errors),
        }
    }
    web.render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "password.html",
        json!({ "errors": errors, "done": false }),
    )
    .await
}

/// An error of setting a password, by field: the API's `password` is the form's
/// `new_password`.
fn new_password_errors(error: ApiError, lang: Language, into: &mut Map<String, Value>) {
    field_errors(error, lang, into);
    if let Some(message) = into.remove("password") {
        into.insert("new_password".into(), message);
    }
}

/// An API error as messages by field (`""` for the form as a whole).
pub fn field_errors(error: ApiError, lang: Language, into: &mut Map<String, Value>) {
    if error.details.is_empty() {
        let message = super::shown_message(&error, lang);
        into.insert(String::new(), Value::String(message));
    }
    for detail in error.details {
        into.entry(detail.field)
            .or_insert(Value::String(detail.message.render(lang)));
    }
}

/// What an invitation link that no longer works says (used, expired, replaced, forged, or
/// its user deactivated: the page does not tell them apart).
fn dead_invitation(state: &AppState, lang: Language) -> Response {
    render_plain(
        state,
        lang,
        StatusCode::NOT_FOUND,
        "error.html",
        json!({ "status": 404, "message": lang.t("invite-dead") }),
    )
}

fn invitation_form(
    state: &AppState,
    lang: Language,
    status: StatusCode,
    token: &str,
    user: &crate::auth::model::user::Model,
    errors: Map<String, Value>,
) -> Response {
    render_plain(
        state,
        lang,
        status,
        "invite.html",
        json!({
            "action": people::invitation_path(token),
            "email": user.email,
            "name": people::shown_name(user),
            "errors": errors,
        }),
    )
}

/// `/invite/<token>`: the form to set a first password.
pub async fn invitation_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = browser_language(&headers);
    match people::invited(&state.db, &token).await {
        Ok(Some(user)) => invitation_form(&state, lang, StatusCode::OK, &token, &user, Map::new()),
        Ok(None) => dead_invitation(&state, lang),
        Err(error) => super::plain_error(ApiError::from(error)),
    }
}

/// Sets the first password, uses the invitation and signs the person in.
pub async fn accept_invitation(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = browser_language(&headers);
    let user = match people::invited(&state.db, &token).await {
        Ok(Some(user)) => user,
        Ok(None) => return dead_invitation(&state, lang),
        Err(error) => return super::plain_error(ApiError::from(error)),
    };
    let form = Form::parse(&body);
    let mut errors = Map::new();
    let new = form.get("new_password").unwrap_or("");
    if !same_origin(&headers) {
        errors.insert(String::new(), lang.t("invite-cross-site").into());
    } else if form.get("confirm_password").unwrap_or("") != new {
        errors.insert("confirm_password".into(), lang.t("password-differ").into());
    } else {
        match crate::auth::api::accept_invitation(&state, addr, &token, new).await {
            Ok(Some(SignIn::Done { secret, .. })) => {
                let mut response = redirect_with("/", "success", &lang.t("flash-welcome"));
                if let Some(cookie) = session::set_cookie(&secret, behind_https(&headers)) {
                    response.headers_mut().append(SET_COOKIE, cookie);
                }
                return response;
            }
            Ok(Some(SignIn::Throttled(_)) | None) => return dead_invitation(&state, lang),
            Err(error) => new_password_errors(error, lang, &mut errors),
        }
    }
    let status = if errors.contains_key("") && !same_origin(&headers) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    invitation_form(&state, lang, status, &token, &user, errors)
}
