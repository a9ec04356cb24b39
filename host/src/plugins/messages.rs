//! A plugin's own words in each language: the Fluent catalogues of its package
//! (`locales/<lang>.ftl`), the checks they pass at install, `t` for its templates, and the
//! labels they give the plugin's types, fields, options, panels and actions.
//!
//! A plugin's messages are its own. Its templates' `t` reads only its catalogues (never the
//! host's, never another plugin's: each plugin has its own bundles, and Fluent resolves a
//! reference only inside its bundle). Its catalogue labels only what its manifest declares:
//! `type-deal` of plugin A is read for A's `deal` and for nothing else, so no catalogue can
//! rename a built-in type or another plugin's. Messages are plain text: templates escape them
//! like any value.
//!
//! A language is written as a BCP 47 tag in its canonical form (`en`, `zh-CN`, `zh-Hans`,
//! `pt-BR`): a language subtag of 2 or 3 letters, then an optional script and region. Tags of
//! languages Kith does not speak yet are checked and kept, and used once it does. `en.ftl` is
//! required as soon as there is a catalogue: it is every reader's fallback. A reader of a
//! language Kith speaks gets the catalogue of exactly that tag, else one of the same language
//! (`zh.ftl`, `zh-Hans.ftl` for `zh-CN`), else English.

use std::collections::{BTreeMap, BTreeSet};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::resolver::ResolverError;
use fluent_bundle::resolver::errors::ReferenceKind;
use fluent_bundle::{FluentArgs, FluentError, FluentResource};
use unic_langid::LanguageIdentifier;

use super::manifest::{Action, Manifest, Panel};
use crate::i18n::Language;
use crate::records::schema::{EntityType, FieldSpec, MAX_LABEL_CHARS};

/// The folder of a package holding its catalogues.
pub const LOCALES_DIR: &str = "locales";
/// The ending of a catalogue's file name.
pub const CATALOGUE_EXTENSION: &str = ".ftl";
/// The catalogue every reader falls back to.
pub const FALLBACK: &str = "en";
/// Most catalogues in a package.
pub const MAX_CATALOGUES: usize = 32;
/// Largest sum of the catalogues' sizes.
pub const MAX_CATALOGUE_BYTES: u64 = 1024 * 1024;
/// Longest action description a catalogue gives, in characters (the manifest's own limit).
const MAX_DESCRIPTION_CHARS: usize = 1000;

/// What is wrong with a package's catalogues: the file (`locales/zh-CN.ftl`, or a template
/// calling `t`), the line when one is at fault, and what.
#[derive(Debug, PartialEq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    fn new(file: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line: None,
            message: message.into(),
        }
    }

    fn at(mut self, line: usize) -> Problem {
        self.line = Some(line);
        self
    }
}

/// `locales/<tag>.ftl`, as errors name a catalogue.
pub fn file_of(tag: &str) -> String {
    format!("{LOCALES_DIR}/{tag}{CATALOGUE_EXTENSION}")
}

/// Checks the language tag a catalogue is named with (see the module's comment).
pub fn check_tag(tag: &str) -> Result<(), String> {
    let parsed: Option<LanguageIdentifier> = tag.parse().ok();
    let Some(id) = parsed else {
        return Err(format!(
            "`{tag}` is not a language tag: name a catalogue after its language, as in en.ftl, \
             zh-CN.ftl, pt-BR.ftl"
        ));
    };
    let canonical = id.to_string();
    let language = id.language.as_str();
    if !(2..=3).contains(&language.len()) || language == "und" || id.variants().next().is_some() {
        return Err(format!(
            "`{tag}` is not a language tag of the form language[-Script][-REGION] (en, zh-CN, \
             zh-Hans, pt-BR)"
        ));
    }
    if canonical != tag {
        return Err(format!(
            "write the language tag as `{canonical}` (the file {})",
            file_of(&canonical)
        ));
    }
    Ok(())
}

/// Checks a package's catalogues (language tag → Fluent source) against its manifest and
/// templates: each parses, defines each message once and refers only to its own messages;
/// `en.ftl` is there when any is, and every catalogue has exactly its keys; the label keys
/// (`type-`, `field-`, `option-`, `panel-`, `action-`) name what the manifest declares and are
/// short plain text; and every key a template passes to `t` literally is in `en.ftl`.
pub fn check(
    catalogues: &BTreeMap<String, String>,
    manifest: &Manifest,
    templates: &BTreeMap<String, String>,
) -> Result<(), Problem> {
    let mut keys: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (tag, source) in catalogues {
        let file = file_of(tag);
        check_tag(tag).map_err(|message| Problem::new(&file, message))?;
        let bundle = bundle_of(tag, source).map_err(|(line, message)| {
            let problem = Problem::new(&file, message);
            match line {
                Some(line) => problem.at(line),
                None => problem,
            }
        })?;
        let mut mine = BTreeSet::new();
        for (key, line) in message_keys(source) {
            check_message(&bundle, &key, manifest)
                .map_err(|message| Problem::new(&file, message).at(line))?;
            mine.insert(key);
        }
        keys.insert(tag.as_str(), mine);
    }
    let Some(english) = keys.get(FALLBACK) else {
        if let Some(tag) = keys.keys().next() {
            return Err(Problem::new(
                file_of(tag),
                format!(
                    "there is no {}: English is every reader's fallback, so a package with \
                     catalogues has one",
                    file_of(FALLBACK)
                ),
            ));
        }
        return check_template_keys(templates, &BTreeSet::new(), false);
    };
    for (tag, mine) in &keys {
        if let Some(key) = english.difference(mine).next() {
            return Err(Problem::new(
                file_of(tag),
                format!(
                    "`{key}` is missing: {} has it, and every catalogue has the same keys",
                    file_of(FALLBACK)
                ),
            ));
        }
        if let Some(key) = mine.difference(english).next() {
            let line = line_of(&catalogues[*tag], key).unwrap_or(1);
            return Err(Problem::new(
                file_of(tag),
                format!(
                    "`{key}` is not in {}: every catalogue has the same keys",
                    file_of(FALLBACK)
                ),
            )
            .at(line));
        }
    }
    check_template_keys(templates, english, true)
}

type Bundle = FluentBundle<FluentResource>;

/// Parses a catalogue into a bundle; a syntax error or a key defined twice is `(line, what)`.
fn bundle_of(tag: &str, source: &str) -> Result<Bundle, (Option<usize>, String)> {
    let resource = FluentResource::try_new(source.to_owned()).map_err(|(_, errors)| {
        let first = errors.into_iter().next();
        let line = first.as_ref().map(|e| line_at(source, e.pos.start));
        let message = first.map_or_else(|| "not valid Fluent".to_owned(), |e| e.to_string());
        (line, format!("a Fluent syntax error: {message}"))
    })?;
    let mut bundle = new_bundle(tag);
    if let Err(errors) = bundle.add_resource(resource) {
        for error in errors {
            if let FluentError::Overriding { kind, id } = error {
                let shown = if kind.to_string() == "term" {
                    format!("-{id}")
                } else {
                    id
                };
                let line = second_line_of(source, &shown);
                return Err((line, format!("`{shown}` is defined twice")));
            }
        }
    }
    Ok(bundle)
}

fn new_bundle(tag: &str) -> Bundle {
    let id: LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No bidi isolation marks around placeables (as the host's catalogues).
    bundle.set_use_isolating(false);
    bundle
}

/// The message keys of a catalogue (terms aside) with the line each starts on.
fn message_keys(source: &str) -> Vec<(String, usize)> {
    let resource = match FluentResource::try_new(source.to_owned()) {
        Ok(resource) | Err((resource, _)) => resource,
    };
    resource
        .entries()
        .filter_map(|entry| match entry {
            fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_owned()),
            _ => None,
        })
        .map(|key| {
            let line = line_of(source, &key).unwrap_or(1);
            (key, line)
        })
        .collect()
}

/// The line (from 1) of a byte offset.
fn line_at(source: &str, offset: usize) -> usize {
    source
        .get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// The lines on which `id` is defined (`id =` at the start of a line).
fn definition_lines<'a>(source: &'a str, id: &'a str) -> impl Iterator<Item = usize> + 'a {
    source.lines().enumerate().filter_map(move |(i, line)| {
        let rest = line.strip_prefix(id)?;
        rest.trim_start().starts_with('=').then_some(i + 1)
    })
}

fn line_of(source: &str, id: &str) -> Option<usize> {
    definition_lines(source, id).next()
}

fn second_line_of(source: &str, id: &str) -> Option<usize> {
    definition_lines(source, id).nth(1)
}

/// What a label key labels, as far as the checks need to know.
enum Labelled {
    /// Not a label key: any message.
    Message,
    /// A label: plain text of at most this many characters.
    Label(usize),
}

/// Checks one message: it formats without referring to anything its catalogue lacks, and a
/// label key names something the manifest declares and is a short plain label.
fn check_message(bundle: &Bundle, key: &str, manifest: &Manifest) -> Result<(), String> {
    let labelled = label_target(key, manifest)?;
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return Err(format!(
            "`{key}` has no value: `t` and labels read a message's value, not its attributes"
        ));
    };
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, None, &mut errors);
    for error in &errors {
        match error {
            FluentError::ResolverError(ResolverError::Reference(ReferenceKind::Variable {
                id,
            })) => {
                if let Labelled::Label(_) = labelled {
                    return Err(format!(
                        "`{key}` is a label: plain text, without variables such as `${id}`"
                    ));
                }
            }
            FluentError::ResolverError(ResolverError::Reference(kind)) => {
                let what = match kind {
                    ReferenceKind::Message { id, .. } => format!("the message `{id}`"),
                    ReferenceKind::Term { id, .. } => format!("the term `-{id}`"),
                    ReferenceKind::Function { id } => format!("the function `{id}()`"),
                    ReferenceKind::Variable { id } => format!("`${id}`"),
                };
                return Err(format!(
                    "`{key}` refers to {what}, which this catalogue does not have (a plugin's \
                     messages can refer only to its own)"
                ));
            }
            other => return Err(format!("`{key}` cannot be formatted: {other}")),
        }
    }
    if let Labelled::Label(max) = labelled {
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > max || text.chars().any(char::is_control) {
            return Err(format!(
                "`{key}` is a label: 1 to {max} characters on one line"
            ));
        }
    }
    Ok(())
}

/// Whether `key` is a label key and, if so, that it names something the manifest declares:
/// `type-<type>`, `type-<type>-plural`, `field-<type>-<field>`,
/// `option-<type>-<field>-<value>` (types and fields the plugin declares or adds),
/// `panel-<panel>`, `action-<action>`, `action-<action>-description` and
/// `action-<action>-field-<field>`.
fn label_target(key: &str, manifest: &Manifest) -> Result<Labelled, String> {
    let Some((prefix, rest)) = key.split_once('-') else {
        return Ok(Labelled::Message);
    };
    let label = Labelled::Label(MAX_LABEL_CHARS);
    let parts: Vec<&str> = rest.split('-').collect();
    let found = match (prefix, parts.as_slice()) {
        ("type", [ty] | [ty, "plural"]) => own_type(manifest, ty).is_some(),
        ("field", [ty, field]) => own_field(manifest, ty, field).is_some(),
        ("option", [ty, field, value @ ..]) if !value.is_empty() => {
            let value = value.join("-");
            own_field(manifest, ty, field)
                .is_some_and(|f| f.options.iter().any(|o| o.value == value))
        }
        ("panel", [panel]) => manifest.panels.iter().any(|p| p.name == *panel),
        ("action", [action]) => manifest.actions.iter().any(|a| a.name == *action),
        ("action", [action, "description"]) => {
            return if manifest.actions.iter().any(|a| a.name == *action) {
                Ok(Labelled::Label(MAX_DESCRIPTION_CHARS))
            } else {
                Err(unlabelled(key))
            };
        }
        ("action", [action, "field", field]) => manifest
            .actions
            .iter()
            .any(|a| a.name == *action && a.fields.iter().any(|f| f.name == *field)),
        ("type" | "field" | "option" | "panel" | "action", _) => false,
        _ => return Ok(Labelled::Message),
    };
    if found {
        Ok(label)
    } else {
        Err(unlabelled(key))
    }
}

fn unlabelled(key: &str) -> String {
    format!(
        "`{key}` labels nothing this plugin declares: keys starting with type-, field-, \
         option-, panel- and action- are labels (type-<type>, type-<type>-plural, \
         field-<type>-<field>, option-<type>-<field>-<value>, panel-<panel>, action-<action>, \
         action-<action>-description, action-<action>-field-<field>) of the plugin's own \
         types, fields, options, panels and actions"
    )
}

fn own_type<'a>(manifest: &'a Manifest, name: &str) -> Option<&'a EntityType> {
    manifest.entities.iter().find(|e| e.name == name)
}

/// A field the plugin declares on its own type or adds to another.
fn own_field<'a>(manifest: &'a Manifest, ty: &str, field: &str) -> Option<&'a FieldSpec> {
    own_type(manifest, ty)
        .and_then(|e| e.fields.iter().find(|f| f.name == field))
        .or_else(|| {
            (manifest.fields.get(ty)).and_then(|added| added.iter().find(|f| f.name == field))
        })
}

/// Every key a template passes to `t` as a literal string must be in `known` (`en.ftl`); a
/// key built with `~` (`t("status-" ~ status)`) needs some key starting with its literal part.
fn check_template_keys(
    templates: &BTreeMap<String, String>,
    known: &BTreeSet<String>,
    has_catalogues: bool,
) -> Result<(), Problem> {
    for (name, source) in templates {
        for (key, prefix, line) in template_keys(source) {
            let found = if prefix {
                known.iter().any(|k| k.starts_with(&key))
            } else {
                known.contains(&key)
            };
            if found {
                continue;
            }
            let file = format!("{}/{name}", super::package::TEMPLATES_DIR);
            let message = if has_catalogues {
                format!(
                    "t(\"{key}\"): {} has no message `{key}`{}",
                    file_of(FALLBACK),
                    if prefix { "…" } else { "" }
                )
            } else {
                format!(
                    "t(\"{key}\"): the package has no catalogues (add {} and the other \
                     languages' files)",
                    file_of(FALLBACK)
                )
            };
            return Err(Problem::new(file, message).at(line));
        }
    }
    Ok(())
}

/// The keys a template passes to `t` as string literals, inside `{{ … }}` and `{% … %}`:
/// (key, whether it is only a prefix joined with `~`, line).
pub fn template_keys(source: &str) -> Vec<(String, bool, usize)> {
    let mut keys = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(start) = rest.find(['{']) {
        let opened = &rest[start..];
        let close = if opened.starts_with("{{") {
            "}}"
        } else if opened.starts_with("{%") {
            "%}"
        } else {
            offset += start + 1;
            rest = &rest[start + 1..];
            continue;
        };
        let end = opened.find(close).map_or(opened.len(), |e| e + close.len());
        let code = &opened[..end];
        let base = offset + start;
        let bytes = code.as_bytes();
        for (at, _) in code.match_indices("t(") {
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
                continue;
            }
            let args = code[at + 2..].trim_start();
            let Some(quote) = args.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let Some(key) = args[1..].split(quote).next() else {
                continue;
            };
            let after = args[1 + key.len()..].trim_start_matches(quote).trim_start();
            let line = line_at(source, base + at);
            keys.push((key.to_owned(), after.starts_with('~'), line));
        }
        offset = base + end;
        rest = &opened[end..];
    }
    keys
}

/// A plugin's catalogues, parsed: what its templates' `t` and its labels read.
#[derive(Default)]
pub struct Messages {
    /// By language tag.
    bundles: BTreeMap<String, Bundle>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.bundles.keys()).finish()
    }
}

impl Messages {
    /// The catalogues of a package (checked when it was loaded; what does not parse is left
    /// out rather than failing a plugin at run time).
    pub fn load(catalogues: &BTreeMap<String, String>) -> Messages {
        let mut bundles = BTreeMap::new();
        for (tag, source) in catalogues {
            let resource = match FluentResource::try_new(source.clone()) {
                Ok(resource) | Err((resource, _)) => resource,
            };
            let mut bundle = new_bundle(tag);
            // A key defined twice keeps its first definition.
            let _ = bundle.add_resource(resource);
            bundles.insert(tag.clone(), bundle);
        }
        Messages { bundles }
    }

    /// The catalogue a reader of `language` reads: its own tag's, else one of the same
    /// language (a bare `zh` first), else none.
    fn catalogue(&self, language: Language) -> Option<&Bundle> {
        let tag = language.tag();
        let primary = tag.split('-').next().unwrap_or(tag);
        self.bundles
            .get(tag)
            .or_else(|| self.bundles.get(primary))
            .or_else(|| {
                (self.bundles.iter())
                    .find(|(t, _)| t.split('-').next() == Some(primary))
                    .map(|(_, b)| b)
            })
    }

    fn format(bundle: &Bundle, key: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
        let pattern = bundle.get_message(key)?.value()?;
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        Some(text.into_owned())
    }

    /// The message `key` in the reader's language only (no fallback): a label a type keeps
    /// per language.
    pub fn own(&self, language: Language, key: &str) -> Option<String> {
        Self::format(self.catalogue(language)?, key, None)
    }

    /// The message `key` in the reader's language, else in English.
    pub fn get(
        &self,
        language: Language,
        key: &str,
        args: Option<&FluentArgs<'_>>,
    ) -> Option<String> {
        (self.catalogue(language))
            .and_then(|bundle| Self::format(bundle, key, args))
            .or_else(|| Self::format(self.bundles.get(FALLBACK)?, key, args))
    }

    /// `t` of the plugin's templates: the message in the reader's language, else in English,
    /// else the key itself.
    pub fn t(&self, language: Language, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        self.get(language, key, args)
            .unwrap_or_else(|| key.to_owned())
    }

    /// Gives one of the plugin's own types its labels: `label` and `label_plural` are the
    /// English catalogue's (else the manifest's), `labels` and `labels_plural` every other
    /// language's the catalogues have. Its fields get theirs (`field_labels`).
    pub fn label_type(&self, ty: &mut EntityType) {
        let name = ty.name.clone();
        self.label(&format!("type-{name}"), &mut ty.label, &mut ty.labels);
        let plural = format!("type-{name}-plural");
        self.label(&plural, &mut ty.label_plural, &mut ty.labels_plural);
        for field in &mut ty.fields {
            self.label_field(&name, field);
        }
    }

    /// Gives a field the plugin declares on `entity` (its own type or another) its labels
    /// and its options theirs.
    pub fn label_field(&self, entity: &str, field: &mut FieldSpec) {
        let key = format!("field-{entity}-{}", field.name);
        self.label(&key, &mut field.label, &mut field.labels);
        for option in &mut field.options {
            let key = format!("option-{entity}-{}-{}", field.name, option.value);
            self.label(&key, &mut option.label, &mut option.labels);
        }
    }

    /// Sets `english` from the English catalogue and `others` per language from theirs.
    fn label(&self, key: &str, english: &mut String, others: &mut BTreeMap<String, String>) {
        if let Some(text) = self.own(Language::En, key) {
            *english = text.trim().to_owned();
        }
        for language in Language::ALL.into_iter().filter(|l| *l != Language::En) {
            if let Some(text) = self.own(language, key) {
                others.insert(language.tag().to_owned(), text.trim().to_owned());
            }
        }
    }

    /// A panel's title in the reader's language (`panel-<name>`), else the manifest's.
    pub fn panel_title(&self, language: Language, panel: &Panel) -> String {
        self.get(language, &format!("panel-{}", panel.name), None)
            .unwrap_or_else(|| panel.title.clone())
    }

    /// An action as the reader sees it: its title (`action-<name>`), description
    /// (`action-<name>-description`) and dialog fields' labels (`action-<name>-field-<f>`) in
    /// their language, else the manifest's.
    pub fn action(&self, language: Language, action: &Action) -> Action {
        let mut shown = action.clone();
        let key = format!("action-{}", action.name);
        if let Some(title) = self.get(language, &key, None) {
            shown.title = title;
        }
        if let Some(description) = self.get(language, &format!("{key}-description"), None) {
            shown.description = Some(description);
        }
        for field in &mut shown.fields {
            if let Some(label) = self.get(language, &format!("{key}-field-{}", field.name), None) {
                field.label = label;
            }
        }
        shown
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
id = "shop"
name = "Shop"
version = "0.1.0"
api_version = "0.4.1"

[[entities]]
name = "order"
plural = "orders"
fields = [
  { name = "total", type = "money" },
  { name = "state", type = "select", options = ["open", "paid", "in-transit"] },
]

[fields]
contact = [{ name = "loyalty", type = "integer" }]

[[panels]]
name = "orders"
title = "Orders"
location = "dashboard"
template = "orders.html"

[[actions]]
name = "refund"
title = "Refund"
entity = "order"
fields = [{ name = "reason", type = "text" }]
"#;

    const EN: &str = "\
type-order = Order
type-order-plural = Orders
field-order-state = State
option-order-state-in-transit = In transit
field-contact-loyalty = Loyalty points
panel-orders = Recent orders
action-refund = Refund the order
action-refund-description = Gives the money back.
action-refund-field-reason = Why
orders-none = No orders yet.
orders-count = { $count ->
    [one] One order
   *[other] { $count } orders
}
";

    const ZH: &str = "\
type-order = 订单
type-order-plural = 订单
field-order-state = 状态
option-order-state-in-transit = 运输中
field-contact-loyalty = 积分
panel-orders = 最近订单
action-refund = 退款
action-refund-description = 退还款项。
action-refund-field-reason = 原因
orders-none = 暂无订单。
orders-count = { $count } 个订单
";

    fn manifest() -> Manifest {
        Manifest::parse(MANIFEST).unwrap()
    }

    fn catalogues(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(tag, text)| ((*tag).to_owned(), (*text).to_owned()))
            .collect()
    }

    fn problem(pairs: &[(&str, &str)]) -> Problem {
        check(&catalogues(pairs), &manifest(), &BTreeMap::new()).unwrap_err()
    }

    #[test]
    fn good_catalogues_pass() {
        let templates = catalogues(&[(
            "orders.html",
            "{{ t(\"orders-none\") }} {{ t('orders-count', count=n) }} {{ t(\"orders-\" ~ x) }}",
        )]);
        check(
            &catalogues(&[("en", EN), ("zh-CN", ZH)]),
            &manifest(),
            &templates,
        )
        .unwrap();
        check(&BTreeMap::new(), &manifest(), &BTreeMap::new()).unwrap();
    }

    #[test]
    fn language_tags_are_well_formed_and_canonical() {
        for good in [
            "en",
            "zh-CN",
            "zh-Hans",
            "pt-BR",
            "de",
            "yue",
            "es-419",
            "zh-Hant-TW",
        ] {
            assert_eq!(check_tag(good), Ok(()), "{good}");
        }
        for (bad, words) in [
            ("zh_CN", "write the language tag as `zh-CN`"),
            ("zh-cn", "write the language tag as `zh-CN`"),
            ("EN", "write the language tag as `en`"),
            ("klingon", "language[-Script][-REGION]"),
            ("und", "language[-Script][-REGION]"),
            ("de-DE-1996", "language[-Script][-REGION]"),
            ("e", "is not a language tag"),
            ("en-", "is not a language tag"),
            ("english", "language[-Script][-REGION]"),
            ("../en", "is not a language tag"),
            ("", "is not a language tag"),
        ] {
            let error = check_tag(bad).unwrap_err();
            assert!(error.contains(words), "{bad}: {error}");
        }
        let error = problem(&[("en", EN), ("zh_CN", ZH)]);
        assert_eq!(error.file, "locales/zh_CN.ftl");
        assert!(error.message.contains("`zh-CN`"), "{error:?}");
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let broken = format!("{EN}\nbroken = {{ $count\nlater = fine\n");
        let error = problem(&[("en", &broken), ("zh-CN", ZH)]);
        assert_eq!(error.file, "locales/en.ftl");
        // Where the parser found the closing brace missing: the next line.
        assert_eq!(error.line, Some(EN.lines().count() + 3), "{error:?}");
        assert!(
            error.message.starts_with("a Fluent syntax error: "),
            "{error:?}"
        );
    }

    #[test]
    fn a_key_defined_twice_is_refused_at_its_second_line() {
        let twice = format!("{EN}orders-none = Nothing.\n");
        let error = problem(&[("en", &twice)]);
        assert_eq!(error.line, Some(EN.lines().count() + 1), "{error:?}");
        assert_eq!(error.message, "`orders-none` is defined twice");
    }

    #[test]
    fn a_key_missing_from_one_catalogue_names_both() {
        let fewer = ZH.replace("orders-none = 暂无订单。\n", "");
        let error = problem(&[("en", EN), ("zh-CN", &fewer)]);
        assert_eq!(error.file, "locales/zh-CN.ftl");
        assert_eq!(
            error.message,
            "`orders-none` is missing: locales/en.ftl has it, and every catalogue has the same keys"
        );
        let more = format!("{ZH}orders-extra = 多余\n");
        let error = problem(&[("en", EN), ("zh-CN", &more)]);
        assert_eq!(error.file, "locales/zh-CN.ftl");
        assert_eq!(error.line, Some(ZH.lines().count() + 1));
        assert!(
            error
                .message
                .contains("`orders-extra` is not in locales/en.ftl"),
            "{error:?}"
        );
    }

    #[test]
    fn english_is_required() {
        let error = problem(&[("zh-CN", ZH)]);
        assert_eq!(error.file, "locales/zh-CN.ftl");
        assert!(
            error.message.starts_with("there is no locales/en.ftl"),
            "{error:?}"
        );
    }

    #[test]
    fn label_keys_name_what_the_plugin_declares() {
        for key in [
            "type-contact",
            "type-contact-plural",
            "field-contact-first_name",
            "field-order-nope",
            "option-order-state-shipped",
            "option-contact-loyalty-x",
            "panel-nope",
            "action-nope",
            "action-refund-field-nope",
            "type-order-singular",
        ] {
            let error = problem(&[("en", &format!("{key} = Hacked\n"))]);
            assert!(
                error
                    .message
                    .starts_with(&format!("`{key}` labels nothing")),
                "{key}: {error:?}"
            );
            assert_eq!(error.line, Some(1));
        }
        for (text, words) in [
            (
                "type-order = { $n } orders\n",
                "plain text, without variables",
            ),
            ("type-order = { \" \" }\n", "1 to 100 characters"),
            (
                &format!("type-order = {}\n", "x".repeat(101)),
                "1 to 100 characters",
            ),
            ("type-order = { -brand }\n", "the term `-brand`"),
            (
                "orders-none = See { type-contact }\n",
                "the message `type-contact`",
            ),
            ("orders-none = { NUMBER($n) }\n", "the function `NUMBER()`"),
            (
                "orders-none =\n    .title = Attribute only\n",
                "has no value",
            ),
        ] {
            let error = problem(&[("en", text)]);
            assert!(error.message.contains(words), "{text}: {error:?}");
        }
        let long = format!("action-refund-description = {}\n", "x".repeat(500));
        check(&catalogues(&[("en", &long)]), &manifest(), &BTreeMap::new()).unwrap();
    }

    #[test]
    fn template_keys_must_be_in_the_english_catalogue() {
        let en = catalogues(&[("en", EN)]);
        let templates = catalogues(&[("orders.html", "<p>\n{{ t(\"orders-nope\") }}</p>")]);
        let error = check(&en, &manifest(), &templates).unwrap_err();
        assert_eq!(error.file, "templates/orders.html");
        assert_eq!(error.line, Some(2));
        assert!(
            error
                .message
                .contains("locales/en.ftl has no message `orders-nope`"),
            "{error:?}"
        );
        let error = check(&BTreeMap::new(), &manifest(), &templates).unwrap_err();
        assert!(
            error.message.contains("the package has no catalogues"),
            "{error:?}"
        );
        // Text outside tags, other functions ending in `t` and built keys are not calls.
        let fine = "don't(\"x\") {{ x.get(\"y\") }} {{ format(\"z\") }} {{ t(\"orders-\" ~ s) }}";
        check(&en, &manifest(), &catalogues(&[("a.html", fine)])).unwrap();
        assert_eq!(
            template_keys("{% set a = t('k1') %}\n{{ t( \"k2\" , n=1) }}{{ t(\"p-\" ~ x) }}"),
            vec![
                ("k1".to_owned(), false, 1),
                ("k2".to_owned(), false, 2),
                ("p-".to_owned(), true, 2)
            ]
        );
    }

    #[test]
    fn readers_get_their_language_then_english_then_the_key() {
        let messages = Messages::load(&catalogues(&[("en", EN), ("zh-CN", ZH)]));
        assert_eq!(
            messages.t(Language::ZhCn, "orders-none", None),
            "暂无订单。"
        );
        assert_eq!(
            messages.t(Language::En, "orders-none", None),
            "No orders yet."
        );
        let mut args = FluentArgs::new();
        args.set("count", 1);
        assert_eq!(
            messages.t(Language::En, "orders-count", Some(&args)),
            "One order"
        );
        let only_english = Messages::load(&catalogues(&[("en", EN)]));
        assert_eq!(
            only_english.t(Language::ZhCn, "orders-none", None),
            "No orders yet."
        );
        assert_eq!(
            only_english.t(Language::ZhCn, "no-such-key", None),
            "no-such-key"
        );
        assert_eq!(
            Messages::default().t(Language::En, "orders-none", None),
            "orders-none"
        );
        // A catalogue of the same language serves a reader whose exact tag has none.
        let hans = Messages::load(&catalogues(&[("en", EN), ("zh-Hans", ZH)]));
        assert_eq!(hans.t(Language::ZhCn, "orders-none", None), "暂无订单。");
        // The host's catalogue is not the plugin's.
        assert_eq!(
            messages.t(Language::ZhCn, "type-contact", None),
            "type-contact"
        );
    }

    #[test]
    fn labels_reach_the_plugins_own_types_fields_and_options_only() {
        let hostile = format!("{EN}type-contact = Hacked\nfield-contact-first_name = Hacked\n");
        let messages = Messages::load(&catalogues(&[("en", &hostile), ("zh-CN", ZH)]));
        let manifest = manifest();
        let mut order = manifest.entities[0].clone();
        messages.label_type(&mut order);
        assert_eq!(order.label, "Order");
        assert_eq!(order.labels.get("zh-CN").map(String::as_str), Some("订单"));
        let state = order.field("state").unwrap();
        assert_eq!(state.labels.get("zh-CN").map(String::as_str), Some("状态"));
        let transit = state
            .options
            .iter()
            .find(|o| o.value == "in-transit")
            .unwrap();
        assert_eq!(transit.label, "In transit");
        assert_eq!(
            transit.labels.get("zh-CN").map(String::as_str),
            Some("运输中")
        );
        let paid = state.options.iter().find(|o| o.value == "paid").unwrap();
        assert!(paid.labels.is_empty() && paid.label.is_empty(), "{paid:?}");
        let mut loyalty = manifest.fields["contact"][0].clone();
        messages.label_field("contact", &mut loyalty);
        assert_eq!(
            loyalty.labels.get("zh-CN").map(String::as_str),
            Some("积分")
        );
        let panel = &manifest.panels[0];
        assert_eq!(messages.panel_title(Language::ZhCn, panel), "最近订单");
        let refund = messages.action(Language::ZhCn, &manifest.actions[0]);
        assert_eq!(
            (
                refund.title.as_str(),
                refund.description.as_deref(),
                refund.fields[0].label.as_str()
            ),
            ("退款", Some("退还款项。"), "原因")
        );
        let none = Messages::default();
        assert_eq!(none.panel_title(Language::ZhCn, panel), "Orders");
    }

    #[test]
    fn a_plugins_schema_is_labelled_by_its_own_catalogue_only() {
        // Even a catalogue that got past the checks relabels nothing but what it declares.
        let hostile = format!("{EN}type-contact = Hacked\nfield-contact-first_name = Hacked\n");
        let messages = Messages::load(&catalogues(&[("en", &hostile), ("zh-CN", ZH)]));
        let (types, fields) = super::super::registry::plugin_schema(&manifest(), &messages);
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["order"]);
        assert_eq!(types[0].source, "plugin:shop");
        let added: Vec<(&str, &str)> = (fields.iter())
            .map(|(ty, f)| (ty.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(added, [("contact", "loyalty")]);
        assert_eq!(fields[0].1.label, "Loyalty points");
        let json = serde_json::to_string(&(types, fields)).unwrap();
        assert!(!json.contains("Hacked"), "{json}");
    }
}
