//! Workspaces, users and API tokens, and the `Identity` every API request carries.
//!
//! Users belong to one workspace (the same email may exist in several). Passwords are argon2id
//! PHC strings. API tokens are shown once, stored as SHA-256 hashes, bound to one user in one
//! workspace, and may expire or be revoked.

pub mod api;
pub mod model;
pub mod people;
pub mod permissions;
pub mod roles;
pub mod session;
pub mod throttle;

use std::collections::HashSet;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::model::{api_token, user, workspace};
use crate::app::AppState;
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::i18n::{Text, text};
use crate::ids::{UserId, WorkspaceId, hex};
use crate::records::{Actor, now_micros};

use self::permissions::Access;

/// The slug of the workspace `kith serve` creates on first run.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Why an account operation was refused. `Display` is the English of [`AuthError::text`]
/// (the command line, logs); the API and the web app write the refusal in the reader's
/// language.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    UnknownRole(String),
    InvalidEmail(String),
    WeakPassword,
    InvalidSlug(String),
    DuplicateUser { email: String, workspace: String },
    UnknownUser { email: String, workspace: String },
    UnknownWorkspace(String),
    UnknownUserId,
    InvalidTimeZone(String),
    InvalidName,
    LastAdmin,
    OwnAccount,
    Deactivated,
    AlreadyJoined,
    Hashing(String),
    Database(#[from] sea_orm::DbErr),
}

impl AuthError {
    /// The refusal in words for people (internal failures: their English, for the log).
    pub fn text(&self) -> Text {
        match self {
            AuthError::UnknownRole(role) => text!("api-access-unknown-role", role = role),
            AuthError::InvalidEmail(email) => text!("api-access-invalid-email", email = email),
            AuthError::WeakPassword => text!("api-access-weak-password"),
            AuthError::InvalidSlug(slug) => text!("api-access-invalid-slug", slug = slug),
            AuthError::DuplicateUser { email, workspace } => text!(
                "api-access-duplicate-user",
                email = email,
                workspace = workspace
            ),
            AuthError::UnknownUser { email, workspace } => text!(
                "api-access-unknown-user",
                email = email,
                workspace = workspace
            ),
            AuthError::UnknownWorkspace(workspace) => {
                text!("api-access-unknown-workspace", workspace = workspace)
            }
            AuthError::UnknownUserId => text!("api-access-no-such-user"),
            AuthError::InvalidTimeZone(zone) => {
                text!("api-access-invalid-time-zone", zone = zone)
            }
            AuthError::InvalidName => text!("api-access-invalid-name"),
            AuthError::LastAdmin => text!("api-access-last-admin"),
            AuthError::OwnAccount => text!("api-access-own-account"),
            AuthError::Deactivated => text!("api-access-deactivated"),
            AuthError::AlreadyJoined => text!("api-access-already-joined"),
            AuthError::Hashing(_) | AuthError::Database(_) => Text::verbatim(self.to_string()),
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Hashing(cause) => write!(f, "password hashing failed: {cause}"),
            AuthError::Database(cause) => write!(f, "database error: {cause}"),
            other => other.text().fmt(f),
        }
    }
}

/// Who made a request: a user of one workspace, with their role's permissions, and the
/// session they came through (browser) if not a token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: UserId,
    pub workspace: WorkspaceId,
    pub role: String,
    pub access: Arc<Access>,
    /// The hash of the session cookie's secret, for cookie-authenticated requests.
    pub session: Option<String>,
}

impl Identity {
    pub fn actor(&self) -> Actor {
        Actor {
            workspace: self.workspace,
            user: self.user,
            access: Arc::clone(&self.access),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.access.role.admin
    }

    /// Refuses callers who are not admins of their workspace.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                text!("api-access-admin-only"),
            ))
        }
    }
}

/// The user behind a credential, before their permissions are loaded.
pub struct Principal {
    pub user: UserId,
    pub workspace: WorkspaceId,
    pub role: String,
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let db = &state.db;
        let (principal, session) = if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unauthorized,
                        text!("api-access-bad-authorization"),
                    )
                })?;
            let principal = authenticate(db, token).await.map_err(ApiError::internal)?;
            let principal = principal.ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthorized, text!("api-access-bad-token"))
            })?;
            (principal, None)
        } else if let Some(secret) = session::cookie(&parts.headers) {
            let found = session::lookup(db, &secret)
                .await
                .map_err(ApiError::internal)?;
            let session::Live {
                principal, csrf, ..
            } = found.ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthorized, text!("api-access-session-ended"))
            })?;
            if !parts.method.is_safe() {
                let sent = parts
                    .headers
                    .get(session::CSRF_HEADER)
                    .and_then(|v| v.to_str().ok());
                if sent.is_none_or(|sent| !session::same_secret(sent, &csrf)) {
                    return Err(ApiError::new(
                        ErrorCode::CsrfFailed,
                        text!("api-access-csrf-failed"),
                    ));
                }
            }
            (principal, Some(hash_token(&secret)))
        } else {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                text!("api-access-not-logged-in"),
            ));
        };
        let access = load_access(db, &principal)
            .await
            .map_err(ApiError::internal)?;
        Ok(Identity {
            user: principal.user,
            workspace: principal.workspace,
            role: principal.role,
            access: Arc::new(access),
            session,
        })
    }
}

/// The permissions of a principal: their role (built-in, or custom from the workspace) and,
/// when the role has team levels, the users who share a team with them.
pub async fn load_access(db: &Db, principal: &Principal) -> Result<Access, sea_orm::DbErr> {
    let role = match permissions::builtin_role(&principal.role) {
        Some(role) => role,
        None => roles::find(&db.read, principal.workspace, &principal.role)
            .await?
            .unwrap_or_else(|| {
                tracing::warn!(role = principal.role, "user has an unknown role; no access");
                permissions::Role {
                    name: principal.role.clone(),
                    types: Default::default(),
                    fields: Default::default(),
                    admin: false,
                    builtin: false,
                }
            }),
    };
    let uses_team = role
        .types
        .values()
        .any(|g| [g.create, g.read, g.edit, g.delete].contains(&permissions::Level::Team));
    let team = if uses_team {
        roles::teammates(&db.read, principal.user).await?
    } else {
        HashSet::from([principal.user.0])
    };
    Ok(Access {
        user: principal.user,
        role: Arc::new(role),
        team: Arc::new(team),
    })
}

/// Resolves an API token to its user; `None` when it is unknown, expired or revoked, or its
/// user is deactivated.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Principal>, sea_orm::DbErr> {
    let placeholder = if db.backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT t.id, t.user_id, t.workspace_id, t.expires_at, t.last_used_at, u.role \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = {placeholder} AND t.revoked_at IS NULL AND u.deactivated_at IS NULL"
    );
    let row = db
        .read
        .query_one_raw(Statement::from_sql_and_values(
            db.backend,
            sql,
            [hash_token(token).into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let now = now_micros();
    let expires_at: Option<i64> = row.try_get("", "expires_at")?;
    if expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let token_id: Uuid = row.try_get("", "id")?;
    let last_used_at: Option<i64> = row.try_get("", "last_used_at")?;
    if last_used_at.is_none_or(|at| now - at > 60_000_000) {
        // Recorded at most once a minute per token, off the request path.
        let write = db.write.clone();
        tokio::spawn(async move {
            let result = api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(token_id))
                .exec(&write)
                .await;
            if let Err(error) = result {
                tracing::warn!(%error, "could not record token use");
            }
        });
    }
    Ok(Some(Principal {
        user: UserId(row.try_get("", "user_id")?),
        workspace: WorkspaceId(row.try_get("", "workspace_id")?),
        role: row.try_get("", "role")?,
    }))
}

pub(crate) fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// `bytes` random bytes from the OS, as hex.
pub fn random_hex(bytes: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(hex(&buf))
}

/// A new secret: `kith_` and 64 hex digits (256 random bits).
fn new_token() -> Result<String, AuthError> {
    Ok(format!("kith_{}", random_hex(32)?))
}

fn check_slug(slug: &str) -> Result<(), AuthError> {
    let valid = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(AuthError::InvalidSlug(slug.to_owned()))
    }
}

/// The workspace with this slug, created if it does not exist yet.
pub async fn ensure_workspace(
    conn: &impl ConnectionTrait,
    slug: &str,
) -> Result<WorkspaceId, AuthError> {
    check_slug(slug)?;
    if let Some(found) = find_workspace(conn, slug).await? {
        return Ok(found);
    }
    let id = WorkspaceId::new();
    let row = workspace::ActiveModel {
        id: Set(id.0),
        slug: Set(slug.to_owned()),
        name: Set(slug.to_owned()),
        created_at: Set(now_micros()),
    };
    workspace::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(id)
}

pub async fn find_workspace(
    conn: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<WorkspaceId>, AuthError> {
    let found = workspace::Entity::find()
        .filter(workspace::Column::Slug.eq(slug))
        .one(conn)
        .await?;
    Ok(found.map(|w| WorkspaceId(w.id)))
}

/// The longest-standing admin of a workspace.
pub async fn first_admin(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
) -> Result<Option<UserId>, AuthError> {
    let found = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Role.eq("admin"))
        .order_by_asc(user::Column::CreatedAt)
        .one(conn)
        .await?;
    Ok(found.map(|u| UserId(u.id)))
}

/// Creates a user in a workspace (creating the workspace if new). The password is hashed
/// with argon2id on a blocking thread.
pub async fn create_user(
    db: &Db,
    email: &str,
    password: &str,
    role: &str,
    workspace_slug: &str,
) -> Result<UserId, AuthError> {
    let person = NewPerson {
        email,
        name: "",
        password: Some(password),
        role,
        time_zone: "UTC",
    };
    create_person(db, &person, workspace_slug).await
}

/// A user to create: without a password they are invited (see `people::invite`).
pub struct NewPerson<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: Option<&'a str>,
    pub role: &'a str,
    pub time_zone: &'a str,
}

/// Creates a user in a workspace (creating the workspace if new); with no password they
/// cannot log in until they accept an invitation.
pub async fn create_person(
    db: &Db,
    person: &NewPerson<'_>,
    workspace_slug: &str,
) -> Result<UserId, AuthError> {
    let role = person.role;
    let known = match find_workspace(&db.read, workspace_slug).await? {
        Some(workspace) => roles::exists(&db.read, workspace, role).await?,
        None => permissions::BUILTIN_ROLES.contains(&role),
    };
    if !known {
        return Err(AuthError::UnknownRole(role.to_owned()));
    }
    let email = crate::records::value::normalize_email(person.email.trim())
        .map_err(|_| AuthError::InvalidEmail(person.email.to_owned()))?;
    let name = people::check_name(person.name)?;
    let time_zone = people::check_zone(person.time_zone)?;
    let hash = match person.password {
        Some(password) => {
            if password.chars().count() < 8 {
                return Err(AuthError::WeakPassword);
            }
            let password = password.to_owned();
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| AuthError::Hashing(e.to_string()))??
        }
        // No PHC string verifies against an empty hash.
        None => String::new(),
    };
    let txn = db.write.begin().await?;
    let workspace = ensure_workspace(&txn, workspace_slug).await?;
    let taken = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Email.eq(email.as_str()))
        .one(&txn)
        .await?;
    if taken.is_some() {
        return Err(AuthError::DuplicateUser {
            email,
            workspace: workspace_slug.to_owned(),
        });
    }
    let id = UserId::new();
    let row = user::ActiveModel {
        id: Set(id.0),
        workspace_id: Set(workspace.0),
        email: Set(email),
        password_hash: Set(hash),
        role: Set(role.to_owned()),
        created_at: Set(now_micros()),
        password_changed_at: Set(now_micros()),
        name: Set(name),
        time_zone: Set(time_zone),
        language: Set(None),
        deactivated_at: Set(None),
    };
    user::Entity::insert(row)
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(id)
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

pub async fn find_user(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    email: &str,
) -> Result<Option<UserId>, AuthError> {
    let found = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(conn)
        .await?;
    Ok(found.map(|u| UserId(u.id)))
}

/// Creates an API token for a user and returns the secret (the only time it is visible).
pub async fn create_token(
    db: &Db,
    email: &str,
    workspace_slug: &str,
    name: &str,
) -> Result<String, AuthError> {
    let workspace = find_workspace(&db.read, workspace_slug)
        .await?
        .ok_or_else(|| AuthError::UnknownWorkspace(workspace_slug.to_owned()))?;
    let email = email.trim().to_lowercase();
    let found = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Email.eq(email.as_str()))
        .one(&db.read)
        .await?
        .ok_or_else(|| AuthError::UnknownUser {
            email: email.clone(),
            workspace: workspace_slug.to_owned(),
        })?;
    let secret = new_token()?;
    let row = api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace.0),
        user_id: Set(found.id),
        name: Set(name.to_owned()),
        token_hash: Set(hash_token(&secret)),
        created_at: Set(now_micros()),
        last_used_at: Set(None),
        expires_at: Set(None),
        revoked_at: Set(None),
    };
    api_token::Entity::insert(row)
        .exec_without_returning(&db.write)
        .await?;
    Ok(secret)
}

/// The name of a user's role.
pub async fn role_of(conn: &impl ConnectionTrait, user: UserId) -> Result<String, AuthError> {
    let found = user::Entity::find_by_id(user.0).one(conn).await?;
    Ok(found.map(|u| u.role).unwrap_or_default())
}

/// The ids among `ids` that are users of the workspace.
pub async fn existing_users(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    ids: Vec<Uuid>,
) -> Result<HashSet<Uuid>, sea_orm::DbErr> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<Uuid> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Id.is_in(ids))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = new_token().expect("random");
        let b = new_token().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 64);
        assert_ne!(hash_token(&a), a);
        assert_eq!(hash_token(&a), hash_token(&a));
    }

    #[test]
    fn slugs_are_checked() {
        assert!(check_slug("acme-2").is_ok());
        for bad in ["", "Acme", "-acme", "a b", "a/b"] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
