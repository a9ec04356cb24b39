//! The sea-orm entities of the plugin tables. Only `plugins` uses them.

macro_rules! relationless {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// An installed plugin version: the package as it was installed.
pub mod package {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: String,
        pub manifest: Json,
        pub templates: Json,
        /// The catalogues, language tag → Fluent source; none before they existed.
        pub locales: Option<Json>,
        pub manifest_text: String,
        pub wasm: Vec<u8>,
        pub sha256: String,
        pub installed_at: i64,
    }

    relationless!();
}

/// A plugin's state in one workspace: enabled or not, the version, the grant and settings.
pub mod enablement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "workspace_plugins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        pub version: String,
        pub enabled: bool,
        pub granted: Json,
        pub settings: Json,
        pub granted_by: Uuid,
        pub updated_at: i64,
        pub suspended: Option<String>,
    }

    relationless!();
}

pub mod failure {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_failures")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: Uuid,
        pub plugin_id: String,
        pub version: String,
        pub kind: String,
        pub message: String,
        pub at: i64,
    }

    relationless!();
}

pub mod kv {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_kv")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: Vec<u8>,
    }

    relationless!();
}

/// How far after-save delivery of a plugin in a workspace has come.
pub mod cursor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        pub seq: i64,
        pub attempts: i32,
        pub retry_at: i64,
        /// Until when one process delivers this cursor's events (others wait).
        pub lease_until: i64,
    }

    relationless!();
}

/// A scheduled job of a plugin in a workspace: its next run, its cursor and its lease.
pub mod job {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_jobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub job: String,
        pub next_run: i64,
        pub cursor: Option<String>,
        pub lease_until: i64,
        pub last_done: Option<i64>,
    }

    relationless!();
}

/// An entity type (`field` empty) or a field of another type that a plugin declared in a
/// workspace: it stays the plugin's while the plugin is disabled.
pub mod claim {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_claims")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub entity_type: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub field: String,
        pub plugin_id: String,
        pub claimed_at: i64,
    }

    relationless!();
}

/// The keys and bytes a plugin's key-value store holds in a workspace.
pub mod kv_usage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_kv_usage")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        pub keys: i64,
        pub bytes: i64,
    }

    relationless!();
}

/// An event a plugin's after-save failed on (or that waits behind one of the same record),
/// retried apart from the cursor; a dead letter once `dead_at` is set.
pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub record_id: Uuid,
        pub attempts: i32,
        pub next_at: i64,
        pub last_error: Option<String>,
        pub dead_at: Option<i64>,
    }

    relationless!();
}
