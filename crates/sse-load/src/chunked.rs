//! HTTP/1.1 chunked transfer coding, undone incrementally and without copying:
//! how hyper (and so axum and warp) frame a streaming body.

/// Undoes chunked transfer coding, in place: each run of body bytes is handed on
/// as it arrives, however the input is split.
#[derive(Debug, Default)]
pub(crate) struct Dechunker {
    state: ChunkState,
    size: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex size.
    #[default]
    Size,
    /// Skipping an extension or the CR, up to LF.
    SizeLineEnd,
    Data,
    /// The CRLF after the data: this many bytes to skip.
    DataEnd(u8),
    /// After the last chunk: trailer lines up to the empty one; the count is the
    /// bytes of the current line other than CR.
    Trailer(usize),
    /// The body is complete.
    Done,
}

impl Dechunker {
    /// Hands each run of data to `out`; false on bad framing or when `out` fails.
    /// Input after the end of the body is ignored.
    pub(crate) fn feed(&mut self, mut input: &[u8], mut out: impl FnMut(&[u8]) -> bool) -> bool {
        while !input.is_empty() {
            match self.state {
                ChunkState::Size => {
                    let byte = input[0];
                    input = &input[1..];
                    match (byte as char).to_digit(16) {
                        Some(digit) => {
                            self.size = match self.size.checked_mul(16) {
                                Some(size) => size + u64::from(digit),
                                None => return false,
                            };
                        }
                        None if byte == b'\r' || byte == b';' => {
                            self.state = ChunkState::SizeLineEnd;
                        }
                        None if byte == b'\n' => self.end_size_line(),
                        None => return false,
                    }
                }
                ChunkState::SizeLineEnd => {
                    let byte = input[0];
                    input = &input[1..];
                    if byte == b'\n' {
                        self.end_size_line();
                    }
                }
                ChunkState::Data => {
                    let take = input
                        .len()
                        .min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    if !out(&input[..take]) {
                        return false;
                    }
                    input = &input[take..];
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataEnd(2);
                    }
                }
                ChunkState::DataEnd(left) => {
                    input = &input[1..];
                    self.state = if left == 1 {
                        ChunkState::Size
                    } else {
                        ChunkState::DataEnd(left - 1)
                    };
                }
                ChunkState::Trailer(line) => {
                    let byte = input[0];
                    input = &input[1..];
                    self.state = match byte {
                        b'\n' if line == 0 => ChunkState::Done,
                        b'\n' => ChunkState::Trailer(0),
                        b'\r' => ChunkState::Trailer(line),
                        _ => ChunkState::Trailer(line + 1),
                    };
                }
                ChunkState::Done => return true,
            }
        }
        true
    }

    /// Whether the whole body, last chunk and trailer included, has been read: on
    /// a kept-alive connection, what follows is the next response.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::Trailer(0)
        } else {
            ChunkState::Data
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_across_any_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for split in 0..wire.len() {
            let mut dechunker = Dechunker::default();
            let mut out = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                assert!(dechunker.feed(part, |d| {
                    out.extend_from_slice(d);
                    true
                }));
            }
            assert_eq!(out, b"hello, world", "split at {split}");
            assert!(dechunker.is_done(), "split at {split}");
        }
        assert!(!Dechunker::default().feed(b"zz\r\n", |_| true));
    }

    #[test]
    fn is_done_only_after_the_final_blank_line() {
        let mut dechunker = Dechunker::default();
        assert!(dechunker.feed(b"1\r\na\r\n0\r\n", |_| true));
        assert!(!dechunker.is_done());
        assert!(dechunker.feed(b"\r", |_| true));
        assert!(!dechunker.is_done());
        assert!(dechunker.feed(b"\n", |_| true));
        assert!(dechunker.is_done());
    }
}
