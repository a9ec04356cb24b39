//! Panels in pages: a plugin's template rendered with the context it returned, always
//! HTML-escaped, and the result sanitised so that it carries no script, style, form or frame
//! into the page — whatever the template holds (its literal markup is the plugin author's,
//! and the panel runs in the signed-in person's session).

use std::sync::{Arc, LazyLock};

use minijinja::value::Kwargs;
use serde_json::Value as Json;

use super::messages::Messages;
use super::registry::Installed;
use crate::i18n::Language;
use crate::locale::Locale;

/// The markup a panel may contain: text structure, tables, lists, links and images, with
/// `class` (the theme's classes), `title`, `role` and `aria-*` attributes. No `id`, `name` or
/// `data-*` (the page's script acts on those), no `style`, no event handlers. Links get
/// `rel="noopener noreferrer"`.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_tags(["section", "caption", "meter", "progress"])
        .add_generic_attributes(["class", "title", "role"])
        .add_generic_attribute_prefixes(["aria-"])
        .add_tag_attributes("meter", ["value", "min", "max", "low", "high", "optimum"])
        .add_tag_attributes("progress", ["value", "max"])
        .add_tag_attributes("time", ["datetime"]);
    builder
});

/// Removes everything a panel may not contain (see [`SANITIZER`]).
pub fn sanitize(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

/// Where a render keeps the reader's figures format, for the `money` filter, and their
/// language, for `t` (names no plugin context can override: the host's values are merged
/// first).
const LOCALE_KEY: &str = "kith_locale";
const LANGUAGE_KEY: &str = "kith_lang";

/// A plugin's template environment: every template is HTML-escaped, whatever its file
/// extension, and rendering is fuel-limited. Templates get the host's filters and the plugin's
/// own messages:
/// - `{{ amount|money(currency) }}` writes an amount as the reader's language does
///   (`€12,500.50`, `12.500,50 €`);
/// - `{{ t("key", name=value) }}` is the message `key` of the plugin's catalogues
///   (`locales/<lang>.ftl`) in the reader's language, else in English, else the key: plain
///   text, escaped like any value. Only the plugin's own catalogues: never the host's.
pub fn environment(messages: Arc<Messages>) -> minijinja::Environment<'static> {
    let mut templates = minijinja::Environment::new();
    templates.set_fuel(Some(1_000_000));
    templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    templates.add_filter(
        "money",
        |state: &minijinja::State, amount: minijinja::Value, currency: Option<String>| {
            if amount.is_none() || amount.is_undefined() {
                return String::new();
            }
            let locale = state
                .lookup(LOCALE_KEY)
                .and_then(|l| l.as_str().map(Locale::of))
                .unwrap_or_default();
            locale.money(&amount.to_string(), currency.as_deref().unwrap_or(""))
        },
    );
    templates.add_function(
        "t",
        move |state: &minijinja::State, key: String, kwargs: Kwargs| {
            // An imported macro does not see the render's context: the thread's render does.
            let language = state
                .lookup(LANGUAGE_KEY)
                .and_then(|l| l.as_str().and_then(Language::parse))
                .or_else(crate::i18n::rendering)
                .unwrap_or_default();
            let args = crate::i18n::fluent_args(&kwargs)?;
            Ok::<_, minijinja::Error>(messages.t(language, &key, Some(&args)))
        },
    );
    templates
}

/// Renders a panel's template with the context a plugin returned, for a reader of `language`
/// whose figures are written as `locale` does, sanitised.
pub fn render(
    plugin: &Installed,
    template: &str,
    context: &str,
    language: Language,
    locale: Locale,
) -> Result<String, String> {
    let context: Json =
        serde_json::from_str(context).map_err(|e| format!("the panel context is not JSON: {e}"))?;
    if !context.is_object() {
        return Err("the panel context must be a JSON object".into());
    }
    let template = plugin
        .templates
        .get_template(template)
        .map_err(|e| format!("no template `{template}`: {e}"))?;
    let context = minijinja::context! {
        kith_locale => locale.language,
        kith_lang => language.tag(),
        ..minijinja::Value::from(minijinja::value::Serde(&context))
    };
    crate::i18n::rendering_in(language, || template.render(context))
        .map(|html| sanitize(&html))
        .map_err(|e| format!("the template failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn sanitize_keeps_the_themes_markup_and_drops_anything_active() {
        let kept = r#"<section class="summary"><h3>Deals</h3><table class="grid"><tbody><tr><th scope="col">Stage</th><td class="num">3</td></tr></tbody></table><p class="muted" aria-label="x">ok</p></section>"#;
        assert_eq!(sanitize(kept), kept);
        for (hostile, expected) in [
            (r#"<script src="/p/evil/r/js"></script>ok"#, "ok"),
            (r#"<img src="x" onerror="alert(1)">"#, r#"<img src="x">"#),
            (
                r#"<a href="javascript:alert(1)">x</a>"#,
                r#"<a rel="noopener noreferrer">x</a>"#,
            ),
            (r#"<style>body{display:none}</style>ok"#, "ok"),
            (r#"<link rel="stylesheet" href="/p/evil/r/css">ok"#, "ok"),
            (r#"<iframe src="/p/evil/r/page"></iframe>ok"#, "ok"),
            (
                r#"<form action="/api/v1/tokens" method="post"><button>go</button></form>"#,
                "go",
            ),
            (
                r#"<div id="record" data-plural="contacts" style="color:red">x</div>"#,
                "<div>x</div>",
            ),
            (r#"<svg><script>alert(1)</script></svg>ok"#, "ok"),
            (
                r#"<meta http-equiv="refresh" content="0;url=/logout">ok"#,
                "ok",
            ),
        ] {
            assert_eq!(sanitize(hostile), expected, "{hostile}");
        }
    }
}
