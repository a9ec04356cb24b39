//! Embeds what the `kith` binary ships, so it needs no files beside it:
//!
//! - the bundled themes (`../themes/<name>/…`): `$OUT_DIR/themes.rs`, one `(path, bytes)`
//!   entry per file;
//! - the message catalogues (`locales/<lang>/*.ftl`): `$OUT_DIR/locales.rs`, one
//!   `(language, file, text)` entry per file;
//! - the first-party plugins (`../plugins/<name>/`, each a crate): built here for
//!   `wasm32-wasip2` (a nested `cargo build --release` into `target/wasm`, the folder `cargo
//!   xtask` builds every plugin into, so the two share their compiled dependencies) and
//!   embedded as packages — manifest, component, templates and catalogues (`locales/`) — in
//!   `$OUT_DIR/bundled.rs`.
//!
//! Any change under `themes/`, `locales/`, `plugins/` or `plugin-sdk/` rebuilds them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("the workspace root");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    themes(&root.join("themes"), &out_dir);
    locales(&manifest_dir.join("locales"), &out_dir);
    plugins(root, &out_dir);
}

fn themes(root: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut out = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        let relative = relative(path, root);
        // Only files inside a theme folder: themes/README.md is documentation.
        if !relative.contains('/') {
            continue;
        }
        let absolute = path.canonicalize().expect("theme file path");
        writeln!(out, "    ({relative:?}, include_bytes!({absolute:?})),").expect("write");
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("themes.rs"), out).expect("write themes.rs");
}

fn locales(root: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut out = String::from("pub static FILES: &[(&str, &str, &str)] = &[\n");
    for path in &files {
        let relative = relative(path, root);
        let Some((language, file)) = relative.split_once('/') else {
            continue;
        };
        if !file.ends_with(".ftl") {
            continue;
        }
        writeln!(
            out,
            "    ({language:?}, {file:?}, include_str!({:?})),",
            absolute(path)
        )
        .expect("write");
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("locales.rs"), out).expect("write locales.rs");
}

/// Builds every crate under `plugins/` for WebAssembly and writes `bundled.rs`: one
/// `Bundled { manifest, wasm, templates, locales }` per plugin.
fn plugins(root: &Path, out_dir: &Path) {
    let folder = root.join("plugins");
    for watched in [
        folder.clone(),
        root.join("plugin-sdk"),
        root.join("Cargo.lock"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let mut crates: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").exists() && p.join("plugin.toml").exists())
                .collect()
        })
        .unwrap_or_default();
    crates.sort();
    let names: Vec<String> = crates
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    let target_dir = root.join("target/wasm");
    if !names.is_empty() {
        build_wasm(root, &target_dir, &names);
    }
    let mut out = String::from("pub static BUNDLED: &[Bundled] = &[\n");
    for (dir, name) in crates.iter().zip(&names) {
        let wasm = target_dir.join(format!("{WASM_TARGET}/release/{name}.wasm"));
        let manifest = dir.join("plugin.toml");
        let mut templates = Vec::new();
        collect(&dir.join("templates"), &mut templates);
        templates.sort();
        writeln!(out, "    Bundled {{").expect("write");
        writeln!(
            out,
            "        manifest: include_str!({:?}),",
            absolute(&manifest)
        )
        .expect("write");
        writeln!(out, "        wasm: include_bytes!({:?}),", absolute(&wasm)).expect("write");
        writeln!(out, "        templates: &[").expect("write");
        for template in &templates {
            let name = relative(template, &dir.join("templates"));
            writeln!(
                out,
                "            ({name:?}, include_str!({:?})),",
                absolute(template)
            )
            .expect("write");
        }
        writeln!(out, "        ],\n        locales: &[").expect("write");
        let mut locales = Vec::new();
        collect(&dir.join("locales"), &mut locales);
        locales.sort();
        for catalogue in &locales {
            let file = relative(catalogue, &dir.join("locales"));
            // `locales/<lang>.ftl`, the package's format (other files are not catalogues).
            let Some(tag) = file.strip_suffix(".ftl").filter(|t| !t.contains('/')) else {
                continue;
            };
            writeln!(
                out,
                "            ({tag:?}, include_str!({:?})),",
                absolute(catalogue)
            )
            .expect("write");
        }
        writeln!(out, "        ],\n    }},").expect("write");
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("bundled.rs"), out).expect("write bundled.rs");
}

/// `cargo build --release --target wasm32-wasip2` of the plugin crates, into `target_dir`: a
/// cargo of its own, with nothing of the outer build's environment that would change what it
/// builds (its target folder, flags, a clippy wrapper).
fn build_wasm(root: &Path, target_dir: &Path, names: &[String]) {
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
    for name in names {
        command.args(["--package", name]);
    }
    for variable in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
    ] {
        command.env_remove(variable);
    }
    let status = command
        .status()
        .expect("cargo runs (to build the bundled plugins)");
    assert!(
        status.success(),
        "building the bundled plugins for {WASM_TARGET} failed (see above)"
    );
}

/// Installs the wasm32-wasip2 target with rustup when it is missing (a fresh toolchain).
fn ensure_wasm_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET)
        })
        .unwrap_or(true);
    if !installed {
        let added = Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            added,
            "the bundled plugins need the {WASM_TARGET} target: rustup target add {WASM_TARGET}"
        );
    }
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .expect("a file under its folder")
        .to_string_lossy()
        .replace('\\', "/")
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if !entry.file_name().to_string_lossy().starts_with('.') {
            files.push(path);
        }
    }
}
