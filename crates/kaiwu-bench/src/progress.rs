//! A spinner per scenario on stderr (only when stderr is a terminal): the scenario's name, the
//! time it has run and its latest log line. Log lines go through [`say`] so they print above
//! the spinner instead of being overwritten by it.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The spinner of the scenario that is running, if any.
static CURRENT: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Print `args` on stderr, above the spinner; it also becomes the spinner's message.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::progress::say_line(&format!($($t)*))
    };
}
pub(crate) use say;

/// Shows a spinner for scenario `name` until dropped.
#[derive(Debug)]
pub(crate) struct Spinner;

impl Spinner {
    pub(crate) fn start(name: &str) -> Spinner {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            // The template is a constant: a parse failure would be a bug here, so fall back.
            let style = ProgressStyle::with_template("{spinner} [{prefix}] {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(name.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        if let Ok(mut cur) = CURRENT.lock() {
            *cur = Some(bar);
        }
        Spinner
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Ok(mut cur) = CURRENT.lock()
            && let Some(bar) = cur.take()
        {
            bar.finish_and_clear();
        }
    }
}

/// Print one line on stderr without breaking the spinner.
pub(crate) fn say_line(msg: &str) {
    let bar = CURRENT.lock().ok().and_then(|c| c.clone());
    match bar {
        Some(bar) if !bar.is_hidden() => {
            bar.suspend(|| eprintln!("{msg}"));
            let short: String = msg.chars().take(100).collect();
            bar.set_message(short);
        }
        _ => eprintln!("{msg}"),
    }
}
