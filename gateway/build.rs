//! Embeds the built dashboard (`ui/dist`, made by `make ui`) into the binary, each file with a gzip copy and an ETag.
//!
//! When `ui/dist` has not been built, one plain page saying how to build it is
//! embedded instead, so the gateway still compiles and `/dashboard` is never blank.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OmniRoute</title>
<style>body{font:15px/1.6 system-ui,sans-serif;max-width:640px;margin:10vh auto;padding:0 16px;color:#1b1f2a}code{background:#eef;padding:2px 6px;border-radius:4px}</style>
</head><body><h1>OmniRoute's dashboard was not built</h1>
<p>This gateway binary was compiled without the dashboard's files. The gateway itself works: point your tools at <code>/v1</code>.</p>
<p>To get the dashboard, run <code>make ui</code> in the source tree, then rebuild the gateway (<code>make run</code> does both).</p>
</body></html>
"#;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../ui/dist");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed={}", dist.display());

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    } else {
        files.push(("index.html".to_owned(), NOT_BUILT.as_bytes().to_vec()));
    }
    files.sort();

    let mut table = String::from("&[\n");
    for (i, (path, bytes)) in files.iter().enumerate() {
        let raw = out_dir.join(format!("asset-{i}"));
        let gz = out_dir.join(format!("asset-{i}.gz"));
        write_file(&raw, bytes);
        write_file(&gz, &gzip(bytes));
        let etag = hex(&Sha256::digest(bytes)[..8]);
        let _ = writeln!(
            table,
            "    Asset {{ path: {path:?}, content_type: {ct:?}, etag: \"\\\"{etag}\\\"\", body: include_bytes!({raw:?}), gzip: include_bytes!({gz:?}) }},",
            ct = content_type(path),
            raw = raw.display().to_string(),
            gz = gz.display().to_string(),
        );
    }
    table.push(']');
    write_file(
        &out_dir.join("dashboard_assets.rs"),
        format!("pub static ASSETS: &[Asset] = {table};\n").as_bytes(),
    );
}

/// Every file under `dir`, with its path relative to `root` using `/`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, files);
        } else if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), std::fs::read(&path)) {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((rel, bytes));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_file(path: &Path, bytes: &[u8]) {
    // Rewriting an identical file would make cargo rebuild for nothing.
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return;
    }
    if let Err(e) = std::fs::write(path, bytes) {
        println!("cargo:warning=cannot write {}: {e}", path.display());
    }
}
