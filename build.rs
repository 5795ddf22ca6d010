//! Records, for `--version`, the commit the binary was built from (when
//! built from a git checkout) and the features it was built with.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown commit".to_owned());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase()))
        .collect();
    println!(
        "cargo:rustc-env=KAS_BUILD_COMMIT={commit}{}",
        if dirty { ", modified" } else { "" }
    );
    println!(
        "cargo:rustc-env=KAS_BUILD_FEATURES={}",
        if features.is_empty() {
            "none".to_owned()
        } else {
            features.join(", ")
        }
    );
    // Rebuilt when the checkout moves to another commit.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    println!("cargo:rerun-if-changed=build.rs");
}
