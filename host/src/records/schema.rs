//! Entity types and fields as metadata (DESIGN §2): the built-in types, the custom types and
//! fields a workspace adds at run time, and the `Schema` a workspace's requests are checked
//! against.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::i18n::{Text, text};

/// Keys every record carries besides its fields; no field may take these names.
pub const SYSTEM_KEYS: &[&str] = &["id", "version", "owner", "created_at", "updated_at"];

/// The kinds of field a type can have (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    LongText,
    Email,
    Phone,
    Url,
    Integer,
    Number,
    Money,
    Boolean,
    Date,
    Datetime,
    Select,
    MultiSelect,
    Reference,
    User,
    Tags,
    Json,
}

impl FieldKind {
    pub const ALL: [FieldKind; 17] = [
        Self::Text,
        Self::LongText,
        Self::Email,
        Self::Phone,
        Self::Url,
        Self::Integer,
        Self::Number,
        Self::Money,
        Self::Boolean,
        Self::Date,
        Self::Datetime,
        Self::Select,
        Self::MultiSelect,
        Self::Reference,
        Self::User,
        Self::Tags,
        Self::Json,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::LongText => "long_text",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Url => "url",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Money => "money",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Select => "select",
            Self::MultiSelect => "multi_select",
            Self::Reference => "reference",
            Self::User => "user",
            Self::Tags => "tags",
            Self::Json => "json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    pub value: String,
    #[serde(default)]
    pub label: String,
    /// `label` in other languages, as a field's `labels` are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn options_from<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SelectOption>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OptionInput {
        Value(String),
        Full(SelectOption),
    }
    let inputs = Vec::<OptionInput>::deserialize(deserializer)?;
    Ok(inputs
        .into_iter()
        .map(|input| match input {
            OptionInput::Value(value) => SelectOption {
                value,
                label: String::new(),
                labels: BTreeMap::new(),
            },
            OptionInput::Full(option) => option,
        })
        .collect())
}

/// One field of an entity type, as stored and as described by `/api/v1/meta/entities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(default)]
    pub label: String,
    /// The label in other languages (`{"zh-CN": "行业细分"}`, keyed by `i18n::Language`
    /// tags); a language without one reads `label`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// Filters and sorts on this field use an expression index.
    #[serde(default)]
    pub indexed: bool,
    /// Full-text search covers this field.
    #[serde(default)]
    pub searchable: bool,
    /// Text is stored lowercased, so equality and duplicate checks ignore case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lowercase: bool,
    /// Allowed values of `select` and `multi_select`: `{value, label}` objects, or plain
    /// strings (the value, with no label).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "options_from"
    )]
    pub options: Vec<SelectOption>,
    /// Entity type a `reference` points to (its singular name); `None` allows any type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A `reference` holding a list of ids.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiple: bool,
    /// Longest accepted text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// The value a create that leaves the field out gets (checked like any value of the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Added by an admin at run time (output only).
    #[serde(default)]
    pub custom: bool,
    /// The caller's role may read but not change this field (output only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// The plugin that added this field (`plugin:ID`; output only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl FieldSpec {
    pub fn new(name: &str, kind: FieldKind) -> Self {
        Self {
            name: name.to_owned(),
            label: label_from_name(name),
            labels: BTreeMap::new(),
            kind,
            required: false,
            indexed: false,
            searchable: false,
            lowercase: false,
            options: Vec::new(),
            target: None,
            multiple: false,
            max_length: None,
            default: None,
            custom: false,
            read_only: false,
            source: None,
        }
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    fn searchable(mut self) -> Self {
        self.searchable = true;
        self
    }

    fn lowercase(mut self) -> Self {
        self.lowercase = true;
        self
    }

    fn options(mut self, values: &[&str]) -> Self {
        self.options = values
            .iter()
            .map(|v| SelectOption {
                value: (*v).to_owned(),
                label: label_from_name(v),
                labels: BTreeMap::new(),
            })
            .collect();
        self
    }

    fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_owned());
        self
    }

    fn multiple(mut self) -> Self {
        self.multiple = true;
        self
    }

    /// Whether a value of this field is a list.
    pub fn is_list(&self) -> bool {
        matches!(self.kind, FieldKind::MultiSelect | FieldKind::Tags)
            || (self.kind == FieldKind::Reference && self.multiple)
    }

    /// The longest text this field accepts.
    pub fn text_limit(&self) -> usize {
        self.max_length.unwrap_or(match self.kind {
            FieldKind::LongText => 100_000,
            FieldKind::Url => 2_048,
            FieldKind::Email => 254,
            FieldKind::Phone => 40,
            _ => 1_000,
        })
    }

    /// Checks a field definition sent by an admin; `schema` is the workspace's current schema
    /// (to resolve reference targets).
    pub fn check_definition(&mut self, schema: &Schema) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        self.read_only = false;
        if let Err(message) = check_identifier(&self.name) {
            errors.push(FieldError::new("name", "invalid_name", message));
        } else if SYSTEM_KEYS.contains(&self.name.as_str()) {
            errors.push(FieldError::new(
                "name",
                "reserved_name",
                text!("api-records-system-key-name", name = &self.name),
            ));
        }
        if self.label.trim().is_empty() {
            self.label = label_from_name(&self.name);
        }
        check_labels("labels", &mut self.labels, &mut errors);
        let has_options = matches!(self.kind, FieldKind::Select | FieldKind::MultiSelect);
        if has_options && self.options.is_empty() {
            errors.push(FieldError::new(
                "options",
                "required",
                text!("api-records-options-required"),
            ));
        }
        if !has_options && !self.options.is_empty() {
            errors.push(FieldError::new(
                "options",
                "not_allowed",
                text!("api-records-options-not-allowed"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for option in &mut self.options {
            if option.value.is_empty() || option.value.chars().count() > 100 {
                errors.push(FieldError::new(
                    "options",
                    "invalid_option",
                    text!("api-records-option-length"),
                ));
            } else if !seen.insert(option.value.clone()) {
                errors.push(FieldError::new(
                    "options",
                    "duplicate_option",
                    text!("api-records-option-twice", option = &option.value),
                ));
            }
            if option.label.is_empty() {
                option.label = option.value.clone();
            }
            let key = format!("options.{}.labels", option.value);
            check_labels(&key, &mut option.labels, &mut errors);
        }
        match (&self.target, self.kind) {
            (Some(target), FieldKind::Reference) if schema.by_name(target).is_none() => {
                errors.push(FieldError::new(
                    "target",
                    "unknown_entity",
                    text!("api-records-unknown-target", target = target),
                ));
            }
            (Some(_), kind) if kind != FieldKind::Reference => errors.push(FieldError::new(
                "target",
                "not_allowed",
                text!("api-records-target-not-allowed"),
            )),
            _ => {}
        }
        if self.multiple && self.kind != FieldKind::Reference {
            errors.push(FieldError::new(
                "multiple",
                "not_allowed",
                text!("api-records-multiple-not-allowed"),
            ));
        }
        if self.max_length == Some(0) {
            errors.push(FieldError::new(
                "max_length",
                "invalid_value",
                text!("api-records-max-length-too-small"),
            ));
        }
        if let Some(default) = self.default.take() {
            match super::value::normalize(self, &default) {
                Ok(normal) => self.default = normal,
                Err((_, message)) => errors.push(FieldError::new(
                    "default",
                    "invalid_default",
                    text!("api-records-invalid-default", message = message),
                )),
            }
        }
        if self.indexed && (self.is_list() || self.kind == FieldKind::Json) {
            errors.push(FieldError::new(
                "indexed",
                "not_allowed",
                text!("api-records-index-not-allowed"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// An entity type: its names, its fields and how its records are titled and deduplicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityType {
    /// Singular machine name (`contact`).
    pub name: String,
    /// The API name (`contacts`), used in `/api/v1/{plural}`.
    pub plural: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub label_plural: String,
    /// `label` and `label_plural` in other languages, as a field's `labels` are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels_plural: BTreeMap<String, String>,
    /// Fields whose values, joined by spaces, make a record's title.
    #[serde(default)]
    pub title_fields: Vec<String>,
    /// The field duplicate checks and merges compare (contacts: email; companies: domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_key: Option<String>,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// The order the web app lists records of the type in when none is asked for (a board's
    /// columns too), in the API's sort form: `position`, `-amount,name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// A type that configures the others (a sales pipeline, its stages): the web app lists it
    /// under Settings rather than in the main navigation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub setup: bool,
    /// Indexes over several keys (fields, or `owner`), in order: a filter on their leading
    /// keys is served by the index, and on SQLite an aggregate that filters, groups and sums
    /// only these keys is answered from the index alone, without reading the records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Vec<String>>,
    /// Where the type comes from: `builtin` or `custom` (output only).
    #[serde(default = "custom_source")]
    pub source: String,
}

fn custom_source() -> String {
    "custom".to_owned()
}

impl EntityType {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks a custom type sent by an admin before it is stored.
    pub fn check_definition(&mut self, schema: &Schema) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        for (key, value) in [("name", &self.name), ("plural", &self.plural)] {
            if let Err(message) = check_identifier(value) {
                errors.push(FieldError::new(key, "invalid_name", message));
            }
        }
        if self.name == self.plural {
            errors.push(FieldError::new(
                "plural",
                "invalid_name",
                text!("api-records-plural-same-as-name"),
            ));
        }
        if schema.by_name(&self.name).is_some() || schema.by_plural(&self.name).is_some() {
            errors.push(FieldError::new(
                "name",
                "already_exists",
                text!("api-records-name-taken"),
            ));
        }
        if schema.by_plural(&self.plural).is_some() || schema.by_name(&self.plural).is_some() {
            errors.push(FieldError::new(
                "plural",
                "already_exists",
                text!("api-records-plural-taken"),
            ));
        }
        if RESERVED_PLURALS.contains(&self.plural.as_str()) {
            errors.push(FieldError::new(
                "plural",
                "reserved_name",
                text!("api-records-plural-reserved"),
            ));
        }
        if self.label.trim().is_empty() {
            self.label = label_from_name(&self.name);
        }
        if self.label_plural.trim().is_empty() {
            self.label_plural = label_from_name(&self.plural);
        }
        check_labels("labels", &mut self.labels, &mut errors);
        check_labels("labels_plural", &mut self.labels_plural, &mut errors);
        self.source = custom_source();
        let mut names = std::collections::HashSet::new();
        for field in &mut self.fields {
            field.custom = true;
            if let Err(mut field_errors) = field.check_definition(schema) {
                for error in &mut field_errors {
                    error.field = format!("fields.{}.{}", field.name, error.field);
                }
                errors.extend(field_errors);
            }
            if !names.insert(field.name.clone()) {
                errors.push(FieldError::new(
                    format!("fields.{}", field.name),
                    "duplicate_field",
                    text!("api-records-field-declared-twice"),
                ));
            }
        }
        for key in self.title_fields.iter().chain(&self.duplicate_key) {
            if !names.contains(key) {
                errors.push(FieldError::new(
                    "title_fields",
                    "unknown_field",
                    text!("api-records-not-a-field-of-type", key = key),
                ));
            }
        }
        if let Err((index, message)) = self.check_indexes() {
            let key = index.map_or("indexes".to_owned(), |i| format!("indexes.{i}"));
            errors.push(FieldError::new(key, "invalid_index", message));
        }
        for key in self.sort.iter().flat_map(|sort| sort.split(',')) {
            let name = key.trim().trim_start_matches('-');
            if !names.contains(name) && !SYSTEM_KEYS.contains(&name) {
                errors.push(FieldError::new(
                    "sort",
                    "unknown_field",
                    text!("api-records-not-a-field-of-type", key = name),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Most composite indexes a type declares, and most keys in one.
pub const MAX_INDEXES: usize = 4;
pub const MAX_INDEX_KEYS: usize = 8;

impl EntityType {
    /// Checks `indexes`: each lists 1 to `MAX_INDEX_KEYS` distinct keys, every one `owner` or a
    /// field holding a single short value (not long text, json or a list). An error names
    /// the index at fault (by position), if one is.
    pub fn check_indexes(&self) -> Result<(), (Option<usize>, Refusal)> {
        if self.indexes.len() > MAX_INDEXES {
            return Err((
                None,
                Refusal(text!("api-records-too-many-indexes", max = MAX_INDEXES)),
            ));
        }
        for (i, keys) in self.indexes.iter().enumerate() {
            let invalid = |message: Text| Err((Some(i), Refusal(message)));
            if keys.is_empty() || keys.len() > MAX_INDEX_KEYS {
                return invalid(text!("api-records-index-keys", max = MAX_INDEX_KEYS));
            }
            for (j, key) in keys.iter().enumerate() {
                if keys[..j].contains(key) {
                    return invalid(text!("api-records-index-key-twice", key = key));
                }
                if key == "owner" {
                    continue;
                }
                let Some(field) = self.field(key) else {
                    return invalid(text!("api-records-index-unknown-key", key = key));
                };
                if field.is_list() || matches!(field.kind, FieldKind::LongText | FieldKind::Json) {
                    return invalid(text!("api-records-index-unindexable", key = key));
                }
            }
        }
        Ok(())
    }
}

/// Paths under `/api/v1` that can never be an entity type's plural.
/// API names a type cannot take: the `/api/v1/` paths that are not record lists.
const RESERVED_PLURALS: &[&str] = &[
    "meta",
    "openapi.json",
    "audit",
    "search",
    "plugins",
    "me",
    "admin",
    "auth",
    "imports",
    "mail",
    "tokens",
    "webhooks",
];

/// Why a definition is refused: words for an admin's field error (a [`Text`], written in their
/// language), or English for a plugin manifest's problem (a `String`, as manifests are
/// checked).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal(pub Text);

impl From<Refusal> for Text {
    fn from(refusal: Refusal) -> Text {
        refusal.0
    }
}

impl From<Refusal> for String {
    fn from(refusal: Refusal) -> String {
        refusal.0.to_string()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Names of types and fields: lowercase ASCII snake_case, 1 to 48 characters, starting with a
/// letter — safe inside JSON paths and SQL index names.
pub fn check_identifier(name: &str) -> Result<(), Refusal> {
    let valid = !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Refusal(text!(
            "api-records-invalid-name",
            name = name.chars().take(80).collect::<String>()
        )))
    }
}

/// Longest label given in one language, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// Checks labels given per language (`key` is `labels` or `labels_plural`): each language one
/// the web app speaks, each label 1 to [`MAX_LABEL_CHARS`] characters (trimmed) without
/// control characters. Keys become the language's tag (`zh-cn` → `zh-CN`).
fn check_labels(key: &str, labels: &mut BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    let mut checked = BTreeMap::new();
    for (language, text) in std::mem::take(labels) {
        let shown: String = language
            .chars()
            .filter(|c| !c.is_control())
            .take(32)
            .collect();
        let Some(known) = crate::i18n::Language::parse(&language) else {
            let spoken: Vec<&str> = crate::i18n::Language::ALL.iter().map(|l| l.tag()).collect();
            errors.push(FieldError::new(
                format!("{key}.{shown}"),
                "unknown_language",
                text!(
                    "api-records-unknown-language",
                    language = &shown,
                    languages = spoken.join(", ")
                ),
            ));
            continue;
        };
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_LABEL_CHARS || text.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("{key}.{}", known.tag()),
                "invalid_label",
                text!("api-records-invalid-label", max = MAX_LABEL_CHARS),
            ));
        } else if checked
            .insert(known.tag().to_owned(), text.to_owned())
            .is_some()
        {
            errors.push(FieldError::new(
                format!("{key}.{}", known.tag()),
                "duplicate_label",
                text!("api-records-label-twice"),
            ));
        }
    }
    *labels = checked;
}

fn label_from_name(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The types every workspace has.
pub fn builtin_types() -> Vec<EntityType> {
    use FieldKind::*;
    let builtin =
        |name: &str, plural: &str, title: &[&str], key: Option<&str>, fields| EntityType {
            name: name.to_owned(),
            plural: plural.to_owned(),
            label: label_from_name(name),
            label_plural: label_from_name(plural),
            labels: BTreeMap::new(),
            labels_plural: BTreeMap::new(),
            title_fields: title.iter().map(|s| (*s).to_owned()).collect(),
            duplicate_key: key.map(str::to_owned),
            fields,
            sort: None,
            setup: false,
            indexes: Vec::new(),
            source: "builtin".to_owned(),
        };
    vec![
        builtin(
            "company",
            "companies",
            &["name"],
            Some("domain"),
            vec![
                FieldSpec::new("name", Text)
                    .required()
                    .indexed()
                    .searchable(),
                FieldSpec::new("domain", Text)
                    .indexed()
                    .searchable()
                    .lowercase(),
                FieldSpec::new("industry", Select).indexed().options(&[
                    "technology",
                    "finance",
                    "healthcare",
                    "manufacturing",
                    "retail",
                    "education",
                    "energy",
                    "media",
                    "logistics",
                    "real_estate",
                    "hospitality",
                    "consulting",
                    "other",
                ]),
                FieldSpec::new("employees", Integer),
                FieldSpec::new("annual_revenue", Money),
                FieldSpec::new("phone", Phone).searchable(),
                FieldSpec::new("website", Url),
                FieldSpec::new("address", Text).searchable(),
            ],
        ),
        builtin(
            "contact",
            "contacts",
            &["first_name", "last_name"],
            Some("email"),
            vec![
                FieldSpec::new("first_name", Text).searchable(),
                FieldSpec::new("last_name", Text).indexed().searchable(),
                FieldSpec::new("email", Email).indexed().searchable(),
                FieldSpec::new("phone", Phone).searchable(),
                FieldSpec::new("title", Text).searchable(),
                FieldSpec::new("company", Reference)
                    .indexed()
                    .target("company"),
                FieldSpec::new("tags", Tags).searchable(),
            ],
        ),
        builtin(
            "activity",
            "activities",
            &["subject"],
            None,
            vec![
                FieldSpec::new("kind", Select)
                    .required()
                    .indexed()
                    .options(&["note", "task", "call", "meeting", "email"]),
                FieldSpec::new("subject", Text).required().searchable(),
                FieldSpec::new("body", LongText).searchable(),
                FieldSpec::new("due_at", Datetime).indexed(),
                FieldSpec::new("done", Boolean),
                FieldSpec::new("links", Reference).multiple(),
                // An email's (or a call's) way, and an email's headers: set when mail is
                // sent or received, so plugins' after-save on activities can act on mail.
                FieldSpec::new("direction", Select).options(&["in", "out"]),
                FieldSpec::new("email_from", Email).indexed().searchable(),
                FieldSpec::new("email_to", Text).searchable(),
                FieldSpec::new("message_id", Text).indexed(),
                FieldSpec::new("thread_id", Text).indexed(),
            ],
        ),
    ]
}

/// A workspace's types: the built-ins with its custom fields, and its custom types.
#[derive(Debug, Default)]
pub struct Schema {
    types: Vec<Arc<EntityType>>,
    by_plural: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl Schema {
    pub fn new(types: Vec<EntityType>) -> Self {
        let mut schema = Schema::default();
        for ty in types {
            schema
                .by_plural
                .insert(ty.plural.clone(), schema.types.len());
            schema.by_name.insert(ty.name.clone(), schema.types.len());
            schema.types.push(Arc::new(ty));
        }
        schema
    }

    pub fn types(&self) -> &[Arc<EntityType>] {
        &self.types
    }

    pub fn by_plural(&self, plural: &str) -> Option<&Arc<EntityType>> {
        self.by_plural.get(plural).map(|&i| &self.types[i])
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<EntityType>> {
        self.by_name.get(name).map(|&i| &self.types[i])
    }

    /// Every (type, field) whose values are references to records of type `target`.
    pub fn references_to<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Iterator<Item = (&'a Arc<EntityType>, &'a FieldSpec)> + 'a {
        self.types.iter().flat_map(move |ty| {
            ty.fields
                .iter()
                .filter(move |f| {
                    f.kind == FieldKind::Reference
                        && f.target.as_deref().is_none_or(|t| t == target)
                })
                .map(move |f| (ty, f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_pass_their_own_definition_checks() {
        let schema = Schema::new(builtin_types());
        for ty in schema.types() {
            for field in &ty.fields {
                let mut field = field.clone();
                assert_eq!(
                    field.check_definition(&schema),
                    Ok(()),
                    "{}.{}",
                    ty.name,
                    field.name
                );
            }
        }
    }

    /// The SDK README's reference table is what plugin authors read: it must name every
    /// built-in field with its kind, its options and its target, and nothing more.
    #[test]
    fn the_sdk_readme_documents_every_builtin_field() {
        let readme = include_str!("../../../plugin-sdk/README.md");
        let table = readme
            .split("### Built-in types")
            .nth(1)
            .and_then(|rest| rest.split("\n### ").next())
            .expect("the SDK README has a Built-in types section");
        let mut documented = Vec::new();
        let mut current = String::new();
        for row in table
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains('`'))
        {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            if let Some(name) = cells[0].split('`').nth(1) {
                current = name.to_owned();
            }
            let field = cells[1].trim_matches('`');
            documented.push((
                current.clone(),
                field.to_owned(),
                cells[2].to_owned(),
                cells[3].to_owned(),
            ));
        }
        let mut expected = Vec::new();
        for ty in builtin_types() {
            assert!(
                table.contains(&format!("| `{}` (`{}`) |", ty.name, ty.plural)),
                "{} and its plural",
                ty.name
            );
            for field in &ty.fields {
                let row = documented
                    .iter()
                    .find(|(t, f, _, _)| *t == ty.name && *f == field.name)
                    .unwrap_or_else(|| {
                        panic!("{}.{} is not in the SDK README", ty.name, field.name)
                    });
                assert!(
                    row.2.starts_with(field.kind.as_str()),
                    "{}.{}: kind {}",
                    ty.name,
                    field.name,
                    row.2
                );
                if let Some(target) = &field.target {
                    assert!(
                        row.2.contains(&format!("`{target}`")),
                        "{}.{}: target",
                        ty.name,
                        field.name
                    );
                }
                for option in &field.options {
                    assert!(
                        row.3.contains(&format!("`{}`", option.value)),
                        "{}.{}: option {}",
                        ty.name,
                        field.name,
                        option.value
                    );
                }
                assert_eq!(
                    row.3.contains("required"),
                    field.required,
                    "{}.{}: required",
                    ty.name,
                    field.name
                );
                assert_eq!(
                    row.3.contains("indexed"),
                    field.indexed,
                    "{}.{}: indexed",
                    ty.name,
                    field.name
                );
                expected.push((ty.name.clone(), field.name.clone()));
            }
        }
        let listed: Vec<_> = documented
            .iter()
            .map(|(t, f, _, _)| (t.clone(), f.clone()))
            .collect();
        assert_eq!(
            listed, expected,
            "the README lists exactly the built-in fields, in order"
        );
    }

    #[test]
    fn identifiers_reject_sql_and_json_path_metacharacters() {
        for bad in [
            "",
            "Name",
            "1st",
            "a-b",
            "a.b",
            "a'b",
            "a b",
            "ä",
            &"x".repeat(49),
        ] {
            assert!(check_identifier(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["a", "vip_level", "x2", &"x".repeat(48)] {
            assert!(
                check_identifier(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
    }

    #[test]
    fn field_named_like_a_system_key_is_refused() {
        let schema = Schema::new(builtin_types());
        let mut field = FieldSpec::new("version", FieldKind::Integer);
        let errors = field.check_definition(&schema).expect_err("reserved");
        assert_eq!(errors[0].code, "reserved_name");
    }

    #[test]
    fn references_to_company_include_contact_company_and_untyped_links() {
        let schema = Schema::new(builtin_types());
        let found: Vec<_> = schema
            .references_to("company")
            .map(|(ty, f)| format!("{}.{}", ty.name, f.name))
            .collect();
        assert_eq!(found, ["contact.company", "activity.links"]);
    }
}
