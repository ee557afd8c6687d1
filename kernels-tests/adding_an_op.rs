//! docs/ADDING-AN-OP.md walks through a real op (`glu`, and `tanh` for an op
//! code): every fenced code block names a file on its fence line (```rust
//! src/ops/glu.rs) and must appear in that file, in order, `// …` lines
//! standing for lines left out. So the doc's example is code this crate
//! compiles and these tests run, and a change to it fails here until the doc
//! follows.

use std::path::Path;

const DOC: &str = include_str!("../docs/ADDING-AN-OP.md");

/// A fenced block: the line it starts on, its fence words, its lines.
struct Block<'a> {
    line: usize,
    info: &'a str,
    body: Vec<&'a str>,
}

fn blocks(md: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    line: i + 1,
                    info: info.trim(),
                    body: Vec::new(),
                })
            }
            (Some(_), Some(_)) => out.push(open.take().unwrap()),
            (Some(b), None) => b.body.push(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "ADDING-AN-OP.md: a code block is never closed");
    out
}

fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "// …" | "// ...")
}

/// The pieces of `body` between elision lines, each a run of lines, all
/// found in `file` in order (lines compared without their indentation).
/// Returns the first piece not found, if any.
fn missing_piece(body: &[&str], file: &str) -> Option<String> {
    let lines: Vec<&str> = file.lines().map(str::trim).collect();
    let mut from = 0;
    for piece in body.split(|l| is_elision(l)) {
        let piece: Vec<&str> = piece.iter().map(|l| l.trim()).collect();
        if piece.is_empty() {
            continue;
        }
        if piece.len() > lines.len() {
            return Some(piece.join("\n"));
        }
        let at = (from..=lines.len().saturating_sub(piece.len())).find(|&i| lines[i..i + piece.len()] == piece[..]);
        match at {
            Some(i) => from = i + piece.len(),
            None => return Some(piece.join("\n")),
        }
    }
    None
}

#[test]
fn every_code_block_is_in_the_file_it_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let all = blocks(DOC);
    assert!(all.len() >= 10, "ADDING-AN-OP.md: only {} code blocks found", all.len());
    for b in &all {
        let mut words = b.info.split_whitespace();
        let (lang, path) = (words.next(), words.next());
        let path = path.unwrap_or_else(|| {
            panic!(
                "ADDING-AN-OP.md line {}: the fence ```{} names no file (```{} <path>)",
                b.line,
                b.info,
                lang.unwrap_or("rust")
            )
        });
        let text = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("ADDING-AN-OP.md line {}: {path}: {e}", b.line));
        assert!(
            b.body.iter().any(|l| !is_elision(l) && !l.trim().is_empty()),
            "ADDING-AN-OP.md line {}: empty block",
            b.line
        );
        if let Some(piece) = missing_piece(&b.body, &text) {
            panic!(
                "ADDING-AN-OP.md line {}: these lines are not in {path} (in this order):\n{piece}",
                b.line
            );
        }
    }
}

/// The checker finds what is there, in order, and rejects what is not.
#[test]
fn the_block_check_can_fail() {
    let file = "fn a() {\n    let x = 1;\n}\nfn b() {}\n";
    assert_eq!(missing_piece(&["fn a() {", "let x = 1;"], file), None);
    assert_eq!(missing_piece(&["fn a() {", "// …", "fn b() {}"], file), None);
    assert!(
        missing_piece(&["fn b() {}", "// …", "fn a() {"], file).is_some(),
        "order"
    );
    assert!(
        missing_piece(&["fn a() {", "fn b() {}"], file).is_some(),
        "not adjacent"
    );
    assert!(missing_piece(&["let x = 2;"], file).is_some(), "changed");
}
