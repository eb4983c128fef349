//! SIGINT and SIGTERM end a long command cleanly: the first sets a flag that the library reads
//! between steps ([`stein::run::Progress::should_stop`]), so that the command finishes the
//! update or step it is in, keeps what it can and says so; a second exits at once with the
//! same code. Every file stein writes is written beside its place and renamed there
//! ([`stein::io::write_atomic`]), so even the second leaves only complete files (and at most a
//! hidden `.NAME.tmp-PID` of the write it cut).
//!
//! The exit code is 128 + the signal's number, as a shell reports a process the signal
//! killed: 130 for SIGINT (Ctrl-C), 143 for SIGTERM. On Windows, the C runtime's SIGINT
//! (Ctrl-C) and SIGTERM are the ones caught.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The flag the handlers set, and the first signal's number.
struct Flags {
    stop: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing). Before this the signals
/// keep their default action, which ends the process at once.
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        stop: Arc::new(AtomicBool::new(false)),
        signal: Arc::new(AtomicUsize::new(0)),
    };
    for sig in [SIGINT, SIGTERM] {
        // The order matters: the exit is armed by an earlier signal's flag, so it must run
        // before this signal sets the flag.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flags.stop.clone())?;
        signal_hook::flag::register_usize(sig, flags.signal.clone(), sig as usize)?;
        signal_hook::flag::register(sig, flags.stop.clone())?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// Whether a signal asked the command to stop.
pub fn stop_requested() -> bool {
    FLAGS.get().is_some_and(|f| f.stop.load(Ordering::SeqCst))
}

/// The exit code for the signal that asked to stop: 130 for SIGINT, 143 for SIGTERM (130
/// when none did: the library stopped for a caller that is not a signal).
pub fn exit_code() -> u8 {
    let sig = FLAGS.get().map_or(0, |f| f.signal.load(Ordering::SeqCst));
    match sig {
        0 => 130,
        s => u8::try_from(128 + s).unwrap_or(130),
    }
}
