//! The module list at the top of src/lib.rs is a pipeline: each module
//! imports only from those listed above it (or itself). This test holds
//! the code to that list, so a newcomer can trust it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The modules in the order lib.rs's doc comment names them (`[`name`]`).
fn pipeline() -> Vec<String> {
    let lib = fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let mut order = Vec::new();
    for line in lib.lines().filter(|l| l.starts_with("//!")) {
        for part in line.split("[`").skip(1) {
            let name = part.split("`]").next().unwrap().to_string();
            if !order.contains(&name) {
                order.push(name);
            }
        }
    }
    order
}

/// A module's source files, without their tests (a `#[cfg(test)]` tail,
/// or whole test files) which may import anything.
fn sources(module: &str) -> Vec<(PathBuf, String)> {
    let src = Path::new(ROOT).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .filter(|p| p.exists())
        .filter(|p| {
            let name = p.file_stem().unwrap().to_string_lossy();
            name != "tests" && !name.ends_with("_tests")
        })
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            (p, code)
        })
        .collect()
}

/// Every `crate::NAME` a piece of code mentions.
fn crate_paths(code: &str) -> Vec<String> {
    code.split("crate::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_module_is_in_the_list() {
    let order = pipeline();
    let lib = fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line.strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(
                order.iter().any(|m| m == name),
                "src/lib.rs declares `{name}` but its module list does not place it: add [`{name}`] where it belongs in the pipeline"
            );
        }
    }
}

#[test]
fn each_module_imports_only_from_those_above_it() {
    let order = pipeline();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    assert!(rank.len() > 10, "the list in src/lib.rs was not found");
    let mut wrong = Vec::new();
    for (i, module) in order.iter().enumerate() {
        let files = sources(module);
        assert!(!files.is_empty(), "no source for module {module}");
        for (path, code) in files {
            for used in crate_paths(&code) {
                match rank.get(used.as_str()) {
                    Some(&j) if j > i => wrong.push(format!(
                        "{} uses crate::{used}, which src/lib.rs lists below {module}",
                        path.strip_prefix(ROOT).unwrap().display()
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    assert_eq!(
        crate_paths("use crate::commands::x;\nlet y = crate::paths::Z;"),
        ["commands", "paths"]
    );
}
