//! Holds the end-to-end test binary (`e2e/main.rs`); no library code.
