//! Custom roles and teams, as stored per workspace.

use std::collections::HashSet;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    Statement, TransactionTrait,
};
use uuid::Uuid;

use super::model::{role, team, team_member, user};
use super::permissions::{BUILTIN_ROLES, Role, builtin_role};
use crate::db::Db;
use crate::ids::{UserId, WorkspaceId};
use crate::records::now_micros;

/// A custom role of the workspace.
pub async fn find(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    name: &str,
) -> Result<Option<Role>, sea_orm::DbErr> {
    let row = role::Entity::find_by_id((workspace.0, name.to_owned()))
        .one(conn)
        .await?;
    Ok(row.and_then(|r| serde_json::from_value(r.spec).ok()))
}

/// Built-in roles first, then the workspace's custom roles by name.
pub async fn list(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
) -> Result<Vec<Role>, sea_orm::DbErr> {
    let mut roles: Vec<Role> = BUILTIN_ROLES
        .iter()
        .filter_map(|name| builtin_role(name))
        .collect();
    let rows = role::Entity::find()
        .filter(role::Column::WorkspaceId.eq(workspace.0))
        .order_by_asc(role::Column::Name)
        .all(conn)
        .await?;
    roles.extend(
        rows.into_iter()
            .filter_map(|r| serde_json::from_value(r.spec).ok()),
    );
    Ok(roles)
}

/// Whether `name` is a role users of the workspace can have.
pub async fn exists(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    name: &str,
) -> Result<bool, sea_orm::DbErr> {
    Ok(BUILTIN_ROLES.contains(&name) || find(conn, workspace, name).await?.is_some())
}

/// Creates or replaces a custom role (already checked).
pub async fn save(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    role: &Role,
) -> Result<(), sea_orm::DbErr> {
    let spec = serde_json::to_value(role).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    role::Entity::delete_by_id((workspace.0, role.name.clone()))
        .exec(conn)
        .await?;
    let row = role::ActiveModel {
        workspace_id: Set(workspace.0),
        name: Set(role.name.clone()),
        spec: Set(spec),
        updated_at: Set(now_micros()),
    };
    role::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The users who share at least one team with `user`, `user` included.
pub async fn teammates(
    conn: &impl ConnectionTrait,
    user: UserId,
) -> Result<HashSet<Uuid>, sea_orm::DbErr> {
    let backend = conn.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT DISTINCT other.user_id AS user_id FROM team_members mine \
         JOIN team_members other ON other.team_id = mine.team_id WHERE mine.user_id = {placeholder}"
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [user.0.into()],
        ))
        .await?;
    let mut users: HashSet<Uuid> = rows
        .iter()
        .filter_map(|r| r.try_get::<Uuid>("", "user_id").ok())
        .collect();
    users.insert(user.0);
    Ok(users)
}

/// A team and its members.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub members: Vec<Uuid>,
}

pub async fn teams(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
) -> Result<Vec<Team>, sea_orm::DbErr> {
    let rows = team::Entity::find()
        .filter(team::Column::WorkspaceId.eq(workspace.0))
        .order_by_asc(team::Column::Name)
        .all(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let members = team_member::Entity::find()
            .filter(team_member::Column::TeamId.eq(row.id))
            .all(conn)
            .await?;
        out.push(Team {
            id: row.id,
            name: row.name,
            members: members.into_iter().map(|m| m.user_id).collect(),
        });
    }
    Ok(out)
}

pub async fn create_team(
    conn: &impl ConnectionTrait,
    workspace: WorkspaceId,
    name: &str,
) -> Result<Uuid, sea_orm::DbErr> {
    let id = Uuid::now_v7();
    let row = team::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace.0),
        name: Set(name.to_owned()),
        created_at: Set(now_micros()),
    };
    team::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(id)
}

/// Replaces a team's members; `None` when the team is not in the workspace, `Err(ids)` listing
/// members who are not users of the workspace.
pub async fn set_members(
    db: &Db,
    workspace: WorkspaceId,
    team_id: Uuid,
    members: &[Uuid],
) -> Result<Option<Result<(), Vec<Uuid>>>, sea_orm::DbErr> {
    let txn = db.write.begin().await?;
    let found = team::Entity::find_by_id(team_id)
        .filter(team::Column::WorkspaceId.eq(workspace.0))
        .one(&txn)
        .await?;
    if found.is_none() {
        return Ok(None);
    }
    let known: HashSet<Uuid> = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.0))
        .filter(user::Column::Id.is_in(members.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let unknown: Vec<Uuid> = members
        .iter()
        .filter(|m| !known.contains(m))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return Ok(Some(Err(unknown)));
    }
    team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.eq(team_id))
        .exec(&txn)
        .await?;
    let rows: Vec<team_member::ActiveModel> = known
        .into_iter()
        .map(|user_id| team_member::ActiveModel {
            team_id: Set(team_id),
            user_id: Set(user_id),
        })
        .collect();
    if !rows.is_empty() {
        team_member::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(Ok(())))
}
