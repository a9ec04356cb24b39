//! The sea-orm entities of the web app's tables. Only `web` uses them.

macro_rules! relationless {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// A workspace's look: its theme, the tokens it changed, its uploaded logo.
pub mod look {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "workspace_looks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        pub theme: String,
        pub tokens: Json,
        pub logo: Option<Vec<u8>>,
        pub logo_type: Option<String>,
        pub updated_at: i64,
        /// The workspace's default language (`i18n::Language` tag); none is English.
        pub language: Option<String>,
    }

    relationless!();
}

/// A template a workspace's admin replaced.
pub mod template_override {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "template_overrides")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub source: String,
        pub updated_by: Uuid,
        pub updated_at: i64,
    }

    relationless!();
}

/// A saved list view: columns, filters and sort of one entity type, personal or shared.
pub mod saved_view {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "saved_views")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub owner_id: Uuid,
        pub entity: String,
        pub name: String,
        pub shared: bool,
        pub query: Json,
        pub created_at: i64,
    }

    relationless!();
}
