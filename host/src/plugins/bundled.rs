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
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The embedded packages, checked like any package.
pub fn packages() -> Vec<Result<Package, PackageError>> {
    BUNDLED
        .iter()
        .map(|bundled| {
            let templates = (bundled.templates.iter())
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
                .collect();
            Package::from_parts(
                bundled.manifest.to_owned(),
                bundled.wasm.to_vec(),
                templates,
            )
        })
        .collect()
}
