//! Reading Rust source as text, for the layers test: its comments and literals
//! dropped, its tokens, and the imports of a file (its `use` trees and the module
//! paths in its code), each made absolute from the crate root.

use std::collections::BTreeSet;

/// One import: the path it names, from the crate root.
pub(crate) struct Import {
    pub(crate) path: Vec<String>,
}

/// The imports of a source file that is the module `module`: its `use` trees and
/// the paths in its code that start with `super`, `self`, `crate` or one of its
/// child modules (`mod.rs`'s `use logs::Published`), each made absolute (from the
/// crate root) within the inline modules (`mod tests { .. }`) they are in.
pub(crate) fn imports(text: &str, module: &[String]) -> Vec<Import> {
    let code = code_only(text);
    let tokens = tokens(&code);
    // The modules declared in the file itself (`mod log;`), which it names bare.
    let children: BTreeSet<String> = tokens
        .windows(3)
        .filter_map(|three| match three {
            [Token::Ident(word), Token::Ident(name), Token::Sym(";")] if word == "mod" => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect();
    let mut found = Vec::new();
    let mut depth = 0;
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < tokens.len() {
        let mut here = module.to_vec();
        here.extend(inline.iter().map(|(name, _)| name.clone()));
        // A path that starts with a child module is relative to the file's module.
        let from_file = |mut path: Vec<String>| {
            if inline.is_empty() && path.first().is_some_and(|first| children.contains(first)) {
                path.insert(0, "self".to_owned());
            }
            absolute(&here, &path).map(|path| Import { path })
        };
        match &tokens[i] {
            Token::Ident(word) if word == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Sym("{"))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    pending_mod = Some(name.clone());
                }
            }
            Token::Sym("{") => {
                depth += 1;
                if let Some(name) = pending_mod.take() {
                    inline.push((name, depth));
                }
            }
            Token::Sym("}") => {
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            Token::Ident(word)
                if word == "use"
                    && matches!(tokens.get(i + 1), Some(Token::Ident(_) | Token::Sym("::"))) =>
            {
                let mut pos = i + 1;
                let mut paths = Vec::new();
                use_tree(&tokens, &mut pos, &[], &mut paths);
                found.extend(paths.into_iter().filter_map(from_file));
                i = pos;
                continue;
            }
            Token::Ident(word)
                if (matches!(word.as_str(), "super" | "crate" | "self")
                    || children.contains(word))
                    && tokens.get(i + 1) == Some(&Token::Sym("::"))
                    && (i == 0 || tokens[i - 1] != Token::Sym("::")) =>
            {
                let mut path = vec![word.clone()];
                let mut pos = i + 1;
                while tokens.get(pos) == Some(&Token::Sym("::")) {
                    let Some(Token::Ident(segment)) = tokens.get(pos + 1) else {
                        break;
                    };
                    path.push(segment.clone());
                    pos += 2;
                }
                found.extend(from_file(path));
                i = pos;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Parses a `use` tree from `tokens[*pos]`, pushing each path it names (a group's
/// `self` names its prefix; a glob, the module; `as` renames only) onto `paths`.
pub(crate) fn use_tree(
    tokens: &[Token],
    pos: &mut usize,
    prefix: &[String],
    paths: &mut Vec<Vec<String>>,
) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*pos) {
            Some(Token::Ident(word)) if word == "as" => {
                *pos += 2;
                paths.push(path);
                return;
            }
            Some(Token::Ident(word))
                if word == "self" && path.len() == prefix.len() && !prefix.is_empty() =>
            {
                *pos += 1;
            }
            Some(Token::Ident(word)) => {
                path.push(word.clone());
                *pos += 1;
            }
            Some(Token::Sym("::")) => *pos += 1,
            Some(Token::Sym("{")) => {
                *pos += 1;
                while !matches!(tokens.get(*pos), Some(Token::Sym("}")) | None) {
                    use_tree(tokens, pos, &path, paths);
                    if tokens.get(*pos) == Some(&Token::Sym(",")) {
                        *pos += 1;
                    }
                }
                *pos += 1;
                return;
            }
            Some(Token::Sym("*")) => {
                *pos += 1;
                paths.push(path);
                return;
            }
            _ => {
                paths.push(path);
                return;
            }
        }
    }
}

/// `path` from the crate root, as seen from module `here`; `None` when it does not
/// start with `crate`, `super` or `self`.
pub(crate) fn absolute(here: &[String], path: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some([here, rest].concat()),
        "super" => {
            let mut base = here.to_vec();
            base.pop();
            let mut rest = rest;
            while let Some(("super", after)) = rest.split_first().map(|(s, a)| (s.as_str(), a)) {
                base.pop();
                rest = after;
            }
            Some([&base[..], rest].concat())
        }
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Token {
    Ident(String),
    /// `::`, `{`, `}`, `,`, `;`, `*`, or any other punctuation (as `.`).
    Sym(&'static str),
}

pub(crate) fn tokens(code: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(at, next)) = chars.peek() {
                if !(next.is_alphanumeric() || next == '_') {
                    break;
                }
                end = at + next.len_utf8();
                chars.next();
            }
            tokens.push(Token::Ident(code[start..end].to_owned()));
        } else if c == ':' && chars.peek().map(|&(_, next)| next) == Some(':') {
            chars.next();
            tokens.push(Token::Sym("::"));
        } else if !c.is_whitespace() {
            tokens.push(Token::Sym(match c {
                '{' => "{",
                '}' => "}",
                ',' => ",",
                ';' => ";",
                '*' => "*",
                _ => ".",
            }));
        }
    }
    tokens
}

/// `source` without its comments and its string and character literals (line
/// breaks kept), so that only code is left to find imports in.
pub(crate) fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if bytes[i] == b'\n' {
                        out.push(b'\n');
                    }
                    i += 1;
                }
            }
        } else if bytes[i] == b'r'
            && (i == 0
                || !is_ident(bytes[i - 1])
                || (bytes[i - 1] == b'b' && (i < 2 || !is_ident(bytes[i - 2]))))
            && {
                let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
                rest.get(1 + hashes) == Some(&b'"')
            }
        {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let mut end = b"\"".to_vec();
            end.extend(std::iter::repeat_n(b'#', hashes));
            i += 2 + hashes;
            while i < bytes.len() && !bytes[i..].starts_with(&end) {
                if bytes[i] == b'\n' {
                    out.push(b'\n');
                }
                i += 1;
            }
            i += end.len();
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                } else if bytes[i] == b'\n' {
                    out.push(b'\n');
                }
                i += 1;
            }
            i += 1;
        } else if bytes[i] == b'\'' {
            // A character literal ('x', '\n', '\u{..}', 'é'), or a lifetime ('a).
            let literal_len = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&b| b == b'\'').map(|at| at + 3)
            } else {
                let c = source[i + 1..].chars().next();
                c.map(char::len_utf8)
                    .filter(|&len| rest.get(1 + len) == Some(&b'\''))
                    .map(|len| len + 2)
            };
            match literal_len {
                Some(len) => i += len,
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn comments_and_literals_are_not_imports() {
    let code = code_only(
        "// use super::a;\n/* use super::b; */ let s = \"super::c\"; let r = r#\"crate::d\"#;\n\
         let c = '{'; fn f<'a>(x: &'a str) {}\n",
    );
    assert!(!code.contains("super") && !code.contains("crate"), "{code}");
    assert!(!code.contains('{') || code.matches('{').count() == code.matches('}').count());
}
