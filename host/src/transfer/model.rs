//! sea-orm entities of imports (migration `m20261209_000019_imports`).

pub mod import {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "imports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub created_by: Uuid,
        pub entity_type: String,
        pub file_name: String,
        pub source: Vec<u8>,
        /// How the file is read (`source::Reading`, its `auto` choices settled).
        pub reading: Json,
        /// The mapping and options (`import::Plan`); null until previewed.
        pub options: Json,
        /// `uploaded`, `previewed`, `running`, `done`, `failed`, `undone`.
        pub status: String,
        pub total_rows: i64,
        /// Rows committed so far (in order): where a resumed commit goes on.
        pub done_rows: i64,
        pub counts: Json,
        /// The language the rows' problems are written in (the importer's).
        pub language: String,
        pub error: Option<String>,
        /// Until when the process running the commit holds it (microseconds).
        pub lease_until: i64,
        pub created_at: i64,
        pub finished_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod import_row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "import_rows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub import_id: Uuid,
        /// The row's index among the file's data rows (0: the row under the header).
        #[sea_orm(primary_key, auto_increment = false)]
        pub row: i64,
        pub outcome: String,
        pub record_id: Option<Uuid>,
        /// An update's `{field: {before, after}}`: what an undo puts back.
        pub changes: Option<Json>,
        /// `[{column, field, code, message}]` of a failed or skipped row.
        pub problems: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
