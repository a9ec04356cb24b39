//! Embeds the bundled themes (`../themes/<name>/…`) into the binary: writes
//! `$OUT_DIR/themes.rs` with one `(path, bytes)` entry per file, so `kith` needs no files
//! beside it, and any change under `themes/` rebuilds it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        let relative = path
            .strip_prefix(&root)
            .expect("a theme file lies under themes/")
            .to_string_lossy()
            .replace('\\', "/");
        // Only files inside a theme folder: themes/README.md is documentation.
        if !relative.contains('/') {
            continue;
        }
        let absolute = path.canonicalize().expect("theme file path");
        writeln!(out, "    ({relative:?}, include_bytes!({absolute:?})),").expect("write");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("themes.rs");
    std::fs::write(target, out).expect("write themes.rs");
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
