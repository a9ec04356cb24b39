//! The server's secret key, which seals what the database must hold but never show (a
//! workspace's SMTP password): AES-256-GCM (aws-lc-rs, already Kith's TLS provider) with a
//! random nonce, and the value's place (`smtp:<workspace>`) as associated data, so a sealed
//! value copied to another row or workspace does not open.
//!
//! The key comes from `KITH_SECRET_KEY` (base64 of 32 bytes) or `<data dir>/secret.key`,
//! written at the first start with mode 0600. Replicas must share it; a lost key makes sealed
//! values unreadable (admins enter them again), never readable by others.

use std::path::Path;

use anyhow::{Context, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

const KEY_LEN: usize = 32;
const PREFIX: &str = "v1:";

pub struct Sealer {
    key: RandomizedNonceKey,
}

impl Sealer {
    /// The key of `KITH_SECRET_KEY`, else of `<data_dir>/secret.key` (made if missing).
    pub fn load(data_dir: &Path) -> anyhow::Result<Sealer> {
        if let Ok(encoded) = std::env::var("KITH_SECRET_KEY") {
            let key = BASE64
                .decode(encoded.trim())
                .context("KITH_SECRET_KEY is not base64")?;
            return Sealer::new(&key).context("KITH_SECRET_KEY");
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(encoded) => {
                let key = BASE64
                    .decode(encoded.trim())
                    .with_context(|| format!("{} is not base64", path.display()))?;
                Sealer::new(&key).with_context(|| path.display().to_string())
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                write_private(&path, BASE64.encode(key).as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Sealer::new(&key)
            }
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn new(key: &[u8]) -> anyhow::Result<Sealer> {
        if key.len() != KEY_LEN {
            bail!("the secret key must be {KEY_LEN} bytes, not {}", key.len());
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, key)
            .map_err(|_| anyhow::anyhow!("the secret key was refused"))?;
        Ok(Sealer { key })
    }

    /// `plaintext` sealed for `place`: `v1:` and base64 of nonce, ciphertext and tag.
    pub fn seal(&self, plaintext: &str, place: &str) -> String {
        let mut sealed = plaintext.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(place.as_bytes()), &mut sealed)
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any message under 64 GiB"));
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", BASE64.encode(out))
    }

    /// The plaintext of a value sealed for `place`; `None` when it was sealed with another key,
    /// for another place, or altered.
    pub fn open(&self, sealed: &str, place: &str) -> Option<String> {
        let bytes = BASE64.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(place.as_bytes()), &mut rest)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_place() {
        let sealer = Sealer::new(&[7u8; 32]).expect("a key");
        let sealed = sealer.seal("hunter2", "smtp:a");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            sealer.seal("hunter2", "smtp:a"),
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open(&sealed, "smtp:a").as_deref(), Some("hunter2"));
        assert_eq!(sealer.open(&sealed, "smtp:b"), None);
        let other = Sealer::new(&[8u8; 32]).expect("a key");
        assert_eq!(other.open(&sealed, "smtp:a"), None);
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open(&tampered, "smtp:a"), None);
        for junk in ["", "v1:", "v1:!!", "plain"] {
            assert_eq!(sealer.open(junk, "smtp:a"), None);
        }
        assert!(Sealer::new(&[1u8; 16]).is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("kith-key-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = Sealer::load(&dir).expect("made");
        let sealed = first.seal("x", "p");
        let second = Sealer::load(&dir).expect("read");
        assert_eq!(second.open(&sealed, "p").as_deref(), Some("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key file is readable by others");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
