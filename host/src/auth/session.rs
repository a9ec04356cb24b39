//! Browser sessions: a random secret in an HttpOnly, SameSite=Lax cookie (Secure behind
//! HTTPS), stored hashed, with a CSRF token that every state-changing request must echo in
//! `X-CSRF-Token`. Sessions expire after 14 days and are revoked by logout and by a password
//! change (all but the current one).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header::COOKIE as COOKIE_HEADER};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement,
};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::model::session;
use super::throttle::Throttle;
use super::{Principal, hash_token, random_hex};
use crate::db::Db;
use crate::ids::{UserId, WorkspaceId};
use crate::records::now_micros;

pub const COOKIE: &str = "kith_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_LIFETIME_MICROS: i64 = 14 * 86_400_000_000;

/// The session secret sent in the `kith_session` cookie, if any.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A live session: its user, CSRF token and the user's time zone and language settings.
pub struct Live {
    pub principal: Principal,
    pub csrf: String,
    pub time_zone: String,
    pub language: Option<String>,
}

/// The live session behind a cookie secret; `None` when it is unknown, expired or revoked, or
/// its user is deactivated.
pub async fn lookup(db: &Db, secret: &str) -> Result<Option<Live>, sea_orm::DbErr> {
    let placeholder = |n: usize| {
        if db.backend == sea_orm::DbBackend::Postgres {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    };
    let sql = format!(
        "SELECT s.user_id, s.workspace_id, s.csrf_token, u.role, u.time_zone, u.language \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = {} AND s.revoked_at IS NULL AND s.expires_at > {} \
         AND u.deactivated_at IS NULL",
        placeholder(1),
        placeholder(2)
    );
    let row = db
        .read
        .query_one_raw(Statement::from_sql_and_values(
            db.backend,
            sql,
            [hash_token(secret).into(), now_micros().into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let principal = Principal {
        user: UserId(row.try_get("", "user_id")?),
        workspace: WorkspaceId(row.try_get("", "workspace_id")?),
        role: row.try_get("", "role")?,
    };
    Ok(Some(Live {
        principal,
        csrf: row.try_get("", "csrf_token")?,
        time_zone: row.try_get("", "time_zone")?,
        language: row.try_get("", "language")?,
    }))
}

/// Starts a session; returns the cookie secret and the CSRF token.
pub async fn create(
    db: &Db,
    user: UserId,
    workspace: WorkspaceId,
) -> Result<(String, String), super::AuthError> {
    let secret = random_hex(32)?;
    let csrf = random_hex(32)?;
    let now = now_micros();
    let row = session::ActiveModel {
        token_hash: Set(hash_token(&secret)),
        user_id: Set(user.0),
        workspace_id: Set(workspace.0),
        csrf_token: Set(csrf.clone()),
        created_at: Set(now),
        expires_at: Set(now + SESSION_LIFETIME_MICROS),
        revoked_at: Set(None),
    };
    session::Entity::insert(row)
        .exec_without_returning(&db.write)
        .await?;
    Ok((secret, csrf))
}

/// Ends the session with this token hash.
pub async fn revoke(db: &Db, token_hash: &str) -> Result<(), sea_orm::DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now_micros()))
        .filter(session::Column::TokenHash.eq(token_hash))
        .exec(&db.write)
        .await?;
    Ok(())
}

/// Ends every session of a user except `keep` (a token hash).
pub async fn revoke_others(db: &Db, user: Uuid, keep: Option<&str>) -> Result<u64, sea_orm::DbErr> {
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now_micros()))
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(session::Column::TokenHash.ne(keep));
    }
    Ok(update.exec(&db.write).await?.rows_affected)
}

/// `Set-Cookie` for a new session (`secure` behind HTTPS).
pub fn set_cookie(secret: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        14 * 86_400
    ))
    .ok()
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("kith_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// What stands between a login flood and the rest of the API: failure throttles per account
/// and per address, and a bound on concurrent password hashing (which runs on blocking
/// threads, never on the async workers).
pub struct LoginGuard {
    pub accounts: Throttle,
    pub addresses: Throttle,
    pub hashing: Semaphore,
}

impl Default for LoginGuard {
    fn default() -> Self {
        let window = Duration::from_secs(15 * 60);
        LoginGuard {
            accounts: Throttle::new(5, window, 50_000),
            addresses: Throttle::new(50, window, 50_000),
            hashing: Semaphore::new(1),
        }
    }
}
