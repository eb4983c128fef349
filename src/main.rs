//! The `stein` command line: parse, dispatch, print the error. Every error is one line on
//! stderr with exit code 2 (3 when the run diverged); a command stopped by SIGINT or SIGTERM
//! prints what it kept and exits with 130 or 143. The commands are in `cli`, the work in the
//! library's `stein::run`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Mesa's Vulkan device-select layer probes Wayland/X11 and prints to stderr when neither
    // exists (headless machines); stein never presents, so the layer has nothing to choose.
    // Set before any thread starts, and only when the user has not chosen otherwise.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: single-threaded at this point; nothing reads the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let command = match cli::parse() {
        Ok(c) => c,
        Err(cli::Stop::Help(e)) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(cli::Stop::Error(line)) => {
            eprintln!("error: {line}");
            return ExitCode::from(2);
        }
    };
    match cli::run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Stopped by a signal after keeping what it could: 130 (SIGINT) or 143 (SIGTERM).
            if let Some(stop) = err.downcast_ref::<cli::Stopped>() {
                eprintln!("stein: {stop}");
                return ExitCode::from(stop.code);
            }
            eprintln!("error: {err:#}");
            // A diverged run is not a user error: 3, so that a sweep can tell them apart.
            let diverged = err.chain().any(|e| e.is::<stein::run::Diverged>());
            ExitCode::from(if diverged { 3 } else { 2 })
        }
    }
}
