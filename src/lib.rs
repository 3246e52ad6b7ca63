//! Not a library: this package owns the workspace's end-to-end tests (`tests/`) and benches (`benches/`).
