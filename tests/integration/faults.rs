//! Faults around a training run: `scripts/fault-inject.sh --quick` kills runs with SIGKILL at
//! random moments, resumes them and compares the finished run with an uninterrupted one byte
//! for byte, then fails a checkpoint write as a full disk would (`ulimit -f`). The full mode
//! (50 kills, ring8) is run by hand: docs/testing.md.

use std::process::Command;

use super::common::gpu;

#[test]
fn fault_injection_quick() {
    if gpu().unwrap().is_none() {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fault-inject.sh");
    let o = Command::new("bash")
        .args([script, "--quick", "--bin", env!("CARGO_BIN_EXE_stein")])
        .output()
        .expect("running bash (the fault injection script needs bash and coreutils)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("5 kills in") && stdout.contains("bit-identical"),
        "{stdout}"
    );
    assert!(stdout.contains("full disk"), "{stdout}");
}
