//! Passing signals on to a child process (`exec`'s command, `edit`'s editor), so that a
//! supervisor's TERM ends the child and we can clean up, instead of waiting for it for ever.

use std::io;
use std::thread::JoinHandle;

use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;

/// Forwards the given signals to one child while it runs.
pub struct Forwarder {
    signals: Option<SignalsInfo<WithOrigin>>,
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Catches `signals` from now on. Call before spawning the child, so a signal arriving in
    /// between is kept and passed on once it runs.
    pub fn register(signals: &[i32]) -> io::Result<Forwarder> {
        let signals = SignalsInfo::<WithOrigin>::new(signals)?;
        Ok(Forwarder {
            handle: signals.handle(),
            signals: Some(signals),
            thread: None,
        })
    }

    /// Starts passing the caught signals to `child` (a process id).
    pub fn start(&mut self, child: u32) {
        let (Some(mut signals), Ok(raw)) = (self.signals.take(), i32::try_from(child)) else {
            return;
        };
        let pid = rustix::process::Pid::from_raw(raw);
        self.thread = Some(std::thread::spawn(move || {
            for origin in signals.forever() {
                // A signal from the kernel (Ctrl-C at a terminal, a hang-up) already reached
                // the child, which is in our process group: forwarding it would double it.
                if matches!(origin.cause, Cause::Kernel) {
                    continue;
                }
                if let (Some(pid), Some(sig)) =
                    (pid, rustix::process::Signal::from_named_raw(origin.signal))
                {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        }));
    }

    /// Stops forwarding (call once the child has been waited for).
    pub fn stop(mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.handle.close();
    }
}
