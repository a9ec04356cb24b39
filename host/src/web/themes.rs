//! Themes and each workspace's look.
//!
//! The bundled theme folders are compiled into the binary (see `build.rs`). A theme holds only
//! what it changes: templates and static files it lacks come from `default`. A workspace's look
//! is its theme, the tokens its admin changed, its uploaded logo and its template overrides;
//! looks are built once and cached until an admin changes them. Overrides are checked by
//! rendering every sample page before they are saved, and at run time a failing override
//! falls back to the theme's own template, so the live site never breaks.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use minijinja::Environment;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::model::{look, template_override};
use super::samples;
use crate::db::Db;
use crate::i18n::Language;
use crate::i18n::{Text, text};
use crate::ids::{WorkspaceId, hex};

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/themes.rs"));
}

/// The theme every workspace starts with, and the one every other theme falls back to.
pub const DEFAULT_THEME: &str = "default";
/// Instructions a template override may spend per render (minijinja fuel).
const OVERRIDE_FUEL: u64 = 20_000_000;
/// The longest template override accepted, in bytes.
pub const MAX_OVERRIDE_BYTES: usize = 256 * 1024;

/// What a design token holds, and so how its value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Color,
    Font,
    Length,
    Density,
}

/// The tokens a theme sets and an admin may change, in the order the settings page shows them.
pub const TOKENS: &[(&str, TokenKind, &str)] = &[
    ("color_bg", TokenKind::Color, "Page background"),
    ("color_surface", TokenKind::Color, "Cards and inputs"),
    ("color_text", TokenKind::Color, "Text"),
    ("color_muted", TokenKind::Color, "Secondary text"),
    ("color_border", TokenKind::Color, "Borders"),
    (
        "color_primary",
        TokenKind::Color,
        "Primary (links, buttons, focus)",
    ),
    ("color_primary_text", TokenKind::Color, "Text on primary"),
    ("color_danger", TokenKind::Color, "Danger"),
    ("color_success", TokenKind::Color, "Success"),
    ("color_warning", TokenKind::Color, "Warning"),
    ("font", TokenKind::Font, "Font stack"),
    ("radius", TokenKind::Length, "Corner radius"),
    ("density", TokenKind::Density, "Density"),
];

pub fn token_kind(name: &str) -> Option<TokenKind> {
    TOKENS.iter().find(|(n, ..)| *n == name).map(|(_, k, _)| *k)
}

/// Checks a token value, so nothing but a colour, a length, a font stack or a density can
/// reach the generated CSS.
pub fn check_token(name: &str, value: &str) -> Result<(), Text> {
    let kind = token_kind(name).ok_or_else(|| {
        let known: Vec<&str> = TOKENS.iter().map(|(n, ..)| *n).collect();
        text!(
            "api-web-unknown-token-use",
            name = name,
            known = known.join(", ")
        )
    })?;
    let ok = match kind {
        TokenKind::Color => {
            let hex = value.strip_prefix('#').unwrap_or("");
            (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        TokenKind::Font => {
            !value.trim().is_empty()
                && value.len() <= 200
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " ,-\"".contains(c))
        }
        TokenKind::Length => parse_length(value).is_some(),
        TokenKind::Density => density_space(value).is_some(),
    };
    if ok {
        Ok(())
    } else {
        let value = value.chars().take(64).collect::<String>();
        Err(match kind {
            TokenKind::Color => text!("api-web-token-not-colour", value = value),
            TokenKind::Font => text!("api-web-token-not-font", value = value),
            TokenKind::Length => text!("api-web-token-not-radius", value = value),
            TokenKind::Density => text!("api-web-token-not-density", value = value),
        })
    }
}

fn parse_length(value: &str) -> Option<f64> {
    let (number, max) = if let Some(n) = value.strip_suffix("px") {
        (n, 32.0)
    } else if let Some(n) = value.strip_suffix("rem") {
        (n, 2.0)
    } else {
        return None;
    };
    let valid = !number.is_empty()
        && number.len() <= 6
        && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    number
        .parse::<f64>()
        .ok()
        .filter(|n| valid && (0.0..=max).contains(n))
}

fn density_space(value: &str) -> Option<&'static str> {
    match value {
        "compact" => Some("6px"),
        "comfortable" => Some("8px"),
        "spacious" => Some("11px"),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeToml {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tokens: BTreeMap<String, String>,
}

/// One bundled theme, with `default`'s templates and static files filled in.
#[derive(Debug)]
pub struct Theme {
    /// The folder name (`default`, `dark`).
    pub name: String,
    pub title: String,
    pub description: String,
    pub tokens: BTreeMap<String, String>,
    /// The bundled logo file in `static/`, if any.
    pub logo: Option<String>,
    pub templates: BTreeMap<&'static str, &'static str>,
    statics: BTreeMap<&'static str, &'static [u8]>,
    /// A hash of the static files, for cache-busting URLs.
    pub version: String,
}

impl Theme {
    pub fn static_file(&self, path: &str) -> Option<&'static [u8]> {
        self.statics.get(path).copied()
    }
}

/// Reads the bundled themes. Errors name the file; they are build mistakes, caught by tests.
fn load_bundled() -> anyhow::Result<BTreeMap<String, Arc<Theme>>> {
    struct Folder {
        toml: Option<&'static [u8]>,
        templates: BTreeMap<&'static str, &'static str>,
        statics: BTreeMap<&'static str, &'static [u8]>,
    }
    let mut folders: BTreeMap<&str, Folder> = BTreeMap::new();
    for (path, bytes) in bundled::FILES {
        let Some((theme, rest)) = path.split_once('/') else {
            continue;
        };
        let folder = folders.entry(theme).or_insert_with(|| Folder {
            toml: None,
            templates: BTreeMap::new(),
            statics: BTreeMap::new(),
        });
        if rest == "theme.toml" {
            folder.toml = Some(bytes);
        } else if let Some(name) = rest.strip_prefix("templates/") {
            let source = std::str::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("themes/{path} is not UTF-8"))?;
            folder.templates.insert(name, source);
        } else if let Some(name) = rest.strip_prefix("static/") {
            folder.statics.insert(name, bytes);
        }
    }
    let default = folders
        .get(DEFAULT_THEME)
        .ok_or_else(|| anyhow::anyhow!("the default theme is missing from themes/"))?;
    let (base_templates, base_statics) = (default.templates.clone(), default.statics.clone());
    let mut themes = BTreeMap::new();
    for (name, folder) in folders {
        let toml = folder
            .toml
            .ok_or_else(|| anyhow::anyhow!("themes/{name}/theme.toml is missing"))?;
        let parsed: ThemeToml =
            toml::from_slice(toml).map_err(|e| anyhow::anyhow!("themes/{name}/theme.toml: {e}"))?;
        let mut tokens = parsed.tokens;
        let logo = tokens.remove("logo").filter(|l| !l.is_empty());
        for (token, value) in &tokens {
            check_token(token, value)
                .map_err(|e| anyhow::anyhow!("themes/{name}/theme.toml: {e}"))?;
        }
        let mut templates = base_templates.clone();
        templates.extend(folder.templates);
        let mut statics = base_statics.clone();
        statics.extend(folder.statics);
        if let Some(logo) = &logo
            && !statics.contains_key(logo.as_str())
        {
            anyhow::bail!("themes/{name}/theme.toml: the logo `{logo}` is not in static/");
        }
        let mut hash = Sha256::new();
        for (file, bytes) in &statics {
            hash.update(file.as_bytes());
            hash.update(bytes);
        }
        let version = hex(&hash.finalize()[..6]);
        themes.insert(
            name.to_owned(),
            Arc::new(Theme {
                name: name.to_owned(),
                title: parsed.name,
                description: parsed.description,
                tokens,
                logo,
                templates,
                statics,
                version,
            }),
        );
    }
    Ok(themes)
}

fn environment(
    theme: &Theme,
    overrides: &BTreeMap<String, String>,
) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Pages outside a workspace (login) lack its globals; a missing value prints as nothing.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    // `t("key", name=value)`: the message catalogue, in the page's language (overrides too).
    env.add_function("t", crate::i18n::template_t);
    for (name, source) in &theme.templates {
        if !overrides.contains_key(*name) {
            env.add_template(name, source)?;
        }
    }
    for (name, source) in overrides {
        env.add_template_owned(name.clone(), source.clone())?;
    }
    if !overrides.is_empty() {
        env.set_fuel(Some(OVERRIDE_FUEL));
    }
    Ok(env)
}

/// A workspace's look: what every page it renders is made with.
pub struct Look {
    pub theme: Arc<Theme>,
    /// The theme's tokens with the workspace's changes.
    pub tokens: BTreeMap<String, String>,
    /// The tokens the workspace changed.
    pub changed: BTreeMap<String, String>,
    pub overrides: BTreeMap<String, String>,
    /// The generated `/theme.css` and its ETag.
    pub css: String,
    pub css_tag: String,
    /// An uploaded logo (bytes, content type) and its ETag.
    pub logo: Option<(Vec<u8>, String, String)>,
    /// The workspace's default language: pages read in it when neither the reader's setting
    /// nor their browser chooses one (`i18n::Language::choose`).
    pub language: Option<Language>,
    live: Environment<'static>,
    base: Arc<Environment<'static>>,
}

impl Look {
    /// Renders a template; a failing override falls back to the theme's own template.
    pub fn render(
        &self,
        name: &str,
        context: minijinja::Value,
    ) -> Result<String, minijinja::Error> {
        let lang = context
            .get_attr("lang")
            .ok()
            .and_then(|l| l.as_str().and_then(crate::i18n::Language::parse))
            .unwrap_or_default();
        crate::i18n::rendering_in(lang, || {
            let rendered = self
                .live
                .get_template(name)
                .and_then(|t| t.render(&context));
            match rendered {
                Ok(html) => Ok(html),
                Err(error) if !self.overrides.is_empty() => {
                    tracing::warn!(template = name, error = %format!("{error:#}"), "template override failed; rendering the theme's own");
                    self.base.get_template(name)?.render(&context)
                }
                Err(error) => Err(error),
            }
        })
    }

    pub fn logo_url(&self) -> String {
        match (&self.logo, &self.theme.logo) {
            (Some((_, _, tag)), _) => format!("/theme/logo?v={tag}"),
            (None, Some(file)) => format!(
                "/static/{}/{file}?v={}",
                self.theme.name, self.theme.version
            ),
            (None, None) => String::new(),
        }
    }
}

/// The bundled themes, each with its compiled templates.
struct Bundle {
    themes: BTreeMap<String, Arc<Theme>>,
    base: BTreeMap<String, Arc<Environment<'static>>>,
}

/// The bundled themes and the looks of the workspaces served so far.
pub struct Themes {
    bundle: Bundle,
    looks: RwLock<HashMap<WorkspaceId, Arc<Look>>>,
    /// The default theme as shipped (pages outside any workspace).
    plain: Arc<Look>,
}

impl Themes {
    pub fn load() -> anyhow::Result<Themes> {
        // Templates call `t`: parse the catalogues now, so a broken one logs at startup.
        crate::i18n::load();
        let themes = load_bundled()?;
        let mut base = BTreeMap::new();
        for (name, theme) in &themes {
            let env = environment(theme, &BTreeMap::new())
                .map_err(|e| anyhow::anyhow!("themes/{name}: {e:#}"))?;
            base.insert(name.clone(), Arc::new(env));
        }
        let bundle = Bundle { themes, base };
        let plain = bundle
            .build(DEFAULT_THEME, BTreeMap::new(), BTreeMap::new(), None)
            .map_err(|e| anyhow::anyhow!("themes/{DEFAULT_THEME}: {e}"))?;
        Ok(Themes {
            bundle,
            looks: RwLock::new(HashMap::new()),
            plain: Arc::new(plain),
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Theme>> {
        self.bundle.themes.values()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Theme>> {
        self.bundle.themes.get(name)
    }

    /// The look of pages outside any workspace (the login page): the default theme as shipped.
    pub fn plain(&self) -> Arc<Look> {
        self.plain.clone()
    }

    /// A workspace's look, from the cache or the database.
    pub async fn look(&self, db: &Db, workspace: WorkspaceId) -> Result<Arc<Look>, sea_orm::DbErr> {
        if let Some(look) = self.cached(workspace) {
            return Ok(look);
        }
        let row = look::Entity::find_by_id(workspace.0).one(&db.read).await?;
        let overrides: BTreeMap<String, String> = template_override::Entity::find()
            .filter(template_override::Column::WorkspaceId.eq(workspace.0))
            .all(&db.read)
            .await?
            .into_iter()
            .map(|o| (o.name, o.source))
            .collect();
        let language = row
            .as_ref()
            .and_then(|row| row.language.as_deref())
            .and_then(Language::parse);
        let (theme, changed, logo) = match row {
            Some(row) => (
                row.theme,
                serde_json::from_value(row.tokens).unwrap_or_default(),
                row.logo.zip(row.logo_type),
            ),
            None => (DEFAULT_THEME.to_owned(), BTreeMap::new(), None),
        };
        let look = match self.build(&theme, changed.clone(), overrides, logo.clone()) {
            Ok(look) => look,
            Err(error) => {
                // Saved overrides were checked; a theme that changed under them since
                // (an upgrade) must not take the workspace's pages down.
                tracing::warn!(%workspace, error = %error, "stored look does not build; using the theme alone");
                self.build(&theme, changed, BTreeMap::new(), logo)
                    .or_else(|_| self.build(DEFAULT_THEME, BTreeMap::new(), BTreeMap::new(), None))
                    .map_err(sea_orm::DbErr::Custom)?
            }
        };
        let look = Arc::new(Look { language, ..look });
        if let Ok(mut looks) = self.looks.write() {
            looks.insert(workspace, look.clone());
        }
        Ok(look)
    }

    fn cached(&self, workspace: WorkspaceId) -> Option<Arc<Look>> {
        self.looks.read().ok()?.get(&workspace).cloned()
    }

    /// Drops a workspace's cached look after its admin changed it.
    pub fn forget(&self, workspace: WorkspaceId) {
        if let Ok(mut looks) = self.looks.write() {
            looks.remove(&workspace);
        }
    }

    /// Builds a look; with overrides, every sample page must render.
    pub fn build(
        &self,
        theme: &str,
        changed: BTreeMap<String, String>,
        overrides: BTreeMap<String, String>,
        logo: Option<(Vec<u8>, String)>,
    ) -> Result<Look, String> {
        self.bundle.build(theme, changed, overrides, logo)
    }
}

impl Bundle {
    fn build(
        &self,
        theme: &str,
        changed: BTreeMap<String, String>,
        overrides: BTreeMap<String, String>,
        logo: Option<(Vec<u8>, String)>,
    ) -> Result<Look, String> {
        let theme = self
            .themes
            .get(theme)
            .or_else(|| self.themes.get(DEFAULT_THEME))
            .ok_or("no default theme")?
            .clone();
        let base = self
            .base
            .get(&theme.name)
            .ok_or("no theme environment")?
            .clone();
        let live = environment(&theme, &overrides).map_err(|e| format!("{e:#}"))?;
        if !overrides.is_empty() {
            for (template, context) in samples::pages() {
                live.get_template(template)
                    .and_then(|t| t.render(&context))
                    .map_err(|e| format!("rendering {template} with sample data failed: {e:#}"))?;
            }
        }
        let mut tokens = theme.tokens.clone();
        tokens.extend(
            changed
                .iter()
                .filter(|(k, v)| check_token(k, v).is_ok())
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let css = theme_css(&tokens);
        let css_tag = short_hash(css.as_bytes());
        let logo = logo.map(|(bytes, kind)| {
            let tag = short_hash(&bytes);
            (bytes, kind, tag)
        });
        Ok(Look {
            theme,
            tokens,
            changed,
            overrides,
            css,
            css_tag,
            logo,
            language: None,
            live,
            base,
        })
    }
}

/// 12 hex digits of a SHA-256: an ETag or a cache-busting version.
fn short_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes)[..6])
}

/// The CSS custom properties of a look's tokens (values are checked by `check_token`).
pub fn theme_css(tokens: &BTreeMap<String, String>) -> String {
    let mut css = String::from(":root{");
    for (name, value) in tokens {
        match token_kind(name) {
            Some(TokenKind::Density) => {
                let _ = write!(css, "--space:{};", density_space(value).unwrap_or("8px"));
            }
            Some(_) => {
                let _ = write!(css, "--{}:{value};", name.replace('_', "-"));
            }
            None => {}
        }
    }
    let dark = tokens.get("color_bg").is_some_and(|bg| luminance(bg) < 0.4);
    let _ = write!(
        css,
        "color-scheme:{};}}",
        if dark { "dark" } else { "light" }
    );
    css.push('\n');
    css
}

/// Relative luminance of a `#rgb`/`#rrggbb` colour, 0 (black) to 1 (white).
fn luminance(color: &str) -> f64 {
    let hex = color.trim_start_matches('#');
    let expanded: String = if hex.len() == 3 {
        hex.chars().flat_map(|c| [c, c]).collect()
    } else {
        hex.to_owned()
    };
    let channel = |i: usize| {
        let v = f64::from(
            u8::from_str_radix(expanded.get(i..i + 2).unwrap_or("ff"), 16).unwrap_or(255),
        ) / 255.0;
        if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bundled_themes_load_and_compile() {
        let themes = Themes::load().unwrap();
        assert!(themes.get("default").is_some());
        assert!(themes.get("dark").is_some());
        for theme in themes.all() {
            for (name, ..) in TOKENS {
                assert!(
                    theme.tokens.contains_key(*name),
                    "theme {} lacks {name}",
                    theme.name
                );
            }
        }
    }

    #[test]
    fn every_key_a_template_uses_is_in_the_catalogues() {
        let themes = Themes::load().unwrap();
        let known: std::collections::BTreeSet<String> =
            crate::i18n::keys(crate::i18n::Language::En)
                .into_iter()
                .collect();
        let mut used = 0;
        for theme in themes.all() {
            for (name, source) in &theme.templates {
                for quote in ['"', '\''] {
                    let call = format!("t({quote}");
                    for piece in source.split(&call).skip(1) {
                        let key = piece.split(quote).next().unwrap_or("");
                        // `t("roles-op-" ~ op)` builds its key: the part before is a prefix.
                        let prefix = piece[key.len() + 1..].trim_start().starts_with('~');
                        used += 1;
                        assert!(
                            if prefix {
                                known.iter().any(|k| k.starts_with(key))
                            } else {
                                known.contains(key)
                            },
                            "themes/{}/templates/{name} uses `{key}`, which no catalogue has",
                            theme.name
                        );
                    }
                }
            }
        }
        assert!(used > 300, "only {used} messages in the templates");
    }

    #[test]
    fn templates_are_in_the_pages_language() {
        let themes = Themes::load().unwrap();
        let look = themes.plain();
        let (_, context) = samples::pages()
            .into_iter()
            .find(|(t, _)| *t == "home.html")
            .unwrap();
        let html = look.render("home.html", context.clone()).unwrap();
        assert!(html.contains("<html lang=\"en\">") && html.contains("My day"));
        let chinese = minijinja::context! { lang => "zh-CN", ..context };
        let html = look.render("home.html", chinese).unwrap();
        assert!(
            html.contains("<html lang=\"zh-CN\">") && html.contains("我的一天"),
            "{html}"
        );
        // …and so are the imported macros' (a task's box), which cannot see `lang`.
        assert!(
            html.contains("标记为已完成") || html.contains("标记为未完成"),
            "{html}"
        );
        assert!(!html.contains("My day"));
    }

    #[test]
    fn tokens_refuse_anything_but_their_kind() {
        assert!(check_token("color_bg", "#fff").is_ok());
        assert!(check_token("color_bg", "#a1b2c3").is_ok());
        for bad in ["red", "#ggg", "#1234", "#fff;}body{x:y", ""] {
            assert!(check_token("color_bg", bad).is_err(), "{bad}");
        }
        assert!(check_token("radius", "6px").is_ok());
        assert!(check_token("radius", "0.5rem").is_ok());
        for bad in ["33px", "6", "6em", "-1px", "1e3px", "6px;x"] {
            assert!(check_token("radius", bad).is_err(), "{bad}");
        }
        assert!(check_token("font", "\"Inter\", system-ui, sans-serif").is_ok());
        assert!(check_token("font", "x;}*{display:none").is_err());
        assert!(check_token("font", "url(x)").is_err());
        assert!(check_token("density", "compact").is_ok());
        assert!(check_token("density", "tight").is_err());
        assert!(check_token("logo", "x.svg").is_err());
    }

    #[test]
    fn theme_css_names_every_token_and_marks_dark_themes() {
        let themes = Themes::load().unwrap();
        let dark = theme_css(&themes.get("dark").unwrap().tokens);
        assert!(dark.contains("color-scheme:dark"), "{dark}");
        let light = theme_css(&themes.get("default").unwrap().tokens);
        assert!(light.contains("color-scheme:light"), "{light}");
        assert!(light.contains("--color-primary:"));
        assert!(light.contains("--space:"));
        assert!(light.contains("--radius:"));
    }

    #[test]
    fn an_override_that_does_not_compile_or_render_is_refused() {
        let themes = Themes::load().unwrap();
        let broken = BTreeMap::from([("home.html".to_owned(), "{% if %}".to_owned())]);
        let error = themes
            .build("default", BTreeMap::new(), broken, None)
            .err()
            .unwrap();
        assert!(error.contains("home.html"), "{error}");
        let failing = BTreeMap::from([(
            "home.html".to_owned(),
            "{% extends \"layout.html\" %}{% block content %}{{ 1 / 0 }}{% endblock %}".to_owned(),
        )]);
        let error = themes
            .build("default", BTreeMap::new(), failing, None)
            .err()
            .unwrap();
        assert!(error.contains("sample"), "{error}");
        let endless = BTreeMap::from([(
            "home.html".to_owned(),
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
                .to_owned(),
        )]);
        assert!(
            themes
                .build("default", BTreeMap::new(), endless, None)
                .is_err()
        );
        let fine = BTreeMap::from([(
            "home.html".to_owned(),
            "{% extends \"layout.html\" %}{% block content %}<p class=custom>Hello {{ user.name }}</p>{% endblock %}".to_owned(),
        )]);
        let look = themes
            .build("default", BTreeMap::new(), fine, None)
            .unwrap();
        let (_, context) = samples::pages()
            .into_iter()
            .find(|(t, _)| *t == "home.html")
            .unwrap();
        assert!(
            look.render("home.html", context)
                .unwrap()
                .contains("<p class=custom>Hello")
        );
    }
}
