//! Keeping every process coherent (DESIGN §7). A process caches a workspace's schema, its
//! enabled plugins and its look; another process — a second `kith serve` on the same
//! PostgreSQL, or a CLI command beside a server — changes them in the database. Every such
//! change is announced as a row of `changes` (what changed, in which workspace); every server
//! follows the table a few times a second and drops what it cached of it, so a change made
//! anywhere is honoured everywhere within a second.
//!
//! Rows are numbered by the database; on PostgreSQL two announcements may commit out of their
//! numbers' order, so a follower reads a little behind its last number again and skips the
//! ones it has seen. Dropping a cache twice is harmless; missing a drop is not.

use std::collections::VecDeque;

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::db::Db;
use crate::ids::WorkspaceId;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Entity types or fields (custom ones; plugins' come with [`Change::Plugins`]).
    Schema,
    /// Plugins enabled, disabled, suspended, upgraded or given another grant or settings.
    Plugins,
    /// The theme, its tokens, the logo or a template override.
    Look,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Schema => "schema",
            Change::Plugins => "plugins",
            Change::Look => "look",
        }
    }

    fn parse(text: &str) -> Option<Change> {
        [Change::Schema, Change::Plugins, Change::Look]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

mod model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub workspace_id: Option<Uuid>,
        pub kind: String,
        pub at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Announces to every process that `what` changed in `workspace`. A failure is logged: the
/// change itself is made, and other processes catch up when it next changes or they restart.
pub async fn announce(db: &Db, workspace: WorkspaceId, what: Change) {
    let row = model::ActiveModel {
        seq: sea_orm::ActiveValue::NotSet,
        workspace_id: Set(Some(workspace.0)),
        kind: Set(what.as_str().to_owned()),
        at: Set(crate::records::now_micros()),
    };
    if let Err(error) = model::Entity::insert(row)
        .exec_without_returning(&db.write)
        .await
    {
        tracing::error!(%error, change = what.as_str(), "cannot announce a change to other processes");
    }
}

/// How far behind its last number a follower reads again (announcements committed out of
/// order), and how many numbers it remembers having seen.
const REREAD: i64 = 64;

/// One process's place in the announcements.
pub struct Follower {
    last: i64,
    seen: VecDeque<i64>,
}

impl Follower {
    /// Follows from now on: what was announced before is in what this process loads anyway.
    pub async fn start(db: &Db) -> Result<Follower, sea_orm::DbErr> {
        let last: Option<i64> = model::Entity::find()
            .select_only()
            .column_as(model::Column::Seq.max(), "seq")
            .into_tuple::<Option<i64>>()
            .one(&db.read)
            .await?
            .flatten();
        Ok(Follower {
            last: last.unwrap_or(0),
            seen: VecDeque::new(),
        })
    }

    /// What was announced since the last call, each once.
    pub async fn next(&mut self, db: &Db) -> Result<Vec<(WorkspaceId, Change)>, sea_orm::DbErr> {
        let rows = model::Entity::find()
            .filter(model::Column::Seq.gt(self.last - REREAD))
            .order_by_asc(model::Column::Seq)
            .limit(1000)
            .all(&db.read)
            .await?;
        let mut out = Vec::new();
        for row in rows {
            if row.seq <= self.last && self.seen.contains(&row.seq) {
                continue;
            }
            self.seen.push_back(row.seq);
            if self.seen.len() > 4 * REREAD as usize {
                self.seen.pop_front();
            }
            self.last = self.last.max(row.seq);
            let (Some(workspace), Some(what)) = (row.workspace_id, Change::parse(&row.kind)) else {
                continue;
            };
            let change = (WorkspaceId(workspace), what);
            if !out.contains(&change) {
                out.push(change);
            }
        }
        Ok(out)
    }
}

/// Deletes announcements older than an hour (every follower has long read them).
pub async fn prune(db: &Db) -> Result<u64, sea_orm::DbErr> {
    let hour_ago = crate::records::now_micros() - 3_600_000_000;
    let result = model::Entity::delete_many()
        .filter(model::Column::At.lt(hour_ago))
        .exec(&db.write)
        .await?;
    Ok(result.rows_affected)
}
