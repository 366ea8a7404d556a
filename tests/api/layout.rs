//! The source tree's layers: each folder of `src/` may use only the layers listed before it, so
//! the folders show the architecture and no import loop can creep back in.

use std::path::Path;

/// Bottom to top. `config` and `app` are single files; the rest are folders.
const LAYERS: &[&str] = &[
    "support",
    "telemetry",
    "tokens",
    "web",
    "idp",
    "config",
    "app",
    "endpoints",
    "adapters",
    "proxy",
    "doctor",
    "dev_idp",
];

/// The `crate::<layer>` names a source file uses outside its tests and comments.
fn layers_used(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let code: String = code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut used = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::b, c};`: the first name of each top-level item.
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => used.push(std::mem::take(&mut item)),
                    _ => item.push(c),
                }
            }
            used.push(item);
        } else {
            used.push(rest.to_owned());
        }
    }
    used.iter()
        .map(|u| {
            u.trim().split("::").next().unwrap_or("").chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
        })
        .filter(|name: &String| LAYERS.contains(&name.as_str()))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut violations = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        let Some(level) = LAYERS.iter().position(|l| *l == first) else {
            assert!(["lib", "main"].contains(&first.as_str()), "{} is in no layer: add it to LAYERS", rel.display());
            continue;
        };
        checked += 1;
        for used in layers_used(&std::fs::read_to_string(&file).unwrap()) {
            let used_level = LAYERS.iter().position(|l| *l == used).unwrap();
            if used_level > level {
                violations.push(format!("{} ({first}) uses {used}, a layer above it", rel.display()));
            }
        }
    }
    assert!(checked >= 30, "only {checked} files checked");
    assert!(violations.is_empty(), "layering broken:\n{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_inline_uses() {
    let source = "use crate::{app::App, web::{pages, errors}};\nfn f() { crate::endpoints::x(); } // crate::dev_idp\n";
    assert_eq!(layers_used(source), ["app", "web", "endpoints"]);
}
