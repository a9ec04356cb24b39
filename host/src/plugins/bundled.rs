//! The first-party plugins compiled into the binary (`plugins/*`, built and embedded by
//! `build.rs`): `kith serve` installs them at every start, so a server run from the binary
//! alone offers them to admins, who enable them per workspace.

use super::package::{Package, PackageError};

/// One embedded package.
pub struct Bundled {
    pub manifest: &'static str,
    pub wasm: &'static [u8],
    /// By name relative to `templates/`.
    pub templates: &'static [(&'static str, &'static str)],
    /// The catalogues (`locales/<lang>.ftl`) by language tag.
    pub locales: &'static [(&'static str, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The embedded packages, checked like any package.
pub fn packages() -> Vec<Result<Package, PackageError>> {
    BUNDLED
        .iter()
        .map(|bundled| {
            let owned = |files: &[(&str, &str)]| {
                (files.iter())
                    .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
                    .collect()
            };
            Package::from_parts(
                bundled.manifest.to_owned(),
                bundled.wasm.to_vec(),
                owned(bundled.templates),
                owned(bundled.locales),
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::packages;
    use crate::i18n::Language;
    use crate::plugins::messages::Messages;

    /// A first-party plugin speaks every language the web app does: each type, field, choice,
    /// panel and action it declares has its label in each.
    #[test]
    fn bundled_plugins_label_all_they_declare_in_every_language() {
        let packages: Vec<_> = packages().into_iter().map(Result::unwrap).collect();
        assert!(packages.iter().any(|p| p.manifest.id == "sales"));
        for package in packages {
            let manifest = &package.manifest;
            let messages = Messages::load(&package.locales);
            let mut keys = Vec::new();
            let declared = (manifest.entities.iter())
                .map(|e| (e.name.clone(), &e.fields))
                .chain(manifest.fields.iter().map(|(ty, f)| (ty.clone(), f)));
            for (ty, fields) in declared {
                if manifest.entities.iter().any(|e| e.name == ty) {
                    keys.push(format!("type-{ty}"));
                    keys.push(format!("type-{ty}-plural"));
                }
                for field in fields {
                    keys.push(format!("field-{ty}-{}", field.name));
                    for option in &field.options {
                        keys.push(format!("option-{ty}-{}-{}", field.name, option.value));
                    }
                }
            }
            keys.extend(manifest.panels.iter().map(|p| format!("panel-{}", p.name)));
            for action in &manifest.actions {
                keys.push(format!("action-{}", action.name));
                keys.extend(
                    action
                        .description
                        .iter()
                        .map(|_| format!("action-{}-description", action.name)),
                );
                for field in &action.fields {
                    keys.push(format!("action-{}-field-{}", action.name, field.name));
                }
            }
            for language in Language::ALL {
                let missing: Vec<&String> = keys
                    .iter()
                    .filter(|k| messages.own(language, k).is_none())
                    .collect();
                assert!(
                    missing.is_empty(),
                    "plugins/{}/locales/{}.ftl lacks {missing:?}",
                    manifest.id,
                    language.tag()
                );
            }
        }
    }
}
