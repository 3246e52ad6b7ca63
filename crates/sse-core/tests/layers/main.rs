//! The hub drawn in layers, enforced. The drawing in `src/hub/mod.rs` ("Layers")
//! places every file of `src/hub/` in a layer; this test reads it, then every
//! import of every hub file (`use super::…`, `use crate::…`, and paths written in
//! code, test modules included), and fails when one goes to a higher layer, when
//! imports go in a circle, or when one reaches a module of the crate that the
//! drawing does not list as below the hub. It also holds every source file to at
//! most 500 lines of code.
//!
//! Only `std`: the source is read as text, its comments and literals dropped, and
//! the `use` trees parsed by hand (`rust.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

mod rust;

use rust::{Token, code_only, imports, tokens};

/// The most lines of code (not blank, not a `//` comment) a source file may hold.
const MAX_CODE_LINES: usize = 500;

#[test]
fn hub_imports_go_only_down_the_layers_and_never_in_a_circle() {
    let sources = Sources::read();
    let problems = sources.layer_problems();
    assert!(
        problems.is_empty(),
        "the hub's layers (src/hub/mod.rs, \"Layers\") are broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_source_file_holds_more_than_500_lines_of_code() {
    let sources = Sources::read();
    let too_long: Vec<String> = sources
        .files
        .iter()
        .map(|(path, text)| (path, code_lines(text)))
        .filter(|(_, lines)| *lines > MAX_CODE_LINES)
        .map(|(path, lines)| format!("{}: {lines} lines of code", path.display()))
        .collect();
    assert!(
        too_long.is_empty(),
        "over {MAX_CODE_LINES} lines of code (split them; move big test modules into a \
         sibling tests.rs):\n{}",
        too_long.join("\n")
    );
}

#[test]
fn an_upward_import_is_caught() {
    for (file, import) in [
        ("hub/log.rs", "use super::state::State;"),
        ("hub/keys.rs", "use crate::hub::client::Client;"),
        ("hub/state.rs", "fn f() -> super::Hub { todo!() }"),
        ("hub/order.rs", "use super::{keys::LogRef, logs::Logs};"),
    ] {
        let mut sources = Sources::read();
        sources.append(file, import);
        let problems = sources.layer_problems();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("imports") && p.contains(file)),
            "{file} with `{import}`: {problems:?}"
        );
    }
}

#[test]
fn a_circle_within_a_layer_is_caught() {
    let mut sources = Sources::read();
    // registry.rs imports client.rs; the other way closes a circle.
    sources.append("hub/client.rs", "use super::registry::Registry;");
    let problems = sources.layer_problems();
    assert!(
        problems.iter().any(|p| p.contains("circle")),
        "{problems:?}"
    );
}

#[test]
fn an_import_of_a_module_above_the_hub_is_caught() {
    for import in ["use crate::http::Accepted;", "use crate::RESUME_LOCATION;"] {
        let mut sources = Sources::read();
        sources.append("hub/hooks.rs", import);
        let problems = sources.layer_problems();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("hub/hooks.rs") && p.contains("http")),
            "`{import}`: {problems:?}"
        );
    }
}

#[test]
fn a_file_the_drawing_does_not_place_is_caught() {
    let mut sources = Sources::read();
    sources
        .files
        .insert(PathBuf::from("hub/unplaced.rs"), String::new());
    let problems = sources.layer_problems();
    assert!(
        problems.iter().any(|p| p.contains("unplaced.rs")),
        "{problems:?}"
    );
}

#[test]
fn the_drawing_is_read_as_drawn() {
    let drawing = Drawing::parse(Sources::read().text("hub/mod.rs"));
    assert_eq!(drawing.layers["mod.rs"].0, 4);
    assert_eq!(drawing.layers["state.rs"], (3, "state".to_owned()));
    assert_eq!(drawing.layers["keys.rs"].0, 0);
    for module in ["encode", "request", "scan"] {
        assert!(drawing.below.contains(module), "{module} below the hub");
    }
    assert!(drawing.above.contains("http") && drawing.above.contains("resume"));
    assert!(drawing.below.is_disjoint(&drawing.above));
}

#[test]
fn code_lines_leave_out_blank_and_comment_lines() {
    let text = "//! Doc.\n\nuse a;\n  // note\n/// Item.\nfn f() {} // trailing\n";
    assert_eq!(code_lines(text), 2);
}

/// Lines that are neither blank nor `//` comments (doc comments included).
fn code_lines(text: &str) -> usize {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .count()
}

/// The crate's source files, by path under `src/`.
struct Sources {
    files: BTreeMap<PathBuf, String>,
}

impl Sources {
    fn read() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = BTreeMap::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    let text = fs::read_to_string(&path).expect("a source file");
                    let relative = path.strip_prefix(&src).expect("under src").to_path_buf();
                    files.insert(relative, text);
                }
            }
        }
        Sources { files }
    }

    /// Adds `line` at the end of `file` (for the tests that break the rules).
    fn append(&mut self, file: &str, line: &str) {
        let text = self
            .files
            .get_mut(Path::new(file))
            .expect("the file exists");
        text.push('\n');
        text.push_str(line);
        text.push('\n');
    }

    fn text(&self, file: &str) -> &str {
        &self.files[Path::new(file)]
    }

    /// Every way the hub's files break the drawing; empty when none does.
    fn layer_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let drawing = Drawing::parse(self.text("hub/mod.rs"));
        let root = Root::parse(self.text("lib.rs"));
        let hub_files: BTreeSet<String> = self
            .files
            .keys()
            .filter_map(|path| hub_file(path))
            .collect();

        for file in &hub_files {
            if !drawing.layers.contains_key(file) {
                problems.push(format!(
                    "hub/{file} is in no layer: place it in the drawing in src/hub/mod.rs"
                ));
            }
        }
        for file in drawing.layers.keys() {
            if !hub_files.contains(file) {
                problems.push(format!(
                    "the drawing places hub/{file}, which does not exist"
                ));
            }
        }

        // Hub file to the hub files it imports.
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, text) in &self.files {
            let Some(file) = hub_file(path) else {
                continue;
            };
            let module = module_path(path);
            for import in imports(text, &module) {
                match root.resolve(&import.path, &hub_files) {
                    Target::External => {}
                    Target::Hub(target) if target == file => {}
                    Target::Hub(target) => {
                        let (Some(from), Some(to)) =
                            (drawing.layers.get(&file), drawing.layers.get(&target))
                        else {
                            continue;
                        };
                        if to.0 > from.0 {
                            problems.push(format!(
                                "{} (layer {} {}) imports hub/{target} (layer {} {}), above \
                                 it: `{}`",
                                path.display(),
                                from.0,
                                from.1,
                                to.0,
                                to.1,
                                import.path.join("::")
                            ));
                        }
                        edges.entry(file.clone()).or_default().insert(target);
                    }
                    Target::Outside(module) => {
                        if !drawing.below.contains(&module) {
                            let place = if drawing.above.contains(&module) {
                                "above the hub"
                            } else {
                                "not listed below the hub"
                            };
                            problems.push(format!(
                                "{} imports crate::{module}, {place}: `{}`",
                                path.display(),
                                import.path.join("::")
                            ));
                        }
                    }
                }
            }
        }
        if let Some(circle) = find_circle(&edges) {
            problems.push(format!(
                "hub files import each other in a circle: {}",
                circle.join(" -> ")
            ));
        }

        // What the hub may import must not lead back to it.
        for (path, text) in &self.files {
            let top = path
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|name| name.trim_end_matches(".rs").to_owned())
                .unwrap_or_default();
            if !drawing.below.contains(&top) {
                continue;
            }
            for import in imports(text, &module_path(path)) {
                let module = match root.resolve(&import.path, &hub_files) {
                    Target::External => continue,
                    Target::Hub(_) => "hub".to_owned(),
                    Target::Outside(module) => module,
                };
                if module != top && !drawing.below.contains(&module) {
                    problems.push(format!(
                        "{} (below the hub) imports crate::{module}, which is not below it: `{}`",
                        path.display(),
                        import.path.join("::")
                    ));
                }
            }
        }
        problems
    }
}

/// The hub file (`log.rs`, `mod.rs`) a source file belongs to: a file in a
/// directory of the hub's (`hub/client/tests.rs`) belongs to that module's file.
fn hub_file(path: &Path) -> Option<String> {
    let mut parts = path
        .components()
        .map(|c| c.as_os_str().to_str().unwrap_or(""));
    if parts.next() != Some("hub") {
        return None;
    }
    let first = parts.next()?;
    let is_file = parts.next().is_none();
    Some(if is_file {
        first.to_owned()
    } else {
        format!("{first}.rs")
    })
}

/// The module a source file is: `hub/log.rs` is `hub::log`, `hub/mod.rs` is `hub`.
fn module_path(path: &Path) -> Vec<String> {
    let mut module: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = module.pop().unwrap_or_default();
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        name => module.push(name.trim_end_matches(".rs").to_owned()),
    }
    module
}

/// The layers, as the drawing in the hub's module documentation shows them.
struct Drawing {
    /// Each hub file, with its layer's number and name.
    layers: BTreeMap<String, (u32, String)>,
    /// The crate's modules below the hub: any hub file may import them.
    below: BTreeSet<String>,
    /// The crate's modules above the hub (they import it).
    above: BTreeSet<String>,
}

impl Drawing {
    /// Reads the first `text` block after the "# Layers" heading.
    fn parse(module_doc: &str) -> Self {
        let mut drawing = Drawing {
            layers: BTreeMap::new(),
            below: BTreeSet::new(),
            above: BTreeSet::new(),
        };
        let lines = module_doc
            .lines()
            .map_while(|line| line.trim_start().strip_prefix("//!"))
            .skip_while(|line| line.trim() != "# Layers")
            .skip_while(|line| line.trim() != "```text")
            .skip(1)
            .take_while(|line| line.trim() != "```");
        let mut layer: Option<(u32, String)> = None;
        // A list of modules (`crate::{a, b,` and on to `}`, maybe over lines) being
        // read: whether it is of those below the hub, and what it holds so far.
        let mut list: Option<(bool, String)> = None;
        for line in lines {
            if line.contains("below the hub") || line.contains("above the hub") {
                let start = line.split_once("crate::{").map_or("", |(_, rest)| rest);
                list = Some((line.contains("below the hub"), String::new()));
                drawing.read_list(&mut list, start);
                continue;
            }
            if list.is_some() {
                drawing.read_list(&mut list, line);
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [number, name, ..] = words[..]
                && let Ok(number) = number.parse::<u32>()
            {
                layer = Some((number, name.to_owned()));
            }
            for file in words.iter().filter(|word| word.ends_with(".rs")) {
                let layer = layer.clone().expect("a layer's number and name come first");
                let placed = drawing.layers.insert((*file).to_owned(), layer);
                assert!(placed.is_none(), "the drawing places {file} twice");
            }
        }
        assert!(!drawing.layers.is_empty(), "no drawing under \"# Layers\"");
        assert!(
            list.is_none(),
            "a list of modules without its closing brace"
        );
        drawing
    }

    /// Adds `text` to the list being read; at its `}`, ends the list and files its
    /// modules below or above the hub.
    fn read_list(&mut self, list: &mut Option<(bool, String)>, text: &str) {
        let Some((below, held)) = list else {
            return;
        };
        let (part, closed) = match text.split_once('}') {
            Some((part, _)) => (part, true),
            None => (text, false),
        };
        held.push_str(part);
        held.push(',');
        if closed {
            let modules = held
                .split(',')
                .map(str::trim)
                .filter(|module| !module.is_empty())
                .map(str::to_owned);
            if *below {
                self.below.extend(modules);
            } else {
                self.above.extend(modules);
            }
            *list = None;
        }
    }
}

/// The crate root: its modules, and where each name it re-exports comes from.
struct Root {
    modules: BTreeSet<String>,
    names: BTreeMap<String, String>,
}

/// Where an import goes.
#[derive(Debug, PartialEq)]
enum Target {
    /// Another crate (`std`, `bytes`), or a local name.
    External,
    /// A hub file: `log.rs`, or `mod.rs` for the hub's own items and re-exports.
    Hub(String),
    /// A module of the crate outside the hub.
    Outside(String),
}

impl Root {
    fn parse(lib: &str) -> Self {
        let code = code_only(lib);
        let tokens = tokens(&code);
        let modules = tokens
            .windows(2)
            .filter_map(|pair| match pair {
                [Token::Ident(word), Token::Ident(name)] if word == "mod" => Some(name.clone()),
                _ => None,
            })
            .collect();
        let names = imports(lib, &[])
            .into_iter()
            .filter(|import| import.path.len() == 2)
            .map(|import| (import.path[1].clone(), import.path[0].clone()))
            .collect();
        Root { modules, names }
    }

    /// Where `path` (absolute, from the crate root) goes.
    fn resolve(&self, path: &[String], hub_files: &BTreeSet<String>) -> Target {
        let Some(first) = path.first() else {
            return Target::External;
        };
        let module = if self.modules.contains(first) {
            first.clone()
        } else if let Some(module) = self.names.get(first) {
            module.clone()
        } else {
            return Target::Outside(first.clone());
        };
        if module != "hub" {
            return Target::Outside(module);
        }
        match path.get(1) {
            Some(file)
                if self.modules.contains(first) && hub_files.contains(&format!("{file}.rs")) =>
            {
                Target::Hub(format!("{file}.rs"))
            }
            _ => Target::Hub("mod.rs".to_owned()),
        }
    }
}

/// A circle in `edges`, as the files along it (the first one again at its end).
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        file: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        trail: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(file) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = trail.iter().position(|f| f == file).unwrap_or(0);
                let mut circle = trail[start..].to_vec();
                circle.push(file.to_owned());
                return Some(circle);
            }
            None => {}
        }
        marks.insert(file.to_owned(), Mark::Open);
        trail.push(file.to_owned());
        for next in edges.get(file).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, marks, trail) {
                return Some(circle);
            }
        }
        trail.pop();
        marks.insert(file.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    edges
        .keys()
        .find_map(|file| visit(file, edges, &mut marks, &mut Vec::new()))
}
