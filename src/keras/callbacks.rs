//! Callbacks (`keras.callbacks`): hooks `fit` calls at the start and end of training, of
//! each epoch and of each batch. Built in: [`EarlyStopping`], [`LearningRateScheduler`],
//! [`ReduceLROnPlateau`], [`CSVLogger`], [`TerminateOnNaN`], [`LambdaCallback`].
//!
//! A callback kept by the caller (to read it after `fit`) goes in as
//! `Box::new(Rc::clone(&shared))` of an `Rc<RefCell<C>>`.

use super::Model;
use crate::error::{Error, Result};
use crate::optimizers::LearningRate;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Metric values by name (`loss`, `accuracy`, `val_loss`, ...), sorted as Keras 3 prints
/// them.
pub type Logs = BTreeMap<String, f64>;

/// Hooks into `fit` (and `evaluate`). Every method has an empty default.
#[allow(unused_variables)]
pub trait Callback {
    fn on_train_begin(&mut self, model: &Model) -> Result<()> {
        Ok(())
    }
    fn on_train_end(&mut self, model: &Model) -> Result<()> {
        Ok(())
    }
    fn on_epoch_begin(&mut self, model: &Model, epoch: usize) -> Result<()> {
        Ok(())
    }
    fn on_epoch_end(&mut self, model: &Model, epoch: usize, logs: &Logs) -> Result<()> {
        Ok(())
    }
    fn on_train_batch_begin(&mut self, model: &Model, batch: usize) -> Result<()> {
        Ok(())
    }
    /// `logs` holds the running metrics and `batch_loss` only when
    /// [`Callback::wants_batch_logs`] is true (reading them waits for the device).
    fn on_train_batch_end(&mut self, model: &Model, batch: usize, logs: &Logs) -> Result<()> {
        Ok(())
    }
    fn on_test_begin(&mut self, model: &Model) -> Result<()> {
        Ok(())
    }
    fn on_test_end(&mut self, model: &Model, logs: &Logs) -> Result<()> {
        Ok(())
    }
    /// Whether `on_train_batch_end` needs the batch's logs.
    fn wants_batch_logs(&self) -> bool {
        false
    }
}

impl<C: Callback> Callback for Rc<RefCell<C>> {
    fn on_train_begin(&mut self, model: &Model) -> Result<()> {
        self.borrow_mut().on_train_begin(model)
    }
    fn on_train_end(&mut self, model: &Model) -> Result<()> {
        self.borrow_mut().on_train_end(model)
    }
    fn on_epoch_begin(&mut self, model: &Model, epoch: usize) -> Result<()> {
        self.borrow_mut().on_epoch_begin(model, epoch)
    }
    fn on_epoch_end(&mut self, model: &Model, epoch: usize, logs: &Logs) -> Result<()> {
        self.borrow_mut().on_epoch_end(model, epoch, logs)
    }
    fn on_train_batch_begin(&mut self, model: &Model, batch: usize) -> Result<()> {
        self.borrow_mut().on_train_batch_begin(model, batch)
    }
    fn on_train_batch_end(&mut self, model: &Model, batch: usize, logs: &Logs) -> Result<()> {
        self.borrow_mut().on_train_batch_end(model, batch, logs)
    }
    fn on_test_begin(&mut self, model: &Model) -> Result<()> {
        self.borrow_mut().on_test_begin(model)
    }
    fn on_test_end(&mut self, model: &Model, logs: &Logs) -> Result<()> {
        self.borrow_mut().on_test_end(model, logs)
    }
    fn wants_batch_logs(&self) -> bool {
        self.borrow().wants_batch_logs()
    }
}

/// The callbacks of one `fit`, called in order.
pub(crate) struct CallbackList(Vec<Box<dyn Callback>>);

macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        pub(crate) fn $name(&mut self, model: &Model $(, $arg: $ty)*) -> Result<()> {
            for c in &mut self.0 {
                c.$name(model $(, $arg)*)?;
            }
            Ok(())
        }
    )*};
}

impl CallbackList {
    pub(crate) fn new(callbacks: Vec<Box<dyn Callback>>) -> Self {
        CallbackList(callbacks)
    }
    pub(crate) fn wants_batch_logs(&self) -> bool {
        self.0.iter().any(|c| c.wants_batch_logs())
    }
    forward! {
        on_train_begin();
        on_train_end();
        on_epoch_begin(epoch: usize);
        on_epoch_end(epoch: usize, logs: &Logs);
        on_train_batch_begin(batch: usize);
        on_train_batch_end(batch: usize, logs: &Logs);
        on_test_begin();
        on_test_end(logs: &Logs);
    }
}

fn monitored(logs: &Logs, monitor: &str, who: &str) -> Result<f64> {
    logs.get(monitor).copied().ok_or_else(|| {
        Error::invalid(
            who,
            format!(
                "the monitored value '{monitor}' is not in the logs (available: {})",
                logs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// Whether smaller or larger is better for the monitored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `min` unless the name holds "acc" (Keras's `auto`).
    Auto,
    Min,
    Max,
}

impl Mode {
    fn minimizes(self, monitor: &str) -> bool {
        match self {
            Mode::Min => true,
            Mode::Max => false,
            Mode::Auto => !(monitor.contains("acc") || monitor.contains("auc")),
        }
    }
}

/// Stops training when the monitored value stops improving for `patience` epochs.
pub struct EarlyStopping {
    pub monitor: String,
    pub min_delta: f64,
    pub patience: usize,
    pub mode: Mode,
    pub baseline: Option<f64>,
    pub restore_best_weights: bool,
    pub start_from_epoch: usize,
    wait: usize,
    best: Option<f64>,
    best_weights: Option<Vec<crate::Tensor>>,
    /// The epoch training stopped at (0 if it did not stop early).
    pub stopped_epoch: usize,
}

impl EarlyStopping {
    /// Monitors `monitor` (Keras's default is `val_loss`) with patience 0.
    pub fn new(monitor: &str) -> Self {
        EarlyStopping {
            monitor: monitor.to_string(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_weights: None,
            stopped_epoch: 0,
        }
    }
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d.abs();
        self
    }
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
    pub fn baseline(mut self, b: f64) -> Self {
        self.baseline = Some(b);
        self
    }
    pub fn restore_best_weights(mut self, r: bool) -> Self {
        self.restore_best_weights = r;
        self
    }

    fn improves(&self, value: f64, reference: f64) -> bool {
        if self.mode.minimizes(&self.monitor) {
            value < reference - self.min_delta
        } else {
            value > reference + self.min_delta
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _model: &Model) -> Result<()> {
        self.wait = 0;
        self.stopped_epoch = 0;
        self.best = None;
        self.best_weights = None;
        Ok(())
    }
    fn on_epoch_end(&mut self, model: &Model, epoch: usize, logs: &Logs) -> Result<()> {
        let value = monitored(logs, &self.monitor, "EarlyStopping")?;
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(model.get_weights());
        }
        self.wait += 1;
        if self.best.is_none_or(|r| self.improves(value, r)) {
            self.best = Some(value);
            if self.restore_best_weights {
                self.best_weights = Some(model.get_weights());
            }
            // Keras resets the wait only when the baseline (if any) is beaten.
            if self.baseline.is_none_or(|b| self.improves(value, b)) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            model.set_stop_training(true);
            if let Some(w) = self
                .best_weights
                .take()
                .filter(|_| self.restore_best_weights)
            {
                model.set_weights(&w)?;
            }
        }
        Ok(())
    }
}

type Schedule = Box<dyn FnMut(usize, f64) -> f64>;

/// Sets the learning rate at the start of each epoch to `schedule(epoch, lr)`.
pub struct LearningRateScheduler {
    schedule: Schedule,
}

impl LearningRateScheduler {
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + 'static) -> Self {
        LearningRateScheduler {
            schedule: Box::new(schedule),
        }
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, model: &Model, epoch: usize) -> Result<()> {
        let c = model
            .compiled()
            .ok_or_else(|| Error::invalid("LearningRateScheduler", "the model is not compiled"))?;
        let lr = (self.schedule)(epoch, c.optimizer().learning_rate());
        if !lr.is_finite() {
            return Err(Error::invalid(
                "LearningRateScheduler",
                format!("the schedule gave learning rate {lr} at epoch {epoch}"),
            ));
        }
        c.optimizer().set_learning_rate(LearningRate::Constant(lr));
        Ok(())
    }
}

/// Multiplies the learning rate by `factor` when the monitored value has not improved
/// for `patience` epochs.
pub struct ReduceLROnPlateau {
    pub monitor: String,
    pub factor: f64,
    pub patience: usize,
    pub mode: Mode,
    pub min_delta: f64,
    pub cooldown: usize,
    pub min_lr: f64,
    wait: usize,
    cooldown_left: usize,
    best: Option<f64>,
}

impl ReduceLROnPlateau {
    /// Keras's defaults: factor 0.1, patience 10, min_delta 1e-4, cooldown 0, min_lr 0.
    pub fn new(monitor: &str) -> Self {
        ReduceLROnPlateau {
            monitor: monitor.to_string(),
            factor: 0.1,
            patience: 10,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_left: 0,
            best: None,
        }
    }
    pub fn factor(mut self, f: f64) -> Self {
        self.factor = f;
        self
    }
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d;
        self
    }
    pub fn cooldown(mut self, c: usize) -> Self {
        self.cooldown = c;
        self
    }
    pub fn min_lr(mut self, lr: f64) -> Self {
        self.min_lr = lr;
        self
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _model: &Model) -> Result<()> {
        if self.factor >= 1.0 {
            return Err(Error::invalid(
                "ReduceLROnPlateau",
                format!("factor must be < 1, got {}", self.factor),
            ));
        }
        self.wait = 0;
        self.cooldown_left = 0;
        self.best = None;
        Ok(())
    }
    fn on_epoch_end(&mut self, model: &Model, _epoch: usize, logs: &Logs) -> Result<()> {
        let value = monitored(logs, &self.monitor, "ReduceLROnPlateau")?;
        let minimize = self.mode.minimizes(&self.monitor);
        let better = |v: f64, best: f64| {
            if minimize {
                v < best - self.min_delta
            } else {
                v > best + self.min_delta
            }
        };
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.best.is_none_or(|b| better(value, b)) {
            self.best = Some(value);
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let c = model.compiled().ok_or_else(|| {
                    Error::invalid("ReduceLROnPlateau", "the model is not compiled")
                })?;
                let old = c.optimizer().learning_rate();
                if old > self.min_lr {
                    let new = (old * self.factor).max(self.min_lr);
                    c.optimizer().set_learning_rate(LearningRate::Constant(new));
                    self.cooldown_left = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}

/// Writes each epoch's logs as a CSV row (`epoch,accuracy,loss,...`). The file is
/// rewritten whole after each epoch (temp file + rename), so it is never half-written.
pub struct CSVLogger {
    path: std::path::PathBuf,
    separator: char,
    append: bool,
    rows: Vec<String>,
    header: Option<Vec<String>>,
}

impl CSVLogger {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        CSVLogger {
            path: path.into(),
            separator: ',',
            append: false,
            rows: Vec::new(),
            header: None,
        }
    }
    pub fn separator(mut self, s: char) -> Self {
        self.separator = s;
        self
    }
    /// Keeps the rows already in the file.
    pub fn append(mut self, a: bool) -> Self {
        self.append = a;
        self
    }
}

impl Callback for CSVLogger {
    fn on_train_begin(&mut self, _model: &Model) -> Result<()> {
        self.rows.clear();
        self.header = None;
        if self.append
            && let Ok(text) = std::fs::read_to_string(&self.path)
        {
            let mut lines = text.lines();
            if let Some(h) = lines.next() {
                self.header = Some(h.split(self.separator).map(str::to_string).collect());
                self.rows.extend(lines.map(str::to_string));
            }
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, _model: &Model, epoch: usize, logs: &Logs) -> Result<()> {
        let header = self.header.get_or_insert_with(|| {
            std::iter::once("epoch".to_string())
                .chain(logs.keys().cloned())
                .collect()
        });
        let sep = self.separator.to_string();
        let row: Vec<String> = header
            .iter()
            .map(|k| {
                if k == "epoch" {
                    epoch.to_string()
                } else {
                    logs.get(k).map_or(String::new(), |v| v.to_string())
                }
            })
            .collect();
        self.rows.push(row.join(&sep));
        let mut text = header.join(&sep);
        text.push('\n');
        for r in &self.rows {
            text.push_str(r);
            text.push('\n');
        }
        write_atomically(&self.path, text.as_bytes())
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}

/// Stops training as soon as a batch's loss is NaN or infinite.
#[derive(Default)]
pub struct TerminateOnNaN {
    /// The batch whose loss was not finite, if one was.
    pub stopped_at_batch: Option<usize>,
}

impl TerminateOnNaN {
    pub fn new() -> Self {
        TerminateOnNaN::default()
    }
}

impl Callback for TerminateOnNaN {
    fn wants_batch_logs(&self) -> bool {
        true
    }
    fn on_train_batch_end(&mut self, model: &Model, batch: usize, logs: &Logs) -> Result<()> {
        if logs.get("batch_loss").is_some_and(|l| !l.is_finite()) {
            self.stopped_at_batch = Some(batch);
            model.set_stop_training(true);
        }
        Ok(())
    }
}

type EpochHook = Box<dyn FnMut(&Model, usize, &Logs) -> Result<()>>;

/// A callback from closures (Keras's `LambdaCallback`); only the epoch-end hook for now,
/// the hook most used.
pub struct LambdaCallback {
    on_epoch_end: EpochHook,
}

impl LambdaCallback {
    pub fn on_epoch_end(f: impl FnMut(&Model, usize, &Logs) -> Result<()> + 'static) -> Self {
        LambdaCallback {
            on_epoch_end: Box::new(f),
        }
    }
}

impl Callback for LambdaCallback {
    fn on_epoch_end(&mut self, model: &Model, epoch: usize, logs: &Logs) -> Result<()> {
        (self.on_epoch_end)(model, epoch, logs)
    }
}
