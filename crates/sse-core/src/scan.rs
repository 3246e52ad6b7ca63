//! Finding line breaks quickly, without `unsafe` and without extra dependencies.
//!
//! Both the encoder (splitting data into `data:` lines) and the decoder (finding the
//! end of a line) spend most of their time looking for the next `\r` or `\n`. This
//! scans sixteen bytes per step with the classic word tricks: one test per word for
//! "any byte below `0x0E`" (CR is `0x0D`, LF `0x0A`, and text rarely holds other
//! bytes that low), and an exact test only for the words it flags.

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
const CRS: u64 = u64::from_le_bytes([b'\r'; 8]);
const LFS: u64 = u64::from_le_bytes([b'\n'; 8]);
/// One more than the larger of CR and LF, in every byte.
const ABOVE_BREAKS: u64 = u64::from_le_bytes([b'\r' + 1; 8]);

/// Marks the bytes of `word` below `0x0E`, a superset of its CR and LF bytes, with
/// their high bit. Zero exactly when `word` has no such byte (any mark above the
/// lowest may be false, which is fine for a filter).
#[inline(always)]
fn low_bytes(word: u64) -> u64 {
    word.wrapping_sub(ABOVE_BREAKS) & !word & HIGHS
}

/// Marks the bytes of `word` that are zero with their high bit. The lowest marked
/// byte is always a true zero (marks above it may be false, which is why only the
/// lowest one is used).
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The index of the first CR or LF in `word`, if any.
#[inline(always)]
fn break_in(word: u64) -> Option<usize> {
    let marks = zero_bytes(word ^ CRS) | zero_bytes(word ^ LFS);
    (marks != 0).then(|| (marks.trailing_zeros() / 8) as usize)
}

#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("eight bytes"))
}

/// Returns the index of the first `\r` or `\n` in `bytes`.
#[inline]
pub(crate) fn find_line_break(bytes: &[u8]) -> Option<usize> {
    let mut pairs = bytes.chunks_exact(16);
    let mut offset = 0;
    for pair in &mut pairs {
        let (low, high) = (word(&pair[..8]), word(&pair[8..]));
        if low_bytes(low) | low_bytes(high) != 0 {
            if let Some(i) = break_in(low) {
                return Some(offset + i);
            }
            if let Some(i) = break_in(high) {
                return Some(offset + 8 + i);
            }
        }
        offset += 16;
    }
    pairs
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| offset + i)
}

/// Splits `text` into lines on `\r\n`, `\r` and `\n` (each one line end), calling
/// `line` for each, including the last one (which may be empty).
#[inline]
pub(crate) fn for_each_line(text: &[u8], mut line: impl FnMut(&[u8])) {
    let mut rest = text;
    while let Some(end) = find_line_break(rest) {
        line(&rest[..end]);
        let width = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + width..];
    }
    line(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&b| b == b'\r' || b == b'\n')
    }

    #[test]
    fn finds_breaks_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                for byte in [b'\r', b'\n'] {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = byte;
                    assert_eq!(find_line_break(&bytes), Some(at), "len {len} at {at}");
                }
            }
            assert_eq!(find_line_break(&vec![b'x'; len]), None);
        }
    }

    #[test]
    fn bytes_next_to_line_breaks_are_not_line_breaks() {
        // 0x0c, 0x0e, 0x0b, 0x8a, 0x8d differ from CR or LF in one bit; the bytes
        // below 0x0E pass the filter and must fail the exact test.
        let near = [0x0b_u8, 0x0c, 0x0e, 0x09, 0x8a, 0x8d, 0x00, 0xff, 0x01];
        assert_eq!(find_line_break(&near), None);
        let mut long = near.repeat(4);
        assert_eq!(find_line_break(&long), None);
        long.push(b'\r');
        assert_eq!(find_line_break(&long), Some(near.len() * 4));
        assert_eq!(
            find_line_break(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a]),
            Some(6)
        );
    }

    #[test]
    fn splits_on_each_kind_of_line_end() {
        let mut lines = Vec::new();
        for_each_line(b"a\r\nb\rc\nd\n\re", |l| lines.push(l.to_vec()));
        let expected: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d", b"", b"e"];
        assert_eq!(lines, expected);

        lines.clear();
        for_each_line(b"", |l| lines.push(l.to_vec()));
        assert_eq!(lines, vec![Vec::<u8>::new()]);

        lines.clear();
        for_each_line(b"x\r", |l| lines.push(l.to_vec()));
        assert_eq!(lines, vec![b"x".to_vec(), Vec::new()]);
    }

    proptest! {
        #[test]
        fn agrees_with_a_naive_scan(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), 0u8..0x10, any::<u8>()],
                0..100,
            ),
            skip in 0usize..16,
        )
        {
            let bytes = &bytes[skip.min(bytes.len())..];
            prop_assert_eq!(find_line_break(bytes), naive(bytes));
        }
    }
}
