//! Not a library: this package owns the workspace's end-to-end tests (`tests/`) and
//! benches (`benches/`). Its documentation is the README, so the README's examples
//! are compiled and run by `cargo test --workspace`.
#![doc = include_str!("../README.md")]
