//! What makes a key: stream keys appear in URLs and in ids, so they are short
//! and spelled with characters that need no escaping there.

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 128;

/// Whether `key` is a valid stream key: 1 to [`MAX_KEY_LEN`] bytes, each an ASCII
/// letter, a digit, or one of `-`, `_`, `.`, `~` (the characters a URL never
/// escapes), and not made of dots alone (`.` and `..` mean something in a path).
///
/// UUIDs, ULIDs and most run or conversation ids qualify as they are.
///
/// ```
/// use sse_core::is_valid_key;
///
/// assert!(is_valid_key("run-01HZX3K7.v2"));
/// assert!(!is_valid_key(""));
/// assert!(!is_valid_key("a/b"));
/// assert!(!is_valid_key(".."));
/// assert!(!is_valid_key(&"k".repeat(129)));
/// ```
#[must_use]
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        && !key.bytes().all(|b| b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_url_safe_and_not_dots() {
        assert!(is_valid_key("a"));
        assert!(is_valid_key(&"k".repeat(MAX_KEY_LEN)));
        assert!(is_valid_key("550e8400-e29b-41d4-a716-446655440000"));
        assert!(is_valid_key("a.b_c~d"));
        for bad in [
            "", ".", "...", "a b", "a\nb", "a%20", "é", "a?b", "a#b", "a:b",
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
        assert!(!is_valid_key(&"k".repeat(MAX_KEY_LEN + 1)));
    }
}
