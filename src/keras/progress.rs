//! Keras's progress output: a bar on a terminal
//! (`469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - accuracy: 0.9300 - loss: 0.2400`, drawn
//! with indicatif), one line per epoch elsewhere, nothing when silent.

use super::callbacks::Logs;
use crate::error::Result;

/// Keras's `verbose`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verbose {
    /// A bar when stdout is a terminal, else one line per epoch (Keras's `"auto"`).
    #[default]
    Auto,
    /// Nothing (`verbose=0`).
    Silent,
    /// The bar (`verbose=1`).
    ProgressBar,
    /// One line per epoch (`verbose=2`).
    OneLinePerEpoch,
}

impl Verbose {
    pub(crate) fn prints(self) -> bool {
        self != Verbose::Silent
    }
    fn bar(self) -> bool {
        match self {
            Verbose::ProgressBar => true,
            Verbose::Auto => is_terminal(),
            _ => false,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
#[cfg(target_arch = "wasm32")]
fn is_terminal() -> bool {
    false
}

/// Keras's number format in logs: 4 decimals, scientific for tiny values.
pub(crate) fn fmt_value(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn fmt_logs(logs: &Logs) -> String {
    logs.iter()
        .map(|(k, v)| format!(" - {k}: {}", fmt_value(*v)))
        .collect()
}

/// `3s`, then the time per step (`6ms/step`, `512us/step`).
fn fmt_times(elapsed: f64, steps: usize) -> (String, String) {
    let total = format!("{}s", elapsed.round() as u64);
    let per = elapsed / steps.max(1) as f64;
    let per_step = if per >= 1.0 {
        format!("{}s/step", per.round() as u64)
    } else if per >= 1e-3 {
        format!("{}ms/step", (per * 1e3).round() as u64)
    } else {
        format!("{}us/step", (per * 1e6).round() as u64)
    };
    (total, per_step)
}

/// One epoch's (or one evaluation's) progress.
pub(crate) struct Progress {
    verbose: Verbose,
    total: Option<usize>,
    steps: usize,
    start: Clock,
    last_draw: f64,
    #[cfg(not(target_arch = "wasm32"))]
    bar: Option<indicatif::ProgressBar>,
}

/// Seconds since creation (the browser has no `Instant`, and prints no bar anyway).
struct Clock(#[cfg(not(target_arch = "wasm32"))] std::time::Instant);

impl Clock {
    fn new() -> Clock {
        Clock(
            #[cfg(not(target_arch = "wasm32"))]
            std::time::Instant::now(),
        )
    }
    fn seconds(&self) -> f64 {
        #[cfg(not(target_arch = "wasm32"))]
        return self.0.elapsed().as_secs_f64();
        #[cfg(target_arch = "wasm32")]
        0.0
    }
}

/// Redraws at most this often: drawing reads the metrics back, which waits for the device.
const REDRAW_SECONDS: f64 = 0.1;

impl Progress {
    pub(crate) fn new(verbose: Verbose, total: Option<usize>) -> Progress {
        #[cfg(not(target_arch = "wasm32"))]
        let bar = verbose.bar().then(|| {
            // Keras prints to stdout, as the epoch headers and callbacks do.
            let target = indicatif::ProgressDrawTarget::stdout();
            let bar = indicatif::ProgressBar::with_draw_target(total.map(|n| n as u64), target);
            let style =
                indicatif::ProgressStyle::with_template("{pos}/{len} {bar:20.green/238} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("━━━");
            bar.set_style(style);
            bar
        });
        Progress {
            verbose,
            total,
            steps: 0,
            start: Clock::new(),
            last_draw: 0.0,
            #[cfg(not(target_arch = "wasm32"))]
            bar,
        }
    }

    /// Step `step` is done; `logs` gives the running metrics when the bar redraws.
    pub(crate) fn update(
        &mut self,
        step: usize,
        logs: &mut dyn FnMut() -> Result<Logs>,
    ) -> Result<()> {
        self.steps = step;
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(bar) = &self.bar {
            let now = self.start.seconds();
            if now - self.last_draw >= REDRAW_SECONDS || Some(step) == self.total {
                self.last_draw = now;
                let (total, per) = fmt_times(now, step);
                bar.set_position(step as u64);
                bar.set_message(format!("{total} {per}{}", fmt_logs(&logs()?)));
            }
        }
        #[cfg(target_arch = "wasm32")]
        let _ = logs;
        Ok(())
    }

    /// The final line with the final logs.
    pub(crate) fn finish(&mut self, logs: &Logs) {
        let elapsed = self.start.seconds();
        let (total, per) = fmt_times(elapsed, self.steps);
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(bar) = self.bar.take() {
            bar.set_length(self.steps as u64);
            bar.set_position(self.steps as u64);
            bar.finish_with_message(format!("{total} {per}{}", fmt_logs(logs)));
            // The bar leaves the cursor on its line; Keras ends the epoch's line.
            println!();
            return;
        }
        if self.verbose.prints() {
            println!(
                "{}/{} - {total} - {per}{}",
                self.steps,
                self.total.unwrap_or(self.steps),
                fmt_logs(logs)
            );
        }
    }
}
