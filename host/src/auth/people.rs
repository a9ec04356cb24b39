//! People of a workspace beyond their login: display names, time zones, deactivation (a
//! workspace always keeps an active admin) and invitations — one-time links, valid for 7
//! days, to set a first password. Kith sends no email yet: the admin passes the link on.
//!
//! A deactivated user keeps their row (records keep showing their owner), but no login,
//! session or API token of theirs works: `authenticate` and `session::lookup` only accept
//! active users.

use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use uuid::Uuid;

use super::model::{invitation, user};
use super::{AuthError, hash_token, random_hex, roles, session};
use crate::db::Db;
use crate::ids::{UserId, WorkspaceId};
use crate::records::now_micros;

/// How long an invitation link works.
pub const INVITATION_LIFETIME_MICROS: i64 = 7 * 86_400_000_000;

/// The time zone of a user's setting; UTC when the stored name is unknown.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// Checks an IANA time zone name (`Europe/Berlin`), returning its canonical spelling.
pub fn check_zone(name: &str) -> Result<String, AuthError> {
    name.trim()
        .parse::<Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| AuthError::InvalidTimeZone(name.chars().take(64).collect()))
}

/// Checks a display name: at most 100 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidName);
    }
    Ok(name.to_owned())
}

/// What a user is: `active`, `invited` (no password yet) or `deactivated`.
pub fn status(row: &user::Model) -> &'static str {
    if row.deactivated_at.is_some() {
        "deactivated"
    } else if row.password_hash.is_empty() {
        "invited"
    } else {
        "active"
    }
}

/// The name a person is shown by: their display name, else their email's name part.
pub fn shown_name(row: &user::Model) -> String {
    if row.name.is_empty() {
        row.email.split('@').next().unwrap_or("").to_owned()
    } else {
        row.name.clone()
    }
}

/// A user of the workspace (`UnknownUserId` for anyone else's, exactly like a missing one).
pub async fn find(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    id: Uuid,
) -> Result<user::Model, AuthError> {
    user::Entity::find_by_id(id)
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .one(conn)
        .await?
        .ok_or(AuthError::UnknownUserId)
}

/// The role names that administer the workspace: `admin` and custom roles marked admin.
async fn admin_roles(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
) -> Result<Vec<String>, sea_orm::DbErr> {
    Ok(roles::list(conn, workspace)
        .await?
        .into_iter()
        .filter(|r| r.admin)
        .map(|r| r.name)
        .collect())
}

/// Refuses a change that would leave the workspace without an active admin: `target` stops
/// being one (deactivated, or given `new_role`).
pub async fn keep_an_admin(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    target: &user::Model,
    new_role: Option<&str>,
) -> Result<(), AuthError> {
    let admins = admin_roles(conn, workspace).await?;
    let is_admin = target.deactivated_at.is_none() && admins.contains(&target.role);
    let stays_admin = new_role.is_some_and(|r| admins.iter().any(|a| a == r));
    if !is_admin || stays_admin {
        return Ok(());
    }
    let others = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Id.ne(target.id))
        .filter(user::Column::Role.is_in(admins))
        .filter(user::Column::DeactivatedAt.is_null())
        .filter(user::Column::PasswordHash.ne(""))
        .count(conn)
        .await?;
    if others == 0 {
        Err(AuthError::LastAdmin)
    } else {
        Ok(())
    }
}

/// Deactivates a user of the workspace (never `by` themselves, never the last active admin):
/// their sessions end and their pending invitation is dropped at once.
pub async fn deactivate(
    db: &Db,
    workspace: WorkspaceId,
    by: UserId,
    target: Uuid,
) -> Result<user::Model, AuthError> {
    if target == by.0 {
        return Err(AuthError::OwnAccount);
    }
    let txn = db.write.begin().await?;
    let mut found = find(&txn, workspace, target).await?;
    if found.deactivated_at.is_none() {
        keep_an_admin(&txn, workspace, &found, None).await?;
        let now = now_micros();
        user::Entity::update_many()
            .col_expr(user::Column::DeactivatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(target))
            .exec(&txn)
            .await?;
        invitation::Entity::delete_many()
            .filter(invitation::Column::UserId.eq(target))
            .exec(&txn)
            .await?;
        found.deactivated_at = Some(now);
    }
    txn.commit().await?;
    session::revoke_others(db, target, None).await?;
    Ok(found)
}

/// Lets a deactivated user in again (their API tokens work again; old sessions stay ended).
pub async fn reactivate(
    db: &Db,
    workspace: WorkspaceId,
    target: Uuid,
) -> Result<user::Model, AuthError> {
    let mut found = find(&db.read, workspace, target).await?;
    user::Entity::update_many()
        .col_expr(
            user::Column::DeactivatedAt,
            Expr::value(Option::<i64>::None),
        )
        .filter(user::Column::Id.eq(target))
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .exec(&db.write)
        .await?;
    found.deactivated_at = None;
    Ok(found)
}

/// A profile change, already checked: what is `None` stays as it is; a language of
/// `Some(None)` goes back to the browser's.
pub struct Profile<'a> {
    pub name: Option<&'a str>,
    pub time_zone: Option<&'a str>,
    pub language: Option<Option<&'static str>>,
}

/// Changes a user's display name, time zone and/or language (already checked).
pub async fn update_profile(
    db: &Db,
    user_id: UserId,
    profile: &Profile<'_>,
) -> Result<(), AuthError> {
    if profile.name.is_none() && profile.time_zone.is_none() && profile.language.is_none() {
        return Ok(());
    }
    let mut update = user::Entity::update_many().filter(user::Column::Id.eq(user_id.0));
    if let Some(name) = profile.name {
        update = update.col_expr(user::Column::Name, Expr::value(name));
    }
    if let Some(zone) = profile.time_zone {
        update = update.col_expr(user::Column::TimeZone, Expr::value(zone));
    }
    if let Some(language) = profile.language {
        update = update.col_expr(
            user::Column::Language,
            Expr::value(language.map(str::to_owned)),
        );
    }
    update.exec(&db.write).await?;
    Ok(())
}

/// A fresh invitation: the secret for the link (shown once) and when it expires.
pub struct Invitation {
    pub user: user::Model,
    pub secret: String,
    pub expires_at: i64,
}

/// The path of an invitation link.
pub fn invitation_path(secret: &str) -> String {
    format!("/invite/{secret}")
}

/// Issues a new invitation for a user who has not set a password yet, replacing any earlier
/// one (its link stops working).
pub async fn invite(
    db: &Db,
    workspace: WorkspaceId,
    by: UserId,
    target: Uuid,
) -> Result<Invitation, AuthError> {
    let txn = db.write.begin().await?;
    let found = find(&txn, workspace, target).await?;
    if found.deactivated_at.is_some() {
        return Err(AuthError::Deactivated);
    }
    if !found.password_hash.is_empty() {
        return Err(AuthError::AlreadyJoined);
    }
    invitation::Entity::delete_many()
        .filter(invitation::Column::UserId.eq(target))
        .exec(&txn)
        .await?;
    let secret = random_hex(32)?;
    let now = now_micros();
    let expires_at = now + INVITATION_LIFETIME_MICROS;
    let row = invitation::ActiveModel {
        token_hash: Set(hash_token(&secret)),
        workspace_id: Set(workspace.0),
        user_id: Set(target),
        invited_by: Set(by.0),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    };
    invitation::Entity::insert(row)
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(Invitation {
        user: found,
        secret,
        expires_at,
    })
}

/// The user an invitation link is for, while it can still be accepted: not used, not
/// expired, its user active and without a password.
pub async fn invited(db: &Db, secret: &str) -> Result<Option<user::Model>, AuthError> {
    let Some(row) = invitation::Entity::find_by_id(hash_token(secret))
        .one(&db.read)
        .await?
    else {
        return Ok(None);
    };
    if row.used_at.is_some() || row.expires_at <= now_micros() {
        return Ok(None);
    }
    let found = find(&db.read, WorkspaceId(row.workspace_id), row.user_id)
        .await
        .ok()
        .filter(|u| status(u) == "invited");
    Ok(found)
}

/// Uses an invitation (once: the first of two racing accepts wins) and stores the password
/// hash; the user, or `None` when the link no longer works.
pub async fn accept(
    db: &Db,
    secret: &str,
    password_hash: &str,
) -> Result<Option<user::Model>, AuthError> {
    let txn = db.write.begin().await?;
    let now = now_micros();
    let hash = hash_token(secret);
    let used = invitation::Entity::update_many()
        .col_expr(invitation::Column::UsedAt, Expr::value(now))
        .filter(invitation::Column::TokenHash.eq(hash.as_str()))
        .filter(invitation::Column::UsedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Ok(None);
    }
    let Some(row) = invitation::Entity::find_by_id(hash).one(&txn).await? else {
        return Ok(None);
    };
    let mut found = match find(&txn, WorkspaceId(row.workspace_id), row.user_id).await {
        Ok(found) if status(&found) == "invited" => found,
        _ => return Ok(None),
    };
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::PasswordChangedAt, Expr::value(now))
        .filter(user::Column::Id.eq(found.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    found.password_hash = password_hash.to_owned();
    Ok(Some(found))
}

/// Drops a user's pending invitation (an admin set their password directly).
pub async fn drop_invitations(db: &Db, user_id: Uuid) -> Result<(), sea_orm::DbErr> {
    invitation::Entity::delete_many()
        .filter(invitation::Column::UserId.eq(user_id))
        .exec(&db.write)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            check_zone("Europe/Berlin").ok().as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(check_zone(" UTC ").ok().as_deref(), Some("UTC"));
        for bad in ["", "Mars/Olympus", "+02:00", "Europe/Berlin; drop"] {
            assert!(check_zone(bad).is_err(), "{bad}");
        }
        assert_eq!(zone("nonsense"), Tz::UTC);
        assert_eq!(zone("Asia/Tokyo"), Tz::Asia__Tokyo);
    }

    #[test]
    fn names_are_short_plain_text() {
        assert_eq!(
            check_name("  Ada Lovelace ").ok().as_deref(),
            Some("Ada Lovelace")
        );
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
    }
}
