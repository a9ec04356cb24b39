//! Roles and what they allow: per entity type, create / read / edit / delete at a level (none,
//! own, team, all); per field, hidden or read-only. `Access` is one caller's resolved view,
//! carried by every store call — the store is the one place permissions are checked.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldError;
use crate::i18n::text;
use crate::ids::UserId;
use crate::records::schema::{EntityType, check_identifier};

/// How far an operation reaches: no records, the caller's own, those owned by anyone in a
/// team with the caller, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    None,
    Own,
    Team,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Read,
    Edit,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TypeGrant {
    #[serde(default)]
    pub create: Level,
    #[serde(default)]
    pub read: Level,
    #[serde(default)]
    pub edit: Level,
    #[serde(default)]
    pub delete: Level,
}

impl TypeGrant {
    pub const fn all() -> Self {
        Self {
            create: Level::All,
            read: Level::All,
            edit: Level::All,
            delete: Level::All,
        }
    }

    pub fn level(&self, op: Operation) -> Level {
        match op {
            Operation::Create => self.create,
            Operation::Read => self.read,
            Operation::Edit => self.edit,
            Operation::Delete => self.delete,
        }
    }
}

fn yes() -> bool {
    true
}

/// A field's rule for a role: `read: false` hides it everywhere, `edit: false` makes it
/// read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    #[serde(default = "yes")]
    pub read: bool,
    #[serde(default = "yes")]
    pub edit: bool,
}

/// A role of a workspace: built-in (admin, manager, member, read_only) or custom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    /// Grants per entity type name; `*` covers the types not listed.
    #[serde(default)]
    pub types: BTreeMap<String, TypeGrant>,
    /// Field rules per entity type name and field name.
    #[serde(default)]
    pub fields: BTreeMap<String, BTreeMap<String, FieldRule>>,
    /// Whether the role administers the workspace (users, roles, teams, metadata, audit).
    #[serde(default)]
    pub admin: bool,
    /// Built-in roles cannot be changed (output only).
    #[serde(default)]
    pub builtin: bool,
}

impl Role {
    pub fn grant(&self, entity: &str) -> TypeGrant {
        self.types
            .get(entity)
            .or_else(|| self.types.get("*"))
            .copied()
            .unwrap_or_default()
    }

    pub fn field_rule(&self, entity: &str, field: &str) -> Option<FieldRule> {
        self.fields
            .get(entity)
            .and_then(|rules| rules.get(field))
            .copied()
    }

    /// Checks a custom role sent by an admin.
    pub fn check_definition(&mut self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(message) = check_identifier(&self.name) {
            errors.push(FieldError::new("name", "invalid_name", message));
        }
        if BUILTIN_ROLES.contains(&self.name.as_str()) {
            errors.push(FieldError::new(
                "name",
                "reserved_name",
                text!("api-access-builtin-role"),
            ));
        }
        for entity in self.types.keys().chain(self.fields.keys()) {
            if entity != "*" && check_identifier(entity).is_err() {
                errors.push(FieldError::new(
                    format!("types.{entity}"),
                    "invalid_name",
                    text!("api-access-not-a-type-name"),
                ));
            }
        }
        self.builtin = false;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

pub const BUILTIN_ROLES: &[&str] = &["admin", "manager", "member", "read_only"];

/// The built-in roles: admin and manager reach everything (only admins administer); a member
/// reads everything and creates, edits and deletes their own records; read_only reads.
pub fn builtin_role(name: &str) -> Option<Role> {
    let all = |grant: TypeGrant| BTreeMap::from([("*".to_owned(), grant)]);
    let (types, admin) = match name {
        "admin" => (all(TypeGrant::all()), true),
        "manager" => (all(TypeGrant::all()), false),
        "member" => (
            all(TypeGrant {
                create: Level::Own,
                read: Level::All,
                edit: Level::Own,
                delete: Level::Own,
            }),
            false,
        ),
        "read_only" => (
            all(TypeGrant {
                read: Level::All,
                ..TypeGrant::default()
            }),
            false,
        ),
        _ => return None,
    };
    Some(Role {
        name: name.to_owned(),
        types,
        fields: BTreeMap::new(),
        admin,
        builtin: true,
    })
}

/// One caller's permissions: their role, and the users they share a team with (themselves
/// included), which is what `team` levels reach.
#[derive(Debug, Clone)]
pub struct Access {
    pub user: UserId,
    pub role: Arc<Role>,
    pub team: Arc<HashSet<Uuid>>,
}

/// Which owners an operation may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Nothing,
    Owners(Vec<Uuid>),
    All,
}

impl Access {
    /// Full access for the system itself (demo data, the CLI).
    pub fn system(user: UserId) -> Access {
        let role = builtin_role("admin").map(Arc::new).unwrap_or_else(|| {
            Arc::new(Role {
                name: "admin".into(),
                types: BTreeMap::new(),
                fields: BTreeMap::new(),
                admin: true,
                builtin: true,
            })
        });
        Access {
            user,
            role,
            team: Arc::new(HashSet::from([user.0])),
        }
    }

    pub fn level(&self, op: Operation, entity: &str) -> Level {
        self.role.grant(entity).level(op)
    }

    /// The owners `op` reaches on `entity`.
    pub fn scope(&self, op: Operation, entity: &str) -> Scope {
        match self.level(op, entity) {
            Level::None => Scope::Nothing,
            Level::Own => Scope::Owners(vec![self.user.0]),
            Level::Team => {
                let mut owners: Vec<Uuid> = self.team.iter().copied().collect();
                if !owners.contains(&self.user.0) {
                    owners.push(self.user.0);
                }
                owners.sort();
                Scope::Owners(owners)
            }
            Level::All => Scope::All,
        }
    }

    /// Whether `op` on `entity` reaches a record owned by `owner`.
    pub fn allows(&self, op: Operation, entity: &str, owner: Option<Uuid>) -> bool {
        match self.scope(op, entity) {
            Scope::Nothing => false,
            Scope::All => true,
            Scope::Owners(owners) => owner.is_some_and(|o| owners.contains(&o)),
        }
    }

    /// Whether the role lets its holder see a field of a type (a field its rules hide is
    /// not in [`Access::view`]).
    pub fn reads_field(&self, entity: &str, field: &str) -> bool {
        (self.role.fields.get(entity)).is_none_or(|rules| rules.get(field).is_none_or(|r| r.read))
    }

    /// The type as this caller sees it: hidden fields removed, read-only ones marked. The
    /// same `Arc` when the role has no field rules for it.
    pub fn view(&self, ty: &Arc<EntityType>) -> Arc<EntityType> {
        let Some(rules) = self.role.fields.get(&ty.name).filter(|r| !r.is_empty()) else {
            return Arc::clone(ty);
        };
        let mut view = EntityType::clone(ty);
        view.fields
            .retain(|f| rules.get(&f.name).is_none_or(|r| r.read));
        for field in &mut view.fields {
            if rules.get(&field.name).is_some_and(|r| !r.edit) {
                field.read_only = true;
            }
        }
        view.title_fields
            .retain(|name| view.fields.iter().any(|f| &f.name == name));
        if view
            .duplicate_key
            .as_ref()
            .is_some_and(|key| view.field(key).is_none())
        {
            view.duplicate_key = None;
        }
        Arc::new(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::schema::builtin_types;

    fn access(role: Role, team: &[Uuid]) -> (Access, Uuid) {
        let me = Uuid::now_v7();
        let access = Access {
            user: UserId(me),
            role: Arc::new(role),
            team: Arc::new(team.iter().copied().collect()),
        };
        (access, me)
    }

    #[test]
    fn member_edits_own_records_and_reads_all() {
        let (member, me) = access(builtin_role("member").expect("builtin"), &[]);
        let other = Uuid::now_v7();
        assert!(member.allows(Operation::Read, "contact", Some(other)));
        assert!(member.allows(Operation::Edit, "contact", Some(me)));
        assert!(!member.allows(Operation::Edit, "contact", Some(other)));
        assert!(!member.allows(Operation::Edit, "contact", None));
    }

    #[test]
    fn team_level_reaches_teammates_only() {
        let mate = Uuid::now_v7();
        let role = Role {
            name: "rep".into(),
            types: BTreeMap::from([(
                "contact".to_owned(),
                TypeGrant {
                    read: Level::Team,
                    ..TypeGrant::default()
                },
            )]),
            fields: BTreeMap::new(),
            admin: false,
            builtin: false,
        };
        let (rep, me) = access(role, &[mate]);
        assert!(rep.allows(Operation::Read, "contact", Some(mate)));
        assert!(rep.allows(Operation::Read, "contact", Some(me)));
        assert!(!rep.allows(Operation::Read, "contact", Some(Uuid::now_v7())));
        assert!(
            !rep.allows(Operation::Read, "company", Some(me)),
            "unlisted types without * are closed"
        );
    }

    #[test]
    fn views_hide_and_freeze_fields() {
        let role = Role {
            name: "support".into(),
            types: BTreeMap::from([("*".to_owned(), TypeGrant::all())]),
            fields: BTreeMap::from([(
                "contact".to_owned(),
                BTreeMap::from([
                    (
                        "email".to_owned(),
                        FieldRule {
                            read: false,
                            edit: false,
                        },
                    ),
                    (
                        "phone".to_owned(),
                        FieldRule {
                            read: true,
                            edit: false,
                        },
                    ),
                ]),
            )]),
            admin: false,
            builtin: false,
        };
        let (support, _) = access(role, &[]);
        let contact = Arc::new(
            builtin_types()
                .into_iter()
                .find(|t| t.name == "contact")
                .expect("contact"),
        );
        let view = support.view(&contact);
        assert!(view.field("email").is_none());
        assert!(
            view.duplicate_key.is_none(),
            "the duplicate key is hidden with its field"
        );
        assert!(view.field("phone").is_some_and(|f| f.read_only));
        assert!(view.field("first_name").is_some_and(|f| !f.read_only));
    }
}
