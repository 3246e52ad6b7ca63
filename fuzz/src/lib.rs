//! Helpers shared by the fuzz targets: how an input is cut into chunks.

use arbitrary::{Arbitrary, Unstructured};

/// How to cut a payload into chunks: chunk lengths, used in turn and cycled until
/// the payload is used up. A length of 0 is an empty push; no lengths at all means
/// one byte per chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan(pub Vec<u8>);

impl Plan {
    /// The chunks of `payload`, in order; together they are exactly `payload`.
    pub fn chunks<'p>(&self, payload: &'p [u8]) -> Vec<&'p [u8]> {
        let mut chunks = Vec::new();
        let mut rest = payload;
        let mut lens = self.0.iter().copied().cycle();
        // Bounded: empty pushes are allowed, but at most 256 in a row (a plan of
        // zeros alone would otherwise never end).
        let mut empty_in_a_row = 0;
        while !rest.is_empty() {
            let len = if self.0.is_empty() {
                1
            } else {
                usize::from(lens.next().unwrap_or(1))
            };
            if len == 0 {
                empty_in_a_row += 1;
                if empty_in_a_row > 256 {
                    break;
                }
            } else {
                empty_in_a_row = 0;
            }
            let (chunk, tail) = rest.split_at(len.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        if !rest.is_empty() {
            chunks.push(rest);
        }
        chunks
    }
}

impl<'a> Arbitrary<'a> for Plan {
    /// One byte `n` (taken modulo 32), then `n` chunk lengths of one byte each.
    /// Simple on purpose, so seed files can be written by hand.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = u.arbitrary::<u8>()? % 32;
        let lens = u.bytes(usize::from(count).min(u.len()))?;
        Ok(Plan(lens.to_vec()))
    }
}

/// A chunking plan followed by the payload: the rest of the input.
///
/// Byte layout: `n`, then `n` chunk lengths, then the payload, so
/// `b"\x02\x05\x01data: x\n\n"` feeds `data:` in chunks of 5, 1, 5, 1, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunked<'a> {
    /// How to cut the payload.
    pub plan: Plan,
    /// The bytes to decode.
    pub payload: &'a [u8],
}

impl<'a> Arbitrary<'a> for Chunked<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let plan = Plan::arbitrary(u)?;
        let payload = u.bytes(u.len())?;
        Ok(Chunked { plan, payload })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_payload() {
        let payload = b"0123456789";
        for plan in [vec![], vec![0], vec![3], vec![0, 2, 0], vec![255]] {
            let chunks = Plan(plan).chunks(payload);
            assert_eq!(chunks.concat(), payload);
        }
    }

    #[test]
    fn the_layout_is_count_lengths_payload() {
        let input = Chunked::arbitrary_take_rest(Unstructured::new(b"\x02\x05\x01data")).unwrap();
        assert_eq!(input.plan, Plan(vec![5, 1]));
        assert_eq!(input.payload, b"data");
    }
}
