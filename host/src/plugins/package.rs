//! Plugin packages (DESIGN §4): a directory, or a `.tar.gz` / `.tgz` archive of one, holding
//! `plugin.toml`, `plugin.wasm` and optionally `templates/` and `locales/` (the message
//! catalogues, `<lang>.ftl`: see `messages`). Loading a package runs every check that needs no
//! workspace — sizes, the component preamble, the API version the SDK embedded, the manifest,
//! the templates compiling, the catalogues parsing and agreeing — so a bad package is refused
//! naming the file at fault, before anything is stored or compiled. Archives are read in
//! memory, never unpacked.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::wasmparser::{Parser, Payload};

use super::manifest::{
    MANIFEST_FILE, Manifest, ManifestError, check_api_version, check_template_path,
};
use super::messages::{
    self, CATALOGUE_EXTENSION, LOCALES_DIR, MAX_CATALOGUE_BYTES, MAX_CATALOGUES,
};
use crate::ids::hex;

pub const WASM_FILE: &str = "plugin.wasm";
pub const TEMPLATES_DIR: &str = "templates";
/// Largest `plugin.toml`.
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024;
/// Largest `plugin.wasm`.
pub const MAX_WASM_BYTES: u64 = 32 * 1024 * 1024;
/// Most template files.
pub const MAX_TEMPLATES: usize = 200;
/// Largest sum of the templates' sizes.
pub const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// Largest uncompressed archive (the whole tar stream), so a decompression bomb is refused.
pub const MAX_ARCHIVE_BYTES: u64 = 40 * 1024 * 1024;
/// Endings of the files of `templates/` (other files there are ignored).
pub const TEMPLATE_EXTENSIONS: [&str; 4] = [".html", ".txt", ".j2", ".jinja"];
/// The custom section in which the SDK records the plugin API a component was built against.
pub const API_VERSION_SECTION: &str = "kith:api-version";

/// Deepest folder nesting read under `templates/`.
const MAX_TEMPLATE_DEPTH: usize = 16;
const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer of a component binary (layer 1).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
/// Version and layer of a core module (version 1, layer 0).
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// A checked plugin package.
#[derive(Clone, PartialEq)]
pub struct Package {
    pub manifest: Manifest,
    /// `plugin.toml` as written, kept so a stored package can be checked again.
    pub manifest_text: String,
    pub wasm: Vec<u8>,
    /// Template sources by name relative to `templates/` (`panels/deal.html`).
    pub templates: BTreeMap<String, String>,
    /// Catalogue sources (Fluent) by language tag: `locales/zh-CN.ftl` is `zh-CN`.
    pub locales: BTreeMap<String, String>,
    /// Lowercase hex SHA-256 of `wasm`.
    pub sha256: String,
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the wasm bytes: a package can end up in a log line.
        f.debug_struct("Package")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version)
            .field("wasm_bytes", &self.wasm.len())
            .field("templates", &self.templates.keys().collect::<Vec<_>>())
            .field("locales", &self.locales.keys().collect::<Vec<_>>())
            .field("sha256", &self.sha256)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{package}: missing {file}")]
    Missing { package: String, file: String },
    #[error("{file}: more than {limit}")]
    TooLarge { file: String, limit: &'static str },
    #[error(
        "{file} is a core WebAssembly module, not a component: build with --target wasm32-wasip2"
    )]
    CoreModule { file: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

fn invalid(file: impl Into<String>, message: impl Into<String>) -> PackageError {
    PackageError::Invalid {
        file: file.into(),
        message: message.into(),
    }
}

/// Where a package's files come from, to name them in errors.
enum Origin {
    Dir(PathBuf),
    /// The archive (as named in errors) and the folder inside it holding the package (`""`
    /// or `hello/`).
    Archive(String, String),
    /// `Package::from_parts`: plain names.
    Parts,
}

impl Origin {
    fn package(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::Archive(archive, _) => archive.clone(),
            Self::Parts => "package".to_owned(),
        }
    }

    fn file(&self, name: &str) -> String {
        match self {
            Self::Dir(dir) => dir.join(name).display().to_string(),
            Self::Archive(archive, prefix) => format!("{archive}!/{prefix}{name}"),
            Self::Parts => name.to_owned(),
        }
    }
}

/// The package's files as read, before any check but their sizes.
struct Files {
    manifest: Option<Vec<u8>>,
    wasm: Option<Vec<u8>>,
    /// By name relative to `templates/`.
    templates: BTreeMap<String, Vec<u8>>,
    /// By language tag (the file name without `.ftl`).
    locales: BTreeMap<String, Vec<u8>>,
}

impl Package {
    /// Loads and checks the package at `path`: a directory or a `.tar.gz` / `.tgz` archive.
    pub fn load(path: &Path) -> Result<Package, PackageError> {
        Self::load_as(path, &path.display().to_string())
    }

    /// Loads an archive that errors name `shown` rather than its path (an upload kept in a
    /// temporary file, whose path is the server's business).
    pub fn load_archive_as(path: &Path, shown: &str) -> Result<Package, PackageError> {
        let (files, origin) = read_archive(path, shown)?;
        Self::from_files(files, &origin)
    }

    fn load_as(path: &Path, shown: &str) -> Result<Package, PackageError> {
        let shown = shown.to_owned();
        let metadata = fs::metadata(path).map_err(|source| PackageError::Io {
            file: shown.clone(),
            source,
        })?;
        if metadata.is_dir() {
            let origin = Origin::Dir(path.to_owned());
            let files = read_dir_package(path, &origin)?;
            return Self::from_files(files, &origin);
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            let (files, origin) = read_archive(path, &shown)?;
            return Self::from_files(files, &origin);
        }
        Err(invalid(
            shown,
            "a plugin package is a directory or a .tar.gz / .tgz archive",
        ))
    }

    /// Rebuilds a package from its parts (as the host stores them), with the same checks.
    pub fn from_parts(
        manifest_text: String,
        wasm: Vec<u8>,
        templates: BTreeMap<String, String>,
        locales: BTreeMap<String, String>,
    ) -> Result<Package, PackageError> {
        Self::check(manifest_text, wasm, templates, locales, &Origin::Parts)
    }

    fn from_files(files: Files, origin: &Origin) -> Result<Package, PackageError> {
        let missing = |file: &str| PackageError::Missing {
            package: origin.package(),
            file: file.to_owned(),
        };
        let manifest = files.manifest.ok_or_else(|| missing(MANIFEST_FILE))?;
        let wasm = files.wasm.ok_or_else(|| missing(WASM_FILE))?;
        let manifest_text = String::from_utf8(manifest)
            .map_err(|_| invalid(origin.file(MANIFEST_FILE), "not valid UTF-8"))?;
        let mut templates = BTreeMap::new();
        for (name, bytes) in files.templates {
            let file = origin.file(&format!("{TEMPLATES_DIR}/{name}"));
            let source = String::from_utf8(bytes).map_err(|_| invalid(file, "not valid UTF-8"))?;
            templates.insert(name, source);
        }
        let mut locales = BTreeMap::new();
        for (tag, bytes) in files.locales {
            let file = origin.file(&messages::file_of(&tag));
            let source = String::from_utf8(bytes).map_err(|_| invalid(file, "not valid UTF-8"))?;
            locales.insert(tag, source);
        }
        Self::check(manifest_text, wasm, templates, locales, origin)
    }

    fn check(
        manifest_text: String,
        wasm: Vec<u8>,
        templates: BTreeMap<String, String>,
        locales: BTreeMap<String, String>,
        origin: &Origin,
    ) -> Result<Package, PackageError> {
        let manifest_file = origin.file(MANIFEST_FILE);
        check_size(
            manifest_text.as_bytes(),
            MAX_MANIFEST_BYTES,
            "256 KiB",
            &manifest_file,
        )?;
        let manifest =
            Manifest::parse(&manifest_text).map_err(|error| error.in_file(&manifest_file))?;
        check_wasm(&wasm, &origin.file(WASM_FILE))?;
        if let Ok(Some(built)) = api_version_of(&wasm)
            && built != manifest.api_version
        {
            return Err(invalid(
                manifest_file,
                format!(
                    "api_version: `{}`, but plugin.wasm was built against plugin API {built} \
                     (plugin-sdk's API_VERSION): set api_version = \"{built}\"",
                    manifest.api_version
                ),
            ));
        }
        check_templates(&templates, origin)?;
        for (i, panel) in manifest.panels.iter().enumerate() {
            if !templates.contains_key(&panel.template) {
                return Err(invalid(
                    manifest_file,
                    format!(
                        "panels[{i}].template: `{}` is not in {TEMPLATES_DIR}/ (templates end \
                         in .html, .txt, .j2 or .jinja)",
                        panel.template
                    ),
                ));
            }
        }
        check_locales(&locales, &manifest, &templates, origin)?;
        let sha256 = hex(&Sha256::digest(&wasm));
        Ok(Package {
            manifest,
            manifest_text,
            wasm,
            templates,
            locales,
            sha256,
        })
    }
}

/// Reads the `kith:api-version` custom section (UTF-8 text) of a component or module, looking
/// into nested modules and components too; `Ok(None)` when there is none.
pub fn api_version_of(wasm: &[u8]) -> Result<Option<String>, String> {
    let mut found: Option<String> = None;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly binary: {e}"))?;
        let Payload::CustomSection(section) = payload else {
            continue;
        };
        if section.name() != API_VERSION_SECTION {
            continue;
        }
        let text = std::str::from_utf8(section.data())
            .map_err(|_| format!("the `{API_VERSION_SECTION}` section is not UTF-8"))?
            .trim_matches(|c: char| c.is_whitespace() || c == '\0');
        match &found {
            Some(earlier) if earlier != text => {
                return Err(format!(
                    "the `{API_VERSION_SECTION}` sections disagree: `{earlier}` and `{text}`"
                ));
            }
            _ => found = Some(text.to_owned()),
        }
    }
    Ok(found)
}

fn check_size(bytes: &[u8], max: u64, limit: &'static str, file: &str) -> Result<(), PackageError> {
    if bytes.len() as u64 > max {
        Err(PackageError::TooLarge {
            file: file.to_owned(),
            limit,
        })
    } else {
        Ok(())
    }
}

fn check_wasm(wasm: &[u8], file: &str) -> Result<(), PackageError> {
    check_size(wasm, MAX_WASM_BYTES, "32 MiB", file)?;
    if wasm.len() < 8 || &wasm[..4] != WASM_MAGIC {
        return Err(invalid(file, "not a WebAssembly file"));
    }
    match <[u8; 4]>::try_from(&wasm[4..8]) {
        Ok(COMPONENT_VERSION) => {}
        Ok(CORE_MODULE_VERSION) => {
            return Err(PackageError::CoreModule {
                file: file.to_owned(),
            });
        }
        _ => {
            return Err(invalid(
                file,
                "an unknown WebAssembly version: expected a component (build with --target \
                 wasm32-wasip2)",
            ));
        }
    }
    let Some(text) = api_version_of(wasm).map_err(|message| invalid(file, message))? else {
        return Ok(());
    };
    check_api_version(&text).map_err(|message| {
        invalid(
            file,
            format!("its `{API_VERSION_SECTION}` section does not fit this host: {message}"),
        )
    })
}

fn is_template_name(name: &str) -> bool {
    TEMPLATE_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

fn check_templates(
    templates: &BTreeMap<String, String>,
    origin: &Origin,
) -> Result<(), PackageError> {
    let folder = origin.file(&format!("{TEMPLATES_DIR}/"));
    if templates.len() > MAX_TEMPLATES {
        return Err(PackageError::TooLarge {
            file: folder,
            limit: "200 templates",
        });
    }
    let total: usize = templates.values().map(String::len).sum();
    if total as u64 > MAX_TEMPLATE_BYTES {
        return Err(PackageError::TooLarge {
            file: folder,
            limit: "1 MiB of templates",
        });
    }
    let mut env = minijinja::Environment::new();
    for (name, source) in templates {
        let file = origin.file(&format!("{TEMPLATES_DIR}/{name}"));
        check_template_path(name).map_err(|message| invalid(&file, message))?;
        if !is_template_name(name) {
            return Err(invalid(file, "templates end in .html, .txt, .j2 or .jinja"));
        }
        if let Err(error) = env.add_template(name, source) {
            let at = match error.line() {
                Some(line) => format!("{file}:{line}"),
                None => file,
            };
            let message = match error.detail() {
                Some(detail) => format!("{}: {detail}", error.kind()),
                None => error.kind().to_string(),
            };
            return Err(invalid(at, message));
        }
    }
    Ok(())
}

/// Checks the catalogues: their number and size here, the rest in `messages::check` (language
/// tags, Fluent syntax, the same keys everywhere, labels, the keys templates use).
fn check_locales(
    locales: &BTreeMap<String, String>,
    manifest: &Manifest,
    templates: &BTreeMap<String, String>,
    origin: &Origin,
) -> Result<(), PackageError> {
    let folder = origin.file(&format!("{LOCALES_DIR}/"));
    if locales.len() > MAX_CATALOGUES {
        return Err(PackageError::TooLarge {
            file: folder,
            limit: "32 catalogues",
        });
    }
    let total: usize = locales.values().map(String::len).sum();
    if total as u64 > MAX_CATALOGUE_BYTES {
        return Err(PackageError::TooLarge {
            file: folder,
            limit: "1 MiB of catalogues",
        });
    }
    messages::check(locales, manifest, templates).map_err(|problem| {
        let file = origin.file(&problem.file);
        let at = match problem.line {
            Some(line) => format!("{file}:{line}"),
            None => file,
        };
        invalid(at, problem.message)
    })
}

/// The language tag a file of `locales/` is a catalogue of: `zh-CN.ftl` → `zh-CN`; `None`
/// for files that are not catalogues (hidden ones, other endings), which are ignored.
fn catalogue_tag(file_name: &str) -> Option<&str> {
    if file_name.starts_with('.') {
        return None;
    }
    file_name
        .strip_suffix(CATALOGUE_EXTENSION)
        .filter(|tag| !tag.is_empty())
}

fn io_error(file: &Path) -> impl FnOnce(io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        file: file.display().to_string(),
        source,
    }
}

/// Refuses a symbolic link in a directory package: it could name any file of the machine
/// that installs it (an archive refuses links too).
fn refuse_link(path: &Path) -> Result<(), PackageError> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => Err(invalid(
            path.display().to_string(),
            "a symbolic link: a package holds files and folders, not links",
        )),
        _ => Ok(()),
    }
}

/// Reads at most `max` bytes of a file of a directory package; `None` when it does not exist.
fn read_file(path: &Path, max: u64, limit: &'static str) -> Result<Option<Vec<u8>>, PackageError> {
    refuse_link(path)?;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    if file.metadata().map_err(io_error(path))?.is_dir() {
        return Err(invalid(path.display().to_string(), "a folder, not a file"));
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    check_size(&bytes, max, limit, &path.display().to_string())?;
    Ok(Some(bytes))
}

fn read_dir_package(dir: &Path, origin: &Origin) -> Result<Files, PackageError> {
    let manifest = read_file(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES, "256 KiB")?;
    let wasm = read_file(&dir.join(WASM_FILE), MAX_WASM_BYTES, "32 MiB")?;
    let mut templates = BTreeMap::new();
    let folder = dir.join(TEMPLATES_DIR);
    refuse_link(&folder)?;
    match fs::metadata(&folder) {
        Ok(metadata) if metadata.is_dir() => {
            let mut budget = MAX_TEMPLATE_BYTES;
            read_template_dir(&folder, "", 0, &mut budget, &mut templates, origin)?;
        }
        Ok(_) => return Err(invalid(origin.file(TEMPLATES_DIR), "not a folder")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(&folder)(error)),
    }
    let locales = read_locales_dir(&dir.join(LOCALES_DIR), origin)?;
    Ok(Files {
        manifest,
        wasm,
        templates,
        locales,
    })
}

/// Reads the catalogues of a directory package's `locales/` (`<lang>.ftl` files; hidden files
/// and other endings are skipped; a folder or a symbolic link there is refused).
fn read_locales_dir(
    folder: &Path,
    origin: &Origin,
) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    let mut locales = BTreeMap::new();
    refuse_link(folder)?;
    match fs::metadata(folder) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => return Err(invalid(origin.file(LOCALES_DIR), "not a folder")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(locales),
        Err(error) => return Err(io_error(folder)(error)),
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(folder).map_err(io_error(folder))? {
        entries.push(entry.map_err(io_error(folder))?.path());
    }
    entries.sort();
    let mut budget = MAX_CATALOGUE_BYTES;
    for path in entries {
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(invalid(path.display().to_string(), "the name is not UTF-8"));
        };
        refuse_link(&path)?;
        let metadata = fs::metadata(&path).map_err(io_error(&path))?;
        if metadata.is_dir() {
            if file_name.starts_with('.') {
                continue;
            }
            return Err(invalid(
                origin.file(&format!("{LOCALES_DIR}/{file_name}")),
                "a folder: a catalogue is one file, locales/<lang>.ftl (locales/zh-CN.ftl)",
            ));
        }
        let Some(tag) = catalogue_tag(file_name).filter(|_| metadata.is_file()) else {
            continue;
        };
        if locales.len() == MAX_CATALOGUES {
            return Err(PackageError::TooLarge {
                file: origin.file(&format!("{LOCALES_DIR}/")),
                limit: "32 catalogues",
            });
        }
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|file| file.take(budget + 1).read_to_end(&mut bytes))
            .map_err(io_error(&path))?;
        budget = budget
            .checked_sub(bytes.len() as u64)
            .ok_or_else(|| PackageError::TooLarge {
                file: origin.file(&format!("{LOCALES_DIR}/")),
                limit: "1 MiB of catalogues",
            })?;
        locales.insert(tag.to_owned(), bytes);
    }
    Ok(locales)
}

/// Reads the template files under `dir` (named `prefix` + file name); hidden files and other
/// endings are skipped, symbolic links refused.
fn read_template_dir(
    dir: &Path,
    prefix: &str,
    depth: usize,
    budget: &mut u64,
    templates: &mut BTreeMap<String, Vec<u8>>,
    origin: &Origin,
) -> Result<(), PackageError> {
    if depth > MAX_TEMPLATE_DEPTH {
        return Err(invalid(
            dir.display().to_string(),
            format!("folders nest deeper than {MAX_TEMPLATE_DEPTH} levels"),
        ));
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        entries.push(entry.map_err(io_error(dir))?.path());
    }
    entries.sort();
    for path in entries {
        let Some(file_name) = path.file_name() else {
            continue;
        };
        let Some(file_name) = file_name.to_str() else {
            return Err(invalid(path.display().to_string(), "the name is not UTF-8"));
        };
        if file_name.starts_with('.') {
            continue;
        }
        let name = format!("{prefix}{file_name}");
        refuse_link(&path)?;
        let metadata = fs::metadata(&path).map_err(io_error(&path))?;
        if metadata.is_dir() {
            let prefix = format!("{name}/");
            read_template_dir(&path, &prefix, depth + 1, budget, templates, origin)?;
            continue;
        }
        if !metadata.is_file() || !is_template_name(&name) {
            continue;
        }
        if templates.len() == MAX_TEMPLATES {
            return Err(PackageError::TooLarge {
                file: origin.file(&format!("{TEMPLATES_DIR}/")),
                limit: "200 templates",
            });
        }
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|file| file.take(*budget + 1).read_to_end(&mut bytes))
            .map_err(io_error(&path))?;
        *budget = budget
            .checked_sub(bytes.len() as u64)
            .ok_or_else(|| PackageError::TooLarge {
                file: origin.file(&format!("{TEMPLATES_DIR}/")),
                limit: "1 MiB of templates",
            })?;
        templates.insert(name, bytes);
    }
    Ok(())
}

/// A reader that fails once more than `left` bytes have been read, noting it in `exceeded`.
struct Capped<'a, R> {
    inner: R,
    left: u64,
    exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.exceeded.set(true);
                Err(io::Error::other("archive exceeds its size limit"))
            }
        }
    }
}

/// Whether an archive entry (relative to the archive root) can be part of the package, at the
/// root or inside one top-level folder.
fn may_matter(name: &str) -> bool {
    let inner = name.split_once('/').map_or("", |(_, rest)| rest);
    [name, inner].iter().any(|n| {
        *n == MANIFEST_FILE
            || *n == WASM_FILE
            || n.starts_with(&format!("{TEMPLATES_DIR}/"))
            || n.starts_with(&format!("{LOCALES_DIR}/"))
    })
}

/// Checks an archive entry's name and returns it normalised (no `./`, no empty segments).
fn entry_name(raw: &[u8], archive: &str) -> Result<String, PackageError> {
    let shown = |name: &str| format!("{archive}!/{name}");
    let Ok(name) = std::str::from_utf8(raw) else {
        return Err(invalid(
            shown(&String::from_utf8_lossy(raw)),
            "the entry's name is not UTF-8",
        ));
    };
    if name.starts_with('/') {
        return Err(invalid(shown(name), "an absolute path in the archive"));
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid(shown(name), "a path with `..` in the archive")),
            _ => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn read_archive(path: &Path, shown: &str) -> Result<(Files, Origin), PackageError> {
    let shown = shown.to_owned();
    let file = File::open(path).map_err(|source| PackageError::Io {
        file: shown.clone(),
        source,
    })?;
    let exceeded = Cell::new(false);
    let capped = Capped {
        inner: flate2::read::GzDecoder::new(BufReader::new(file)),
        left: MAX_ARCHIVE_BYTES,
        exceeded: &exceeded,
    };
    let too_large = || PackageError::TooLarge {
        file: shown.clone(),
        limit: "40 MiB uncompressed",
    };
    let broken = |error: io::Error| {
        if exceeded.get() {
            too_large()
        } else {
            invalid(
                shown.clone(),
                format!("not a valid .tar.gz archive: {error}"),
            )
        }
    };
    let mut archive = tar::Archive::new(capped);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // Top-level names of every entry (hidden ones aside), to find a single top-level folder.
    let mut tops: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut declared: u64 = 0;
    for entry in archive.entries().map_err(&broken)? {
        let mut entry = entry.map_err(&broken)?;
        let kind = entry.header().entry_type();
        let name = entry_name(&entry.path_bytes(), &shown)?;
        let at = format!("{shown}!/{name}");
        match kind {
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(invalid(at, "links are not allowed in a package"));
            }
            other => {
                return Err(invalid(
                    at,
                    format!("only files and folders are allowed in a package, not {other:?}"),
                ));
            }
        }
        if let Some(top) = name
            .split('/')
            .next()
            .filter(|t| !t.is_empty() && !t.starts_with('.'))
        {
            tops.insert(top.to_owned());
        }
        if kind == tar::EntryType::Directory {
            continue;
        }
        // Refuse on the declared size before reading, so a lying header fails early too.
        declared = declared.saturating_add(entry.size());
        if declared > MAX_ARCHIVE_BYTES {
            return Err(too_large());
        }
        if !seen.insert(name.clone()) {
            return Err(invalid(at, "the archive holds this file twice"));
        }
        if may_matter(&name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(&broken)?;
            files.insert(name, bytes);
        }
    }
    let prefix = if files.contains_key(MANIFEST_FILE) {
        String::new()
    } else {
        match tops.iter().next() {
            Some(top)
                if tops.len() == 1 && files.contains_key(&format!("{top}/{MANIFEST_FILE}")) =>
            {
                format!("{top}/")
            }
            _ => {
                return Err(invalid(
                    shown,
                    format!(
                        "no {MANIFEST_FILE} at the archive's root or in a single top-level folder"
                    ),
                ));
            }
        }
    };
    let mut take = |name: &str| files.remove(&format!("{prefix}{name}"));
    let manifest = take(MANIFEST_FILE);
    let wasm = take(WASM_FILE);
    let locales_folder = format!("{prefix}{LOCALES_DIR}/");
    let mut locales = BTreeMap::new();
    for (name, bytes) in files.extract_if(.., |name, _| name.starts_with(&locales_folder)) {
        let inner = &name[locales_folder.len()..];
        if inner.split('/').any(|p| p.starts_with('.')) {
            continue;
        }
        if let Some((sub, _)) = inner.split_once('/') {
            return Err(invalid(
                format!("{shown}!/{locales_folder}{sub}"),
                "a folder: a catalogue is one file, locales/<lang>.ftl (locales/zh-CN.ftl)",
            ));
        }
        let Some(tag) = catalogue_tag(inner) else {
            continue;
        };
        if locales.len() == MAX_CATALOGUES {
            return Err(PackageError::TooLarge {
                file: format!("{shown}!/{locales_folder}"),
                limit: "32 catalogues",
            });
        }
        locales.insert(tag.to_owned(), bytes);
    }
    let folder = format!("{prefix}{TEMPLATES_DIR}/");
    let templates = files
        .into_iter()
        .filter_map(|(name, bytes)| Some((name.strip_prefix(&folder)?.to_owned(), bytes)))
        .filter(|(name, _)| is_template_name(name) && !name.split('/').any(|p| p.starts_with('.')))
        .collect();
    let origin = Origin::Archive(shown, prefix);
    Ok((
        Files {
            manifest,
            wasm,
            templates,
            locales,
        },
        origin,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    const MANIFEST: &str = r#"
id = "hello"
name = "Hello"
version = "0.1.0"
api_version = "0.3.0"

[[panels]]
name = "summary"
title = "Summary"
location = "dashboard"
template = "panels/summary.html"
"#;

    const SUMMARY: &str = "<p>{{ count }} {% if count == 1 %}item{% else %}items{% endif %}</p>";

    /// A directory removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("kith-package-{}-{n}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        /// Writes `files` (name, content) under the directory, creating folders.
        fn with(self, files: &[(&str, &[u8])]) -> TempDir {
            for (name, content) in files {
                let path = self.0.join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, content).unwrap();
            }
            self
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A section: id, size, contents.
    fn section(id: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        leb128(contents.len(), &mut out);
        out.extend_from_slice(contents);
        out
    }

    fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
        let mut contents = Vec::new();
        leb128(name.len(), &mut contents);
        contents.extend_from_slice(name.as_bytes());
        contents.extend_from_slice(payload);
        section(0, &contents)
    }

    /// A component binary: the preamble, then `sections`.
    fn component(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"\0asm".to_vec();
        out.extend_from_slice(&COMPONENT_VERSION);
        sections.iter().for_each(|s| out.extend_from_slice(s));
        out
    }

    fn core_module(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"\0asm".to_vec();
        out.extend_from_slice(&CORE_MODULE_VERSION);
        sections.iter().for_each(|s| out.extend_from_slice(s));
        out
    }

    fn wasm() -> Vec<u8> {
        component(&[custom_section(API_VERSION_SECTION, b"0.3.0")])
    }

    fn good_dir() -> TempDir {
        TempDir::new("good").with(&[
            ("plugin.toml", MANIFEST.as_bytes()),
            ("plugin.wasm", &wasm()),
            ("templates/panels/summary.html", SUMMARY.as_bytes()),
            ("templates/mail.txt", b"Hello {{ name }}"),
        ])
    }

    fn parts(manifest: &str, templates: &[(&str, &str)]) -> Result<Package, PackageError> {
        let templates = templates
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        Package::from_parts(manifest.to_owned(), wasm(), templates, BTreeMap::new())
    }

    fn summary_only() -> Vec<(&'static str, &'static str)> {
        vec![("panels/summary.html", SUMMARY)]
    }

    /// How an archive entry is written.
    enum Entry<'a> {
        File(&'a str, &'a [u8]),
        /// A file whose name is written raw, unchecked (`..`, absolute paths).
        RawName(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
        Fifo(&'a str),
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header
    }

    /// Writes a .tar.gz of `entries` into `dir` and returns its path.
    fn archive(dir: &TempDir, name: &str, entries: &[Entry<'_>]) -> PathBuf {
        let path = dir.0.join(name);
        let gz = GzEncoder::new(File::create(&path).unwrap(), Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for entry in entries {
            match entry {
                Entry::File(name, data) => {
                    let mut h = header(tar::EntryType::Regular, data.len() as u64);
                    builder.append_data(&mut h, name, *data).unwrap();
                }
                Entry::RawName(name, data) => {
                    let mut h = header(tar::EntryType::Regular, data.len() as u64);
                    let raw = &mut h.as_gnu_mut().unwrap().name;
                    raw[..name.len()].copy_from_slice(name.as_bytes());
                    h.set_cksum();
                    builder.append(&h, *data).unwrap();
                }
                Entry::Dir(name) => {
                    let mut h = header(tar::EntryType::Directory, 0);
                    builder.append_data(&mut h, name, io::empty()).unwrap();
                }
                Entry::Symlink(name, target) => {
                    let mut h = header(tar::EntryType::Symlink, 0);
                    builder.append_link(&mut h, name, target).unwrap();
                }
                Entry::HardLink(name, target) => {
                    let mut h = header(tar::EntryType::Link, 0);
                    builder.append_link(&mut h, name, target).unwrap();
                }
                Entry::Fifo(name) => {
                    let mut h = header(tar::EntryType::Fifo, 0);
                    builder.append_data(&mut h, name, io::empty()).unwrap();
                }
            }
        }
        builder
            .into_inner()
            .unwrap()
            .finish()
            .unwrap()
            .flush()
            .unwrap();
        path
    }

    fn load_error(path: &Path) -> String {
        Package::load(path).unwrap_err().to_string()
    }

    #[test]
    fn directory_package_loads() {
        let dir = good_dir();
        let package = Package::load(&dir.0).unwrap();
        assert_eq!(package.manifest.id, "hello");
        assert_eq!(package.manifest_text, MANIFEST);
        assert_eq!(package.wasm, wasm());
        assert_eq!(
            package.templates.keys().collect::<Vec<_>>(),
            ["mail.txt", "panels/summary.html"]
        );
        assert_eq!(package.sha256, hex(&Sha256::digest(wasm())));
        assert_eq!(package.sha256.len(), 64);
    }

    #[test]
    fn directory_packages_refuse_symbolic_links() {
        let outside = TempDir::new("outside").with(&[("secret.html", b"the server's own file")]);
        let secret = outside.0.join("secret.html");
        for link in ["templates/leak.html", "plugin.toml", "templates"] {
            let dir = good_dir();
            let at = dir.0.join(link);
            if at.is_dir() {
                fs::remove_dir_all(&at).unwrap();
            } else {
                fs::remove_file(&at).ok();
            }
            let target = if link == "templates" {
                outside.0.clone()
            } else {
                secret.clone()
            };
            std::os::unix::fs::symlink(&target, &at).unwrap();
            let error = load_error(&dir.0);
            assert_eq!(
                error,
                format!(
                    "{}: a symbolic link: a package holds files and folders, not links",
                    at.display()
                ),
                "{link}"
            );
        }
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn from_parts_rebuilds_a_loaded_package() {
        let loaded = Package::load(&good_dir().0).unwrap();
        let rebuilt = Package::from_parts(
            loaded.manifest_text.clone(),
            loaded.wasm.clone(),
            loaded.templates.clone(),
            loaded.locales.clone(),
        )
        .unwrap();
        assert_eq!(rebuilt, loaded);
    }

    #[test]
    fn unknown_files_are_ignored() {
        let dir = good_dir().with(&[
            ("README.md", b"# hello"),
            ("target/debug/huge.bin", &[0xff; 1000]),
            ("templates/notes.md", &[0xff, 0xfe]),
            ("templates/.hidden.html", &[0xff, 0xfe]),
        ]);
        let package = Package::load(&dir.0).unwrap();
        assert_eq!(package.templates.len(), 2);
    }

    #[test]
    fn package_without_templates_loads() {
        let manifest = MANIFEST.split("[[panels]]").next().unwrap();
        let dir = TempDir::new("bare").with(&[
            ("plugin.toml", manifest.as_bytes()),
            ("plugin.wasm", &wasm()),
        ]);
        assert!(Package::load(&dir.0).unwrap().templates.is_empty());
    }

    #[test]
    fn missing_manifest_is_refused() {
        let dir = TempDir::new("no-toml").with(&[("plugin.wasm", &wasm())]);
        let error = load_error(&dir.0);
        assert_eq!(error, format!("{}: missing plugin.toml", dir.0.display()));
    }

    #[test]
    fn missing_wasm_is_refused() {
        let dir = TempDir::new("no-wasm").with(&[("plugin.toml", MANIFEST.as_bytes())]);
        assert_eq!(
            load_error(&dir.0),
            format!("{}: missing plugin.wasm", dir.0.display())
        );
    }

    #[test]
    fn missing_path_is_an_io_error() {
        let path = std::env::temp_dir().join("kith-package-does-not-exist");
        assert!(matches!(Package::load(&path), Err(PackageError::Io { .. })));
    }

    #[test]
    fn file_that_is_not_an_archive_is_refused() {
        let dir = TempDir::new("zip").with(&[("hello.zip", b"PK")]);
        assert!(load_error(&dir.0.join("hello.zip")).contains("directory or a .tar.gz"));
    }

    #[test]
    fn oversized_manifest_is_refused() {
        let big = format!("{MANIFEST}\n# {}\n", "x".repeat(256 * 1024));
        let dir = good_dir().with(&[("plugin.toml", big.as_bytes())]);
        let error = load_error(&dir.0);
        assert_eq!(
            error,
            format!("{}: more than 256 KiB", dir.0.join("plugin.toml").display())
        );
        let error = Package::from_parts(big, wasm(), BTreeMap::new(), BTreeMap::new()).unwrap_err();
        assert_eq!(error.to_string(), "plugin.toml: more than 256 KiB");
    }

    #[test]
    fn oversized_wasm_is_refused() {
        let mut big = wasm();
        big.resize(32 * 1024 * 1024 + 1, 0);
        let error = Package::from_parts(MANIFEST.to_owned(), big, BTreeMap::new(), BTreeMap::new())
            .unwrap_err();
        assert_eq!(error.to_string(), "plugin.wasm: more than 32 MiB");
    }

    #[test]
    fn non_utf8_manifest_is_refused() {
        let dir = good_dir().with(&[("plugin.toml", &[0xff, 0xfe])]);
        assert!(load_error(&dir.0).ends_with("plugin.toml: not valid UTF-8"));
    }

    #[test]
    fn manifest_error_names_the_file_and_line() {
        let broken = MANIFEST.replace("version = \"0.1.0\"\napi", "version = \"one\"\napi");
        let dir = good_dir().with(&[("plugin.toml", broken.as_bytes())]);
        let error = load_error(&dir.0);
        let expected = format!("{}:4:11: version: ", dir.0.join("plugin.toml").display());
        assert!(error.starts_with(&expected), "{error}");
    }

    #[test]
    fn core_module_is_refused_with_the_build_target() {
        let module = core_module(&[custom_section(API_VERSION_SECTION, b"0.3.0")]);
        let error = Package::from_parts(
            MANIFEST.to_owned(),
            module,
            BTreeMap::new(),
            BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "plugin.wasm is a core WebAssembly module, not a component: build with --target \
             wasm32-wasip2"
        );
    }

    #[test]
    fn non_wasm_file_is_refused() {
        for bytes in [
            b"hello world".to_vec(),
            b"\0asm".to_vec(),
            b"\0asm\x02\0\0\0".to_vec(),
        ] {
            let error =
                Package::from_parts(MANIFEST.to_owned(), bytes, BTreeMap::new(), BTreeMap::new());
            assert!(
                matches!(error, Err(PackageError::Invalid { .. })),
                "{error:?}"
            );
        }
    }

    #[test]
    fn malformed_component_is_refused() {
        let mut bytes = wasm();
        bytes.extend_from_slice(&[0x00, 0x7f]); // a section claiming 127 bytes it lacks
        let error =
            Package::from_parts(MANIFEST.to_owned(), bytes, BTreeMap::new(), BTreeMap::new())
                .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("plugin.wasm: not a valid WebAssembly binary")
        );
    }

    #[test]
    fn incompatible_wasm_api_version_is_refused() {
        for (version, words) in [
            ("0.5.0", "this host runs 0.4.1, 0.3.0"),
            ("zero", "not a semantic"),
        ] {
            let bytes = component(&[custom_section(API_VERSION_SECTION, version.as_bytes())]);
            let error =
                Package::from_parts(MANIFEST.to_owned(), bytes, BTreeMap::new(), BTreeMap::new());
            let error = error.unwrap_err().to_string();
            assert!(
                error.starts_with("plugin.wasm: ") && error.contains(words),
                "{error}"
            );
        }
    }

    #[test]
    fn api_version_is_read_from_the_custom_section() {
        assert_eq!(api_version_of(&wasm()).unwrap().as_deref(), Some("0.3.0"));
        let other = custom_section("producers", b"\x00");
        assert_eq!(api_version_of(&component(&[other])).unwrap(), None);
    }

    #[test]
    fn api_version_is_found_in_a_nested_core_module() {
        let module = core_module(&[custom_section(API_VERSION_SECTION, b"0.3.0\0")]);
        let bytes = component(&[section(1, &module)]);
        assert_eq!(api_version_of(&bytes).unwrap().as_deref(), Some("0.3.0"));
    }

    #[test]
    fn api_version_that_is_not_utf8_or_disagrees_is_an_error() {
        let bad = component(&[custom_section(API_VERSION_SECTION, &[0xff])]);
        assert!(api_version_of(&bad).unwrap_err().contains("not UTF-8"));
        let two = component(&[
            custom_section(API_VERSION_SECTION, b"0.3.0"),
            custom_section(API_VERSION_SECTION, b"0.4.0"),
        ]);
        assert!(api_version_of(&two).unwrap_err().contains("disagree"));
    }

    #[test]
    fn template_syntax_error_names_the_template_and_line() {
        let broken = "<p>\n{% if count %}\n{{ count }\n";
        let dir = good_dir().with(&[("templates/panels/summary.html", broken.as_bytes())]);
        let error = load_error(&dir.0);
        let file = dir.0.join("templates/panels/summary.html");
        assert!(
            error.starts_with(&format!("{}:3: syntax error", file.display())),
            "{error}"
        );
    }

    #[test]
    fn non_utf8_template_is_refused() {
        let dir = good_dir().with(&[("templates/mail.txt", &[0xc3, 0x28])]);
        let error = load_error(&dir.0);
        assert!(
            error.ends_with("templates/mail.txt: not valid UTF-8"),
            "{error}"
        );
    }

    #[test]
    fn more_than_200_templates_are_refused() {
        let names: Vec<String> = (0..201).map(|i| format!("templates/t{i:03}.txt")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let dir = good_dir().with(&files);
        assert!(load_error(&dir.0).ends_with("templates/: more than 200 templates"));
        let many: BTreeMap<String, String> = (0..201)
            .map(|i| (format!("t{i}.txt"), String::new()))
            .collect();
        let error =
            Package::from_parts(MANIFEST.to_owned(), wasm(), many, BTreeMap::new()).unwrap_err();
        assert_eq!(error.to_string(), "templates/: more than 200 templates");
    }

    #[test]
    fn templates_over_1_mib_are_refused() {
        let half = "x".repeat(512 * 1024 + 1);
        let dir = good_dir().with(&[
            ("templates/a.txt", half.as_bytes()),
            ("templates/b.txt", half.as_bytes()),
        ]);
        assert!(load_error(&dir.0).ends_with("templates/: more than 1 MiB of templates"));
        let error = parts(
            MANIFEST,
            &[
                ("panels/summary.html", SUMMARY),
                ("a.txt", &half),
                ("b.txt", &half),
            ],
        );
        assert!(matches!(error, Err(PackageError::TooLarge { .. })));
    }

    #[test]
    fn missing_panel_template_is_refused() {
        let error = parts(MANIFEST, &[("summary.html", SUMMARY)])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugin.toml: panels[0].template: `panels/summary.html` is not"),
            "{error}"
        );
    }

    #[test]
    fn stored_template_with_a_bad_name_is_refused() {
        for name in ["../x.html", "/x.html", "x.md"] {
            let mut templates = summary_only();
            templates.push((name, "x"));
            let error = parts(MANIFEST, &templates).unwrap_err().to_string();
            assert!(error.starts_with(&format!("templates/{name}: ")), "{error}");
        }
    }

    #[test]
    fn archive_with_files_at_its_root_loads() {
        let dir = TempDir::new("root-archive");
        let wasm = wasm();
        let path = archive(
            &dir,
            "hello.tgz",
            &[
                Entry::File("./plugin.toml", MANIFEST.as_bytes()),
                Entry::File("plugin.wasm", &wasm),
                Entry::Dir("templates/panels"),
                Entry::File("templates/panels/summary.html", SUMMARY.as_bytes()),
                Entry::File("README.md", b"# hello"),
            ],
        );
        let package = Package::load(&path).unwrap();
        assert_eq!(
            package,
            Package::load(&good_dir().0).unwrap().without("mail.txt")
        );
    }

    #[test]
    fn archive_with_one_top_folder_loads() {
        let dir = TempDir::new("folder-archive");
        let wasm = wasm();
        let path = archive(
            &dir,
            "hello.tar.gz",
            &[
                Entry::Dir("hello"),
                Entry::File("hello/plugin.toml", MANIFEST.as_bytes()),
                Entry::File("hello/plugin.wasm", &wasm),
                Entry::File("hello/templates/panels/summary.html", SUMMARY.as_bytes()),
                Entry::File("._hello", b"macOS resource fork"),
            ],
        );
        let package = Package::load(&path).unwrap();
        assert_eq!(package.templates.len(), 1);
        // Errors name the entry inside the archive.
        let path = archive(
            &dir,
            "broken.tgz",
            &[
                Entry::File("hello/plugin.toml", b"id = 1"),
                Entry::File("hello/plugin.wasm", &wasm),
            ],
        );
        let error = load_error(&path);
        assert!(
            error.starts_with(&format!("{}!/hello/plugin.toml:1:6: id: ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn archive_with_two_top_folders_is_refused() {
        let dir = TempDir::new("two-folders");
        let path = archive(
            &dir,
            "two.tgz",
            &[
                Entry::File("a/plugin.toml", MANIFEST.as_bytes()),
                Entry::File("a/plugin.wasm", &wasm()),
                Entry::File("b/notes.txt", b""),
            ],
        );
        assert!(
            load_error(&path)
                .ends_with("no plugin.toml at the archive's root or in a single top-level folder")
        );
    }

    #[test]
    fn archive_with_parent_path_is_refused() {
        let dir = TempDir::new("dotdot");
        let path = archive(
            &dir,
            "evil.tgz",
            &[Entry::RawName("templates/../../x.html", b"x")],
        );
        assert!(
            load_error(&path).ends_with("templates/../../x.html: a path with `..` in the archive")
        );
    }

    #[test]
    fn archive_with_absolute_path_is_refused() {
        let dir = TempDir::new("absolute");
        let path = archive(&dir, "evil.tgz", &[Entry::RawName("/etc/cron.d/x", b"x")]);
        assert!(load_error(&path).ends_with("!//etc/cron.d/x: an absolute path in the archive"));
    }

    #[test]
    fn archive_with_links_is_refused() {
        let dir = TempDir::new("links");
        let soft = archive(
            &dir,
            "soft.tgz",
            &[Entry::Symlink("plugin.toml", "/etc/passwd")],
        );
        assert!(load_error(&soft).ends_with("!/plugin.toml: links are not allowed in a package"));
        let hard = archive(&dir, "hard.tgz", &[Entry::HardLink("plugin.wasm", "x")]);
        assert!(load_error(&hard).ends_with("!/plugin.wasm: links are not allowed in a package"));
    }

    #[test]
    fn archive_with_a_device_or_fifo_is_refused() {
        let dir = TempDir::new("fifo");
        let path = archive(&dir, "fifo.tgz", &[Entry::Fifo("templates/pipe.html")]);
        assert!(load_error(&path).contains("only files and folders are allowed"));
    }

    #[test]
    fn archive_holding_a_file_twice_is_refused() {
        let dir = TempDir::new("twice");
        let path = archive(
            &dir,
            "twice.tgz",
            &[
                Entry::File("plugin.toml", MANIFEST.as_bytes()),
                Entry::File("./plugin.toml", b""),
            ],
        );
        assert!(load_error(&path).ends_with("!/plugin.toml: the archive holds this file twice"));
    }

    #[test]
    fn archive_larger_than_40_mib_uncompressed_is_refused() {
        let dir = TempDir::new("bomb");
        let path = dir.0.join("bomb.tgz");
        let gz = GzEncoder::new(File::create(&path).unwrap(), Compression::fast());
        let mut builder = tar::Builder::new(gz);
        // Small entries, so the total and not one entry's declared size is what trips.
        for i in 0..41 {
            let mut h = header(tar::EntryType::Regular, 1024 * 1024);
            let zeros = io::repeat(0).take(1024 * 1024);
            builder
                .append_data(&mut h, format!("junk/{i}.bin"), zeros)
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        assert!(fs::metadata(&path).unwrap().len() < 1024 * 1024);
        assert_eq!(
            load_error(&path),
            format!("{}: more than 40 MiB uncompressed", path.display())
        );
    }

    #[test]
    fn archive_inflating_past_40_mib_in_hidden_headers_is_refused() {
        // A GNU long-name record is read whole by the tar reader and declares no entry size:
        // only the cap on the uncompressed stream stops it.
        let dir = TempDir::new("long-name");
        let path = dir.0.join("long.tgz");
        let mut gz = GzEncoder::new(File::create(&path).unwrap(), Compression::fast());
        let size = 41 * 1024 * 1024;
        let mut h = header(tar::EntryType::GNULongName, size);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        gz.write_all(h.as_bytes()).unwrap();
        io::copy(&mut io::repeat(b'a').take(size), &mut gz).unwrap();
        gz.finish().unwrap();
        assert_eq!(
            load_error(&path),
            format!("{}: more than 40 MiB uncompressed", path.display())
        );
    }

    #[test]
    fn archive_entry_declaring_a_huge_size_is_refused() {
        let dir = TempDir::new("liar");
        let path = dir.0.join("liar.tgz");
        let mut gz = GzEncoder::new(File::create(&path).unwrap(), Compression::fast());
        let mut h = header(tar::EntryType::Regular, 1 << 40);
        h.set_path("plugin.wasm").unwrap();
        h.set_cksum();
        gz.write_all(h.as_bytes()).unwrap();
        gz.finish().unwrap();
        assert!(load_error(&path).ends_with("more than 40 MiB uncompressed"));
    }

    #[test]
    fn corrupt_archive_is_refused() {
        let dir = TempDir::new("corrupt").with(&[("x.tgz", b"\x1f\x8b not really gzip")]);
        assert!(load_error(&dir.0.join("x.tgz")).contains("not a valid .tar.gz archive"));
    }

    const EN: &str = "summary-title = Summary\nsummary-items = { $count ->\n    [one] One item\n   *[other] { $count } items\n}\n";
    const ZH: &str = "summary-title = 摘要\nsummary-items = { $count } 项\n";

    /// The good package with English and Chinese catalogues, and `extra` files.
    fn localized_dir(extra: &[(&str, &[u8])]) -> TempDir {
        good_dir()
            .with(&[
                ("locales/en.ftl", EN.as_bytes()),
                ("locales/zh-CN.ftl", ZH.as_bytes()),
            ])
            .with(extra)
    }

    fn locales(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        (pairs.iter())
            .map(|(tag, text)| ((*tag).to_owned(), (*text).to_owned()))
            .collect()
    }

    #[test]
    fn catalogues_load_from_a_directory_an_archive_and_their_stored_parts() {
        let dir = localized_dir(&[
            ("locales/README.md", b"notes"),
            ("locales/.zh-CN.ftl.swp", &[0xff]),
        ]);
        let package = Package::load(&dir.0).unwrap();
        assert_eq!(package.locales, locales(&[("en", EN), ("zh-CN", ZH)]));
        let rebuilt = Package::from_parts(
            package.manifest_text.clone(),
            package.wasm.clone(),
            package.templates.clone(),
            package.locales.clone(),
        )
        .unwrap();
        assert_eq!(rebuilt, package);
        let wasm = wasm();
        let archived = TempDir::new("localized-archive");
        let path = archive(
            &archived,
            "hello.tgz",
            &[
                Entry::File("hello/plugin.toml", MANIFEST.as_bytes()),
                Entry::File("hello/plugin.wasm", &wasm),
                Entry::File("hello/templates/panels/summary.html", SUMMARY.as_bytes()),
                Entry::File("hello/templates/mail.txt", b"Hello {{ name }}"),
                Entry::Dir("hello/locales"),
                Entry::File("hello/locales/en.ftl", EN.as_bytes()),
                Entry::File("hello/locales/zh-CN.ftl", ZH.as_bytes()),
                Entry::File("hello/locales/._zh-CN.ftl", b"macOS resource fork"),
            ],
        );
        assert_eq!(Package::load(&path).unwrap(), package);
    }

    #[test]
    fn a_malformed_catalogue_is_refused_naming_the_file_and_line() {
        let broken = "summary-title = 摘要\nsummary-items = { $count 项\n";
        let dir = localized_dir(&[("locales/zh-CN.ftl", broken.as_bytes())]);
        let error = load_error(&dir.0);
        let file = dir.0.join("locales/zh-CN.ftl");
        assert!(
            error.starts_with(&format!("{}:2: a Fluent syntax error: ", file.display())),
            "{error}"
        );
        let path = archive(
            &dir,
            "broken.tgz",
            &[
                Entry::File("plugin.toml", MANIFEST.as_bytes()),
                Entry::File("plugin.wasm", &wasm()),
                Entry::File("templates/panels/summary.html", SUMMARY.as_bytes()),
                Entry::File("locales/en.ftl", broken.as_bytes()),
            ],
        );
        let error = load_error(&path);
        assert!(
            error.starts_with(&format!(
                "{}!/locales/en.ftl:2: a Fluent syntax error",
                path.display()
            )),
            "{error}"
        );
        let dir = localized_dir(&[("locales/zh-CN.ftl", &[0xe6, 0x91])]);
        assert!(load_error(&dir.0).ends_with("locales/zh-CN.ftl: not valid UTF-8"));
    }

    #[test]
    fn a_key_missing_from_one_catalogue_is_refused_naming_both() {
        let dir = localized_dir(&[("locales/zh-CN.ftl", "summary-title = 摘要\n".as_bytes())]);
        assert_eq!(
            load_error(&dir.0),
            format!(
                "{}: `summary-items` is missing: locales/en.ftl has it, and every catalogue has \
                 the same keys",
                dir.0.join("locales/zh-CN.ftl").display()
            )
        );
        let error = Package::from_parts(
            MANIFEST.to_owned(),
            wasm(),
            locales(&[("panels/summary.html", SUMMARY)]),
            locales(&[("en", "summary-title = Summary\n"), ("zh-CN", ZH)]),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "locales/zh-CN.ftl:2: `summary-items` is not in locales/en.ftl: every catalogue has \
             the same keys"
        );
    }

    #[test]
    fn a_catalogue_of_an_invalid_language_tag_is_refused() {
        for (file, words) in [
            (
                "zh_CN.ftl",
                "write the language tag as `zh-CN` (the file locales/zh-CN.ftl)",
            ),
            ("zh-cn.ftl", "write the language tag as `zh-CN`"),
            (
                "klingon.ftl",
                "is not a language tag of the form language[-Script][-REGION]",
            ),
            ("x.ftl", "`x` is not a language tag"),
        ] {
            let dir = localized_dir(&[(&format!("locales/{file}"), ZH.as_bytes())]);
            let error = load_error(&dir.0);
            let at = dir.0.join("locales").join(file);
            assert!(error.starts_with(&format!("{}: ", at.display())), "{error}");
            assert!(error.contains(words), "{file}: {error}");
        }
        // A well-formed tag of a language Kith does not speak yet is kept.
        let dir = localized_dir(&[(
            "locales/de.ftl",
            b"summary-title = Zusammenfassung\nsummary-items = { $count } Dinge\n",
        )]);
        assert!(Package::load(&dir.0).unwrap().locales.contains_key("de"));
    }

    #[test]
    fn catalogues_without_english_or_in_folders_are_refused() {
        let dir = good_dir().with(&[("locales/zh-CN.ftl", ZH.as_bytes())]);
        assert!(load_error(&dir.0).contains("locales/zh-CN.ftl: there is no locales/en.ftl"));
        let dir = localized_dir(&[("locales/zh-CN/web.ftl", ZH.as_bytes())]);
        assert_eq!(
            load_error(&dir.0),
            format!(
                "{}: a folder: a catalogue is one file, locales/<lang>.ftl (locales/zh-CN.ftl)",
                dir.0.join("locales/zh-CN").display()
            )
        );
        let dir = good_dir().with(&[("locales", b"not a folder")]);
        assert!(load_error(&dir.0).ends_with("locales: not a folder"));
    }

    #[test]
    fn catalogues_over_their_limits_are_refused() {
        let big = format!("{EN}# {}\n", "x".repeat(1024 * 1024));
        let dir = localized_dir(&[("locales/en.ftl", big.as_bytes())]);
        assert!(load_error(&dir.0).ends_with("locales/: more than 1 MiB of catalogues"));
        let summary = locales(&[("panels/summary.html", SUMMARY)]);
        let error = Package::from_parts(
            MANIFEST.to_owned(),
            wasm(),
            summary.clone(),
            locales(&[("en", &big)]),
        );
        assert!(
            matches!(error, Err(PackageError::TooLarge { .. })),
            "{error:?}"
        );
        let tags: Vec<String> = (0..33).map(|i| format!("locales/x{i:02}.ftl")).collect();
        let files: Vec<(&str, &[u8])> = tags.iter().map(|t| (t.as_str(), &b""[..])).collect();
        let dir = localized_dir(&files);
        assert!(load_error(&dir.0).ends_with("locales/: more than 32 catalogues"));
        let many: BTreeMap<String, String> = (0..33)
            .map(|i| (format!("x{i:02}"), String::new()))
            .collect();
        let error = Package::from_parts(MANIFEST.to_owned(), wasm(), summary, many);
        assert_eq!(
            error.unwrap_err().to_string(),
            "locales/: more than 32 catalogues"
        );
    }

    #[test]
    fn a_template_calling_t_with_an_unknown_key_is_refused() {
        let dir = localized_dir(&[(
            "templates/panels/summary.html",
            b"<h3>{{ t(\"summary-title\") }}</h3>\n<p>{{ t(\"summary-itmes\", count=count) }}</p>",
        )]);
        assert_eq!(
            load_error(&dir.0),
            format!(
                "{}:2: t(\"summary-itmes\"): locales/en.ftl has no message `summary-itmes`",
                dir.0.join("templates/panels/summary.html").display()
            )
        );
    }

    impl Package {
        fn without(mut self, template: &str) -> Package {
            self.templates.remove(template);
            self
        }
    }
}
