//! Golden files: `kubealived render` for representative configurations,
//! compared with tests/golden/<case>/ using `diff -u`. Regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The rendered files of one case: (file name, render arguments).
fn outputs(args: &[String]) -> Vec<(&'static str, Vec<String>)> {
    if args.iter().any(|a| a == "--kind") {
        return vec![("bundle.yaml", args.to_vec())];
    }
    vec![
        (
            "keepalived.conf",
            [args, &["--keepalived-conf".to_string()]].concat(),
        ),
        ("kubealived.yaml", args.to_vec()),
    ]
}

pub fn case_args(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("args"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn rendered_files_match_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let actual_dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut cases = 0;
    for entry in fs::read_dir(repo().join("tests/golden")).unwrap() {
        let case = entry.unwrap().path();
        cases += 1;
        for (file, args) in outputs(&case_args(&case)) {
            let out = must(Command::new(BIN).arg("render").args(&args));
            let expected = case.join(file);
            if update {
                fs::write(&expected, &out.stdout).unwrap();
                continue;
            }
            let actual = actual_dir.path().join(format!(
                "{}-{file}",
                case.file_name().unwrap().to_string_lossy()
            ));
            fs::write(&actual, &out.stdout).unwrap();
            let diff = run(Command::new("diff").arg("-u").arg(&expected).arg(&actual));
            if !diff.status.success() {
                failures.push(format!("{}\n{}", expected.display(), text(&diff.stdout)));
            }
        }
    }
    assert!(
        cases >= 5,
        "expected the golden cases under tests/golden, found {cases}"
    );
    assert!(
        failures.is_empty(),
        "rendered output differs from golden files (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}
