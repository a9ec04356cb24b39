//! `/api/v1/auth/…` (login, logout, password), `/api/v1/me`, `/api/v1/tokens…` and the admin
//! endpoints for users, roles and teams. Security events land in the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{api_token, user};
use super::permissions::Role;
use super::{AuthError, Identity, hash_token, roles, session};
use crate::app::{AppState, Routes};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::extract::{ApiPath, ApiQuery, ClientAddr, JsonBody};
use crate::i18n::text;
use crate::ids::{UserId, WorkspaceId};
use crate::records::{now_micros, value::format_micros};

pub fn routes() -> Routes {
    Routes::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/password", post(change_password))
        .route("/me", get(me).patch(update_me))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/admin/users", get(list_users).post(create_user))
        .route("/admin/users/{id}", axum::routing::patch(update_user))
        .route("/admin/users/{id}/deactivate", post(deactivate_user))
        .route("/admin/users/{id}/reactivate", post(reactivate_user))
        .route("/admin/users/{id}/invitation", post(reinvite_user))
        .route("/admin/invitations", post(invite_user))
        .route("/admin/roles", get(list_roles))
        .route("/admin/roles/{name}", put(save_role))
        .route("/admin/teams", get(list_teams).post(create_team))
        .route("/admin/teams/{id}/members", put(set_team_members))
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Database(cause) => ApiError::internal(cause),
            AuthError::Hashing(cause) => ApiError::internal(cause),
            AuthError::DuplicateUser { .. } => ApiError::new(ErrorCode::Conflict, error.text()),
            AuthError::UnknownWorkspace(_)
            | AuthError::UnknownUser { .. }
            | AuthError::UnknownUserId => ApiError::new(ErrorCode::NotFound, error.text()),
            AuthError::LastAdmin
            | AuthError::OwnAccount
            | AuthError::Deactivated
            | AuthError::AlreadyJoined => ApiError::new(ErrorCode::Conflict, error.text()),
            other => ApiError::validation(vec![FieldError::new(
                field_of(&other),
                "invalid_value",
                other.text(),
            )]),
        }
    }
}

fn field_of(error: &AuthError) -> &'static str {
    match error {
        AuthError::UnknownRole(_) => "role",
        AuthError::InvalidEmail(_) => "email",
        AuthError::WeakPassword => "password",
        AuthError::InvalidSlug(_) => "workspace",
        AuthError::InvalidTimeZone(_) => "time_zone",
        AuthError::InvalidName => "name",
        _ => "",
    }
}

fn parse_uuid(raw: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            text!(
                "api-access-no-such-id",
                what = what,
                id = raw.chars().take(64).collect::<String>()
            ),
        )
    })
}

// -- sessions -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default = "default_workspace")]
    workspace: String,
}

fn default_workspace() -> String {
    super::DEFAULT_WORKSPACE.to_owned()
}

/// The same answer for an unknown email and a wrong password.
fn bad_credentials() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, text!("api-access-bad-credentials"))
}

fn throttled(wait: std::time::Duration) -> Response {
    let mut response = ApiError::new(
        ErrorCode::TooManyAttempts,
        text!("api-access-too-many-logins"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// A hash of a random password, verified against when the email is unknown so that both
/// failures take the same time.
static DECOY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult<Response> {
    let (user, secret, csrf) =
        match sign_in(&state, addr, &body.workspace, &body.email, &body.password).await? {
            SignIn::Done { user, secret, csrf } => (user, secret, csrf),
            SignIn::Throttled(wait) => return Ok(throttled(wait)),
        };
    let mut response = Json(json!({
        "user": { "id": user.id, "email": user.email, "role": user.role },
        "workspace": body.workspace,
        "csrf_token": csrf,
    }))
    .into_response();
    if let Some(cookie) = session::set_cookie(&secret, behind_https(&headers)) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Whether the request came through an HTTPS proxy (the session cookie is then `Secure`).
pub(crate) fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p == "https")
}

/// What a login attempt came to.
pub(crate) enum SignIn {
    /// A new session: the user, the cookie secret and the CSRF token.
    Done {
        user: Box<user::Model>,
        secret: String,
        csrf: String,
    },
    /// Too many failures for this account or address: wait this long.
    Throttled(std::time::Duration),
}

/// Checks a password login (throttled per account and address, the same answer and time for
/// an unknown email and a wrong password) and starts a session. The API and the web login
/// page both sign in through this.
pub(crate) async fn sign_in(
    state: &AppState,
    addr: Option<std::net::IpAddr>,
    workspace_slug: &str,
    email: &str,
    password: &str,
) -> ApiResult<SignIn> {
    let email = email.trim().to_lowercase();
    let account_key = format!("{workspace_slug}/{email}");
    let address_key = addr.map(|a| a.to_string()).unwrap_or_default();
    let guard = &state.login;
    if let Err(wait) = guard
        .accounts
        .check(&account_key)
        .and_then(|()| guard.addresses.check(&address_key))
    {
        return Ok(SignIn::Throttled(wait));
    }
    let workspace = super::find_workspace(&state.db.read, workspace_slug).await?;
    let found = match workspace {
        Some(workspace) => user::Entity::find()
            .filter(user::Column::WorkspaceId.eq(workspace.0))
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&state.db.read)
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    // An invited user without a password yet is checked against the decoy too.
    let hash = match found.as_ref().filter(|u| !u.password_hash.is_empty()) {
        Some(user) => user.password_hash.clone(),
        None => DECOY_HASH
            .get_or_init(|| {
                super::hash_password("decoy password of no account").unwrap_or_default()
            })
            .clone(),
    };
    let permit = guard.hashing.acquire().await.map_err(ApiError::internal)?;
    let password = password.to_owned();
    let verified = tokio::task::spawn_blocking(move || super::verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    drop(permit);
    let found = found.filter(|u| !u.password_hash.is_empty());
    let (Some(user), true) = (found, verified) else {
        guard.accounts.fail(&account_key);
        guard.addresses.fail(&address_key);
        if let Some(workspace) = workspace {
            let details = json!({ "email": email, "address": address_key });
            state
                .store
                .security_event(
                    workspace,
                    None,
                    "user",
                    Uuid::nil(),
                    "login_failed",
                    details,
                )
                .await?;
        }
        return Err(bad_credentials());
    };
    guard.accounts.reset(&account_key);
    if user.deactivated_at.is_some() {
        // Only someone who knows the password learns that the account exists.
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            text!("api-access-account-deactivated"),
        ));
    }
    start_session(state, user, &address_key).await
}

/// Starts a session for a user who proved who they are, and records the login.
async fn start_session(state: &AppState, user: user::Model, address: &str) -> ApiResult<SignIn> {
    let (secret, csrf) =
        session::create(&state.db, UserId(user.id), WorkspaceId(user.workspace_id)).await?;
    state
        .store
        .security_event(
            WorkspaceId(user.workspace_id),
            Some(UserId(user.id)),
            "user",
            user.id,
            "login",
            json!({ "address": address }),
        )
        .await?;
    Ok(SignIn::Done {
        user: Box::new(user),
        secret,
        csrf,
    })
}

async fn logout(State(state): State<AppState>, identity: Identity) -> ApiResult<Response> {
    sign_out(&state, &identity).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, session::clear_cookie());
    Ok(response)
}

/// Ends the caller's browser session (a token-authenticated caller has none to end).
pub(crate) async fn sign_out(state: &AppState, identity: &Identity) -> ApiResult<()> {
    if let Some(hash) = &identity.session {
        session::revoke(&state.db, hash)
            .await
            .map_err(ApiError::internal)?;
        state
            .store
            .security_event(
                identity.workspace,
                Some(identity.user),
                "user",
                identity.user.0,
                "logout",
                json!({}),
            )
            .await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password and ends their other sessions.
async fn change_password(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<StatusCode> {
    change_password_of(
        &state,
        &identity,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the current password, stores the new one, ends the user's other sessions and
/// records the change (the API and the web app's password page).
pub(crate) async fn change_password_of(
    state: &AppState,
    identity: &Identity,
    current_password: &str,
    new_password: &str,
) -> ApiResult<()> {
    let found = user::Entity::find_by_id(identity.user.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(bad_credentials)?;
    let permit = state
        .login
        .hashing
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let (current, hash) = (current_password.to_owned(), found.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || super::verify_password(&current, &hash))
        .await
        .map_err(ApiError::internal)?;
    drop(permit);
    if !verified {
        return Err(ApiError::validation(vec![FieldError::new(
            "current_password",
            "invalid_password",
            text!("api-access-wrong-password"),
        )]));
    }
    set_password(
        state,
        identity.user,
        new_password,
        identity.session.as_deref(),
    )
    .await?;
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "user",
            identity.user.0,
            "password_changed",
            json!({}),
        )
        .await?;
    Ok(())
}

/// Checks a new password (8 characters or more) and hashes it, one hashing at a time.
async fn hash_new_password(state: &AppState, password: &str) -> ApiResult<String> {
    if password.chars().count() < 8 {
        return Err(AuthError::WeakPassword.into());
    }
    let permit = state
        .login
        .hashing
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || super::hash_password(&password))
        .await
        .map_err(ApiError::internal)??;
    drop(permit);
    Ok(hash)
}

/// Stores a new password hash and ends the user's sessions but `keep`.
async fn set_password(
    state: &AppState,
    user_id: UserId,
    password: &str,
    keep: Option<&str>,
) -> ApiResult<()> {
    let hash = hash_new_password(state, password).await?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::PasswordChangedAt, Expr::value(now_micros()))
        .filter(user::Column::Id.eq(user_id.0))
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    session::revoke_others(&state.db, user_id.0, keep)
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

async fn me(identity: Identity, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let found = user::Entity::find_by_id(identity.user.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "id": identity.user,
        "email": found.as_ref().map(|u| &u.email),
        "name": found.as_ref().map(|u| &u.name),
        "time_zone": found.as_ref().map(|u| &u.time_zone),
        "language": found.as_ref().and_then(|u| u.language.as_ref()),
        "workspace": identity.workspace,
        "role": identity.access.role.as_ref(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfilePatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// `en`, `zh-CN`, or empty for the browser's language.
    #[serde(default)]
    pub language: Option<String>,
}

/// Changes the caller's own display name, time zone and language.
async fn update_me(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<ProfilePatch>,
) -> ApiResult<Json<Value>> {
    update_profile_of(&state, &identity, identity.user, &body).await?;
    me(identity, State(state)).await
}

/// Checks and stores a name, time zone and language (all refused together, field by field),
/// audited.
pub(crate) async fn update_profile_of(
    state: &AppState,
    identity: &Identity,
    target: UserId,
    body: &ProfilePatch,
) -> ApiResult<()> {
    let (name, zone, language) = check_profile(body)?;
    if name.is_none() && zone.is_none() && language.is_none() {
        return Ok(());
    }
    let profile = super::people::Profile {
        name: name.as_deref(),
        time_zone: zone.as_deref(),
        language: language.as_ref().map(|l| l.map(crate::i18n::Language::tag)),
    };
    super::people::update_profile(&state.db, target, &profile).await?;
    let mut change = json!({ "name": name, "time_zone": zone });
    if let Some(language) = language {
        change["language"] = json!(language);
    }
    user_event(state, identity, target.0, "profile_changed", change).await?;
    Ok(())
}

/// A profile change: its name, canonical time zone and language (`Some(None)`: back to the
/// browser's).
type CheckedProfile = (
    Option<String>,
    Option<String>,
    Option<Option<crate::i18n::Language>>,
);

/// A profile change's name, canonical time zone and language, or every field's refusal.
fn check_profile(body: &ProfilePatch) -> ApiResult<CheckedProfile> {
    let mut errors = Vec::new();
    let name = match body.name.as_deref().map(super::people::check_name) {
        Some(Err(e)) => {
            errors.push(FieldError::new("name", "invalid_value", e.text()));
            None
        }
        Some(Ok(name)) => Some(name),
        None => None,
    };
    let zone = match body.time_zone.as_deref().map(super::people::check_zone) {
        Some(Err(e)) => {
            errors.push(FieldError::new("time_zone", "invalid_time_zone", e.text()));
            None
        }
        Some(Ok(zone)) => Some(zone),
        None => None,
    };
    let language = match body.language.as_deref().map(str::trim) {
        Some("") => Some(None),
        Some(tag) => match crate::i18n::Language::parse(tag) {
            Some(language) => Some(Some(language)),
            None => {
                errors.push(FieldError::new(
                    "language",
                    "invalid_value",
                    text!("api-access-bad-language"),
                ));
                None
            }
        },
        None => None,
    };
    if errors.is_empty() {
        Ok((name, zone, language))
    } else {
        Err(ApiError::validation(errors))
    }
}

// -- API tokens ---------------------------------------------------------------------------------

fn token_json(row: &api_token::Model) -> Value {
    let at = |micros: Option<i64>| micros.map(format_micros);
    json!({
        "id": row.id,
        "user": row.user_id,
        "name": row.name,
        "created_at": format_micros(row.created_at),
        "last_used_at": at(row.last_used_at),
        "expires_at": at(row.expires_at),
        "revoked_at": at(row.revoked_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenListParams {
    all: Option<bool>,
}

/// The caller's tokens (`all=true`: every token of the workspace, for admins). Secrets are
/// never shown again.
async fn list_tokens(
    State(state): State<AppState>,
    identity: Identity,
    ApiQuery(params): ApiQuery<TokenListParams>,
) -> ApiResult<Json<Value>> {
    let mut select =
        api_token::Entity::find().filter(api_token::Column::WorkspaceId.eq(identity.workspace.0));
    if params.all.unwrap_or(false) {
        identity.require_admin()?;
    } else {
        select = select.filter(api_token::Column::UserId.eq(identity.user.0));
    }
    let rows = select
        .order_by_asc(api_token::Column::CreatedAt)
        .all(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "data": rows.iter().map(token_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    expires_in_days: Option<u32>,
}

async fn create_token(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // At most 100 characters as sent, as the document says; at least one not blank.
    let name = body.name.trim();
    if name.is_empty() || body.name.chars().count() > 100 {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "invalid_value",
            text!("api-access-token-name"),
        )]));
    }
    if body.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(ApiError::validation(vec![FieldError::new(
            "expires_in_days",
            "invalid_value",
            text!("api-access-token-days"),
        )]));
    }
    let secret = format!("kith_{}", super::random_hex(32)?);
    let now = now_micros();
    let row = api_token::Model {
        id: Uuid::now_v7(),
        workspace_id: identity.workspace.0,
        user_id: identity.user.0,
        name: name.to_owned(),
        token_hash: hash_token(&secret),
        created_at: now,
        last_used_at: None,
        expires_at: body
            .expires_in_days
            .map(|d| now + i64::from(d) * 86_400_000_000),
        revoked_at: None,
    };
    api_token::Entity::insert(api_token::ActiveModel::from(row.clone()))
        .exec_without_returning(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "api_token",
            row.id,
            "token_created",
            json!({ "name": row.name }),
        )
        .await?;
    let mut out = token_json(&row);
    out["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

/// Revokes one of the caller's tokens (admins: any token of the workspace).
async fn revoke_token(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, "token")?;
    let row = api_token::Entity::find_by_id(id)
        .filter(api_token::Column::WorkspaceId.eq(identity.workspace.0))
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .filter(|t| t.user_id == identity.user.0 || identity.is_admin())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-token")))?;
    let now = now_micros();
    api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "api_token",
            id,
            "token_revoked",
            json!({ "name": row.name }),
        )
        .await?;
    let mut revoked = row;
    revoked.revoked_at.get_or_insert(now);
    Ok(Json(token_json(&revoked)))
}

// -- admin: users, roles, teams -----------------------------------------------------------------

fn user_json(row: &user::Model) -> Value {
    json!({
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "role": row.role,
        "time_zone": row.time_zone,
        "status": super::people::status(row),
        "created_at": format_micros(row.created_at),
        "deactivated_at": row.deactivated_at.map(format_micros),
    })
}

async fn list_users(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let rows = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(identity.workspace.0))
        .order_by_asc(user::Column::Email)
        .all(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "data": rows.iter().map(user_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    password: String,
    role: String,
    #[serde(default)]
    name: String,
    time_zone: Option<String>,
}

async fn workspace_slug(state: &AppState, workspace: WorkspaceId) -> ApiResult<String> {
    let found = super::model::workspace::Entity::find_by_id(workspace.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    found
        .map(|w| w.slug)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-workspace")))
}

async fn create_user(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let slug = workspace_slug(&state, identity.workspace).await?;
    let person = super::NewPerson {
        email: &body.email,
        name: &body.name,
        password: Some(&body.password),
        role: &body.role,
        time_zone: body.time_zone.as_deref().unwrap_or("UTC"),
    };
    let id = super::create_person(&state.db, &person, &slug).await?;
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "user",
            id.0,
            "user_created",
            json!({ "email": body.email.trim().to_lowercase(), "role": body.role }),
        )
        .await?;
    let row = user::Entity::find_by_id(id.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("created user vanished"))?;
    Ok((StatusCode::CREATED, Json(user_json(&row))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    role: Option<String>,
    password: Option<String>,
    name: Option<String>,
    time_zone: Option<String>,
}

/// Changes a user's role (audited; never the caller's own, never taking the last active
/// admin's), name or time zone, or resets their password (ending their sessions).
async fn update_user(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<UserPatch>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let id = parse_uuid(&id, "user")?;
    let profile = ProfilePatch {
        name: body.name.clone(),
        time_zone: body.time_zone.clone(),
        language: None,
    };
    // Bad input changes nothing: the profile is checked before the role is touched.
    check_profile(&profile)?;
    let found = user::Entity::find_by_id(id)
        .filter(user::Column::WorkspaceId.eq(identity.workspace.0))
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-user")))?;
    if let Some(role) = body.role.as_deref().filter(|r| *r != found.role) {
        if !roles::exists(&state.db.read, identity.workspace, role)
            .await
            .map_err(ApiError::internal)?
        {
            return Err(AuthError::UnknownRole(role.to_owned()).into());
        }
        if found.id == identity.user.0 {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                text!("api-access-own-role"),
            ));
        }
        super::people::keep_an_admin(&state.db.read, identity.workspace, &found, Some(role))
            .await?;
        user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(role))
            .filter(user::Column::Id.eq(id))
            .exec(&state.db.write)
            .await
            .map_err(ApiError::internal)?;
        let change = json!({ "role": { "before": found.role, "after": role } });
        state
            .store
            .security_event(
                identity.workspace,
                Some(identity.user),
                "user",
                id,
                "role_changed",
                change,
            )
            .await?;
    }
    update_profile_of(&state, &identity, UserId(id), &profile).await?;
    if let Some(password) = &body.password {
        set_password(&state, UserId(id), password, None).await?;
        super::people::drop_invitations(&state.db, id)
            .await
            .map_err(ApiError::internal)?;
        state
            .store
            .security_event(
                identity.workspace,
                Some(identity.user),
                "user",
                id,
                "password_reset",
                json!({}),
            )
            .await?;
    }
    let row = user::Entity::find_by_id(id)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("user vanished"))?;
    Ok(Json(user_json(&row)))
}

/// Records an admin's (or the user's own) change to a user in the audit log.
async fn user_event(
    state: &AppState,
    identity: &Identity,
    user: Uuid,
    action: &str,
    details: Value,
) -> ApiResult<()> {
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "user",
            user,
            action,
            details,
        )
        .await?;
    Ok(())
}

/// Deactivates a user: their sessions end and their tokens stop working at once.
async fn deactivate_user(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let id = parse_uuid(&id, "user")?;
    let row = super::people::deactivate(&state.db, identity.workspace, identity.user, id).await?;
    user_event(
        &state,
        &identity,
        id,
        "user_deactivated",
        json!({ "email": row.email }),
    )
    .await?;
    Ok(Json(user_json(&row)))
}

async fn reactivate_user(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let id = parse_uuid(&id, "user")?;
    let row = super::people::reactivate(&state.db, identity.workspace, id).await?;
    user_event(
        &state,
        &identity,
        id,
        "user_reactivated",
        json!({ "email": row.email }),
    )
    .await?;
    Ok(Json(user_json(&row)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvitation {
    email: String,
    #[serde(default)]
    name: String,
    role: String,
    time_zone: Option<String>,
}

/// The answer to an invitation: the user, and the one-time link (never shown again).
fn invitation_json(headers: &HeaderMap, invitation: &super::people::Invitation) -> Value {
    let path = super::people::invitation_path(&invitation.secret);
    let scheme = if behind_https(headers) {
        "https"
    } else {
        "http"
    };
    let url = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("{scheme}://{host}{path}"));
    json!({
        "user": user_json(&invitation.user),
        "invite_path": path,
        "invite_url": url,
        "expires_at": format_micros(invitation.expires_at),
    })
}

/// Creates a user without a password and an invitation link for them to set one.
async fn invite_user(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewInvitation>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let slug = workspace_slug(&state, identity.workspace).await?;
    let person = super::NewPerson {
        email: &body.email,
        name: &body.name,
        password: None,
        role: &body.role,
        time_zone: body.time_zone.as_deref().unwrap_or("UTC"),
    };
    let id = super::create_person(&state.db, &person, &slug).await?;
    let invitation =
        super::people::invite(&state.db, identity.workspace, identity.user, id.0).await?;
    user_event(
        &state,
        &identity,
        id.0,
        "user_invited",
        json!({ "email": invitation.user.email, "role": invitation.user.role }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(invitation_json(&headers, &invitation)),
    ))
}

/// A new link for an invited user who has not set a password; the old link stops working.
async fn reinvite_user(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let id = parse_uuid(&id, "user")?;
    let invitation =
        super::people::invite(&state.db, identity.workspace, identity.user, id).await?;
    user_event(
        &state,
        &identity,
        id,
        "user_invited",
        json!({ "email": invitation.user.email, "again": true }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(invitation_json(&headers, &invitation)),
    ))
}

/// Sets the first password of an invited user (the same rules as a password change), uses
/// the invitation and starts their session; `None` when the link no longer works.
pub(crate) async fn accept_invitation(
    state: &AppState,
    addr: Option<std::net::IpAddr>,
    secret: &str,
    password: &str,
) -> ApiResult<Option<SignIn>> {
    if super::people::invited(&state.db, secret).await?.is_none() {
        return Ok(None);
    }
    let hash = hash_new_password(state, password).await?;
    let Some(user) = super::people::accept(&state.db, secret, &hash).await? else {
        return Ok(None);
    };
    state
        .store
        .security_event(
            WorkspaceId(user.workspace_id),
            Some(UserId(user.id)),
            "user",
            user.id,
            "invitation_accepted",
            json!({}),
        )
        .await?;
    let address = addr.map(|a| a.to_string()).unwrap_or_default();
    start_session(state, user, &address).await.map(Some)
}

async fn list_roles(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let all = roles::list(&state.db.read, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "data": all })))
}

/// Creates or replaces a custom role.
async fn save_role(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(name): ApiPath<String>,
    JsonBody(mut role): JsonBody<Role>,
) -> ApiResult<Json<Role>> {
    identity.require_admin()?;
    if role.name != name {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "invalid_value",
            text!("api-access-role-name-mismatch"),
        )]));
    }
    role.check_definition().map_err(ApiError::validation)?;
    roles::save(&state.db.write, identity.workspace, &role)
        .await
        .map_err(ApiError::internal)?;
    let spec = serde_json::to_value(&role).unwrap_or_default();
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "role",
            Uuid::nil(),
            "role_saved",
            json!({ "role": spec }),
        )
        .await?;
    Ok(Json(role))
}

async fn list_teams(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let teams = roles::teams(&state.db.read, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "data": teams })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
}

async fn create_team(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<NewTeam>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    // At most 100 characters as sent, as the document says; at least one not blank.
    let name = body.name.trim();
    if name.is_empty() || body.name.chars().count() > 100 {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "invalid_value",
            text!("api-access-team-name"),
        )]));
    }
    let id = roles::create_team(&state.db.write, identity.workspace, name)
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::new(ErrorCode::Conflict, text!("api-access-team-exists"))
            }
            _ => ApiError::internal(e),
        })?;
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "team",
            id,
            "team_created",
            json!({ "name": name }),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": name, "members": [] })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Members {
    members: Vec<Uuid>,
}

async fn set_team_members(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<Members>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let id = parse_uuid(&id, "team")?;
    match roles::set_members(&state.db, identity.workspace, id, &body.members)
        .await
        .map_err(ApiError::internal)?
    {
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            text!("api-access-no-such-team"),
        )),
        Some(Err(unknown)) => Err(ApiError::validation(
            unknown
                .iter()
                .map(|u| {
                    FieldError::new(
                        "members",
                        "user_not_found",
                        text!("api-access-no-such-member", id = u.to_string()),
                    )
                })
                .collect(),
        )),
        Some(Ok(())) => {
            state
                .store
                .security_event(
                    identity.workspace,
                    Some(identity.user),
                    "team",
                    id,
                    "team_changed",
                    json!({ "members": body.members }),
                )
                .await?;
            Ok(Json(json!({ "id": id, "members": body.members })))
        }
    }
}
