//! Inputs shared by the benches.

/// Text of about `len` bytes: words, with a line break every ~80 characters when
/// `lines` is set. Deterministic, so every run measures the same input.
pub(crate) fn text(len: usize, lines: bool) -> String {
    const WORDS: [&str; 16] = [
        "the",
        "stream",
        "event",
        "client",
        "server",
        "sends",
        "data",
        "update",
        "price",
        "42.17",
        "order",
        "status",
        "shipped",
        "user",
        "joined",
        "{\"ok\":true}",
    ];
    let mut out = String::with_capacity(len + 16);
    let mut line_len = 0;
    let mut state: u32 = 0x2545_f491;
    while out.len() < len {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let word = WORDS[(state >> 16) as usize % WORDS.len()];
        if line_len > 0 {
            if lines && line_len + word.len() >= 80 {
                out.push('\n');
                line_len = 0;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out.truncate(len);
    out
}
