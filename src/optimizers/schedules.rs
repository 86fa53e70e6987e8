//! Learning-rate schedules (Keras 3's `keras.optimizers.schedules`), evaluated on the host
//! at the optimizer's step count.

/// A learning rate as a function of the step (the optimizer's `iterations`).
pub trait LearningRateSchedule {
    fn at(&self, step: i64) -> f64;
}

/// `initial * decay_rate ^ (step / decay_steps)` (the exponent floored with `staircase`).
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialDecay {
    pub initial_learning_rate: f64,
    pub decay_steps: f64,
    pub decay_rate: f64,
    pub staircase: bool,
}

impl ExponentialDecay {
    pub fn new(initial_learning_rate: f64, decay_steps: f64, decay_rate: f64) -> Self {
        ExponentialDecay {
            initial_learning_rate,
            decay_steps,
            decay_rate,
            staircase: false,
        }
    }
    pub fn staircase(mut self, b: bool) -> Self {
        self.staircase = b;
        self
    }
}

impl LearningRateSchedule for ExponentialDecay {
    fn at(&self, step: i64) -> f64 {
        let p = progress(step, self.decay_steps, self.staircase);
        self.initial_learning_rate * self.decay_rate.powf(p)
    }
}

/// `values[0]` for `step <= boundaries[0]`, `values[i]` for
/// `boundaries[i-1] < step <= boundaries[i]`, and `values[n]` past the last boundary.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseConstantDecay {
    pub boundaries: Vec<i64>,
    pub values: Vec<f64>,
}

impl PiecewiseConstantDecay {
    /// `values` must have one more element than `boundaries`.
    pub fn new(boundaries: Vec<i64>, values: Vec<f64>) -> crate::Result<Self> {
        if values.len() != boundaries.len() + 1 {
            return Err(crate::Error::InvalidArgument {
                op: "PiecewiseConstantDecay".into(),
                msg: format!(
                    "needs one more value than boundaries, got {} boundaries and {} values",
                    boundaries.len(),
                    values.len()
                ),
            });
        }
        Ok(PiecewiseConstantDecay { boundaries, values })
    }
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn at(&self, step: i64) -> f64 {
        let i = self
            .boundaries
            .iter()
            .position(|&b| step <= b)
            .unwrap_or(self.boundaries.len());
        self.values[i]
    }
}

/// Cosine decay from `initial` to `initial * alpha` over `decay_steps`, after an optional
/// linear warmup to `warmup_target` over `warmup_steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineDecay {
    pub initial_learning_rate: f64,
    pub decay_steps: f64,
    pub alpha: f64,
    pub warmup_target: Option<f64>,
    pub warmup_steps: f64,
}

impl CosineDecay {
    pub fn new(initial_learning_rate: f64, decay_steps: f64) -> Self {
        CosineDecay {
            initial_learning_rate,
            decay_steps,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0.0,
        }
    }
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }
    pub fn warmup(mut self, target: f64, steps: f64) -> Self {
        self.warmup_target = Some(target);
        self.warmup_steps = steps;
        self
    }
    fn decay(&self, step: f64, from: f64) -> f64 {
        let done = step / self.decay_steps;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * done).cos());
        from * ((1.0 - self.alpha) * cosine + self.alpha)
    }
}

impl LearningRateSchedule for CosineDecay {
    fn at(&self, step: i64) -> f64 {
        let s = step as f64;
        match self.warmup_target {
            None => self.decay(s.min(self.decay_steps), self.initial_learning_rate),
            Some(target) => {
                let s = s.min(self.decay_steps + self.warmup_steps);
                if s < self.warmup_steps {
                    let done = s / self.warmup_steps;
                    self.initial_learning_rate + (target - self.initial_learning_rate) * done
                } else {
                    self.decay(s - self.warmup_steps, target)
                }
            }
        }
    }
}

/// `initial / (1 + decay_rate * step / decay_steps)` (the ratio floored with `staircase`).
#[derive(Clone, Debug, PartialEq)]
pub struct InverseTimeDecay {
    pub initial_learning_rate: f64,
    pub decay_steps: f64,
    pub decay_rate: f64,
    pub staircase: bool,
}

impl InverseTimeDecay {
    pub fn new(initial_learning_rate: f64, decay_steps: f64, decay_rate: f64) -> Self {
        InverseTimeDecay {
            initial_learning_rate,
            decay_steps,
            decay_rate,
            staircase: false,
        }
    }
    pub fn staircase(mut self, b: bool) -> Self {
        self.staircase = b;
        self
    }
}

impl LearningRateSchedule for InverseTimeDecay {
    fn at(&self, step: i64) -> f64 {
        let p = progress(step, self.decay_steps, self.staircase);
        self.initial_learning_rate / (1.0 + self.decay_rate * p)
    }
}

/// `step / decay_steps`, rounded down with `staircase` (Exponential and InverseTime decay).
fn progress(step: i64, decay_steps: f64, staircase: bool) -> f64 {
    let p = step as f64 / decay_steps;
    if staircase { p.floor() } else { p }
}
