//! The house rules, checked on the source text so that they stay true without anyone
//! remembering them:
//! - (a) no import cycle among `src/` modules, and no import from a layer above (the layer
//!   table below is the architecture's layer order);
//! - (b) no non-test source file over 600 lines (a trailing `#[cfg(test)] mod tests` does not
//!   count);
//! - (c) no function over 80 lines, except the data tables allowed below with their reason.
//!
//! Imports are read from `use` trees and from `crate::…`, `super::…` and `self::…` paths in
//! code, after comments, strings and char literals are blanked out. Test code (`#[cfg(test)]`
//! items and files) is left out of (a): tests may reach anywhere. Every violation is printed
//! as `file:line …`; the test fails on any that is not on the pending list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The layers, top to bottom. A module may import from its own layer (if that makes no cycle)
/// and from any layer below, never from one above. Every top-level module must be listed.
const LAYERS: &[(&str, &[&str])] = &[
    ("front ends", &["front"]),
    ("pipeline", &["pipeline"]),
    ("verbs", &["verbs"]),
    ("context handed down", &["app"]),
    // A run's life is the one service that needs the others together: it is handed the
    // `Services` bundle, which holds no run.
    ("runs", &["runs", "load_tests"]),
    ("service handles", &["services"]),
    (
        "services",
        &[
            "terraform",
            "render",
            "store",
            "schedule",
            "policy",
            "command",
            "audit_log",
            "request",
            "outlet",
            "aws",
        ],
    ),
    (
        "foundations",
        &[
            "model",
            "config",
            "slack",
            "masker",
            "metrics",
            "results",
            "private_fs",
        ],
    ),
];

/// Functions allowed over the length limit because they are data, not logic:
/// (file, function, why).
const DATA_TABLES: &[(&str, &str, &str)] = &[
    (
        "src/command/parse.rs",
        "table",
        "one row per parser case: the input and the exact answer",
    ),
    (
        "src/command/mod.rs",
        "verbs_print_their_canonical_text",
        "one row per verb: its canonical text and kind",
    ),
    (
        "src/render/samples.rs",
        "fixed",
        "one sample per view of the bot's own messages, named as its snapshot file",
    ),
    (
        "src/schedule/planner.rs",
        "scheduled_fires",
        "one row per planner case: the clock, the state and the expected actions",
    ),
    (
        "src/slack/signature.rs",
        "forged_missing_stale_and_malformed_requests_are_refused",
        "one row per refused request: its headers and the expected error",
    ),
];

/// Files other branches are editing at the time of writing, whose violations are printed but
/// do not fail the test yet. This list is emptied once those branches are merged and fixed;
/// an entry whose file has no violation left fails the test so that the list only shrinks.
const PENDING_OTHER_BRANCHES: &[&str] = &[];

/// Test harness and benchmark files still over the limits, exempt for now (printed as
/// `NOT YET SPLIT`, never failing): they are not product code, and splitting them is queued
/// work, not a rule waived. An entry whose file is within the limits fails the test, so this
/// list only shrinks.
const HARNESS_NOT_YET_SPLIT: &[&str] = &[
    "benches/core.rs",
    "benches/slack.rs",
    "tests/integration/support/fake_slack/block_kit.rs",
    "tests/integration/support/fake_slack/mod.rs",
    "tests/integration/support/fake_slack/socket_mode.rs",
    "tests/integration/support/fake_slack/web_api/messages_tests.rs",
    "tests/integration/support/fake_slack/web_api/refusals_tests.rs",
];

/// Directories scanned for (b) and (c) besides `src/`: the test harness and the benchmarks
/// are code someone maintains too. Scenario tests (`tests/integration/*.rs`) are not held to
/// the function limit: each reads top to bottom as one user story, and cutting it into steps
/// would hide the story; the shared support under `tests/integration/support/` is.
const OTHER_SOURCE_DIRS: &[&str] = &["tests/integration/support", "benches"];

/// Boundaries: a word that may appear in `src/` code only under the given paths (comments
/// aside), and the rule it keeps.
const BOUNDARIES: &[(&str, &[&str], &str)] = &[
    ("rusqlite", &["src/store/"], "only src/store/ holds SQL"),
    (
        "Command::new",
        &["src/terraform/runner.rs"],
        "only the Terraform runner spawns processes",
    ),
    (
        "\"@message\"",
        &["src/terraform/", "src/fuzz.rs"],
        "only src/terraform/ reads Terraform's JSON",
    ),
    (
        "web-api-encodings.tsv",
        &["src/slack/methods.rs"],
        "only src/slack/methods.rs decides how a Web API method is sent",
    ),
];

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

#[test]
fn the_house_rules_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    let sources = read_sources(&root.join("src"), root);
    let graph = ModuleGraph::build(&sources);
    violations.extend(graph.cycles());
    violations.extend(graph.layer_violations());
    violations.extend(boundary_violations(root));
    let test_only = test_only_modules(&sources);
    let mut all = sources;
    for dir in OTHER_SOURCE_DIRS {
        all.extend(read_sources(&root.join(dir), root));
    }
    for source in &all {
        violations.extend(file_length_violation(source, &test_only));
        violations.extend(long_functions(source));
    }
    let report = judge(&violations);
    println!("{report}");
    assert!(
        !report.contains("FAIL"),
        "house rules broken (see the lines marked FAIL above)"
    );
}

/// One broken rule, located.
struct Violation {
    file: String,
    line: usize,
    what: String,
    /// Other files a cycle runs through: a cycle is pending while any of them is.
    involves: Vec<String>,
}

impl Violation {
    fn new(file: &str, line: usize, what: String) -> Self {
        let (file, involves) = (file.to_string(), Vec::new());
        Violation {
            file,
            line,
            what,
            involves,
        }
    }

    fn is_pending(&self) -> bool {
        std::iter::once(&self.file)
            .chain(&self.involves)
            .any(|file| PENDING_OTHER_BRANCHES.contains(&file.as_str()))
    }
}

/// Marks each violation FAIL or PENDING, and flags pending entries that no longer break
/// anything.
fn judge(violations: &[Violation]) -> String {
    let mut report = String::new();
    for v in violations {
        let mark = if v.is_pending() {
            "PENDING"
        } else if HARNESS_NOT_YET_SPLIT.contains(&v.file.as_str()) {
            "NOT YET SPLIT"
        } else {
            "FAIL"
        };
        let _ = writeln!(report, "{mark} {}:{} {}", v.file, v.line, v.what);
    }
    for file in PENDING_OTHER_BRANCHES {
        if !violations
            .iter()
            .any(|v| v.file == *file || v.involves.iter().any(|f| f == file))
        {
            let _ = writeln!(
                report,
                "FAIL {file}: on PENDING_OTHER_BRANCHES but clean now"
            );
        }
    }
    for file in HARNESS_NOT_YET_SPLIT {
        if !violations.iter().any(|v| v.file == *file) {
            let _ = writeln!(
                report,
                "FAIL {file}: on HARNESS_NOT_YET_SPLIT but within limits now"
            );
        }
    }
    if report.is_empty() {
        report.push_str("house rules hold");
    }
    report
}

// ---------------------------------------------------------------------------------------------
// Reading sources

/// One `.rs` file: its path from the repository root, its module path (for files under
/// `src/`), its text with comments and literals blanked, and its tokens.
struct Source {
    path: String,
    module: Option<Vec<String>>,
    raw_lines: usize,
    tokens: Vec<Token>,
}

fn read_sources(dir: &Path, root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    collect_rs_files(dir, &mut files);
    files.sort();
    let in_src = dir.ends_with("src");
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).expect("read a source file");
            let relative = file.strip_prefix(dir).expect("under its directory");
            Source {
                path: file.strip_prefix(root).unwrap().display().to_string(),
                module: if in_src { module_path(relative) } else { None },
                raw_lines: text.lines().count(),
                tokens: tokenize(&blank_out(&text)),
            }
        })
        .collect()
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_rs_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` → the crate root; `main.rs` is the binary,
/// a crate of its own, so it has no module path here.
fn module_path(relative: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "main.rs" if parts.is_empty() => None,
        "lib.rs" if parts.is_empty() => Some(parts),
        "mod.rs" => Some(parts),
        _ => {
            parts.push(last.trim_end_matches(".rs").to_string());
            Some(parts)
        }
    }
}

/// The text with every comment, string and char literal replaced by spaces (newlines kept), so
/// that braces, `fn` and paths are only ever seen in code.
fn blank_out(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let end = literal_or_comment_end(&chars, i);
        if end > i {
            out.extend(
                chars[i..end]
                    .iter()
                    .map(|&c| if c == '\n' { '\n' } else { ' ' }),
            );
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Where the comment or literal starting at `i` ends, or `i` when none starts there.
fn literal_or_comment_end(chars: &[char], i: usize) -> usize {
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    let ident_before = i > 0 && (at(i - 1).is_alphanumeric() || at(i - 1) == '_');
    match (at(i), at(i + 1)) {
        ('/', '/') => (i..chars.len())
            .find(|&k| chars[k] == '\n')
            .unwrap_or(chars.len()),
        ('/', '*') => block_comment_end(chars, i),
        ('"', _) => quoted_end(chars, i + 1, '"'),
        ('b', '"') if !ident_before => quoted_end(chars, i + 2, '"'),
        ('r', '"' | '#') | ('b', 'r') if !ident_before => raw_string_end(chars, i),
        ('b', '\'') if !ident_before => quoted_end(chars, i + 2, '\''),
        ('\'', _) => char_literal_end(chars, i),
        _ => i,
    }
}

/// Block comments nest in Rust.
fn block_comment_end(chars: &[char], start: usize) -> usize {
    let (mut depth, mut k) = (0usize, start);
    while k + 1 < chars.len() {
        match (chars[k], chars[k + 1]) {
            ('/', '*') => {
                depth += 1;
                k += 2;
            }
            ('*', '/') => {
                depth -= 1;
                k += 2;
                if depth == 0 {
                    return k;
                }
            }
            _ => k += 1,
        }
    }
    chars.len()
}

/// The end of a quoted literal whose body starts at `k`, honouring backslash escapes.
fn quoted_end(chars: &[char], mut k: usize, quote: char) -> usize {
    while k < chars.len() {
        match chars[k] {
            '\\' => k += 2,
            c if c == quote => return k + 1,
            _ => k += 1,
        }
    }
    chars.len()
}

/// `r"…"`, `r#"…"#`, `br"…"`: ends at the quote followed by as many `#` as opened it.
fn raw_string_end(chars: &[char], start: usize) -> usize {
    let mut k = start + if chars[start] == 'b' { 2 } else { 1 };
    let hashes = chars[k..].iter().take_while(|&&c| c == '#').count();
    k += hashes;
    if chars.get(k) != Some(&'"') {
        return start; // `r#ident` or a plain identifier starting with r/br
    }
    k += 1;
    while k < chars.len() {
        if chars[k] == '"' && chars[k + 1..].iter().take(hashes).all(|&c| c == '#') {
            let closing = chars[k + 1..].iter().take(hashes).count();
            if closing == hashes {
                return k + 1 + hashes;
            }
        }
        k += 1;
    }
    chars.len()
}

/// A char literal (`'a'`, `'\n'`, `'\u{1F600}'`, `'{'`); a lifetime (`'a`) is left alone.
fn char_literal_end(chars: &[char], start: usize) -> usize {
    match (chars.get(start + 1), chars.get(start + 2)) {
        (Some('\\'), _) => quoted_end(chars, start + 1, '\''),
        (Some(_), Some('\'')) => start + 3,
        _ => start,
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

impl Token {
    fn is_ident(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Ident(w) if w == word)
    }
    fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
    fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(w) => Some(w),
            _ => None,
        }
    }
}

fn tokenize(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let (mut tokens, mut line, mut i) = (Vec::new(), 1, 0);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Token {
                tok: Tok::Ident(word),
                line,
            });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// The index of the token closing the bracket opened at `open` (or the last token).
fn matching_close(tokens: &[Token], open: usize) -> usize {
    let (opener, closer) = match tokens[open].tok {
        Tok::Punct('(') => ('(', ')'),
        Tok::Punct('[') => ('[', ']'),
        _ => ('{', '}'),
    };
    let mut depth = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct(opener) {
            depth += 1;
        } else if token.is_punct(closer) {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    tokens.len() - 1
}

/// The end of the item starting at `start`: its `;`, or the brace closing its body.
fn item_end(tokens: &[Token], start: usize) -> usize {
    let mut k = start;
    while k < tokens.len() {
        match tokens[k].tok {
            Tok::Punct(';') => return k,
            Tok::Punct('{') => return matching_close(tokens, k),
            Tok::Punct('(') | Tok::Punct('[') => k = matching_close(tokens, k) + 1,
            _ => k += 1,
        }
    }
    tokens.len() - 1
}

/// Token ranges of test-only items (`#[cfg(test)]` on an item), and whether the whole file is
/// test-only (`#![cfg(test)]`). Each range runs from the attribute's `#` to the item's end.
fn test_ranges(tokens: &[Token]) -> (bool, Vec<(usize, usize)>) {
    let mut ranges = Vec::new();
    let mut whole_file = false;
    let mut k = 0;
    while k < tokens.len() {
        if !tokens[k].is_punct('#') {
            k += 1;
            continue;
        }
        let inner = tokens.get(k + 1).is_some_and(|t| t.is_punct('!'));
        let open = if inner { k + 2 } else { k + 1 };
        if !tokens.get(open).is_some_and(|t| t.is_punct('[')) {
            k += 1;
            continue;
        }
        let close = matching_close(tokens, open);
        let is_cfg_test = close == open + 5
            && tokens[open + 1].is_ident("cfg")
            && tokens[open + 3].is_ident("test");
        if is_cfg_test && inner {
            whole_file = true;
        } else if is_cfg_test {
            let end = item_end(tokens, skip_attributes(tokens, close + 1));
            ranges.push((k, end));
            k = end;
        }
        k += 1;
    }
    (whole_file, ranges)
}

/// The first token after any further attributes.
fn skip_attributes(tokens: &[Token], mut k: usize) -> usize {
    while tokens.get(k).is_some_and(|t| t.is_punct('#'))
        && tokens.get(k + 1).is_some_and(|t| t.is_punct('['))
    {
        k = matching_close(tokens, k + 1) + 1;
    }
    k
}

// ---------------------------------------------------------------------------------------------
// (b) and (c): lengths

fn file_length_violation(source: &Source, test_only: &BTreeSet<Vec<String>>) -> Option<Violation> {
    let (whole_file_is_test, ranges) = test_ranges(&source.tokens);
    let is_test_file = whole_file_is_test
        || source
            .module
            .as_ref()
            .is_some_and(|m| test_only.contains(m));
    if is_test_file {
        return None;
    }
    let counted = match ranges.last() {
        Some(&(start, end)) if end + 1 == source.tokens.len() => source.tokens[start].line - 1,
        _ => source.raw_lines,
    };
    let what = format!("file has {counted} lines of non-test code (limit {MAX_FILE_LINES})");
    (counted > MAX_FILE_LINES).then(|| Violation::new(&source.path, counted, what))
}

/// Every `fn` whose body spans more than the limit, from the `fn` line to its closing brace.
fn long_functions(source: &Source) -> Vec<Violation> {
    let tokens = &source.tokens;
    let mut found = Vec::new();
    for k in 0..tokens.len().saturating_sub(1) {
        let Some(name) = tokens[k + 1].ident() else {
            continue;
        };
        if !tokens[k].is_ident("fn") {
            continue;
        }
        let end = item_end(tokens, k + 2);
        if !tokens[end].is_punct('}') {
            continue; // a declaration without a body
        }
        let length = tokens[end].line - tokens[k].line + 1;
        let allowed = DATA_TABLES
            .iter()
            .any(|(file, function, _)| *file == source.path && *function == name);
        if length > MAX_FN_LINES && !allowed {
            let what = format!("fn {name} is {length} lines (limit {MAX_FN_LINES})");
            found.push(Violation::new(&source.path, tokens[k].line, what));
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// (a): the module graph

/// One import: `from` (the importing file's module) uses something of `to`.
struct Edge {
    from: Vec<String>,
    to: Vec<String>,
    file: String,
    line: usize,
    written: String,
}

/// One leaf of a `use` tree: the full path as written, the name it brings in (`*` for a
/// glob), and the line of its last segment.
struct UseLeaf {
    path: Vec<String>,
    name: String,
    line: usize,
    public: bool,
}

struct ModuleGraph {
    modules: BTreeSet<Vec<String>>,
    /// (module, name) → the descendant module that name is re-exported from.
    reexports: BTreeMap<(Vec<String>, String), Vec<String>>,
    /// module → descendants whose public items it re-exports with `*`, and their items.
    globs: BTreeMap<Vec<String>, Vec<Vec<String>>>,
    items: BTreeMap<Vec<String>, BTreeSet<String>>,
    edges: Vec<Edge>,
}

impl ModuleGraph {
    fn build(sources: &[Source]) -> Self {
        let mut graph = ModuleGraph {
            modules: sources.iter().filter_map(|s| s.module.clone()).collect(),
            reexports: BTreeMap::new(),
            globs: BTreeMap::new(),
            items: BTreeMap::new(),
            edges: Vec::new(),
        };
        let test_only = test_only_modules(sources);
        for source in sources {
            let Some(module) = &source.module else {
                continue;
            };
            graph
                .items
                .insert(module.clone(), public_items(&source.tokens));
            graph.note_reexports(module, &source.tokens);
        }
        for source in sources {
            match &source.module {
                Some(module) if !test_only.contains(module) => graph.add_edges(source, module),
                _ => {}
            }
        }
        graph
    }

    fn note_reexports(&mut self, module: &[String], tokens: &[Token]) {
        for leaf in use_leaves(tokens, &test_ranges(tokens).1) {
            let Some(target) = self.resolve(module, &leaf.path, false) else {
                continue;
            };
            if !leaf.public || target.len() <= module.len() || !target.starts_with(module) {
                continue;
            }
            if leaf.name == "*" {
                self.globs.entry(module.to_vec()).or_default().push(target);
            } else {
                self.reexports.insert((module.to_vec(), leaf.name), target);
            }
        }
    }

    fn add_edges(&mut self, source: &Source, module: &[String]) {
        let (_, tests) = test_ranges(&source.tokens);
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for leaf in use_leaves(&source.tokens, &tests) {
            found.push((leaf.path, leaf.line));
        }
        found.extend(code_paths(&source.tokens, &tests));
        for (path, line) in found {
            let current = inline_module_at(module, &source.tokens, line);
            let Some(to) = self.resolve(&current, &path, true) else {
                continue;
            };
            if to.is_empty() || to == module || !seen.insert((line, to.clone())) {
                continue;
            }
            self.edges.push(Edge {
                from: module.to_vec(),
                to,
                file: source.path.clone(),
                line,
                written: path.join("::"),
            });
        }
    }

    /// The module a path names or whose item it names; `None` for other crates.
    fn resolve(
        &self,
        current: &[String],
        path: &[String],
        via_reexports: bool,
    ) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        let (mut base, rest) = match first {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (current.to_vec(), &path[1..]),
            "super" => {
                let supers = path.iter().take_while(|s| *s == "super").count();
                let keep = current.len().checked_sub(supers)?;
                (current[..keep].to_vec(), &path[supers..])
            }
            _ => {
                let mut child = current.to_vec();
                child.push(first.to_string());
                if !self.modules.contains(&child) {
                    return None; // another crate, or an item of this module
                }
                (current.to_vec(), path)
            }
        };
        let mut rest = rest.iter();
        for segment in rest.by_ref() {
            let mut deeper = base.clone();
            deeper.push(segment.clone());
            if self.modules.contains(&deeper) {
                base = deeper;
                continue;
            }
            if via_reexports {
                return Some(self.reexported_from(base, segment));
            }
            break;
        }
        Some(base)
    }

    /// Where `module::name` really lives when `module` re-exports it from a descendant.
    fn reexported_from(&self, mut module: Vec<String>, name: &str) -> Vec<String> {
        for _ in 0..4 {
            let key = (module.clone(), name.to_string());
            let next = self.reexports.get(&key).cloned().or_else(|| {
                let globs = self.globs.get(&module)?;
                globs
                    .iter()
                    .find(|g| self.items.get(*g).is_some_and(|i| i.contains(name)))
                    .cloned()
            });
            match next {
                Some(next) => module = next,
                None => break,
            }
        }
        module
    }

    /// Every strongly connected set of more than one module, among the children of each
    /// directory module (the crate root's children are the top-level modules). A cycle that
    /// only exists through imports in pending files is reported as theirs (pending); one that
    /// remains without them is not.
    fn cycles(&self) -> Vec<Violation> {
        let mut by_level: BTreeMap<Vec<String>, Vec<(String, String, &Edge)>> = BTreeMap::new();
        for edge in &self.edges {
            let common = common_prefix(&edge.from, &edge.to);
            if common.len() == edge.from.len() || common.len() == edge.to.len() {
                continue; // a module and its own descendant: the parent owns the child
            }
            let from = edge.from[common.len()].clone();
            let to = edge.to[common.len()].clone();
            by_level.entry(common).or_default().push((from, to, edge));
        }
        let mut found = Vec::new();
        for (level, edges) in &by_level {
            let prefix = if level.is_empty() {
                "crate".to_string()
            } else {
                level.join("::")
            };
            let pending = |edge: &Edge| PENDING_OTHER_BRANCHES.contains(&edge.file.as_str());
            let all: Vec<(&str, &str)> = edges
                .iter()
                .map(|(a, b, _)| (a.as_str(), b.as_str()))
                .collect();
            let without_pending: Vec<(&str, &str)> = edges
                .iter()
                .filter(|(_, _, edge)| !pending(edge))
                .map(|(a, b, _)| (a.as_str(), b.as_str()))
                .collect();
            let strict = strongly_connected(&without_pending);
            let in_strict = |from: &String, to: &String| {
                strict.iter().any(|c| c.contains(from) && c.contains(to))
            };
            for component in strict.iter().chain(&strongly_connected(&all)) {
                let names = component.iter().cloned().collect::<Vec<_>>().join(", ");
                let is_strict = strict.contains(component);
                let inside =
                    |from: &String, to: &String| component.contains(from) && component.contains(to);
                let pending_files: Vec<String> = edges
                    .iter()
                    .filter(|(from, to, edge)| inside(from, to) && pending(edge))
                    .map(|(_, _, edge)| edge.file.clone())
                    .collect();
                for (from, to, edge) in edges {
                    if !inside(from, to) || (!is_strict && in_strict(from, to)) {
                        continue;
                    }
                    let what = format!(
                        "import cycle among {prefix}::{{{names}}}: {from} → {to} via `{}`",
                        edge.written
                    );
                    let mut violation = Violation::new(&edge.file, edge.line, what);
                    if !is_strict {
                        violation.involves = pending_files.clone();
                    }
                    found.push(violation);
                }
            }
        }
        found
    }

    /// Imports of a top-level module from a layer above its own, and top-level modules the
    /// layer table does not place.
    fn layer_violations(&self) -> Vec<Violation> {
        let layer_of = |module: &str| {
            LAYERS
                .iter()
                .position(|(_, members)| members.contains(&module))
        };
        let mut found = Vec::new();
        let tops: BTreeSet<&String> = self.modules.iter().filter_map(|m| m.first()).collect();
        for top in tops {
            if layer_of(top).is_none() && top != "fuzz" {
                let what = format!("top-level module `{top}` is missing from LAYERS");
                found.push(Violation::new("tests/integration/house.rs", 0, what));
            }
        }
        for edge in &self.edges {
            let (from, to) = (&edge.from[0], &edge.to[0]);
            if let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) {
                if b < a {
                    let what = format!(
                        "`{}`: {from} ({}) imports {to} from the layer above ({})",
                        edge.written, LAYERS[a].0, LAYERS[b].0
                    );
                    found.push(Violation::new(&edge.file, edge.line, what));
                }
            }
        }
        found
    }
}

fn common_prefix(a: &[String], b: &[String]) -> Vec<String> {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.clone())
        .collect()
}

/// Modules declared `#[cfg(test)] mod name;` by their parent, or `#![cfg(test)]` themselves.
fn test_only_modules(sources: &[Source]) -> BTreeSet<Vec<String>> {
    let mut test_only = BTreeSet::new();
    for source in sources {
        let Some(module) = &source.module else {
            continue;
        };
        let (whole_file, ranges) = test_ranges(&source.tokens);
        if whole_file {
            test_only.insert(module.clone());
        }
        for (start, end) in ranges {
            let item = &source.tokens[start..=end];
            if let Some(k) = item.iter().position(|t| t.is_ident("mod")) {
                if let Some(name) = item.get(k + 1).and_then(Token::ident) {
                    let mut child = module.clone();
                    child.push(name.to_string());
                    test_only.insert(child);
                }
            }
        }
    }
    test_only
}

fn in_ranges(ranges: &[(usize, usize)], k: usize) -> bool {
    ranges
        .iter()
        .any(|&(start, end)| (start..=end).contains(&k))
}

/// Names a module declares `pub` (structs, enums, functions, consts, traits, types, modules).
fn public_items(tokens: &[Token]) -> BTreeSet<String> {
    const KINDS: &[&str] = &[
        "struct", "enum", "fn", "const", "static", "type", "trait", "mod", "union",
    ];
    let mut items = BTreeSet::new();
    for (k, token) in tokens.iter().enumerate() {
        if !token.is_ident("pub") {
            continue;
        }
        let mut j = k + 1;
        if tokens.get(j).is_some_and(|t| t.is_punct('(')) {
            j = matching_close(tokens, j) + 1;
        }
        while tokens.get(j).and_then(Token::ident).is_some_and(|w| {
            matches!(w, "async" | "unsafe" | "extern")
                || (w == "const" && tokens.get(j + 1).is_some_and(|t| t.is_ident("fn")))
        }) {
            j += 1;
        }
        let kind = tokens.get(j).and_then(Token::ident);
        if kind.is_some_and(|kind| KINDS.contains(&kind)) {
            if let Some(name) = tokens.get(j + 1).and_then(Token::ident) {
                items.insert(name.to_string());
            }
        }
    }
    items
}

/// The leaves of every `use` declaration outside test code.
fn use_leaves(tokens: &[Token], tests: &[(usize, usize)]) -> Vec<UseLeaf> {
    let mut leaves = Vec::new();
    for k in 0..tokens.len() {
        if !tokens[k].is_ident("use") || in_ranges(tests, k) {
            continue;
        }
        let public = k > 0 && (tokens[k - 1].is_ident("pub") || tokens[k - 1].is_punct(')'));
        let end = (k..tokens.len())
            .find(|&j| tokens[j].is_punct(';'))
            .unwrap_or(tokens.len());
        let mut cursor = k + 1;
        expand_use_tree(tokens, &mut cursor, end, &[], public, &mut leaves);
    }
    leaves
}

/// Reads one use tree at `cursor` (segments, then `{…}`, `*`, `as x` or nothing).
fn expand_use_tree(
    tokens: &[Token],
    cursor: &mut usize,
    end: usize,
    prefix: &[String],
    public: bool,
    out: &mut Vec<UseLeaf>,
) {
    let mut path = prefix.to_vec();
    while *cursor < end {
        let token = &tokens[*cursor];
        match &token.tok {
            Tok::PathSep => *cursor += 1,
            Tok::Ident(word) if word == "as" => {
                let alias = tokens
                    .get(*cursor + 1)
                    .and_then(Token::ident)
                    .unwrap_or("_");
                let line = token.line;
                *cursor += 2;
                out.push(UseLeaf {
                    path,
                    name: alias.to_string(),
                    line,
                    public,
                });
                return;
            }
            Tok::Ident(word) => {
                path.push(word.clone());
                *cursor += 1;
            }
            Tok::Punct('*') => {
                out.push(UseLeaf {
                    path,
                    name: "*".into(),
                    line: token.line,
                    public,
                });
                *cursor += 1;
                return;
            }
            Tok::Punct('{') => {
                let close = matching_close(tokens, *cursor);
                *cursor += 1;
                while *cursor < close {
                    if tokens[*cursor].is_punct(',') {
                        *cursor += 1;
                        continue;
                    }
                    expand_use_tree(tokens, cursor, close, &path, public, out);
                }
                *cursor = close + 1;
                return;
            }
            Tok::Punct(_) => break,
        }
    }
    let line = tokens[(*cursor).min(tokens.len()) - 1].line;
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
    }
    if let Some(name) = path.last().cloned() {
        out.push(UseLeaf {
            path,
            name,
            line,
            public,
        });
    }
}

/// `crate::…`, `super::…` and `self::…` paths written in code (outside `use` and tests).
fn code_paths(tokens: &[Token], tests: &[(usize, usize)]) -> Vec<(Vec<String>, usize)> {
    let mut paths = Vec::new();
    let mut k = 0;
    while k < tokens.len() {
        if tokens[k].is_ident("use") {
            k = (k..tokens.len())
                .find(|&j| tokens[j].is_punct(';'))
                .unwrap_or(tokens.len());
            continue;
        }
        let starts = tokens[k]
            .ident()
            .is_some_and(|w| matches!(w, "crate" | "super" | "self"))
            && tokens.get(k + 1).is_some_and(|t| t.tok == Tok::PathSep)
            && !(k > 0 && tokens[k - 1].tok == Tok::PathSep);
        if !starts || in_ranges(tests, k) {
            k += 1;
            continue;
        }
        let mut path = vec![tokens[k].ident().unwrap().to_string()];
        let mut j = k + 1;
        while tokens.get(j).is_some_and(|t| t.tok == Tok::PathSep) {
            match tokens.get(j + 1).and_then(Token::ident) {
                Some(word) => path.push(word.to_string()),
                None => break,
            }
            j += 2;
        }
        paths.push((path, tokens[k].line));
        k = j;
    }
    paths
}

/// The module a line is in, counting inline `mod name { … }` blocks of the file.
fn inline_module_at(module: &[String], tokens: &[Token], line: usize) -> Vec<String> {
    let mut current = module.to_vec();
    for k in 0..tokens.len().saturating_sub(2) {
        if tokens[k].is_ident("mod") && tokens[k + 2].is_punct('{') {
            let close = matching_close(tokens, k + 2);
            if tokens[k].line <= line && line <= tokens[close].line {
                current.push(tokens[k + 1].ident().unwrap_or("_").to_string());
            }
        }
    }
    current
}

/// The sets of nodes that reach each other (strongly connected, more than one node); the
/// graphs are a few dozen nodes, so plain reachability is enough.
fn strongly_connected(edges: &[(&str, &str)]) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&str> = edges.iter().flat_map(|(a, b)| [*a, *b]).collect();
    let reaches = |from: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            for (a, b) in edges {
                if *a == node && seen.insert(*b) {
                    stack.push(b);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&str, BTreeSet<&str>> = nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut components: Vec<BTreeSet<String>> = Vec::new();
    for node in &nodes {
        let component: BTreeSet<String> = nodes
            .iter()
            .filter(|other| reach[node].contains(*other) && reach[*other].contains(node))
            .map(|n| n.to_string())
            .collect();
        if component.len() > 1 && !components.contains(&component) {
            components.push(component);
        }
    }
    components
}

/// Every line of `src/` code naming a boundary's word outside the paths that own it.
fn boundary_violations(root: &Path) -> Vec<Violation> {
    let mut files = Vec::new();
    collect_rs_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let path = file.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (index, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (word, owners, rule) in BOUNDARIES {
                if code.contains(word) && !owners.iter().any(|owner| path.starts_with(owner)) {
                    let what = format!("`{word}` outside its owner: {rule}");
                    found.push(Violation::new(&path, index + 1, what));
                }
            }
        }
    }
    found
}
