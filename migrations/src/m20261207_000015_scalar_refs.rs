//! `record_refs` also holds single references (a contact's `company`, a deal's `contact`), not
//! only lists: the search indexer asks "which records point at X" when X's title changes, to
//! rewrite their documents (a contact is found by its company's name). The triggers of
//! migration 5 are replaced by ones that index every text value of 36 characters, whether it
//! is a field's value or an element of a list, and the existing records are indexed again.
//! Queries by field are unchanged; a 36-character text that is not an id is harmless, as
//! before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_ROWS: &str = "SELECT r.id, f.key, e.value FROM json_each(r.data) AS f, json_each(f.value) AS e \
     WHERE f.type = 'array' AND e.type = 'text' AND length(e.value) = 36 \
     UNION ALL SELECT r.id, f.key, f.value FROM json_each(r.data) AS f \
     WHERE f.type = 'text' AND length(f.value) = 36";

const POSTGRES_ROWS: &str = "SELECT r.id, f.key, e.value FROM jsonb_each(r.data) AS f \
     CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(f.value) = 'array' THEN f.value ELSE '[]'::jsonb END) AS e(value) \
     WHERE length(e.value) = 36 \
     UNION ALL SELECT r.id, f.key, f.value #>> '{}' FROM jsonb_each(r.data) AS f \
     WHERE jsonb_typeof(f.value) = 'string' AND length(f.value #>> '{}') = 36";

/// The statements that (re)create the triggers with `rows` and fill the table from `records`.
fn install(backend: DbBackend, postgres_rows: &str, sqlite_rows: &str) -> Vec<String> {
    match backend {
        DbBackend::Postgres => {
            let rows = postgres_rows.replace("r.", "NEW.");
            vec![
                "DROP TRIGGER IF EXISTS records_refs ON records".to_owned(),
                format!(
                    "CREATE OR REPLACE FUNCTION kith_record_refs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF TG_OP <> 'INSERT' THEN DELETE FROM record_refs WHERE source_id = OLD.id; END IF; \
                     IF TG_OP <> 'DELETE' THEN INSERT INTO record_refs (source_id, field, target_id) {rows}; END IF; \
                     RETURN NULL; END $$"
                ),
                "CREATE TRIGGER records_refs AFTER INSERT OR DELETE OR UPDATE OF data ON records \
                 FOR EACH ROW EXECUTE FUNCTION kith_record_refs()"
                    .to_owned(),
                "DELETE FROM record_refs".to_owned(),
                format!("INSERT INTO record_refs (source_id, field, target_id) {postgres_rows}")
                    .replace(
                        "FROM jsonb_each(r.data)",
                        "FROM records AS r CROSS JOIN LATERAL jsonb_each(r.data)",
                    ),
            ]
        }
        _ => {
            let rows = sqlite_rows.replace("r.", "NEW.");
            vec![
                "DROP TRIGGER IF EXISTS records_refs_insert".to_owned(),
                "DROP TRIGGER IF EXISTS records_refs_update".to_owned(),
                format!(
                    "CREATE TRIGGER records_refs_insert AFTER INSERT ON records BEGIN \
                     INSERT INTO record_refs (source_id, field, target_id) {rows}; END"
                ),
                format!(
                    "CREATE TRIGGER records_refs_update AFTER UPDATE OF data ON records BEGIN \
                     DELETE FROM record_refs WHERE source_id = OLD.id; \
                     INSERT INTO record_refs (source_id, field, target_id) {rows}; END"
                ),
                "DELETE FROM record_refs".to_owned(),
                format!("INSERT INTO record_refs (source_id, field, target_id) {sqlite_rows}")
                    .replace(
                        "FROM json_each(r.data)",
                        "FROM records AS r, json_each(r.data)",
                    ),
            ]
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in install(manager.get_database_backend(), POSTGRES_ROWS, SQLITE_ROWS) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        // Migration 5's rows: list elements only.
        let (postgres, sqlite) = (
            super::m20261127_000005_record_refs::POSTGRES_ROWS,
            super::m20261127_000005_record_refs::SQLITE_ROWS,
        );
        for statement in install(backend, postgres, sqlite) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
