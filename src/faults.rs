//! Crash injection for the crash-safety tests: `KUBEALIVED_CRASH_AT=<point>`
//! aborts the process at that point, as a power cut or `kill -9` would.
//! Compiled into the shipped binary on purpose (the test must exercise what
//! ships); inert unless the variable names a point.

pub fn hit(point: &str) {
    if std::env::var_os("KUBEALIVED_CRASH_AT").is_some_and(|v| v == point) {
        eprintln!("kubealived: crashing at {point} (KUBEALIVED_CRASH_AT)");
        std::process::abort();
    }
}
