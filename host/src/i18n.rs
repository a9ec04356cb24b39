//! The web app's words in each of its languages: one Fluent catalogue per language
//! (`host/locales/<lang>/*.ftl`, compiled in by `build.rs`), the language a request is served
//! in, and the `t` function templates call.
//!
//! A request's language is the reader's own setting, else the browser's `Accept-Language`
//! negotiated against the catalogues (every `zh…` tag reads Simplified Chinese), else the
//! workspace's default (kept with its look), else English.
//! Messages are plain text: templates autoescape them like any value, and the values put into
//! them (a record's title) are escaped with the rest. A key no catalogue has shows as itself,
//! and the catalogue tests keep that from happening.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::Serialize;

use crate::locale::Locale;

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/locales.rs"));
}

/// A language the web app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Language {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Language {
    /// Every language, English (the fallback) first.
    pub const ALL: [Language; 2] = [Language::En, Language::ZhCn];

    /// The BCP 47 tag: `<html lang>`, the stored setting, the catalogue's folder.
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, as a language menu shows it.
    pub fn name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::ZhCn => "简体中文",
        }
    }

    /// A stored setting (`en`, `zh-CN`, any case); anything else is no setting.
    pub fn parse(tag: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(tag.trim()))
    }

    /// The language an `Accept-Language` tag reads in, if any: `en-GB` → English, `zh`,
    /// `zh-Hans`, `zh-SG` (and every other Chinese) → Simplified Chinese.
    fn of_tag(tag: &str) -> Option<Language> {
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("en") {
            Some(Language::En)
        } else if primary.eq_ignore_ascii_case("zh") {
            Some(Language::ZhCn)
        } else {
            None
        }
    }

    /// The most preferred language of an `Accept-Language` header the app speaks (by quality,
    /// then order), if any. Malformed entries are skipped.
    pub fn negotiate(header: Option<&str>) -> Option<Language> {
        crate::locale::preferred(header, Language::of_tag)
    }

    /// The language of a request: the reader's setting, else their browser's, else the
    /// workspace's, else English.
    pub fn choose(
        setting: Option<&str>,
        headers: &axum::http::HeaderMap,
        workspace: Option<&str>,
    ) -> Language {
        setting
            .and_then(Language::parse)
            .or_else(|| Language::of_request(headers))
            .or_else(|| workspace.and_then(Language::parse))
            .unwrap_or_default()
    }

    /// The language of the command line: the first of `LC_ALL`, `LC_MESSAGES` and `LANG`
    /// that is set (`zh_CN.UTF-8` reads Simplified Chinese), else English; `C`, `POSIX` and
    /// languages the app does not speak read English.
    pub fn of_environment(var: impl Fn(&str) -> Option<String>) -> Language {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .filter_map(|name| var(name).filter(|v| !v.is_empty()))
            .next()
            .and_then(|value| Language::of_tag(value.split(['.', '@']).next().unwrap_or("")))
            .unwrap_or_default()
    }

    /// The language a browser asks for, if the app speaks it.
    pub fn of_request(headers: &axum::http::HeaderMap) -> Option<Language> {
        Language::negotiate(
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    }

    /// How this language writes figures.
    pub fn locale(self) -> Locale {
        match self {
            Language::En => Locale::of("en"),
            Language::ZhCn => Locale::of("zh"),
        }
    }

    /// A message with no arguments.
    pub fn t(self, key: &str) -> String {
        self.format(key, None)
    }

    /// A message with arguments: `lang.t_with("view-saved", &[("name", name.into())])`.
    pub fn t_with(self, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut fluent = FluentArgs::new();
        for (name, value) in args {
            fluent.set(*name, value.clone());
        }
        self.format(key, Some(&fluent))
    }

    /// A message if the catalogue has it (labels that fall back to the schema's own).
    pub fn lookup(self, key: &str) -> Option<String> {
        self.message(key, None)
    }

    fn format(self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        self.message(key, args).unwrap_or_else(|| {
            tracing::warn!(
                key,
                language = self.tag(),
                "message missing from the catalogue"
            );
            key.to_owned()
        })
    }

    fn message(self, key: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
        let bundle = CATALOGUES.bundle(self);
        let pattern = bundle.get_message(key)?.value()?;
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(
                key,
                language = self.tag(),
                ?errors,
                "message formatted with errors"
            );
        }
        Some(text.into_owned())
    }

    /// A moment on the reader's clock, as this language writes it: `2026-11-27 15:05`,
    /// `2026年11月27日 15:05`.
    pub fn stamp(self, at: DateTime<Utc>, zone: Tz) -> String {
        let local = at.with_timezone(&zone);
        match self {
            Language::En => local.format("%Y-%m-%d %H:%M").to_string(),
            Language::ZhCn => local.format("%Y年%-m月%-d日 %H:%M").to_string(),
        }
    }
}

/// Words for a person, kept until the language they read is known: a message of the
/// catalogue (its key and arguments), or text that has none (a plugin's refusal, a library's
/// parse error). Errors carry these, so that the API and the web app write the same refusal
/// in each reader's language; `Display` writes English (logs, plugins, tests).
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Message {
        key: &'static str,
        args: Vec<(&'static str, Arg)>,
    },
    Verbatim(String),
}

/// An argument of a [`Text`] message.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    Int(i64),
    /// Words of their own, written in the same language (a field's refusal inside a summary).
    Words(Box<Text>),
}

impl Text {
    /// Text no catalogue has: shown as written in every language.
    pub fn verbatim(text: impl Into<String>) -> Text {
        Text::Verbatim(text.into())
    }

    /// The words in `language`.
    pub fn render(&self, language: Language) -> String {
        match self {
            Text::Verbatim(text) => text.clone(),
            Text::Message { key, args } => {
                let args: Vec<(&str, FluentValue<'_>)> = args
                    .iter()
                    .map(|(name, arg)| {
                        let value = match arg {
                            Arg::Str(text) => FluentValue::from(text.as_str()),
                            Arg::Int(n) => FluentValue::from(*n),
                            Arg::Words(text) => FluentValue::from(text.render(language)),
                        };
                        (*name, value)
                    })
                    .collect();
                language.t_with(key, &args)
            }
        }
    }

    /// The catalogue key, for a message of the catalogue.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            Text::Message { key, .. } => Some(key),
            Text::Verbatim(_) => None,
        }
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Language::En))
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<Text> for Arg {
    fn from(text: Text) -> Arg {
        Arg::Words(Box::new(text))
    }
}

impl From<&Text> for Arg {
    fn from(text: &Text) -> Arg {
        Arg::Words(Box::new(text.clone()))
    }
}

impl From<&str> for Arg {
    fn from(text: &str) -> Arg {
        Arg::Str(text.to_owned())
    }
}

impl From<String> for Arg {
    fn from(text: String) -> Arg {
        Arg::Str(text)
    }
}

impl From<&String> for Arg {
    fn from(text: &String) -> Arg {
        Arg::Str(text.clone())
    }
}

impl From<std::borrow::Cow<'_, str>> for Arg {
    fn from(text: std::borrow::Cow<'_, str>) -> Arg {
        Arg::Str(text.into_owned())
    }
}

macro_rules! int_args {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(n: $t) -> Arg {
                Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_args!(i32, i64, u8, u16, u32, u64, usize);

/// A message of the catalogue with its arguments, written later in the reader's language:
/// `text!("api-unknown-entity", name = name)`. Argument names are the Fluent variables'
/// (`{ $name }`); a value is anything an [`Arg`] is made from.
macro_rules! text {
    ($key:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::i18n::Text::Message {
            key: $key,
            args: vec![$((stringify!($name), $crate::i18n::Arg::from($value))),*],
        }
    };
}
pub(crate) use text;

/// Every language's bundle, parsed once.
struct Catalogues {
    bundles: Vec<(Language, FluentBundle<FluentResource>)>,
}

static CATALOGUES: LazyLock<Catalogues> = LazyLock::new(|| {
    let (catalogues, problems) = Catalogues::load();
    for problem in problems {
        tracing::error!(%problem, "message catalogue problem");
    }
    catalogues
});

impl Catalogues {
    /// Parses the bundled catalogues; what does not parse is reported (and tested), the
    /// rest still serves.
    fn load() -> (Catalogues, Vec<String>) {
        let mut problems = Vec::new();
        let mut bundles = Vec::new();
        for language in Language::ALL {
            let id = language
                .tag()
                .parse::<unic_langid::LanguageIdentifier>()
                .unwrap_or_default();
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // No bidi isolation marks around placeables: the app's languages are all
            // left-to-right, and the marks would sit inside every sentence.
            bundle.set_use_isolating(false);
            for (folder, file, text) in bundled::FILES {
                if *folder != language.tag() {
                    continue;
                }
                let resource = match FluentResource::try_new((*text).to_owned()) {
                    Ok(resource) => resource,
                    Err((resource, errors)) => {
                        problems.push(format!("{folder}/{file}: {errors:?}"));
                        resource
                    }
                };
                if let Err(errors) = bundle.add_resource(resource) {
                    problems.push(format!("{folder}/{file}: {errors:?}"));
                }
            }
            bundles.push((language, bundle));
        }
        (Catalogues { bundles }, problems)
    }

    fn bundle(&self, language: Language) -> &FluentBundle<FluentResource> {
        self.bundles
            .iter()
            .find(|(l, _)| *l == language)
            .or_else(|| self.bundles.first())
            .map(|(_, b)| b)
            .unwrap_or_else(|| unreachable!("the catalogues hold every language"))
    }
}

/// Parses every catalogue now (at startup), so a broken file shows in the log at once.
pub fn load() {
    LazyLock::force(&CATALOGUES);
}

/// The message keys of a language's catalogue files, in file order.
pub fn keys(language: Language) -> Vec<String> {
    let mut keys = Vec::new();
    for (folder, _, text) in bundled::FILES {
        if *folder != language.tag() {
            continue;
        }
        let resource = match FluentResource::try_new((*text).to_owned()) {
            Ok(resource) | Err((resource, _)) => resource,
        };
        for entry in resource.entries() {
            if let fluent_syntax::ast::Entry::Message(message) = entry {
                keys.push(message.id.name.to_owned());
            }
        }
    }
    keys
}

thread_local! {
    /// The language of the page this thread is rendering (see [`rendering_in`]).
    static RENDERING: std::cell::Cell<Option<Language>> = const { std::cell::Cell::new(None) };
}

/// Runs a (synchronous) render in a language: `t` called from an imported macro cannot see
/// the page's `lang` (macros only see what they reference), so it reads this instead.
pub fn rendering_in<T>(language: Language, render: impl FnOnce() -> T) -> T {
    let previous = RENDERING.with(|r| r.replace(Some(language)));
    let out = render();
    RENDERING.with(|r| r.set(previous));
    out
}

/// The template function `t("key", name=value, …)`: the message in the language of the
/// page being rendered (its `lang`), as plain text for the template to escape.
pub fn template_t(
    state: &minijinja::State<'_, '_>,
    key: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, minijinja::Error> {
    let language = state
        .lookup("lang")
        .and_then(|l| l.as_str().and_then(Language::parse))
        .or_else(rendering)
        .unwrap_or_default();
    let args = fluent_args(&kwargs)?;
    Ok(language.format(key, Some(&args)))
}

/// The language of the render running on this thread, if any (see [`rendering_in`]).
pub fn rendering() -> Option<Language> {
    RENDERING.with(std::cell::Cell::get)
}

/// The keyword arguments of a template's `t("key", name=value, …)` as Fluent arguments:
/// numbers stay numbers (for plural rules), none is empty text, the rest their text.
pub fn fluent_args(
    kwargs: &minijinja::value::Kwargs,
) -> Result<FluentArgs<'static>, minijinja::Error> {
    let mut args = FluentArgs::new();
    for name in kwargs.args() {
        let value: minijinja::Value = kwargs.get(name)?;
        let fluent = if let Some(n) = value.as_i64() {
            FluentValue::from(n)
        } else if value.kind() == minijinja::value::ValueKind::Number {
            FluentValue::from(f64::try_from(value.clone()).unwrap_or_default())
        } else if value.is_undefined() || value.is_none() {
            FluentValue::from("")
        } else {
            FluentValue::from(value.to_string())
        };
        args.set(name.to_owned(), fluent);
    }
    kwargs.assert_all_used()?;
    Ok(args)
}

/// Every message whose key starts with `js-`, for the theme's script (`window` strings).
pub fn script_messages(language: Language) -> serde_json::Map<String, serde_json::Value> {
    keys(language)
        .into_iter()
        .filter(|k| k.starts_with("js-"))
        .map(|k| {
            let text = language.t(&k);
            (k, serde_json::Value::String(text))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_command_line_speaks_the_environments_language() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| (pairs.iter().find(|(n, _)| *n == name)).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(
            Language::of_environment(env(&[("LANG", "zh_CN.UTF-8")])),
            Language::ZhCn
        );
        assert_eq!(
            Language::of_environment(env(&[("LC_ALL", "C"), ("LANG", "zh_CN.UTF-8")])),
            Language::En,
            "LC_ALL wins"
        );
        assert_eq!(
            Language::of_environment(env(&[
                ("LC_ALL", ""),
                ("LC_MESSAGES", "zh_TW"),
                ("LANG", "en_US.UTF-8")
            ])),
            Language::ZhCn
        );
        assert_eq!(
            Language::of_environment(env(&[("LANG", "de_DE@euro")])),
            Language::En
        );
        assert_eq!(Language::of_environment(env(&[])), Language::En);
    }

    #[test]
    fn every_catalogue_parses_and_has_the_same_keys() {
        let (_, problems) = Catalogues::load();
        assert!(problems.is_empty(), "{problems:#?}");
        let en: BTreeSet<String> = keys(Language::En).into_iter().collect();
        assert!(en.len() > 100, "the English catalogue is nearly empty");
        for language in Language::ALL {
            let all = keys(language);
            let mine: BTreeSet<String> = all.iter().cloned().collect();
            assert_eq!(all.len(), mine.len(), "{} repeats a key", language.tag());
            let missing: Vec<_> = en.difference(&mine).collect();
            let extra: Vec<_> = mine.difference(&en).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{} lacks {missing:?}; English lacks {extra:?}",
                language.tag()
            );
        }
    }

    /// Every `text!("key", …)` of the server's code names a message the catalogues have.
    #[test]
    fn every_key_the_code_uses_is_in_the_catalogues() {
        fn sources(dir: &std::path::Path, into: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, into);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    into.push((path.display().to_string(), text));
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let known: BTreeSet<String> = keys(Language::En).into_iter().collect();
        let mut used = 0;
        for (path, source) in &files {
            for piece in source.split("text!(").skip(1) {
                let piece = piece.trim_start();
                // The macro's own definition and its documentation.
                let Some(rest) = piece.strip_prefix('"') else {
                    continue;
                };
                let key = rest.split('"').next().unwrap_or("");
                let is_key = |k: &str| {
                    !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                };
                if key == "key" || !is_key(key) {
                    continue;
                }
                used += 1;
                assert!(
                    known.contains(key),
                    "{path} uses `{key}`, which no catalogue has"
                );
            }
        }
        assert!(used >= 10, "only {used} messages in the code");
    }

    #[test]
    fn browsers_languages_are_negotiated_against_the_catalogues() {
        let pick = |h: &str| Language::negotiate(Some(h));
        assert_eq!(pick("zh-CN,zh;q=0.9,en;q=0.8"), Some(Language::ZhCn));
        for chinese in ["zh", "zh-Hans", "zh-SG", "zh-Hans-CN", "zh_CN"] {
            assert_eq!(pick(chinese), Some(Language::ZhCn), "{chinese}");
        }
        assert_eq!(pick("de-DE,en-US;q=0.5,zh;q=0.4"), Some(Language::En));
        assert_eq!(pick("de-DE,fr;q=0.5"), None);
        assert_eq!(pick("en;q=0, zh;q=0.1"), Some(Language::ZhCn));
        for hostile in ["", ";;;", "zh;q=abc", "zh;q=7", "\u{0}", "-", "*"] {
            assert_eq!(pick(hostile), None, "{hostile:?}");
        }
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("accept-language", "de,zh;q=0.5".parse().unwrap());
        assert_eq!(Language::choose(Some("en"), &headers, None), Language::En);
        assert_eq!(Language::choose(None, &headers, None), Language::ZhCn);
        assert_eq!(Language::choose(Some("xx"), &headers, None), Language::ZhCn);
        let german = axum::http::HeaderMap::from_iter([(
            axum::http::header::ACCEPT_LANGUAGE,
            "de".parse().unwrap(),
        )]);
        assert_eq!(
            Language::choose(None, &german, Some("zh-CN")),
            Language::ZhCn
        );
        assert_eq!(Language::choose(None, &german, None), Language::En);
    }

    #[test]
    fn messages_take_their_arguments() {
        let zh = Language::ZhCn;
        assert_eq!(
            Language::En.t_with("flash-view-saved", &[("name", "Hot leads".into())]),
            "View “Hot leads” saved."
        );
        assert!(
            zh.t_with("flash-view-saved", &[("name", "热门".into())])
                .contains("热门")
        );
        assert_eq!(Language::En.t("no-such-key"), "no-such-key");
        assert_eq!(Language::En.lookup("no-such-key"), None);
    }

    #[test]
    fn stamps_follow_the_zone_across_summer_time() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 29 March 2026: clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC.
        assert_eq!(
            Language::En.stamp(at("2026-03-29T00:30:00Z"), berlin),
            "2026-03-29 01:30"
        );
        assert_eq!(
            Language::En.stamp(at("2026-03-29T01:30:00Z"), berlin),
            "2026-03-29 03:30"
        );
        // 25 October 2026: clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC, so
        // 02:30 happens twice, an hour apart.
        assert_eq!(
            Language::En.stamp(at("2026-10-25T00:30:00Z"), berlin),
            "2026-10-25 02:30"
        );
        assert_eq!(
            Language::En.stamp(at("2026-10-25T01:30:00Z"), berlin),
            "2026-10-25 02:30"
        );
        assert_eq!(
            Language::En.stamp(at("2026-10-25T02:30:00Z"), berlin),
            "2026-10-25 03:30"
        );
        // New York: 8 March 2026, 02:00 EST → 03:00 EDT at 07:00 UTC; the day changes too.
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            Language::ZhCn.stamp(at("2026-03-08T06:59:00Z"), new_york),
            "2026年3月8日 01:59"
        );
        assert_eq!(
            Language::ZhCn.stamp(at("2026-03-08T07:00:00Z"), new_york),
            "2026年3月8日 03:00"
        );
        assert_eq!(
            Language::ZhCn.stamp(at("2026-03-08T03:00:00Z"), new_york),
            "2026年3月7日 22:00"
        );
    }
}
