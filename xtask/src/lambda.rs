//! `cargo xtask build lambda`: the service as an AWS Lambda package for the `provided.al2023`
//! runtime: one static `x86_64-unknown-linux-musl` binary named `bootstrap`, in a zip.
//!
//! The zip is written here, stored (not compressed) and with fixed timestamps, so the same
//! binary always gives the same zip: `cargo xtask deploy` names it by its SHA-256 and finds it
//! unchanged. mimalloc, the service's allocator, builds with musl-gcc (Debian `musl-tools`)
//! and runs there as on glibc (the Lambda tests run this binary).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::{
    shell::{apt_install, cargo, run, step, target_dir},
    tools::ensure_rust_target,
};

pub(crate) const MUSL: &str = "x86_64-unknown-linux-musl";
/// The Cargo profile of the Lambda package and the container image (see Cargo.toml).
pub(crate) const PROFILE: &str = "lambda";

/// Where the package goes.
pub(crate) fn package_dir() -> PathBuf {
    target_dir().join("lambda-package")
}

/// Builds the static binary (installing the musl target and musl-gcc when missing); answers
/// its path.
pub(crate) fn build_static_binary() -> anyhow::Result<PathBuf> {
    step(&format!("building the service as a static {MUSL} binary (profile {PROFILE})"));
    ensure_rust_target(MUSL)?;
    // ring and mimalloc compile C for the target: they need musl's C compiler.
    if Command::new("x86_64-linux-musl-gcc").arg("--version").output().is_err() {
        apt_install(&["musl-tools"])?;
    }
    run(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        MUSL,
        "-p",
        "tokenmeter-api",
        "--bin",
        "tokenmeter",
    ]))?;
    Ok(static_binary())
}

/// Where [`build_static_binary`] puts the binary.
pub(crate) fn static_binary() -> PathBuf {
    target_dir().join(MUSL).join(PROFILE).join("tokenmeter")
}

/// Builds the package; answers the zip's path.
pub(crate) fn build_lambda() -> anyhow::Result<PathBuf> {
    let binary = build_static_binary()?;
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let dir = package_dir();
    std::fs::create_dir_all(&dir)?;
    let zip = dir.join("tokenmeter.zip");
    std::fs::write(&zip, stored_zip("bootstrap", &bytes)).with_context(|| format!("writing {}", zip.display()))?;
    eprintln!("built {} (bootstrap: {:.1} MB, static)", zip.display(), bytes.len() as f64 / 1e6);
    Ok(zip)
}

/// The `bootstrap` the package holds, written out as `into` (executable): the tests run
/// exactly what Lambda would.
pub(crate) fn extract_bootstrap(zip: &Path, into: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let archive = std::fs::read(zip).with_context(|| format!("reading {}", zip.display()))?;
    let (name, data, mode) = read_stored_zip(&archive)?;
    if name != "bootstrap" || mode & 0o111 == 0 {
        bail!("{} holds `{name}` (mode {mode:o}), not an executable `bootstrap`", zip.display());
    }
    std::fs::write(into, data)?;
    std::fs::set_permissions(into, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// 1980-01-01 00:00, the earliest MS-DOS time: the same bytes on every build.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// A regular file, rwxr-xr-x, in the high half of the external attributes (made on Unix).
const EXECUTABLE: u32 = 0o100755 << 16;

/// A zip archive holding one file, stored, executable.
fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let size = u32::try_from(data.len()).expect("a Lambda package is far below 4 GiB");
    let name_len = u16::try_from(name.len()).expect("a short name");
    let mut zip = Vec::with_capacity(data.len() + 200);
    // Local file header.
    push32(&mut zip, 0x0403_4b50);
    for field in [10, 0, 0, DOS_TIME, DOS_DATE] {
        push16(&mut zip, field);
    }
    for field in [crc, size, size] {
        push32(&mut zip, field);
    }
    push16(&mut zip, name_len);
    push16(&mut zip, 0);
    zip.extend_from_slice(name.as_bytes());
    zip.extend_from_slice(data);
    // Central directory.
    let directory = zip.len() as u32;
    push32(&mut zip, 0x0201_4b50);
    for field in [(3 << 8) | 20, 10, 0, 0, DOS_TIME, DOS_DATE] {
        push16(&mut zip, field);
    }
    for field in [crc, size, size] {
        push32(&mut zip, field);
    }
    for field in [name_len, 0, 0, 0, 0] {
        push16(&mut zip, field);
    }
    push32(&mut zip, EXECUTABLE);
    push32(&mut zip, 0);
    zip.extend_from_slice(name.as_bytes());
    let directory_size = zip.len() as u32 - directory;
    // End of central directory.
    push32(&mut zip, 0x0605_4b50);
    for field in [0, 0, 1, 1] {
        push16(&mut zip, field);
    }
    push32(&mut zip, directory_size);
    push32(&mut zip, directory);
    push16(&mut zip, 0);
    zip
}

/// The one stored file of a zip that [`stored_zip`] wrote: its name, data and Unix mode.
fn read_stored_zip(zip: &[u8]) -> anyhow::Result<(String, &[u8], u32)> {
    let u16_at = |at: usize| zip.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| zip.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let end = zip.len().checked_sub(22).context("too short for a zip")?;
    if u32_at(end) != Some(0x0605_4b50) || u16_at(end + 10) != Some(1) {
        bail!("not a zip of one file");
    }
    let directory = u32_at(end + 16).context("truncated")? as usize;
    let mode = u32_at(directory + 38).context("truncated")? >> 16;
    if u32_at(0) != Some(0x0403_4b50) || u16_at(8) != Some(0) {
        bail!("the file is not stored (compressed zips are not read here)");
    }
    let crc = u32_at(14).context("truncated")?;
    let size = u32_at(18).context("truncated")? as usize;
    let name_len = u16_at(26).context("truncated")?;
    let extra_len = u16_at(28).context("truncated")?;
    let name = String::from_utf8_lossy(zip.get(30..30 + name_len).context("truncated")?).into_owned();
    let start = 30 + name_len + extra_len;
    let data = zip.get(start..start + size).context("truncated")?;
    if crc32(data) != crc {
        bail!("`{name}` does not match its checksum");
    }
    Ok((name, data, mode))
}

fn push16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn push32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// CRC-32 (IEEE 802.3, as zip uses it).
fn crc32(data: &[u8]) -> u32 {
    let table: Vec<u32> =
        (0..256u32).map(|n| (0..8).fold(n, |c, _| if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 })).collect();
    !data.iter().fold(!0u32, |crc, &byte| table[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_one_zip_uses() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn the_package_reads_back_as_an_executable_bootstrap_and_is_the_same_every_time() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let zip = stored_zip("bootstrap", &data);
        assert_eq!(zip, stored_zip("bootstrap", &data), "deterministic");
        let (name, read, mode) = read_stored_zip(&zip).unwrap();
        assert_eq!((name.as_str(), read, mode), ("bootstrap", &data[..], 0o100755));
        let mut corrupted = zip.clone();
        corrupted[100] ^= 1;
        assert!(read_stored_zip(&corrupted).unwrap_err().to_string().contains("checksum"));
    }

    /// Python's zipfile (what `unzip` and Lambda read alike) lists the file, its mode and size.
    #[test]
    fn a_standard_reader_takes_the_package() {
        let dir = std::env::temp_dir().join(format!("tokenmeter-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("package.zip");
        std::fs::write(&path, stored_zip("bootstrap", b"#!/bin/sh\necho hi\n")).unwrap();
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.testzip()\ni = z.getinfo('bootstrap')\nprint(oct(i.external_attr >> 16), i.file_size, z.read('bootstrap').decode().split()[1])";
        let out = Command::new("python3").args(["-c", script]).arg(&path).output();
        let _ = std::fs::remove_dir_all(&dir);
        let Ok(out) = out else {
            eprintln!("SKIPPED: no python3 to read the zip with");
            return;
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0o100755 18 echo",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
