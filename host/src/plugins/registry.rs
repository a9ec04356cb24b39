//! The registry: installed plugin versions, what is enabled in each workspace (with the admin's
//! grant and settings), and every way into a plugin — hooks, routes, actions, panels, jobs —
//! each through [`Plugins::invoke`], which records failures and suspends a plugin that keeps
//! failing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use super::PluginError;
use super::host::{CallState, Services};
use super::manifest::{Manifest, Permissions};
use super::messages::Messages;
use super::model::{claim, enablement, failure, package as package_row};
use super::package::{Package, api_version_of};
use super::runtime::{CallKind, Compiled, Failure, Runtime};
use crate::auth::permissions::Access;
use crate::changes::Change;
use crate::ids::{UserId, WorkspaceId};
use crate::records::schema::{EntityType, FieldSpec};
use crate::records::{Actor, now_micros};

/// Consecutive failures of one kind of call (traps, limits, the plugin's own errors) after
/// which a plugin is suspended in a workspace.
pub const SUSPEND_AFTER: u32 = 5;

/// Calls of one plugin (other than before-save hooks) that run at once in one workspace.
pub const CALLS_PER_PLUGIN: usize = 2;
/// How long a route, panel or action waits for a running slot before answering busy.
const SHORT_SLOT_WAIT: Duration = Duration::from_secs(1);
/// How long after-save, jobs and on-enable wait for one: nobody is waiting on the page, and a
/// busy plugin's calls from before an enable end at their next host call.
const LONG_SLOT_WAIT: Duration = Duration::from_secs(30);

/// An installed plugin version, compiled and ready.
pub struct Installed {
    pub manifest: Manifest,
    pub sha256: String,
    pub templates: minijinja::Environment<'static>,
    /// The package's catalogues: its templates' `t`, its labels.
    pub messages: Arc<Messages>,
    pub compiled: Compiled,
}

impl Installed {
    /// Whether the plugin declares the entity type `name` itself.
    pub fn owns(&self, name: &str) -> bool {
        self.manifest.entities.iter().any(|e| e.name == name)
    }
}

/// A plugin enabled in a workspace: the version, what the admin granted, the settings.
pub struct Enabled {
    pub workspace: WorkspaceId,
    pub plugin: Arc<Installed>,
    pub granted: Permissions,
    pub settings: Map<String, Json>,
    pub granted_by: UserId,
    /// Why the plugin was suspended here, if it was: its routes, panels, actions, jobs and
    /// after-save stop, and writes its before-save hooks would check are refused (a
    /// validating hook that cannot run fails closed) until an admin enables or disables it.
    pub suspended: Option<String>,
    /// When the enablement was last written (its row's `updated_at`): with the version and
    /// the suspension, what tells a process that another changed it.
    pub stamp: i64,
}

impl Enabled {
    /// A setting's value, or its declared default.
    pub fn setting(&self, name: &str) -> Option<String> {
        match self.settings.get(name) {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Null) | None => self
                .plugin
                .manifest
                .settings
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.default.clone()),
            Some(other) => Some(other.to_string()),
        }
    }

    /// Whether the plugin may read (`write: false`) or write records of `entity` here: its own
    /// types, and those the admin granted.
    pub fn may_access(&self, entity: &str, write: bool) -> bool {
        let list = if write {
            &self.granted.write
        } else {
            &self.granted.read
        };
        self.plugin.owns(entity) || list.iter().any(|t| t == "*" || t == entity)
    }

    /// Whether the grant allows calling `host:port`.
    pub fn may_call_host(&self, host: &str, port: u16) -> bool {
        self.granted.may_call_host(host, port)
    }

    pub fn id(&self) -> &str {
        &self.plugin.manifest.id
    }
}

/// What `GET /api/v1/plugins` says about a plugin.
#[derive(Debug, Serialize)]
pub struct PluginInfo {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub versions: Vec<String>,
    /// The version enabled in this workspace, if any.
    pub enabled: Option<String>,
    pub suspended: Option<String>,
    /// What the newest version asks for.
    pub permissions: Permissions,
    pub granted: Option<Permissions>,
}

/// What is enabled in each workspace, suspended plugins included, in the order they were
/// enabled. The registry and every running call share it: a call's host imports check it, so
/// a disable, a suspension or a new grant holds from the plugin's next host call on.
#[derive(Default)]
pub struct Enablements {
    by_workspace: RwLock<HashMap<WorkspaceId, Arc<Vec<Arc<Enabled>>>>>,
}

impl Enablements {
    /// Every plugin enabled in a workspace, suspended ones included.
    pub fn all_in(&self, workspace: WorkspaceId) -> Arc<Vec<Arc<Enabled>>> {
        self.by_workspace
            .read()
            .ok()
            .and_then(|m| m.get(&workspace).cloned())
            .unwrap_or_default()
    }

    /// The plugin `id` as it is enabled in `workspace` now (perhaps suspended).
    pub fn current(&self, workspace: WorkspaceId, id: &str) -> Option<Arc<Enabled>> {
        self.all_in(workspace)
            .iter()
            .find(|e| e.id() == id)
            .cloned()
    }

    /// Whether `enabled` is still how its plugin is enabled, unsuspended: a call made for it
    /// may go on.
    pub fn is_current(&self, enabled: &Arc<Enabled>) -> bool {
        self.current(enabled.workspace, enabled.id())
            .is_some_and(|now| Arc::ptr_eq(&now, enabled) && now.suspended.is_none())
    }

    fn every(&self) -> Vec<Arc<Enabled>> {
        self.by_workspace
            .read()
            .map(|m| m.values().flat_map(|l| l.iter().cloned()).collect())
            .unwrap_or_default()
    }

    /// Replaces a workspace's whole list.
    fn replace(&self, workspace: WorkspaceId, list: Vec<Arc<Enabled>>) {
        if let Ok(mut map) = self.by_workspace.write() {
            map.insert(workspace, Arc::new(list));
        }
    }

    /// Replaces (or removes) a plugin in a workspace's list.
    fn set(&self, workspace: WorkspaceId, id: &str, enabled: Option<Arc<Enabled>>) {
        if let Ok(mut map) = self.by_workspace.write() {
            let mut list: Vec<Arc<Enabled>> = map
                .get(&workspace)
                .map(|l| l.iter().filter(|e| e.id() != id).cloned().collect())
                .unwrap_or_default();
            list.extend(enabled);
            map.insert(workspace, Arc::new(list));
        }
    }
}

/// Something each plugin has in each workspace.
type PerPlugin<T> = Mutex<HashMap<(WorkspaceId, String), Arc<T>>>;

pub struct Plugins {
    runtime: Arc<Runtime>,
    services: Arc<Services>,
    installed: RwLock<HashMap<(String, String), Arc<Installed>>>,
    /// Consecutive failures per workspace, plugin and kind of call (a plugin whose routes
    /// always fail is suspended even while its after-save calls succeed).
    strikes: Mutex<HashMap<(WorkspaceId, String, CallKind), u32>>,
    /// The slots each plugin's calls run in (see [`Plugins::running_slot`]).
    slots: PerPlugin<Semaphore>,
    /// One enable at a time per workspace and plugin (see [`Plugins::enable`]).
    enabling: PerPlugin<tokio::sync::Mutex<()>>,
}

fn db_error(error: sea_orm::DbErr) -> PluginError {
    PluginError::Database(error.to_string())
}

impl Plugins {
    /// Loads every plugin enabled in some workspace (compiled from the on-disk cache when it
    /// has them).
    pub async fn start(
        runtime: Arc<Runtime>,
        services: Arc<Services>,
    ) -> Result<Arc<Plugins>, PluginError> {
        let plugins = Arc::new(Plugins {
            runtime,
            services,
            installed: RwLock::default(),
            strikes: Mutex::default(),
            slots: Mutex::default(),
            enabling: Mutex::default(),
        });
        let rows = enablement::Entity::find()
            .filter(enablement::Column::Enabled.eq(true))
            .order_by_asc(enablement::Column::UpdatedAt)
            .all(&plugins.services.db.read)
            .await
            .map_err(db_error)?;
        plugins.claim_what_was_enabled().await?;
        for row in rows {
            let workspace = WorkspaceId(row.workspace_id);
            match plugins.load_enabled(&row).await {
                Ok(enabled) => plugins.set_enabled(workspace, &row.plugin_id, Some(enabled)),
                Err(error) => {
                    tracing::error!(plugin = row.plugin_id, %error, "cannot load an enabled plugin")
                }
            }
        }
        Ok(plugins)
    }

    /// Claims for plugins enabled before claims were kept: what each declared, in the order
    /// they were first enabled (the first keeps a name two declared).
    async fn claim_what_was_enabled(&self) -> Result<(), PluginError> {
        let rows = enablement::Entity::find()
            .order_by_asc(enablement::Column::UpdatedAt)
            .all(&self.services.db.read)
            .await
            .map_err(db_error)?;
        for row in rows {
            let workspace = WorkspaceId(row.workspace_id);
            let known = claim::Entity::find()
                .filter(claim::Column::WorkspaceId.eq(row.workspace_id))
                .filter(claim::Column::PluginId.eq(row.plugin_id.as_str()))
                .one(&self.services.db.read)
                .await
                .map_err(db_error)?;
            if known.is_some() {
                continue;
            }
            let stored: Option<Json> =
                package_row::Entity::find_by_id((row.plugin_id.clone(), row.version.clone()))
                    .select_only()
                    .column(package_row::Column::Manifest)
                    .into_tuple()
                    .one(&self.services.db.read)
                    .await
                    .map_err(db_error)?;
            let Some(manifest) = stored.and_then(|m| serde_json::from_value::<Manifest>(m).ok())
            else {
                tracing::error!(
                    plugin = row.plugin_id,
                    "cannot read an enabled plugin's manifest"
                );
                continue;
            };
            if let Err(error) = self.claim(workspace, &manifest).await {
                tracing::warn!(plugin = row.plugin_id, %error, "a plugin declares what another holds");
            }
        }
        Ok(())
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    async fn load_enabled(&self, row: &enablement::Model) -> Result<Arc<Enabled>, PluginError> {
        let plugin = self.installed_version(&row.plugin_id, &row.version).await?;
        let granted: Permissions = serde_json::from_value(row.granted.clone())
            .map_err(|e| PluginError::Corrupt(format!("stored grant: {e}")))?;
        Ok(Arc::new(Enabled {
            workspace: WorkspaceId(row.workspace_id),
            plugin,
            granted,
            settings: row.settings.as_object().cloned().unwrap_or_default(),
            granted_by: UserId(row.granted_by),
            suspended: row.suspended.clone(),
            stamp: row.updated_at,
        }))
    }

    /// An installed version, compiled on first use.
    async fn installed_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<Arc<Installed>, PluginError> {
        let key = (id.to_owned(), version.to_owned());
        if let Some(found) = self
            .installed
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(found);
        }
        let row = package_row::Entity::find_by_id(key.clone())
            .one(&self.services.db.read)
            .await
            .map_err(db_error)?
            .ok_or_else(|| PluginError::NotInstalled(format!("{id} {version}")))?;
        let templates: BTreeMap<String, String> = serde_json::from_value(row.templates)
            .map_err(|e| PluginError::Corrupt(format!("stored templates: {e}")))?;
        let locales: BTreeMap<String, String> = match row.locales {
            Some(locales) => serde_json::from_value(locales)
                .map_err(|e| PluginError::Corrupt(format!("stored catalogues: {e}")))?,
            None => BTreeMap::new(),
        };
        let package = Package::from_parts(row.manifest_text, row.wasm, templates, locales)
            .map_err(|e| PluginError::Corrupt(e.to_string()))?;
        let installed = Arc::new(self.prepare(package).await?);
        if let Ok(mut map) = self.installed.write() {
            map.insert(key, installed.clone());
        }
        Ok(installed)
    }

    /// Compiles a package and builds its template environment.
    async fn prepare(&self, package: Package) -> Result<Installed, PluginError> {
        let compiled = self
            .runtime
            .compile(
                Arc::new(package.wasm),
                &package.sha256,
                &package.manifest.api_version,
            )
            .await
            .map_err(PluginError::Component)?;
        let messages = Arc::new(Messages::load(&package.locales));
        let mut templates = super::panel::environment(messages.clone());
        for (name, source) in package.templates {
            templates
                .add_template_owned(name.clone(), source)
                .map_err(|e| PluginError::Package(format!("templates/{name}: {e}")))?;
        }
        Ok(Installed {
            manifest: package.manifest,
            sha256: package.sha256,
            templates,
            messages,
            compiled,
        })
    }

    // -- install, enable, disable -------------------------------------------------------------

    /// Installs a package: checks the API version it was built against, compiles it (which
    /// checks that everything it imports is provided) and stores it. Enables nothing.
    pub async fn install(&self, package: Package) -> Result<(Manifest, bool), PluginError> {
        let manifest = package.manifest.clone();
        match api_version_of(&package.wasm).map_err(PluginError::Component)? {
            None => {
                return Err(PluginError::Package(
                    "plugin.wasm has no `kith:api-version` section: build it with plugin-sdk's register_plugin!".into(),
                ));
            }
            Some(version) if !super::manifest::api_compatible(&version) => {
                return Err(PluginError::Package(format!(
                    "plugin.wasm was built against plugin API {version}; this server provides {}",
                    super::manifest::API_VERSION
                )));
            }
            Some(_) => {}
        }
        let existing =
            package_row::Entity::find_by_id((manifest.id.clone(), manifest.version.clone()))
                .one(&self.services.db.read)
                .await
                .map_err(db_error)?;
        if let Some(existing) = existing {
            if existing.sha256 == package.sha256 {
                return Ok((manifest, false));
            }
            return Err(PluginError::Conflict(format!(
                "{} {} is already installed with a different plugin.wasm; give the new build a new version",
                manifest.id, manifest.version
            )));
        }
        let row = package_row::ActiveModel {
            id: Set(manifest.id.clone()),
            version: Set(manifest.version.clone()),
            manifest: Set(serde_json::to_value(&manifest).unwrap_or_default()),
            templates: Set(serde_json::to_value(&package.templates).unwrap_or_default()),
            locales: Set(Some(
                serde_json::to_value(&package.locales).unwrap_or_default(),
            )),
            manifest_text: Set(package.manifest_text.clone()),
            wasm: Set(package.wasm.clone()),
            sha256: Set(package.sha256.clone()),
            installed_at: Set(now_micros()),
        };
        let key = (manifest.id.clone(), manifest.version.clone());
        let sha256 = package.sha256.clone();
        let installed = Arc::new(self.prepare(package).await?);
        // Another process (a replica starting at the same moment with the same bundled
        // plugins) may have installed it meanwhile: the same build is then installed, another
        // one is refused as above.
        package_row::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([package_row::Column::Id, package_row::Column::Version])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.services.db.write)
            .await
            .map_err(db_error)?;
        let stored: Option<String> = package_row::Entity::find_by_id(key.clone())
            .select_only()
            .column(package_row::Column::Sha256)
            .into_tuple()
            .one(&self.services.db.write)
            .await
            .map_err(db_error)?;
        if stored.as_deref() != Some(sha256.as_str()) {
            return Err(PluginError::Conflict(format!(
                "{} {} was installed with a different plugin.wasm at the same time; give the new build a new version",
                manifest.id, manifest.version
            )));
        }
        if let Ok(mut map) = self.installed.write() {
            map.insert(key, installed);
        }
        Ok((manifest, true))
    }

    /// Installs a package this binary ships (see `bundled`): the binary is its authority, so
    /// a build that differs from the one installed under the same version — its component,
    /// manifest, templates or catalogues — replaces it (a rebuilt server runs its rebuilt
    /// first-party plugins, in its words) and every process loads it anew.
    pub async fn install_shipped(&self, package: Package) -> Result<Manifest, PluginError> {
        match self.install(package.clone()).await {
            Err(PluginError::Conflict(_)) => {}
            Ok((_, false)) if !self.stored_as(&package).await? => {}
            other => return other.map(|(manifest, _)| manifest),
        }
        let manifest = package.manifest.clone();
        let key = (manifest.id.clone(), manifest.version.clone());
        let installed = Arc::new(self.prepare(package.clone()).await?);
        package_row::Entity::update_many()
            .col_expr(
                package_row::Column::Manifest,
                Expr::value(serde_json::to_value(&manifest).unwrap_or_default()),
            )
            .col_expr(
                package_row::Column::Templates,
                Expr::value(serde_json::to_value(&package.templates).unwrap_or_default()),
            )
            .col_expr(
                package_row::Column::Locales,
                Expr::value(serde_json::to_value(&package.locales).unwrap_or_default()),
            )
            .col_expr(
                package_row::Column::ManifestText,
                Expr::value(package.manifest_text),
            )
            .col_expr(package_row::Column::Wasm, Expr::value(package.wasm))
            .col_expr(package_row::Column::Sha256, Expr::value(package.sha256))
            .col_expr(package_row::Column::InstalledAt, Expr::value(now_micros()))
            .filter(package_row::Column::Id.eq(key.0.as_str()))
            .filter(package_row::Column::Version.eq(key.1.as_str()))
            .exec(&self.services.db.write)
            .await
            .map_err(db_error)?;
        if let Ok(mut map) = self.installed.write() {
            map.insert(key.clone(), installed);
        }
        // Where this version is enabled, its enablement is touched so that every process
        // (this one too) loads the new build.
        let workspaces: Vec<uuid::Uuid> = enablement::Entity::find()
            .select_only()
            .column(enablement::Column::WorkspaceId)
            .filter(enablement::Column::PluginId.eq(key.0.as_str()))
            .filter(enablement::Column::Version.eq(key.1.as_str()))
            .filter(enablement::Column::Enabled.eq(true))
            .into_tuple()
            .all(&self.services.db.read)
            .await
            .map_err(db_error)?;
        for workspace in workspaces {
            enablement::Entity::update_many()
                .col_expr(enablement::Column::UpdatedAt, Expr::value(now_micros()))
                .filter(enablement::Column::WorkspaceId.eq(workspace))
                .filter(enablement::Column::PluginId.eq(key.0.as_str()))
                .exec(&self.services.db.write)
                .await
                .map_err(db_error)?;
            let workspace = WorkspaceId(workspace);
            self.reload(workspace).await?;
            crate::changes::announce(&self.services.db, workspace, Change::Plugins).await;
        }
        tracing::info!(plugin = %key.0, version = %key.1, "a shipped plugin's new build replaced the installed one");
        Ok(manifest)
    }

    /// Whether the stored package of this version is `package` in every file (not only its
    /// component, which is all [`Plugins::install`] compares).
    async fn stored_as(&self, package: &Package) -> Result<bool, PluginError> {
        let manifest = &package.manifest;
        let row = package_row::Entity::find_by_id((manifest.id.clone(), manifest.version.clone()))
            .one(&self.services.db.read)
            .await
            .map_err(db_error)?;
        Ok(row.is_some_and(|row| {
            let locales = row.locales.unwrap_or_else(|| json!({}));
            row.sha256 == package.sha256
                && row.manifest_text == package.manifest_text
                && serde_json::to_value(&package.templates).ok() == Some(row.templates)
                && serde_json::to_value(&package.locales).ok() == Some(locales)
        }))
    }

    /// Every installed plugin with its state in `workspace`.
    pub async fn list(&self, workspace: WorkspaceId) -> Result<Vec<PluginInfo>, PluginError> {
        let packages = self.installed_manifests().await?;
        let states: HashMap<String, enablement::Model> = enablement::Entity::find()
            .filter(enablement::Column::WorkspaceId.eq(workspace.0))
            .all(&self.services.db.read)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| (row.plugin_id.clone(), row))
            .collect();
        let mut out: Vec<PluginInfo> = Vec::new();
        for (id, version, manifest) in packages {
            if let Some(info) = out.last_mut().filter(|i| i.id == id) {
                info.versions.push(version);
                info.name = manifest.name.clone();
                info.description = manifest.description.clone();
                info.permissions = manifest.permissions_summary();
                continue;
            }
            let state = states.get(&id);
            out.push(PluginInfo {
                id: id.clone(),
                name: manifest.name.clone(),
                description: manifest.description.clone(),
                versions: vec![version],
                enabled: state.filter(|s| s.enabled).map(|s| s.version.clone()),
                suspended: state.and_then(|s| s.suspended.clone()),
                permissions: manifest.permissions_summary(),
                granted: state.and_then(|s| serde_json::from_value(s.granted.clone()).ok()),
            });
        }
        Ok(out)
    }

    /// Every installed version: id, version, the plugin API it was built for and its name, in
    /// order.
    pub async fn installed_versions(
        &self,
    ) -> Result<Vec<(String, String, String, String)>, PluginError> {
        Ok((self.installed_manifests().await?)
            .into_iter()
            .map(|(id, version, manifest)| (id, version, manifest.api_version, manifest.name))
            .collect())
    }

    /// Every installed version's manifest, by id and then in the order they were installed.
    async fn installed_manifests(&self) -> Result<Vec<(String, String, Manifest)>, PluginError> {
        let rows: Vec<(String, String, Json)> = package_row::Entity::find()
            .select_only()
            .column(package_row::Column::Id)
            .column(package_row::Column::Version)
            .column(package_row::Column::Manifest)
            .order_by_asc(package_row::Column::Id)
            .order_by_asc(package_row::Column::InstalledAt)
            .into_tuple()
            .all(&self.services.db.read)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, version, manifest)| {
                Some((id, version, serde_json::from_value(manifest).ok()?))
            })
            .collect())
    }

    /// The newest installed version of a plugin.
    async fn newest_version(&self, id: &str) -> Result<String, PluginError> {
        let versions: Vec<String> = package_row::Entity::find()
            .select_only()
            .column(package_row::Column::Version)
            .filter(package_row::Column::Id.eq(id))
            .into_tuple()
            .all(&self.services.db.read)
            .await
            .map_err(db_error)?;
        versions
            .into_iter()
            .filter_map(|v| semver::Version::parse(&v).ok())
            .max()
            .map(|v| v.to_string())
            .ok_or_else(|| PluginError::NotInstalled(id.chars().take(64).collect()))
    }

    /// What a version (the newest when `None`) asks for, for an admin to grant.
    pub async fn requested_permissions(
        &self,
        id: &str,
        version: Option<&str>,
    ) -> Result<Permissions, PluginError> {
        let version = match version {
            Some(v) => v.to_owned(),
            None => self.newest_version(id).await?,
        };
        Ok(self
            .installed_version(id, &version)
            .await?
            .manifest
            .permissions_summary())
    }

    /// Enables (or upgrades, or re-enables) a plugin in the admin's workspace. `grant` is what
    /// the admin grants; it must cover everything the version asks for.
    pub async fn enable(
        &self,
        admin: &Actor,
        id: &str,
        version: Option<&str>,
        grant: &Permissions,
        settings: Map<String, Json>,
    ) -> Result<Arc<Enabled>, PluginError> {
        // Two enables at once (two admins, a double click) take turns, so one's on-enable
        // never sees the other's half-made set-up.
        let turn = self
            .enabling
            .lock()
            .map(|mut all| {
                all.entry((admin.workspace, id.to_owned()))
                    .or_default()
                    .clone()
            })
            .unwrap_or_default();
        let _turn = turn.lock().await;
        let version = match version {
            Some(v) => v.to_owned(),
            None => self.newest_version(id).await?,
        };
        let plugin = self.installed_version(id, &version).await?;
        let manifest = &plugin.manifest;
        let missing = manifest.permissions_summary().missing_from(grant);
        if !missing.is_empty() {
            return Err(PluginError::NotGranted(missing));
        }
        for setting in &manifest.settings {
            let given = settings.get(&setting.name).is_some_and(|v| !v.is_null());
            if setting.required && !given && setting.default.is_none() {
                return Err(PluginError::Settings(format!(
                    "the setting `{}` is required",
                    setting.name
                )));
            }
        }
        if let Some(unknown) = settings
            .keys()
            .find(|k| !manifest.settings.iter().any(|s| &s.name == *k))
        {
            return Err(PluginError::Settings(format!(
                "`{unknown}` is not a setting of {id}"
            )));
        }
        self.check_schema(admin.workspace, &plugin).await?;
        let store = &self.services.store;
        for ty in &manifest.entities {
            store
                .ensure_indexes(ty)
                .await
                .map_err(|e| PluginError::Database(e.to_string()))?;
        }
        for (entity, fields) in &manifest.fields {
            for field in fields.iter().filter(|f| f.indexed) {
                store
                    .ensure_index(entity, field)
                    .await
                    .map_err(|e| PluginError::Database(e.to_string()))?;
            }
        }
        let stamp = now_micros();
        let row = enablement::ActiveModel {
            workspace_id: Set(admin.workspace.0),
            plugin_id: Set(id.to_owned()),
            version: Set(version.clone()),
            enabled: Set(true),
            granted: Set(serde_json::to_value(grant).unwrap_or_default()),
            settings: Set(Json::Object(settings.clone())),
            granted_by: Set(admin.user.0),
            updated_at: Set(stamp),
            suspended: Set(None),
        };
        enablement::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    enablement::Column::WorkspaceId,
                    enablement::Column::PluginId,
                ])
                .update_columns([
                    enablement::Column::Version,
                    enablement::Column::Enabled,
                    enablement::Column::Granted,
                    enablement::Column::Settings,
                    enablement::Column::GrantedBy,
                    enablement::Column::UpdatedAt,
                    enablement::Column::Suspended,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.services.db.write)
            .await
            .map_err(db_error)?;
        if let Err(error) = self.claim(admin.workspace, manifest).await {
            self.disable(admin.workspace, id).await.ok();
            return Err(error);
        }
        super::background::enabled(&self.services, admin.workspace, manifest)
            .await
            .map_err(db_error)?;
        let enabled = Arc::new(Enabled {
            workspace: admin.workspace,
            plugin: plugin.clone(),
            granted: grant.clone(),
            settings,
            granted_by: admin.user,
            suspended: None,
            stamp,
        });
        self.set_enabled(admin.workspace, id, Some(enabled.clone()));
        crate::changes::announce(&self.services.db, admin.workspace, Change::Plugins).await;
        if let Ok(mut strikes) = self.strikes.lock() {
            strikes
                .retain(|(workspace, plugin, _), _| *workspace != admin.workspace || plugin != id);
        }
        match self.set_up(&enabled, admin).await {
            Ok(()) => Ok(enabled),
            // A disable, or an enable on another server, took over while on-enable ran: the
            // later one's outcome stands, and an enable's own on-enable sets the workspace up.
            Err(Failure::Revoked) => match self.services.enablements.current(admin.workspace, id) {
                Some(now) => Ok(now),
                None => Err(PluginError::Setup(format!(
                    "plugin `{id}` was disabled while it was being set up"
                ))),
            },
            Err(failure) => {
                // Only this enable is undone: one that came after it keeps the plugin on.
                self.disable_stamped(admin.workspace, id, Some(stamp))
                    .await
                    .ok();
                Err(PluginError::Setup(format!(
                    "plugin `{id}` failed to set the workspace up, so it stays disabled: {failure} (in on-enable)"
                )))
            }
        }
    }

    /// Runs the plugin's `on-enable` export as the admin who enabled it.
    async fn set_up(&self, enabled: &Arc<Enabled>, admin: &Actor) -> Result<(), Failure> {
        let ctx = super::hooks::context(enabled, admin);
        self.invoke(
            enabled,
            admin.clone(),
            CallKind::Enable,
            move |plugin, store| Box::pin(async move { plugin.on_enable(store, &ctx).await }),
        )
        .await
    }

    // -- claims ------------------------------------------------------------------------------

    /// What a manifest declares in a workspace's schema, as claims: `(type, "")` for each of
    /// its types, `(type, field)` for each field it adds to another type.
    fn claims_of(manifest: &Manifest) -> Vec<(String, String)> {
        let types = (manifest.entities.iter()).map(|ty| (ty.name.clone(), String::new()));
        let fields = (manifest.fields.iter())
            .flat_map(|(entity, fields)| fields.iter().map(|f| (entity.clone(), f.name.clone())));
        types.chain(fields).collect()
    }

    /// The plugin that declared a type (`field` empty) or a field of one in a workspace; it
    /// keeps it while disabled.
    pub async fn claimant(
        &self,
        workspace: WorkspaceId,
        entity: &str,
        field: &str,
    ) -> Result<Option<String>, PluginError> {
        let row = claim::Entity::find_by_id((workspace.0, entity.to_owned(), field.to_owned()))
            .one(&self.services.db.read)
            .await
            .map_err(db_error)?;
        Ok(row.map(|r| r.plugin_id))
    }

    /// The declarations of `manifest` that another plugin holds in the workspace.
    async fn claimed_by_others(
        &self,
        workspace: WorkspaceId,
        manifest: &Manifest,
    ) -> Result<Vec<String>, PluginError> {
        let mut taken = Vec::new();
        for (entity, field) in Self::claims_of(manifest) {
            let Some(holder) = self.claimant(workspace, &entity, &field).await? else {
                continue;
            };
            if holder != manifest.id {
                taken.push(if field.is_empty() {
                    format!("entities.{entity}: the type `{entity}` and its records belong to plugin `{holder}`")
                } else {
                    format!("fields.{entity}.{field}: the field belongs to plugin `{holder}`")
                });
            }
        }
        Ok(taken)
    }

    /// Records that the plugin holds what its manifest declares in the workspace; a claim
    /// another plugin made first (a concurrent enable) is refused.
    async fn claim(&self, workspace: WorkspaceId, manifest: &Manifest) -> Result<(), PluginError> {
        for (entity, field) in Self::claims_of(manifest) {
            claim::Entity::insert(claim::ActiveModel {
                workspace_id: Set(workspace.0),
                entity_type: Set(entity),
                field: Set(field),
                plugin_id: Set(manifest.id.clone()),
                claimed_at: Set(now_micros()),
            })
            .on_conflict(
                OnConflict::columns([
                    claim::Column::WorkspaceId,
                    claim::Column::EntityType,
                    claim::Column::Field,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&self.services.db.write)
            .await
            .map_err(db_error)?;
        }
        let taken = self.claimed_by_others(workspace, manifest).await?;
        if taken.is_empty() {
            Ok(())
        } else {
            Err(PluginError::Schema(taken))
        }
    }

    /// Checks that the plugin's types and fields fit the workspace's schema (nothing taken by
    /// a built-in, a custom type or another plugin, enabled or not).
    async fn check_schema(
        &self,
        workspace: WorkspaceId,
        plugin: &Installed,
    ) -> Result<(), PluginError> {
        let taken = self.claimed_by_others(workspace, &plugin.manifest).await?;
        if !taken.is_empty() {
            return Err(PluginError::Schema(taken));
        }
        let store = &self.services.store;
        let schema = store
            .schema(workspace)
            .await
            .map_err(|e| PluginError::Database(e.to_string()))?;
        let own = |ty: &EntityType| ty.source == plugin_source(&plugin.manifest.id);
        let others = crate::records::schema::Schema::new(
            schema
                .types()
                .iter()
                .filter(|t| !own(t))
                .map(|t| {
                    let mut t = (**t).clone();
                    t.fields.retain(|f| {
                        f.source.as_deref() != Some(plugin_source(&plugin.manifest.id).as_str())
                    });
                    t
                })
                .collect(),
        );
        // The plugin's types may point at each other (deal → stage → pipeline) and at
        // themselves: each is checked beside the workspace's other types and its siblings.
        let own_types = &plugin.manifest.entities;
        let with = |extra: &mut dyn Iterator<Item = &EntityType>| {
            crate::records::schema::Schema::new(
                others
                    .types()
                    .iter()
                    .map(|t| (**t).clone())
                    .chain(extra.cloned())
                    .collect(),
            )
        };
        let mut errors = Vec::new();
        for ty in own_types {
            let siblings = with(&mut own_types.iter().filter(|o| o.name != ty.name));
            let mut ty = ty.clone();
            if let Err(found) = ty.check_definition(&siblings) {
                let to_itself = |e: &crate::error::FieldError| {
                    let field = e
                        .field
                        .strip_prefix("fields.")
                        .and_then(|f| f.strip_suffix(".target"));
                    e.code == "unknown_entity"
                        && field
                            .and_then(|f| ty.field(f))
                            .is_some_and(|f| f.target.as_deref() == Some(ty.name.as_str()))
                };
                errors.extend(
                    found
                        .iter()
                        .filter(|e| !to_itself(e))
                        .map(|e| format!("entities.{}: {}: {}", ty.name, e.field, e.message)),
                );
            }
        }
        let others = with(&mut own_types.iter());
        for (entity, fields) in &plugin.manifest.fields {
            let Some(target) = others.by_name(entity) else {
                errors.push(format!(
                    "fields.{entity}: no entity type `{entity}` in this workspace"
                ));
                continue;
            };
            for field in fields {
                let mut field = field.clone();
                if target.field(&field.name).is_some() {
                    errors.push(format!(
                        "fields.{entity}.{}: `{entity}` already has this field",
                        field.name
                    ));
                } else if let Err(found) = field.check_definition(&others) {
                    errors.extend(
                        found
                            .into_iter()
                            .map(|e| format!("fields.{entity}.{}: {}", field.name, e.message)),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PluginError::Schema(errors))
        }
    }

    /// Disables a plugin in a workspace: its hooks, routes, jobs and panels stop at once; its
    /// types and their records stay stored (and come back when it is enabled again).
    pub async fn disable(&self, workspace: WorkspaceId, id: &str) -> Result<(), PluginError> {
        self.disable_stamped(workspace, id, None).await
    }

    /// Disables the plugin; given a `stamp`, only if its enablement is still the one made then.
    async fn disable_stamped(
        &self,
        workspace: WorkspaceId,
        id: &str,
        stamp: Option<i64>,
    ) -> Result<(), PluginError> {
        let mut update = enablement::Entity::update_many()
            .col_expr(
                enablement::Column::Enabled,
                sea_orm::sea_query::Expr::value(false),
            )
            .col_expr(
                enablement::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now_micros()),
            )
            .filter(enablement::Column::WorkspaceId.eq(workspace.0))
            .filter(enablement::Column::PluginId.eq(id))
            .filter(enablement::Column::Enabled.eq(true));
        if let Some(stamp) = stamp {
            update = update.filter(enablement::Column::UpdatedAt.eq(stamp));
        }
        let result = update
            .exec(&self.services.db.write)
            .await
            .map_err(db_error)?;
        if result.rows_affected == 0 {
            return Err(PluginError::NotEnabled(id.chars().take(64).collect()));
        }
        self.set_enabled(workspace, id, None);
        crate::changes::announce(&self.services.db, workspace, Change::Plugins).await;
        Ok(())
    }

    /// Loads a workspace's enabled plugins again from the database, after another process
    /// changed them (`changes`): a plugin whose enablement is as this process has it keeps its
    /// entry, so calls running for it go on; a changed one is loaded anew.
    pub async fn reload(&self, workspace: WorkspaceId) -> Result<(), PluginError> {
        let rows = enablement::Entity::find()
            .filter(enablement::Column::WorkspaceId.eq(workspace.0))
            .filter(enablement::Column::Enabled.eq(true))
            .order_by_asc(enablement::Column::UpdatedAt)
            .all(&self.services.db.read)
            .await
            .map_err(db_error)?;
        let held = self.services.enablements.all_in(workspace);
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            let same = held.iter().find(|e| {
                e.id() == row.plugin_id
                    && e.plugin.manifest.version == row.version
                    && e.stamp == row.updated_at
                    && e.suspended == row.suspended
            });
            match same {
                Some(enabled) => list.push(enabled.clone()),
                None => match self.load_enabled(&row).await {
                    Ok(enabled) => list.push(enabled),
                    Err(error) => {
                        tracing::error!(plugin = row.plugin_id, %error, "cannot load an enabled plugin")
                    }
                },
            }
        }
        self.services.enablements.replace(workspace, list);
        self.services.store.forget_schema(workspace);
        Ok(())
    }

    /// Whether the plugin was ever enabled in the workspace (it may be disabled now).
    pub async fn ever_enabled(
        &self,
        workspace: WorkspaceId,
        id: &str,
    ) -> Result<bool, PluginError> {
        let row = enablement::Entity::find()
            .filter(enablement::Column::WorkspaceId.eq(workspace.0))
            .filter(enablement::Column::PluginId.eq(id))
            .one(&self.services.db.read)
            .await
            .map_err(db_error)?;
        Ok(row.is_some())
    }

    /// Replaces (or removes) a plugin in a workspace's enabled list and drops the cached
    /// schema, so its types appear or disappear with it.
    fn set_enabled(&self, workspace: WorkspaceId, id: &str, enabled: Option<Arc<Enabled>>) {
        self.services.enablements.set(workspace, id, enabled);
        self.services.store.forget_schema(workspace);
    }

    /// The plugins enabled in a workspace and not suspended, in the order they were enabled.
    pub fn enabled_in(&self, workspace: WorkspaceId) -> Vec<Arc<Enabled>> {
        let all = self.services.enablements.all_in(workspace);
        all.iter()
            .filter(|e| e.suspended.is_none())
            .cloned()
            .collect()
    }

    /// Every plugin enabled in a workspace, suspended ones included: those whose types are in
    /// its schema and whose hooks its writes answer to.
    pub fn hooked_in(&self, workspace: WorkspaceId) -> Arc<Vec<Arc<Enabled>>> {
        self.services.enablements.all_in(workspace)
    }

    /// Every workspace's enabled, unsuspended plugins (for the background tasks).
    pub fn all_enabled(&self) -> Vec<Arc<Enabled>> {
        let mut all = self.services.enablements.every();
        all.retain(|e| e.suspended.is_none());
        all
    }

    /// A plugin enabled (and not suspended) in a workspace.
    pub fn enabled_plugin(
        &self,
        workspace: WorkspaceId,
        id: &str,
    ) -> Result<Arc<Enabled>, PluginError> {
        match self.services.enablements.current(workspace, id) {
            Some(enabled) if enabled.suspended.is_none() => Ok(enabled),
            Some(_) => Err(PluginError::Suspended(id.to_owned())),
            None => Err(PluginError::NotEnabled(id.chars().take(64).collect())),
        }
    }

    /// Recent failures of a plugin in a workspace, newest first.
    pub async fn failures(
        &self,
        workspace: WorkspaceId,
        id: &str,
        limit: u64,
    ) -> Result<Vec<failure::Model>, PluginError> {
        failure::Entity::find()
            .filter(failure::Column::WorkspaceId.eq(workspace.0))
            .filter(failure::Column::PluginId.eq(id))
            .order_by_desc(failure::Column::Id)
            .limit(limit)
            .all(&self.services.db.read)
            .await
            .map_err(db_error)
    }

    // -- invocation ---------------------------------------------------------------------------

    /// Runs one export of an enabled plugin for `actor`. A failure is recorded for the admins;
    /// after [`SUSPEND_AFTER`] traps in a row the plugin is suspended in the workspace.
    pub async fn invoke<R, F>(
        &self,
        enabled: &Arc<Enabled>,
        actor: Actor,
        kind: CallKind,
        call: F,
    ) -> Result<R, Failure>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(
                &'a super::versions::Guest,
                &'a mut wasmtime::Store<super::runtime::State>,
            ) -> super::runtime::CallFuture<'a, R>
            + Send
            + 'static,
    {
        let state = CallState::new(self.services.clone(), enabled.clone(), actor, kind);
        let started = std::time::Instant::now();
        let result = match self.running_slot(enabled, kind).await {
            Ok(_slot) => {
                self.runtime
                    .invoke(&enabled.plugin.compiled, kind, state, call)
                    .await
            }
            Err(busy) => Err(busy),
        };
        // What an admin or a plugin author asks when a page is slow (`KITH_LOG=host::plugins=debug`).
        tracing::debug!(
            plugin = enabled.id(),
            kind = kind.as_str(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            ok = result.is_ok(),
            "plugin call"
        );
        let key = (enabled.workspace, enabled.id().to_owned(), kind);
        match &result {
            Ok(_) => {
                if let Ok(mut strikes) = self.strikes.lock() {
                    strikes.remove(&key);
                }
            }
            Err(failure) if !failure.is_plugins_fault() => {
                tracing::info!(plugin = enabled.id(), kind = kind.as_str(), %failure, "plugin call ended");
            }
            Err(failure) => {
                let strikes = self.strikes.lock().map_or(0, |mut s| {
                    let n = s.entry(key.clone()).or_default();
                    *n += 1;
                    *n
                });
                tracing::warn!(plugin = enabled.id(), kind = kind.as_str(), %failure, "plugin call failed");
                self.record_failure(enabled, kind, &failure.to_string())
                    .await;
                if strikes >= SUSPEND_AFTER {
                    self.suspend(
                        enabled,
                        &format!(
                            "{strikes} {} calls failed in a row; the last {failure}",
                            kind.as_str()
                        ),
                    )
                    .await;
                }
            }
        }
        result
    }

    /// One of the slots a plugin's calls run in (before-save needs none: it runs inside the
    /// write that called it). A plugin runs at most [`CALLS_PER_PLUGIN`] other calls at once in
    /// a workspace, so one that is slow — or slowed on purpose — holds at most that many of the
    /// server's database connections and threads per workspace, and the people of one
    /// workspace cannot make it busy in another; further calls wait for a slot, and fail as
    /// busy (not the plugin's fault, never counted towards suspension) if none frees in time.
    async fn running_slot(
        &self,
        enabled: &Enabled,
        kind: CallKind,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Failure> {
        let wait = match kind {
            CallKind::BeforeSave => return Ok(None),
            CallKind::Route | CallKind::Panel | CallKind::Action => SHORT_SLOT_WAIT,
            CallKind::AfterSave | CallKind::Job | CallKind::Enable => LONG_SLOT_WAIT,
        };
        let slots = {
            let Ok(mut all) = self.slots.lock() else {
                return Ok(None);
            };
            all.entry((enabled.workspace, enabled.id().to_owned()))
                .or_insert_with(|| Arc::new(Semaphore::new(CALLS_PER_PLUGIN)))
                .clone()
        };
        match tokio::time::timeout(wait, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(Failure::Busy(CALLS_PER_PLUGIN)),
        }
    }

    async fn record_failure(&self, enabled: &Enabled, kind: CallKind, message: &str) {
        let row = failure::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            workspace_id: Set(enabled.workspace.0),
            plugin_id: Set(enabled.id().to_owned()),
            version: Set(enabled.plugin.manifest.version.clone()),
            kind: Set(kind.as_str().to_owned()),
            message: Set(message.to_owned()),
            at: Set(now_micros()),
        };
        let services = self.services.clone();
        // Recorded apart from the caller's work: a failing hook must not wait on the writer
        // its own transaction holds.
        tokio::spawn(async move {
            if let Err(error) = failure::Entity::insert(row)
                .exec_without_returning(&services.db.write)
                .await
            {
                tracing::error!(%error, "cannot record a plugin failure");
            }
        });
    }

    async fn suspend(&self, enabled: &Enabled, reason: &str) {
        tracing::error!(plugin = enabled.id(), workspace = %enabled.workspace.0, reason, "plugin suspended");
        let suspended = Arc::new(Enabled {
            workspace: enabled.workspace,
            plugin: enabled.plugin.clone(),
            granted: enabled.granted.clone(),
            settings: enabled.settings.clone(),
            granted_by: enabled.granted_by,
            suspended: Some(reason.to_owned()),
            stamp: enabled.stamp,
        });
        self.set_enabled(enabled.workspace, enabled.id(), Some(suspended));
        let services = self.services.clone();
        let (workspace, id, reason) = (
            enabled.workspace.0,
            enabled.id().to_owned(),
            reason.to_owned(),
        );
        tokio::spawn(async move {
            let result = enablement::Entity::update_many()
                .col_expr(
                    enablement::Column::Suspended,
                    sea_orm::sea_query::Expr::value(Some(reason)),
                )
                .filter(enablement::Column::WorkspaceId.eq(workspace))
                .filter(enablement::Column::PluginId.eq(id))
                .exec(&services.db.write)
                .await;
            match result {
                Ok(_) => {
                    crate::changes::announce(&services.db, WorkspaceId(workspace), Change::Plugins)
                        .await
                }
                Err(error) => tracing::error!(%error, "cannot record a plugin's suspension"),
            }
        });
    }

    /// Who an after-save call acts as: the user who made the change (the admin who enabled the
    /// plugin when that user is gone), or, when the manifest says `after_save_as = "plugin"`,
    /// that admin.
    pub async fn after_save_actor(&self, enabled: &Enabled, user: Option<UserId>) -> Option<Actor> {
        let by_user = match (enabled.plugin.manifest.after_save_as, user) {
            (super::manifest::ActAs::User, Some(user)) => {
                self.actor_for(enabled.workspace, user).await
            }
            _ => None,
        };
        match by_user {
            Some(actor) => Some(actor),
            None => self.actor_for(enabled.workspace, enabled.granted_by).await,
        }
    }

    /// The acting user's permissions, for calls no request carries (after-save, jobs).
    pub async fn actor_for(&self, workspace: WorkspaceId, user: UserId) -> Option<Actor> {
        let row = crate::auth::model::user::Entity::find_by_id(user.0)
            .filter(crate::auth::model::user::Column::WorkspaceId.eq(workspace.0))
            .one(&self.services.db.read)
            .await
            .ok()??;
        let principal = crate::auth::Principal {
            user,
            workspace,
            role: row.role,
        };
        let access: Access = crate::auth::load_access(&self.services.db, &principal)
            .await
            .ok()?;
        Some(Actor {
            workspace,
            user,
            access: Arc::new(access),
        })
    }
}

/// The `source` of a plugin's types and fields.
pub fn plugin_source(id: &str) -> String {
    format!("plugin:{id}")
}

/// What enabled plugins add to a workspace's schema.
pub fn schema_additions(enabled: &[Arc<Enabled>]) -> (Vec<EntityType>, Vec<(String, FieldSpec)>) {
    let mut types = Vec::new();
    let mut fields = Vec::new();
    for plugin in enabled {
        let (mut own, mut added) = plugin_schema(&plugin.plugin.manifest, &plugin.plugin.messages);
        types.append(&mut own);
        fields.append(&mut added);
    }
    (types, fields)
}

/// The types a plugin declares and the fields it adds to others, as the schema holds them:
/// sourced `plugin:ID` and labelled in each language by the plugin's catalogues — only what
/// its manifest declares is labelled, so its catalogue can rename nothing else.
pub fn plugin_schema(
    manifest: &Manifest,
    messages: &Messages,
) -> (Vec<EntityType>, Vec<(String, FieldSpec)>) {
    let source = plugin_source(&manifest.id);
    let mut types = Vec::new();
    for ty in &manifest.entities {
        // The definition checks fill in the labels a manifest left out (their errors, if
        // any, refused the plugin when it was enabled).
        let mut ty = ty.clone();
        let _ = ty.check_definition(&crate::records::schema::Schema::default());
        messages.label_type(&mut ty);
        ty.source = source.clone();
        for field in &mut ty.fields {
            field.custom = false;
            field.source = Some(source.clone());
        }
        types.push(ty);
    }
    let mut fields = Vec::new();
    for (entity, added) in &manifest.fields {
        for field in added {
            let mut field = field.clone();
            let _ = field.check_definition(&crate::records::schema::Schema::default());
            messages.label_field(entity, &mut field);
            field.custom = false;
            field.source = Some(source.clone());
            fields.push((entity.clone(), field));
        }
    }
    (types, fields)
}

pub fn json_ok(value: Json) -> Json {
    json!({ "data": value })
}
