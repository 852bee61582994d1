//! Shared setup for the criterion benches in this folder.
