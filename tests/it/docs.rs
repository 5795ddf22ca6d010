//! The docs cannot drift from the code: the command reference is generated
//! from the CLI, the command table names only real flags, every example
//! command parses (and the offline ones run), the policy reference is
//! `policies/example.yaml` and names exactly the schema's fields, every
//! YAML example is accepted, the code map names the layers the layer test
//! knows, and every relative link points at a file.
//!
//! `KAS_UPDATE_DOCS=1 cargo test --test it docs::` rewrites the generated
//! parts (the command reference, the policy block) instead of failing.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::support::{bin, root};

fn updating() -> bool {
    std::env::var_os("KAS_UPDATE_DOCS").is_some()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The Markdown files a reader meets: the README, the guide, and the
/// contributor files.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .chain(std::fs::read_dir(root().join("docs/reference")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    for top in [
        "README.md",
        "ARCHITECTURE.md",
        "CONTRIBUTING.md",
        "CHANGELOG.md",
    ] {
        pages.push(root().join(top));
    }
    pages.sort();
    pages
}

/// The fenced blocks of `text` whose info string is `lang`, dedented by
/// the fence's own indentation.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut current {
            None if trimmed == format!("```{lang}") => current = Some((indent, Vec::new())),
            Some((_, lines)) if trimmed == "```" => {
                out.push(lines.join("\n") + "\n");
                current = None;
            }
            Some((indent, lines)) => {
                let cut = line.len().min(*indent);
                lines.push(line[cut..].to_owned());
            }
            None => {}
        }
    }
    out
}

#[test]
fn the_command_reference_is_generated_from_the_cli() {
    let path = root().join("docs/reference/commands.md");
    let generated = kinesis_autoscaler::cli::reference_markdown();
    if updating() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/reference/commands.md is stale: regenerate it with `KAS_UPDATE_DOCS=1 cargo test --test it docs::`"
    );
    // Every subcommand has its section, with its flags.
    for (sub, flag) in [
        ("plan", "--detailed-exitcode"),
        ("simulate", "--save-scenario"),
        ("tune", "--validate-pct"),
        ("run", "--listen"),
    ] {
        let section = generated
            .split(&format!("## `kinesis-autoscaler {sub}`"))
            .nth(1)
            .unwrap_or_else(|| panic!("no section for {sub}"));
        let section = section.split("\n## ").next().unwrap();
        assert!(section.contains(flag), "{sub}: {flag}");
    }
}

/// `docs/commands.md`'s table: a row for every subcommand, and no flag
/// its subcommand does not have.
#[test]
fn the_command_table_names_every_subcommand_and_only_real_flags() {
    let reference = kinesis_autoscaler::cli::reference_markdown();
    let help_of = |sub: &str| -> String {
        let section = reference
            .split(&format!("## `kinesis-autoscaler {sub}`"))
            .nth(1)
            .unwrap_or_else(|| panic!("docs/commands.md names `{sub}`, which is no subcommand"));
        section.split("\n## ").next().unwrap().to_owned()
    };
    let subcommands: BTreeSet<String> = reference
        .lines()
        .filter_map(|l| l.strip_prefix("## `kinesis-autoscaler "))
        .map(|l| l.trim_end_matches('`').to_owned())
        .collect();
    assert!(subcommands.len() >= 12, "{subcommands:?}");
    // The command table: the page's first table, before its first section
    // (the JSON output table below names commands too).
    let page = read("docs/commands.md");
    let table = page.split("\n## ").next().unwrap();
    let mut listed = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = row[3..].split('`').next().unwrap();
        let sub = cell.split_whitespace().next().unwrap();
        assert!(
            subcommands.contains(sub),
            "docs/commands.md names `{sub}`, which is no subcommand"
        );
        listed.insert(sub.to_owned());
        let help = help_of(sub);
        for word in cell.split(|c: char| c.is_whitespace() || "[]|".contains(c)) {
            if let Some(flag) = word.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    help.contains(&format!("--{flag}")),
                    "docs/commands.md: `{sub}` has no --{flag}"
                );
            }
        }
    }
    assert_eq!(listed, subcommands, "docs/commands.md's table");
}

/// A command line split like a shell would for these examples: words,
/// single and double quotes; it stops at a comment, a pipe or a
/// redirection.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c == '#' && word.is_empty() => break,
            None if "|>&".contains(c) && word.is_empty() => break,
            None if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            None => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// Every `kinesis-autoscaler ...` (or `cargo run ... -- ...`) line of a
/// shell example, as the words after the program.
fn example_commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for block in blocks(&text, "sh") {
            for line in block.lines() {
                let w = words(line.trim());
                let args: Vec<String> = match w.first().map(String::as_str) {
                    Some("kinesis-autoscaler") => w[1..].to_vec(),
                    Some("cargo") if w.get(1).map(String::as_str) == Some("run") => {
                        match w.iter().position(|x| x == "--") {
                            Some(i) => w[i + 1..].to_vec(),
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                out.push((name.clone(), args));
            }
        }
    }
    out
}

/// Every example command parses: its subcommand, flags and values are
/// ones the CLI accepts. Those that need neither AWS nor a file the
/// reader writes first (a snapshot plan, `validate` and `route` on the
/// bundled files, `schema`, `init`, `completions`, `man`) are run, and
/// exit 0.
#[test]
fn every_example_command_parses_and_the_offline_ones_run() {
    let examples = example_commands();
    assert!(examples.len() >= 30, "{} examples", examples.len());
    let mut ran = 0;
    for (page, args) in &examples {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = kinesis_autoscaler::cli::check_args(&refs) {
            panic!(
                "{page}: `kinesis-autoscaler {}` does not parse:\n{e}",
                args.join(" ")
            );
        }
        let sub = refs
            .iter()
            .find(|a| !a.starts_with('-') && **a != "json" && **a != "text")
            .copied()
            .unwrap_or("");
        let offline = match sub {
            "schema" | "init" | "completions" | "man" => true,
            "validate" => true,
            "plan" | "route" => refs.contains(&"--snapshot"),
            _ => false,
        };
        // Files the reader is meant to write first (policy.yaml) are not
        // in the repository.
        let files_exist = refs
            .windows(2)
            .filter(|w| ["--policy", "--snapshot"].contains(&w[0]))
            .all(|w| root().join(w[1]).exists());
        if !(offline && files_exist) {
            continue;
        }
        let out = bin().args(&refs).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{page}: `kinesis-autoscaler {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} examples ran");
}

/// The keys a YAML text names, commented out or not: `key:` at a line's
/// start (after `#`, `-` or indentation) or after `{` or `,`.
fn yaml_keys(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let mut line = line.trim_start();
        if let Some(rest) = line.strip_prefix('#') {
            line = rest.trim_start();
        }
        // A trailing comment is prose.
        let line = line.split(" #").next().unwrap();
        let line = line.trim_start_matches("- ");
        let mut starts = vec![0];
        starts.extend(line.match_indices(['{', ',']).map(|(i, _)| i + 1));
        for s in starts {
            let rest = line[s..].trim_start();
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !key.is_empty()
                && rest[key.len()..].starts_with(':')
                && key.chars().next().unwrap().is_ascii_lowercase()
            {
                keys.insert(key);
            }
        }
    }
    keys
}

/// The property names anywhere in a JSON Schema.
fn schema_fields(schema: &serde_json::Value, out: &mut BTreeSet<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for v in map.values() {
                schema_fields(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_fields(v, out)),
        _ => {}
    }
}

/// The policy reference in `docs/policy.md` is `policies/example.yaml`,
/// byte for byte; it names every field of the policy's JSON Schema and no
/// field the schema lacks; and it validates.
#[test]
fn the_policy_reference_is_the_example_and_names_every_schema_field() {
    let example = read("policies/example.yaml");
    let page = read("docs/policy.md");
    let block = blocks(&page, "yaml")
        .into_iter()
        .next()
        .expect("a yaml block");
    if updating() && block != example {
        let start = page.find("```yaml\n").unwrap() + "```yaml\n".len();
        let end = start + page[start..].find("```\n").unwrap();
        let fixed = format!("{}{}{}", &page[..start], example, &page[end..]);
        std::fs::write(root().join("docs/policy.md"), fixed).unwrap();
    } else {
        assert!(
            block == example,
            "docs/policy.md's reference block differs from policies/example.yaml: regenerate it with `KAS_UPDATE_DOCS=1 cargo test --test it docs::`"
        );
    }
    let out = bin().arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut fields = BTreeSet::new();
    schema_fields(&schema, &mut fields);
    assert!(fields.len() > 50, "{fields:?}");
    let named = yaml_keys(&example);
    let undocumented: Vec<_> = fields.difference(&named).collect();
    assert!(
        undocumented.is_empty(),
        "policies/example.yaml does not name {undocumented:?}"
    );
    let unknown: Vec<_> = named.difference(&fields).collect();
    assert!(
        unknown.is_empty(),
        "policies/example.yaml names {unknown:?}, which the schema does not have"
    );
}

/// Every YAML example in the docs is accepted: a scenario by the scenario
/// parser, a whole policy or a top-level fragment of one (`api:`,
/// `notify:`) by `validate`.
#[test]
fn every_yaml_example_in_the_docs_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for page in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for (i, block) in blocks(&std::fs::read_to_string(&page).unwrap(), "yaml")
            .into_iter()
            .enumerate()
        {
            let path = dir.path().join(format!("example-{checked}.yaml"));
            if block.lines().any(|l| l.starts_with("trace:")) {
                kinesis_autoscaler::sim::Scenario::parse(&block, &root().join("scenarios/x.yaml"))
                    .unwrap_or_else(|e| panic!("{name}, yaml block {i}: {e}"));
            } else {
                let policy = if block.lines().any(|l| l.starts_with("version:")) {
                    block
                } else {
                    format!("version: 1\nstreams: [ {{ name: orders }} ]\n{block}")
                };
                std::fs::write(&path, policy).unwrap();
                let out = bin()
                    .args(["validate", "--policy"])
                    .arg(&path)
                    .env("SLACK_WEBHOOK_URL", "https://hooks.example.com/services/x")
                    .output()
                    .unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{name}, yaml block {i}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} yaml blocks");
}

/// Every relative link of the README, the guide and the contributor files
/// points at a file that exists, and `docs/SUMMARY.md` lists every page of
/// the guide.
#[test]
fn every_relative_link_resolves_and_the_summary_lists_every_page() {
    let link = |text: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
        }
        out
    };
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in link(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            let resolved = page.parent().unwrap().join(file);
            assert!(
                resolved.exists(),
                "{}: link to {target}, which does not exist",
                page.display()
            );
        }
    }
    let summary = read("docs/SUMMARY.md");
    let listed: BTreeSet<String> = link(&summary).into_iter().collect();
    for page in pages() {
        let Ok(rel) = page.strip_prefix(root().join("docs")) else {
            continue;
        };
        let rel = rel.display().to_string();
        if rel != "SUMMARY.md" {
            assert!(listed.contains(&rel), "docs/SUMMARY.md does not list {rel}");
        }
    }
}

/// ARCHITECTURE.md's code map and `src/lib.rs`'s name the modules the
/// layer test (tests/it/layers.rs) enforces, at its layers.
#[test]
fn the_code_maps_agree() {
    fn rows(text: &str) -> BTreeSet<(u32, String)> {
        text.lines()
            .map(|l| l.trim_start_matches("//!").trim())
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let layer = cells.get(1)?.parse().ok()?;
                let module = cells
                    .get(2)?
                    .trim_matches(|c| "`[]".contains(c))
                    .trim_end_matches('/')
                    .trim_end_matches(".rs");
                Some((layer, module.to_owned()))
            })
            .collect()
    }
    let architecture = rows(&read("ARCHITECTURE.md"));
    let lib = rows(&read("src/lib.rs"));
    // What the layer test enforces. ARCHITECTURE.md names testkit (in no
    // release build) under its map rather than in it.
    let enforced: BTreeSet<(u32, String)> = crate::layers::LAYERS
        .iter()
        .map(|(m, l)| (*l, (*m).to_owned()))
        .collect();
    assert_eq!(lib, enforced, "src/lib.rs's code map");
    let mut released = enforced;
    released.retain(|(_, m)| m != "testkit");
    assert_eq!(architecture, released, "ARCHITECTURE.md's code map");
}
