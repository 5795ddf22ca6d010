//! The crate's layers (see `src/lib.rs`): no module imports from a layer
//! above its own or from a sibling of its layer. Checked on the source, so
//! a new upward import fails here with the file and the module it named.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::root;

/// Each top-level module and its layer, lowest first, as `src/lib.rs`
/// draws them.
pub(crate) const LAYERS: &[(&str, u32)] = &[
    ("model", 0),
    ("input", 1),
    ("policy", 2),
    ("observe", 3),
    ("planner", 4),
    ("testkit", 4),
    ("error", 4),
    ("apply", 5),
    ("pass", 6),
    ("sim", 7),
    ("notify", 7),
    ("aws", 8),
    ("daemon", 9),
    ("lambda", 9),
    ("cli", 10),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `code` names through `crate::`, in `use` lists
/// too (`crate::{a, b::c}`).
fn named_modules(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(list) => {
                let list = &list[..list.find('}').unwrap_or(list.len())];
                names.extend(list.split(',').map(|item| ident(item.trim())));
            }
            None => {
                names.insert(ident(rest));
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// The code of `text` that is built outside tests: without comments, and
/// without a trailing `#[cfg(test)] mod tests`.
fn non_test_code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        // The binaries (src/main.rs, src/bin) use the crate from outside.
        if matches!(module, "lib" | "main" | "bin") || rel.ends_with("tests.rs") {
            continue;
        }
        let own = layer(module).unwrap_or_else(|| {
            panic!("src/{module} has no layer: add it to LAYERS and src/lib.rs")
        });
        let code = non_test_code(&std::fs::read_to_string(file).unwrap());
        for named in named_modules(&code) {
            if named == module {
                continue;
            }
            let Some(theirs) = layer(&named) else {
                continue; // a re-export at the crate root, e.g. crate::Error
            };
            if theirs >= own {
                problems.push(format!(
                    "src/{}: `{module}` (layer {own}) uses `crate::{named}` (layer {theirs})",
                    rel.display()
                ));
            }
        }
        checked += 1;
    }
    assert!(checked > 40, "only {checked} files were read");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_layer_check_sees_use_lists_and_paths() {
    let code = "use crate::model::{A, B};\nuse crate::{policy, observe::X};\nfn f() { crate::sim::world(); }";
    assert_eq!(
        named_modules(code),
        ["model", "observe", "policy", "sim"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(
        non_test_code("use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}"),
        "use crate::a;"
    );
}
