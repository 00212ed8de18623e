use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar for long runs: position, rate, ETA and a status message (loss, PSNR, …).
/// Draws to stderr only when it is a terminal; otherwise prints a line every `log_every`
/// steps, so logs of headless runs stay readable.
pub struct Progress {
    bar: ProgressBar,
    interactive: bool,
    log_every: u64,
    label: String,
}

impl Progress {
    pub fn new(label: &str, total: u64, start: u64) -> Self {
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = ProgressBar::with_draw_target(
            Some(total),
            if interactive { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar.set_position(start);
        bar.reset_eta();
        Progress { bar, interactive, log_every: (total / 20).max(1), label: label.to_string() }
    }

    pub fn set(&self, position: u64, message: String) {
        self.bar.set_position(position);
        if !self.interactive && position.is_multiple_of(self.log_every) {
            let rate = self.bar.per_sec();
            eprintln!(
                "{} {position}/{} ({rate:.1}/s, ETA {:.0}s) {message}",
                self.label,
                self.bar.length().unwrap_or(0),
                self.bar.eta().as_secs_f64()
            );
        }
        self.bar.set_message(message);
    }

    /// A line above the bar (or in the log when stderr is not a terminal).
    pub fn println(&self, line: String) {
        if self.interactive {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
