//! A `Resume-Location` ([`RESUME_LOCATION`](crate::RESUME_LOCATION)) resolved against
//! the request's URI, as RFC 3986 resolves a reference, and kept to its origin.

use http::Uri;

/// The longest resume location read; a longer one is ignored.
pub(crate) const MAX_LOCATION_LEN: usize = 8 * 1024;

/// `value` (absolute, network-path, absolute-path or relative reference) resolved
/// against `base` (an absolute `http`/`https` URI). `None` when it is unreadable,
/// too long, not visible ASCII, or names another origin: the request's headers (its `Authorization`)
/// go with the resume, so they only go where the request went.
pub(crate) fn resolve(base: &Uri, value: &[u8]) -> Option<Uri> {
    if value.is_empty() || value.len() > MAX_LOCATION_LEN {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if text.is_empty() || text.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return None;
    }
    // The fragment never goes to the server.
    let text = text.split('#').next().unwrap_or_default();
    let scheme = base.scheme_str()?;
    let authority = base.authority()?;
    let target = if has_scheme(text) {
        let uri: Uri = text.parse().ok()?;
        same_origin(base, &uri).then_some(())?;
        uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()
    } else if text.starts_with("//") {
        let uri: Uri = format!("{scheme}:{text}").parse().ok()?;
        same_origin(base, &uri).then_some(())?;
        uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()
    } else if text.starts_with('/') {
        text.to_owned()
    } else if text.starts_with('?') {
        format!("{}{text}", base.path())
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{directory}{text}")
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target.as_str(), None),
    };
    let mut resolved = format!("{scheme}://{authority}{}", remove_dot_segments(path));
    if let Some(query) = query {
        resolved.push('?');
        resolved.push_str(query);
    }
    resolved.parse().ok()
}

/// Whether `text` starts with a scheme (`ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`
/// then `:`), before any `/`, `?`.
fn has_scheme(text: &str) -> bool {
    let Some(colon) = text.find(':') else {
        return false;
    };
    let scheme = &text[..colon];
    scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Same scheme, host and port (the scheme's default when none is given).
fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri| {
        uri.port_u16().or(match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
            Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
            _ => None,
        })
    };
    let (Some(sa), Some(sb)) = (a.scheme_str(), b.scheme_str()) else {
        return false;
    };
    let (Some(ha), Some(hb)) = (a.host(), b.host()) else {
        return false;
    };
    sa.eq_ignore_ascii_case(sb) && ha.eq_ignore_ascii_case(hb) && port(a) == port(b)
}

/// RFC 3986's `remove_dot_segments` on an absolute path (`/a/./b/../c` is `/a/c`).
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn base() -> Uri {
        "http://api.example.com:8080/v1/chat/completions?stream=1"
            .parse()
            .unwrap()
    }

    fn resolved(value: &str) -> Option<String> {
        resolve(&base(), value.as_bytes()).map(|uri| uri.to_string())
    }

    #[test]
    fn references_resolve_as_rfc_3986_says() {
        let origin = "http://api.example.com:8080";
        for (reference, expected) in [
            ("/resume/abc", "/resume/abc"),
            ("/resume/abc?x=1", "/resume/abc?x=1"),
            ("resume/abc", "/v1/chat/resume/abc"),
            ("./resume", "/v1/chat/resume"),
            ("../runs/7", "/v1/runs/7"),
            ("../../../../runs/7", "/runs/7"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("?run=7", "/v1/chat/completions?run=7"),
            ("/runs/7#frag", "/runs/7"),
            ("http://api.example.com:8080/runs/7", "/runs/7"),
            ("HTTP://API.example.com:8080/runs/7", "/runs/7"),
            ("//api.example.com:8080/runs/7", "/runs/7"),
            ("  /runs/7\t", "/runs/7"),
        ] {
            assert_eq!(
                resolved(reference),
                Some(format!("{origin}{expected}")),
                "{reference}"
            );
        }
    }

    #[test]
    fn the_default_port_is_the_same_origin() {
        let base: Uri = "https://example.com/a".parse().unwrap();
        let uri = resolve(&base, b"https://example.com:443/b").unwrap();
        assert_eq!(uri.path(), "/b");
    }

    #[test]
    fn another_origin_or_an_unreadable_value_is_ignored() {
        for reference in [
            "http://evil.example/runs/7",
            "https://api.example.com:8080/runs/7",
            "http://api.example.com/runs/7",
            "http://api.example.com:8081/runs/7",
            "//evil.example/runs/7",
            "javascript:alert(1)",
            "",
            "   ",
            "/a b",
            "/a\u{7f}",
            "/caf\u{e9}",
        ] {
            assert_eq!(resolved(reference), None, "{reference:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_LOCATION_LEN));
        assert_eq!(resolved(&long), None);
    }

    proptest! {
        /// Any bytes: no panic, and whatever resolves is on the request's origin.
        #[test]
        fn any_value_resolves_to_the_same_origin_or_nothing(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(uri) = resolve(&base(), &value) {
                prop_assert!(same_origin(&base(), &uri));
                prop_assert!(uri.path().starts_with('/'));
                prop_assert!(!uri.path().split('/').any(|s| s == "." || s == ".."));
            }
        }

        /// Paths made of segments and dots: always resolved, without dot segments.
        #[test]
        fn dotted_paths_always_resolve(segments in proptest::collection::vec(prop_oneof![Just("."), Just(".."), Just("a"), Just("b1"), Just("")], 0..12)) {
            let reference = segments.join("/");
            let reference = if reference.is_empty() { ".".to_owned() } else { reference };
            // `//x` names an authority: not a path.
            prop_assume!(!reference.starts_with("//"));
            let uri = resolve(&base(), reference.as_bytes());
            prop_assert!(uri.is_some(), "{reference}");
            let uri = uri.unwrap();
            prop_assert!(!uri.path().split('/').any(|s| s == "." || s == ".."), "{uri}");
        }
    }
}
