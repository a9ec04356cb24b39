//! What a plugin holds in a workspace beyond its enablement: the entity types and fields it
//! declared (claims, which stay when it is disabled, so no other plugin can take them over
//! with their stored records), and the bytes its key-value store uses (kept with every write,
//! so a quota is checked without summing the store).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PluginClaims::Table)
                    .col(uuid(PluginClaims::WorkspaceId))
                    .col(string(PluginClaims::EntityType))
                    // `""` for the whole type; a field's name for a field added to another type.
                    .col(string(PluginClaims::Field))
                    .col(string(PluginClaims::PluginId))
                    .col(big_integer(PluginClaims::ClaimedAt))
                    .primary_key(
                        Index::create()
                            .col(PluginClaims::WorkspaceId)
                            .col(PluginClaims::EntityType)
                            .col(PluginClaims::Field),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PluginKvUsage::Table)
                    .col(uuid(PluginKvUsage::WorkspaceId))
                    .col(string(PluginKvUsage::PluginId))
                    .col(big_integer(PluginKvUsage::Keys))
                    .col(big_integer(PluginKvUsage::Bytes))
                    .primary_key(
                        Index::create()
                            .col(PluginKvUsage::WorkspaceId)
                            .col(PluginKvUsage::PluginId),
                    )
                    .to_owned(),
            )
            .await?;
        // What the stores already hold (a key's bytes count its name too).
        // Bytes, not characters: SQLite's `length` counts a text's characters.
        let bytes = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "octet_length(key) + octet_length(value)",
            _ => "length(CAST(key AS BLOB)) + length(value)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO plugin_kv_usage (workspace_id, plugin_id, keys, bytes) \
                 SELECT workspace_id, plugin_id, COUNT(*), SUM({bytes}) \
                 FROM plugin_kv GROUP BY workspace_id, plugin_id"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PluginClaims::Table.into_iden(),
            PluginKvUsage::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum PluginClaims {
    Table,
    WorkspaceId,
    EntityType,
    Field,
    PluginId,
    ClaimedAt,
}

#[derive(DeriveIden)]
enum PluginKvUsage {
    Table,
    WorkspaceId,
    PluginId,
    Keys,
    Bytes,
}
