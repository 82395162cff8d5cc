//! Progress on long walks and transfers: a spinner on a terminal, nothing
//! otherwise (pipes, --json).

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(show: bool, what: &str) -> Progress {
        if !show {
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {prefix}: {pos} {msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.set_prefix(what.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(Some(bar))
    }

    /// A bar with a known length (objects to transfer).
    pub fn counted(show: bool, what: &str, len: u64) -> Progress {
        if !show {
            return Progress(None);
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix}: {pos}/{len} {wide_bar} {msg} ({eta})")
        {
            bar.set_style(style);
        }
        bar.set_prefix(what.to_owned());
        Progress(Some(bar))
    }

    pub fn tick(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
