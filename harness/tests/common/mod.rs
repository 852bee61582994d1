//! What the `harness` binary's test files share.

use std::process::Command;

/// `harness <args>` with `env` added (and `HARNESS_LOG=error`): (exit code, stdout + stderr).
pub fn harness_with(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .env("HARNESS_LOG", "error")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("spawn harness: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `harness run` of a small generated world (2 accounts, 2 instruments, 24 hours, 40 fills).
pub fn run_small_world(seed: &str) -> Vec<&str> {
    vec![
        "run",
        "--seed",
        seed,
        "--accounts",
        "2",
        "--instruments",
        "2",
        "--hours",
        "24",
        "--fills",
        "40",
    ]
}
