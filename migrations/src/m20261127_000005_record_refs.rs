//! An index of list references: for every record, each id held in a list field (an
//! activity's `links`, any `multiple` reference), so "records whose list holds X" — a record
//! page's timeline — is an index lookup instead of a scan of every record's JSON.
//!
//! Database triggers keep it in step with `records` on every insert, update of `data` and
//! delete, whatever path writes (store writes, merges re-pointing references, purges), so the
//! store's write code is unchanged. Any array element that looks like an id (36 characters) is
//! indexed; queries name the field, so a 36-character tag is harmless.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) const SQLITE_ROWS: &str = "SELECT r.id, f.key, e.value FROM json_each(r.data) AS f, json_each(f.value) AS e \
     WHERE f.type = 'array' AND e.type = 'text' AND length(e.value) = 36";

pub(crate) const POSTGRES_ROWS: &str = "SELECT r.id, f.key, e.value FROM jsonb_each(r.data) AS f \
     CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(f.value) = 'array' THEN f.value ELSE '[]'::jsonb END) AS e(value) \
     WHERE length(e.value) = 36";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RecordRefs::Table)
                    .col(uuid(RecordRefs::SourceId))
                    .col(string(RecordRefs::Field))
                    .col(string(RecordRefs::TargetId))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "record_refs_target",
                [RecordRefs::TargetId, RecordRefs::Field],
            ),
            (
                "record_refs_source",
                [RecordRefs::SourceId, RecordRefs::Field],
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(RecordRefs::Table)
                        .col(columns[0].clone())
                        .col(columns[1].clone())
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        let statements: Vec<String> = match manager.get_database_backend() {
            DbBackend::Postgres => {
                let rows = POSTGRES_ROWS.replace("r.", "NEW.");
                vec![
                    format!(
                        "CREATE FUNCTION kith_record_refs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                         IF TG_OP <> 'INSERT' THEN DELETE FROM record_refs WHERE source_id = OLD.id; END IF; \
                         IF TG_OP <> 'DELETE' THEN INSERT INTO record_refs (source_id, field, target_id) {rows}; END IF; \
                         RETURN NULL; END $$"
                    ),
                    "CREATE TRIGGER records_refs AFTER INSERT OR DELETE OR UPDATE OF data ON records \
                     FOR EACH ROW EXECUTE FUNCTION kith_record_refs()"
                        .to_owned(),
                    format!("INSERT INTO record_refs (source_id, field, target_id) {POSTGRES_ROWS}")
                        .replace("FROM jsonb_each(r.data)", "FROM records AS r CROSS JOIN LATERAL jsonb_each(r.data)"),
                ]
            }
            _ => {
                let rows = SQLITE_ROWS.replace("r.", "NEW.");
                vec![
                    format!(
                        "CREATE TRIGGER records_refs_insert AFTER INSERT ON records BEGIN \
                         INSERT INTO record_refs (source_id, field, target_id) {rows}; END"
                    ),
                    format!(
                        "CREATE TRIGGER records_refs_update AFTER UPDATE OF data ON records BEGIN \
                         DELETE FROM record_refs WHERE source_id = OLD.id; \
                         INSERT INTO record_refs (source_id, field, target_id) {rows}; END"
                    ),
                    "CREATE TRIGGER records_refs_delete AFTER DELETE ON records BEGIN \
                     DELETE FROM record_refs WHERE source_id = OLD.id; END"
                        .to_owned(),
                    format!("INSERT INTO record_refs (source_id, field, target_id) {SQLITE_ROWS}")
                        .replace(
                            "FROM json_each(r.data)",
                            "FROM records AS r, json_each(r.data)",
                        ),
                ]
            }
        };
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "DROP TRIGGER IF EXISTS records_refs ON records",
                "DROP FUNCTION IF EXISTS kith_record_refs()",
            ],
            _ => &[
                "DROP TRIGGER IF EXISTS records_refs_insert",
                "DROP TRIGGER IF EXISTS records_refs_update",
                "DROP TRIGGER IF EXISTS records_refs_delete",
            ],
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        manager
            .drop_table(Table::drop().table(RecordRefs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone)]
enum RecordRefs {
    Table,
    SourceId,
    Field,
    TargetId,
}
