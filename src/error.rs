//! Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid input.
//!
//! Runtime failures are plain `anyhow` errors. Anything the user can fix by
//! changing what they typed is a [`UsageError`], so `main` can tell the two
//! apart with a downcast instead of guessing from the message.

use std::fmt;

/// Invalid input: a value, a flag combination or a file the user gave us.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `return Err(usage!(...))` reads like `bail!` but yields exit code 2.
/// Import it with `use crate::error::usage;`.
macro_rules! usage {
    ($($arg:tt)*) => {
        anyhow::Error::new($crate::error::UsageError(format!($($arg)*)))
    };
}
pub(crate) use usage;

pub fn is_usage(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<UsageError>())
}

/// The reader of our output went away (`kubealived render | head -1`):
/// not a failure worth a word, as for any Unix filter.
pub fn reader_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit code for a command's result: 0, 1 (runtime) or 2 (usage).
pub fn exit_code(result: &anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(err) if reader_gone(err) => 0,
        Err(err) if is_usage(err) => 2,
        Err(_) => 1,
    }
}
