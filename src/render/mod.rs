//! Pure renderers: a resolved [`Node`](crate::node::Node) in, file
//! contents out.

pub mod keepalived;
pub mod manifest;

#[cfg(test)]
mod injection_tests;
