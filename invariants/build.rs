//! Embeds the corruption catalogue: every `corruptions/<target>/<name>.sql` becomes one entry of
//! `CORRUPTION_FILES` (target, file stem, text), in path order, so adding a corruption is adding
//! a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("corruptions");
    println!("cargo:rerun-if-changed=corruptions");
    let mut files: Vec<(String, String, PathBuf)> = Vec::new();
    let dirs = std::fs::read_dir(&root)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in dirs {
        let path = dir.path();
        if !path.is_dir() {
            continue;
        }
        let target = dir.file_name().to_string_lossy().into_owned();
        println!("cargo:rerun-if-changed={}", path.display());
        for f in std::fs::read_dir(&path)
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) != Some("sql") {
                continue;
            }
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((target.clone(), stem, p));
        }
    }
    files.sort();
    let mut out =
        String::from("/// (target, file stem, text) of every corruption file, in path order.\n");
    out.push_str("pub(crate) static CORRUPTION_FILES: &[(&str, &str, &str)] = &[\n");
    for (target, stem, path) in &files {
        let _ = writeln!(
            out,
            "    ({target:?}, {stem:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("corruption_files.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}
