//! What the bench prints: its tables and progress are its output.

// A command-line program: these are its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// A line of results, on standard output.
pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// A progress note, on standard error.
pub(crate) fn note(text: &str) {
    eprintln!("{text}");
}
