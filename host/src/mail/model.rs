//! sea-orm entities of the mail tables (migrations `m20261207_000011_mail` and
//! `m20261207_000013_mailboxes`, `m20261207_000014_mail_attachments`).

pub mod settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: Uuid,
        pub host: String,
        pub port: i32,
        pub security: String,
        pub username: String,
        pub password_sealed: Option<String>,
        pub from_address: String,
        pub from_name: String,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub direction: String,
        pub activity_id: Option<Uuid>,
        pub message_id: String,
        pub in_reply_to: Option<String>,
        pub thread_id: String,
        pub from_address: String,
        pub to_addresses: Json,
        pub cc_addresses: Json,
        pub subject: String,
        pub body_text: String,
        pub attachments: Json,
        pub status: String,
        pub attempts: i32,
        pub next_at: i64,
        pub lease_until: i64,
        pub last_error: Option<String>,
        pub server_reply: Option<String>,
        pub created_by: Option<Uuid>,
        /// The plugin that sent it, if one did.
        pub sent_by_plugin: Option<String>,
        pub created_at: i64,
        pub sent_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod mailbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_mailboxes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub name: String,
        pub host: String,
        pub port: i32,
        pub security: String,
        pub username: String,
        pub password_sealed: Option<String>,
        pub folder: String,
        pub enabled: bool,
        pub poll_seconds: i32,
        pub acting_user: Uuid,
        pub uid_validity: Option<i64>,
        pub last_uid: i64,
        pub received: i64,
        pub skipped: i64,
        pub next_poll_at: i64,
        pub lease_owner: Option<Uuid>,
        pub lease_until: i64,
        pub last_polled_at: Option<i64>,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attachment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_attachments")]
    pub struct Model {
        /// The `mail_messages` row it came with.
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: Uuid,
        /// Its place among the message's attachments, from 0.
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub workspace_id: Uuid,
        pub name: String,
        pub content_type: String,
        pub content: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
