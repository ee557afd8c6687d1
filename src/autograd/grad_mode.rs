//! Whether ops record onto the tape, per thread.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True when ops record their backward rules (the default).
pub fn is_grad_enabled() -> bool {
    ENABLED.with(|e| e.get())
}

/// Restores the previous grad mode when dropped.
pub struct GradModeGuard {
    prev: bool,
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        ENABLED.with(|e| e.set(self.prev));
    }
}

/// Set the grad mode for this thread until the guard drops.
pub fn set_grad_enabled(enabled: bool) -> GradModeGuard {
    let prev = ENABLED.with(|e| e.replace(enabled));
    GradModeGuard { prev }
}

/// Run `f` without recording: results carry no graph (for evaluation,
/// optimizer updates, metrics).
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _g = set_grad_enabled(false);
    f()
}
