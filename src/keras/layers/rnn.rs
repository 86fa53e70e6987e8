//! Recurrent layers: LSTM and GRU.
//!
//! Both are unrolled: `call` runs one step of ops per time step of the input (whose length
//! must therefore be known, as it always is for a concrete or traced tensor), so a traced
//! function holds `time` copies of the cell. The input projection of every step is one
//! matmul over `[batch * time, features]` before the loop; each step then adds one matmul
//! with the recurrent kernel. The initial state is zero (the first step skips the recurrent
//! matmul, which would only multiply zeros).
//!
//! With `return_state` a layer's [`Layer::call_many`] (and `apply_many` on symbolic
//! tensors) gives the output and then the final states (`h, c` for LSTM, `h` for GRU);
//! initial states, Keras's `initial_state=`, are given as inputs after the sequence
//! (`[x, h0, c0]`).
//!
//! `dropout` and `recurrent_dropout` follow Keras's cells: in training, masks fixed over
//! the time steps and fresh on every call multiply the inputs and the previous state `h`
//! where they enter the gates (not the carried state). Without recurrent dropout one
//! input mask serves every gate (Keras's implementation 2); with it, each gate has its
//! own input and recurrent masks (Keras's implementation 1).
//!
//! With `stateful` the final states of a call are the initial states of the next (for a
//! static batch size, fixed on the input), until `reset_states`; they are not weights, as
//! in Keras. Not supported yet: masking.

use super::core::DropoutMasks;
use super::{BuildContext, Layer, Shape, fmt_shape};
use crate::autodiff::Variable;
use crate::error::{Error, Result};
use crate::keras::activations::Activation as Act;
use crate::keras::initializers::Initializer;
use crate::keras::regularizers::Regularizer;
use crate::ops;
use crate::tensor::Tensor;

/// The feature count of a `[batch, time, features]` input.
fn features(layer: &str, shape: &Shape) -> Result<usize> {
    match shape.as_slice() {
        [_, _, Some(f)] => Ok(*f),
        _ => Err(Error::shape(
            layer,
            format!(
                "expects inputs of shape [batch, time, features] with known features, got {}",
                fmt_shape(shape)
            ),
        )),
    }
}

fn output_shape(shape: &Shape, units: usize, return_sequences: bool) -> Result<Shape> {
    if shape.len() != 3 {
        return Err(Error::shape(
            "RNN",
            format!(
                "expects inputs of shape [batch, time, features], got {}",
                fmt_shape(shape)
            ),
        ));
    }
    Ok(if return_sequences {
        vec![shape[0], shape[1], Some(units)]
    } else {
        vec![shape[0], Some(units)]
    })
}

/// `x · kernel (+ bias)` for every time step at once, split per step in processing order
/// (reversed with `go_backwards`): `time` tensors of `[batch, gates]`.
fn project_inputs(
    layer: &str,
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    go_backwards: bool,
) -> Result<Vec<Tensor>> {
    let (batch, time, feat) = match x.shape() {
        [b, t, f] => (*b, *t, *f),
        s => {
            return Err(Error::shape(
                layer,
                format!("expects inputs of rank 3 [batch, time, features], got {s:?}"),
            ));
        }
    };
    if time == 0 {
        return Err(Error::invalid(layer, "the input has no time steps"));
    }
    let gates = kernel.shape()[1];
    let rows = ops::reshape(x, &[(batch * time) as i64, feat as i64])?;
    let mut p = ops::matmul(&rows, kernel)?;
    if let Some(b) = bias {
        p = ops::bias_add(&p, b)?;
    }
    let p = ops::reshape(&p, &[batch as i64, time as i64, gates as i64])?;
    let mut steps = ops::unstack(&p, 1)?;
    if go_backwards {
        steps.reverse();
    }
    Ok(steps)
}

/// One training call's dropout masks: for the inputs none, one `[batch, 1, features]` for
/// every gate, or one per gate; for the previous state none or one `[batch, units]` per
/// gate (see the module docs).
struct CallMasks {
    input: Vec<Tensor>,
    recurrent: Vec<Tensor>,
}

/// The masks of a call: none outside training.
fn call_masks(
    masks: Option<&DropoutMasks>,
    x: &Tensor,
    gates: usize,
    units: usize,
    rates: (f32, f32),
    training: bool,
) -> Result<CallMasks> {
    let (Some(m), true, [batch, _, feat]) = (masks, training, x.shape()) else {
        return Ok(CallMasks {
            input: vec![],
            recurrent: vec![],
        });
    };
    let per_gate = rates.1 > 0.0;
    let n_in = match (rates.0 > 0.0, per_gate) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => gates,
    };
    let n_rec = if per_gate { gates } else { 0 };
    Ok(CallMasks {
        input: (0..n_in)
            .map(|_| m.mask(rates.0, &[*batch, 1, *feat]))
            .collect::<Result<_>>()?,
        recurrent: (0..n_rec)
            .map(|_| m.mask(rates.1, &[*batch, units]))
            .collect::<Result<_>>()?,
    })
}

/// [`project_inputs`] of the inputs under their dropout masks: with one mask per gate each
/// gate's columns come from its own masked inputs.
fn project_masked(
    layer: &str,
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    go_backwards: bool,
    masks: &[Tensor],
) -> Result<Vec<Tensor>> {
    match masks {
        [] => project_inputs(layer, x, kernel, bias, go_backwards),
        [m] => project_inputs(layer, &ops::mul(x, m)?, kernel, bias, go_backwards),
        _ => {
            let g = masks.len();
            let kernels = ops::split_even(kernel, g, 1)?;
            let biases = bias.map(|b| ops::split_even(b, g, 0)).transpose()?;
            let per_gate = (0..g)
                .map(|i| {
                    let b = biases.as_ref().map(|b| &b[i]);
                    project_inputs(
                        layer,
                        &ops::mul(x, &masks[i])?,
                        &kernels[i],
                        b,
                        go_backwards,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            (0..per_gate[0].len())
                .map(|t| ops::concat(&per_gate.iter().map(|p| &p[t]).collect::<Vec<_>>(), 1))
                .collect()
        }
    }
}

/// `h · rk`, or with recurrent masks each gate's columns from its own masked `h`.
fn recurrent(h: &Tensor, rk: &Tensor, masks: &[Tensor]) -> Result<Tensor> {
    if masks.is_empty() {
        return ops::matmul(h, rk);
    }
    let blocks = ops::split_even(rk, masks.len(), 1)?;
    let parts = masks
        .iter()
        .zip(&blocks)
        .map(|(m, k)| ops::matmul(&ops::mul(h, m)?, k))
        .collect::<Result<Vec<_>>>()?;
    ops::concat(&parts.iter().collect::<Vec<_>>(), 1)
}

/// A stateful layer's carried states (zeros), for the static batch size of `shape`.
fn new_states(layer: &str, shape: &Shape, count: usize, units: usize) -> Result<Vec<Variable>> {
    let Some(batch) = shape[0] else {
        return Err(Error::invalid(
            layer,
            format!(
                "a stateful RNN needs a static batch size, got input shape {}; fix it on \
                 the input (InputLayer::batch_size, Input::batched)",
                fmt_shape(shape)
            ),
        ));
    };
    crate::graph::init_scope(|| {
        (0..count)
            .map(|i| {
                let zeros = ops::zeros([batch, units], crate::DType::F32)?;
                Ok(Variable::new(zeros, &format!("{layer}_state_{i}"), false))
            })
            .collect()
    })
}

/// The initial states of a call: those given after the sequence, else a stateful layer's
/// carried ones (for the batch size they were made for), else none (zeros).
fn call_states(
    layer: &str,
    inputs: &[Tensor],
    count: usize,
    units: usize,
    carried: Option<&[Variable]>,
) -> Result<Option<Vec<Tensor>>> {
    if let Some(given) = initial_states(layer, inputs, count, units)? {
        return Ok(Some(given));
    }
    let Some(vars) = carried else {
        return Ok(None);
    };
    let (want, got) = (vars[0].shape()[0], inputs[0].shape()[0]);
    if want != got {
        return Err(Error::shape(
            layer,
            format!("this stateful RNN carries states for batches of {want}, got a batch of {got}"),
        ));
    }
    Ok(Some(vars.iter().map(Variable::read_value).collect()))
}

/// Zeros into a stateful layer's carried states.
fn zero_states(states: Option<&[Variable]>) -> Result<()> {
    for v in states.unwrap_or_default() {
        v.assign(&ops::zeros(v.shape(), crate::DType::F32)?)?;
    }
    Ok(())
}

/// Checks a dropout rate at build time.
fn check_rate(layer: &str, what: &str, rate: f32) -> Result<()> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid(
            layer,
            format!("{what} must be in [0, 1), got {rate}"),
        ));
    }
    Ok(())
}

/// The per-step outputs as the layer's output: stacked on a time axis, or the last one.
fn finish(outputs: Vec<Tensor>, return_sequences: bool) -> Result<Tensor> {
    if return_sequences {
        let refs: Vec<&Tensor> = outputs.iter().collect();
        ops::stack(&refs, 1)
    } else {
        Ok(outputs.into_iter().last().expect("at least one step"))
    }
}

/// The initial states given after the sequence (`inputs[1..]`): none (zeros), or exactly
/// `count` tensors of shape `[batch, units]`.
fn initial_states(
    layer: &str,
    inputs: &[Tensor],
    count: usize,
    units: usize,
) -> Result<Option<Vec<Tensor>>> {
    let states = &inputs[1..];
    if states.is_empty() {
        return Ok(None);
    }
    if states.len() != count {
        return Err(Error::invalid(
            layer,
            format!(
                "takes {count} initial state tensor(s) after the input, got {}",
                states.len()
            ),
        ));
    }
    let batch = inputs[0].shape().first().copied();
    for (i, s) in states.iter().enumerate() {
        if s.rank() != 2 || Some(s.shape()[0]) != batch || s.shape()[1] != units {
            return Err(Error::shape(
                layer,
                format!(
                    "initial state {i} must have shape [batch, units] = [{}, {units}], got {}",
                    batch.map_or("?".into(), |b| b.to_string()),
                    fmt_shape(&crate::keras::layers::known(s.shape()))
                ),
            ));
        }
    }
    Ok(Some(states.to_vec()))
}

/// The shapes of `[output, states...]`: the output's, then `count` states `[batch, units]`.
fn output_shapes(
    shape: &Shape,
    units: usize,
    return_sequences: bool,
    count: usize,
) -> Result<Vec<Shape>> {
    let mut out = vec![output_shape(shape, units, return_sequences)?];
    out.extend(std::iter::repeat_n(vec![shape[0], Some(units)], count));
    Ok(out)
}

/// `1 - z`.
fn one_minus(z: &Tensor) -> Result<Tensor> {
    ops::sub(&ops::scalar_like(z, 1.0)?, z)
}

/// The builder methods LSTM and GRU share (same fields, same meaning).
macro_rules! rnn_options {
    ($layer:ty) => {
        impl $layer {
            /// The fraction of the inputs dropped in training (one mask per call, shared by the
            /// time steps).
            pub fn dropout(mut self, rate: f32) -> Self {
                self.dropout = rate;
                self
            }
            /// The fraction of the previous state dropped where it enters the gates, in training.
            pub fn recurrent_dropout(mut self, rate: f32) -> Self {
                self.recurrent_dropout = rate;
                self
            }
            /// Makes the dropout masks reproducible (the n-th mask's seed comes from `seed` and n).
            pub fn seed(mut self, seed: u64) -> Self {
                self.seed = Some(seed);
                self
            }
            /// Carries the final states of a call into the next (see the module docs).
            pub fn stateful(mut self, s: bool) -> Self {
                self.stateful = s;
                self
            }
            /// Output every step's state (`[batch, time, units]`) instead of the last.
            pub fn return_sequences(mut self, r: bool) -> Self {
                self.return_sequences = r;
                self
            }
            /// Also output the final states: `call_many` / `apply_many` give `[output, states...]`.
            pub fn return_state(mut self, r: bool) -> Self {
                self.return_state = r;
                self
            }
            /// Read the sequence from its end; with `return_sequences` the outputs come in that
            /// (reversed) order, as in Keras.
            pub fn go_backwards(mut self, g: bool) -> Self {
                self.go_backwards = g;
                self
            }
            /// The activation of the gates (`sigmoid`).
            pub fn recurrent_activation(mut self, a: Act) -> Self {
                self.recurrent_activation = a;
                self
            }
            pub fn use_bias(mut self, b: bool) -> Self {
                self.use_bias = b;
                self
            }
            pub fn kernel_initializer(mut self, i: Initializer) -> Self {
                self.kernel_initializer = i;
                self
            }
            pub fn recurrent_initializer(mut self, i: Initializer) -> Self {
                self.recurrent_initializer = i;
                self
            }
            pub fn bias_initializer(mut self, i: Initializer) -> Self {
                self.bias_initializer = i;
                self
            }
            pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
                self.kernel_regularizer = Some(r);
                self
            }
            pub fn recurrent_regularizer(mut self, r: Regularizer) -> Self {
                self.recurrent_regularizer = Some(r);
                self
            }
            pub fn bias_regularizer(mut self, r: Regularizer) -> Self {
                self.bias_regularizer = Some(r);
                self
            }
            pub fn units(&self) -> usize {
                self.units
            }
        }
    };
}

rnn_options!(LSTM);
rnn_options!(GRU);

/// Long short-term memory (Keras's `LSTM`), unrolled over the time axis (see the module
/// docs). Input `[batch, time, features]`; output `[batch, units]`, or `[batch, time,
/// units]` with `return_sequences`.
///
/// Keras's gate order and defaults: `z = x · kernel + h · recurrent_kernel + bias` split into
/// input, forget, cell and output gates `[i, f, c, o]` (each `units` wide); `c' = f * c + i *
/// tanh(z_c)`, `h' = o * tanh(c')` with the gates through `sigmoid`. The kernel is
/// glorot-uniform, the recurrent kernel orthogonal, the bias zero but for ones on the forget
/// gate (`unit_forget_bias`).
pub struct LSTM {
    units: usize,
    activation: Act,
    recurrent_activation: Act,
    use_bias: bool,
    unit_forget_bias: bool,
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    kernel_initializer: Initializer,
    recurrent_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    recurrent_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    dropout: f32,
    recurrent_dropout: f32,
    seed: Option<u64>,
    masks: Option<DropoutMasks>,
    stateful: bool,
    states: Option<Vec<Variable>>,
    kernel: Option<Variable>,
    recurrent_kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl LSTM {
    /// `units` wide state, Keras's defaults (see the type's docs), the last output only.
    pub fn new(units: usize) -> LSTM {
        LSTM {
            units,
            activation: Act::Tanh,
            recurrent_activation: Act::Sigmoid,
            use_bias: true,
            unit_forget_bias: true,
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            kernel_initializer: Initializer::glorot_uniform(),
            recurrent_initializer: Initializer::Orthogonal {
                gain: 1.0,
                seed: None,
            },
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            seed: None,
            masks: None,
            stateful: false,
            states: None,
            kernel: None,
            recurrent_kernel: None,
            bias: None,
        }
    }
    /// The activation of the cell input and of the output (`tanh`).
    pub fn activation(mut self, a: Act) -> Self {
        self.activation = a;
        self
    }
    /// Start the forget gate's bias at one (Keras's default) so the cell remembers early on.
    pub fn unit_forget_bias(mut self, u: bool) -> Self {
        self.unit_forget_bias = u;
        self
    }
    /// `[features, 4 * units]`, gates `[i, f, c, o]`.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    /// `[units, 4 * units]`, gates `[i, f, c, o]`.
    pub fn recurrent_kernel(&self) -> Option<&Variable> {
        self.recurrent_kernel.as_ref()
    }
    /// `[4 * units]`, gates `[i, f, c, o]`.
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }
}

impl Layer for LSTM {
    fn class_name(&self) -> &str {
        "LSTM"
    }
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let f = features("LSTM", &input_shapes[0])?;
        let u = self.units;
        if u == 0 {
            return Err(Error::invalid("LSTM", "units must be positive"));
        }
        if self.stateful {
            self.states = Some(new_states("LSTM", &input_shapes[0], 2, u)?);
        }
        check_rate("LSTM", "dropout", self.dropout)?;
        check_rate("LSTM", "recurrent_dropout", self.recurrent_dropout)?;
        if self.dropout > 0.0 || self.recurrent_dropout > 0.0 {
            let seed = *self.seed.get_or_insert_with(crate::keras::next_seed);
            self.masks = Some(DropoutMasks::new(seed));
        }
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[f, 4 * u],
            self.kernel_initializer.clone(),
            true,
            self.kernel_regularizer,
        )?);
        self.recurrent_kernel = Some(ctx.add_weight(
            "recurrent_kernel",
            &[u, 4 * u],
            self.recurrent_initializer.clone(),
            true,
            self.recurrent_regularizer,
        )?);
        if self.use_bias {
            if self.unit_forget_bias {
                // Keras: the bias initializer for i, ones for f, the initializer for c and o.
                let bias = ctx.add_weight(
                    "bias",
                    &[4 * u],
                    Initializer::Zeros,
                    true,
                    self.bias_regularizer,
                )?;
                crate::graph::init_scope(|| -> Result<()> {
                    let i = self.bias_initializer.initialize(&[u])?;
                    let f = Initializer::Ones.initialize(&[u])?;
                    let co = self.bias_initializer.initialize(&[2 * u])?;
                    bias.assign(&ops::concat(&[&i, &f, &co], 0)?)
                })?;
                self.bias = Some(bias);
            } else {
                self.bias = Some(ctx.add_weight(
                    "bias",
                    &[4 * u],
                    self.bias_initializer.clone(),
                    true,
                    self.bias_regularizer,
                )?);
            }
        }
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Tensor> {
        Ok(self.call_many(inputs, training)?.swap_remove(0))
    }
    /// `[output]`, or `[output, h, c]` with `return_state`; `inputs` is `[x]` or
    /// `[x, h0, c0]`.
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let kernel = self.kernel.as_ref().expect("built").read_value();
        let rk = self.recurrent_kernel.as_ref().expect("built").read_value();
        let bias = self.bias.as_ref().map(|b| b.read_value());
        let carried = self.states.as_deref();
        let mut state: Option<(Tensor, Tensor)> =
            call_states("LSTM", inputs, 2, self.units, carried)?.map(|mut s| {
                let c = s.pop().expect("2 states");
                (s.pop().expect("2 states"), c)
            });
        let masks = call_masks(
            self.masks.as_ref(),
            &inputs[0],
            4,
            self.units,
            (self.dropout, self.recurrent_dropout),
            training,
        )?;
        let steps = project_masked(
            "LSTM",
            &inputs[0],
            &kernel,
            bias.as_ref(),
            self.go_backwards,
            &masks.input,
        )?;
        let (act, rec) = (self.activation, self.recurrent_activation);
        let mut outputs = Vec::with_capacity(steps.len());
        for xz in steps {
            let z = match &state {
                Some((h, _)) => ops::add(&xz, &recurrent(h, &rk, &masks.recurrent)?)?,
                None => xz,
            };
            let g = ops::split_even(&z, 4, 1)?;
            let i = rec.apply(&g[0])?;
            let f = rec.apply(&g[1])?;
            let cand = ops::mul(&i, &act.apply(&g[2])?)?;
            let o = rec.apply(&g[3])?;
            let c = match &state {
                Some((_, c)) => ops::add(&ops::mul(&f, c)?, &cand)?,
                None => cand,
            };
            let h = ops::mul(&o, &act.apply(&c)?)?;
            outputs.push(h.clone());
            state = Some((h, c));
        }
        let (h, c) = state.expect("at least one step");
        if let Some(vars) = carried {
            vars[0].assign(&h)?;
            vars[1].assign(&c)?;
        }
        let mut out = vec![finish(outputs, self.return_sequences)?];
        if self.return_state {
            out.extend([h, c]);
        }
        Ok(out)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(output_shape(
            &input_shapes[0],
            self.units,
            self.return_sequences,
        ))
    }
    fn compute_output_shapes(&self, input_shapes: &[Shape]) -> Option<Result<Vec<Shape>>> {
        let states = if self.return_state { 2 } else { 0 };
        Some(output_shapes(
            &input_shapes[0],
            self.units,
            self.return_sequences,
            states,
        ))
    }
    fn built_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn reset_states(&self) -> Result<()> {
        zero_states(self.states.as_deref())
    }
}

/// Gated recurrent unit (Keras's `GRU`), unrolled over the time axis (see the module docs).
/// Input `[batch, time, features]`; output `[batch, units]`, or `[batch, time, units]` with
/// `return_sequences`.
///
/// Keras's gate order `[z, r, h]` (update, reset, candidate) and defaults: `reset_after`
/// (the reset gate multiplies `h · recurrent_kernel + recurrent_bias`, cuDNN's form) with a
/// bias of shape `[2, 3 * units]` (input bias, recurrent bias); `h' = z * h + (1 - z) *
/// tanh(...)`. The kernel is glorot-uniform, the recurrent kernel orthogonal, the bias zero.
pub struct GRU {
    units: usize,
    activation: Act,
    recurrent_activation: Act,
    use_bias: bool,
    reset_after: bool,
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    kernel_initializer: Initializer,
    recurrent_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    recurrent_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    dropout: f32,
    recurrent_dropout: f32,
    seed: Option<u64>,
    masks: Option<DropoutMasks>,
    stateful: bool,
    states: Option<Vec<Variable>>,
    kernel: Option<Variable>,
    recurrent_kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl GRU {
    /// `units` wide state, Keras's defaults (see the type's docs), the last output only.
    pub fn new(units: usize) -> GRU {
        GRU {
            units,
            activation: Act::Tanh,
            recurrent_activation: Act::Sigmoid,
            use_bias: true,
            reset_after: true,
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            kernel_initializer: Initializer::glorot_uniform(),
            recurrent_initializer: Initializer::Orthogonal {
                gain: 1.0,
                seed: None,
            },
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            seed: None,
            masks: None,
            stateful: false,
            states: None,
            kernel: None,
            recurrent_kernel: None,
            bias: None,
        }
    }
    /// `false`: the original GRU, where the reset gate multiplies the state before the
    /// recurrent matmul, with a bias of shape `[3 * units]`.
    pub fn reset_after(mut self, r: bool) -> Self {
        self.reset_after = r;
        self
    }
    /// The activation of the candidate state (`tanh`).
    pub fn activation(mut self, a: Act) -> Self {
        self.activation = a;
        self
    }
    /// `[features, 3 * units]`, gates `[z, r, h]`.
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    /// `[units, 3 * units]`, gates `[z, r, h]`.
    pub fn recurrent_kernel(&self) -> Option<&Variable> {
        self.recurrent_kernel.as_ref()
    }
    /// `[2, 3 * units]` (input bias, recurrent bias) with `reset_after`, else `[3 * units]`.
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }
}

impl Layer for GRU {
    fn class_name(&self) -> &str {
        "GRU"
    }
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let f = features("GRU", &input_shapes[0])?;
        let u = self.units;
        if u == 0 {
            return Err(Error::invalid("GRU", "units must be positive"));
        }
        if self.stateful {
            self.states = Some(new_states("GRU", &input_shapes[0], 1, u)?);
        }
        check_rate("GRU", "dropout", self.dropout)?;
        check_rate("GRU", "recurrent_dropout", self.recurrent_dropout)?;
        if self.dropout > 0.0 || self.recurrent_dropout > 0.0 {
            let seed = *self.seed.get_or_insert_with(crate::keras::next_seed);
            self.masks = Some(DropoutMasks::new(seed));
        }
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[f, 3 * u],
            self.kernel_initializer.clone(),
            true,
            self.kernel_regularizer,
        )?);
        self.recurrent_kernel = Some(ctx.add_weight(
            "recurrent_kernel",
            &[u, 3 * u],
            self.recurrent_initializer.clone(),
            true,
            self.recurrent_regularizer,
        )?);
        if self.use_bias {
            let shape: Vec<usize> = if self.reset_after {
                vec![2, 3 * u]
            } else {
                vec![3 * u]
            };
            self.bias = Some(ctx.add_weight(
                "bias",
                &shape,
                self.bias_initializer.clone(),
                true,
                self.bias_regularizer,
            )?);
        }
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Tensor> {
        Ok(self.call_many(inputs, training)?.swap_remove(0))
    }
    /// `[output]`, or `[output, h]` with `return_state`; `inputs` is `[x]` or `[x, h0]`.
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let u = self.units;
        let carried = self.states.as_deref();
        let mut state: Option<Tensor> =
            call_states("GRU", inputs, 1, u, carried)?.map(|mut s| s.swap_remove(0));
        let kernel = self.kernel.as_ref().expect("built").read_value();
        let rk = self.recurrent_kernel.as_ref().expect("built").read_value();
        let bias = self.bias.as_ref().map(|b| b.read_value());
        // reset_after: separate input and recurrent biases.
        let (input_bias, recurrent_bias) = match (&bias, self.reset_after) {
            (Some(b), true) => {
                let mut rows = ops::unstack(b, 0)?;
                let rb = rows.pop().expect("2 rows");
                (Some(rows.pop().expect("2 rows")), Some(rb))
            }
            (b, _) => (b.clone(), None),
        };
        let masks = call_masks(
            self.masks.as_ref(),
            &inputs[0],
            3,
            u,
            (self.dropout, self.recurrent_dropout),
            training,
        )?;
        let steps = project_masked(
            "GRU",
            &inputs[0],
            &kernel,
            input_bias.as_ref(),
            self.go_backwards,
            &masks.input,
        )?;
        let rmasks = &masks.recurrent;
        let (act, rec) = (self.activation, self.recurrent_activation);
        // reset_after = false: the candidate's recurrent matmul comes after the reset gate.
        let (rk_zr, rk_h) = if self.reset_after {
            (None, None)
        } else {
            let mut parts = ops::split(&rk, &[2 * u, u], 1)?;
            let h = parts.pop().expect("2 parts");
            (Some(parts.pop().expect("2 parts")), Some(h))
        };
        let mut outputs = Vec::with_capacity(steps.len());
        for xp in steps {
            let x = ops::split_even(&xp, 3, 1)?;
            let (z, hh) = if self.reset_after {
                let inner = match (&state, &recurrent_bias) {
                    (Some(h), Some(rb)) => Some(ops::bias_add(&recurrent(h, &rk, rmasks)?, rb)?),
                    (Some(h), None) => Some(recurrent(h, &rk, rmasks)?),
                    // h = 0: only the recurrent bias is left.
                    (None, Some(rb)) => Some(ops::reshape(rb, &[1, 3 * u as i64])?),
                    (None, None) => None,
                };
                match inner {
                    Some(inner) => {
                        let r_ = ops::split_even(&inner, 3, 1)?;
                        let z = rec.apply(&ops::add(&x[0], &r_[0])?)?;
                        let r = rec.apply(&ops::add(&x[1], &r_[1])?)?;
                        let hh = act.apply(&ops::add(&x[2], &ops::mul(&r, &r_[2])?)?)?;
                        (z, hh)
                    }
                    None => (rec.apply(&x[0])?, act.apply(&x[2])?),
                }
            } else {
                match &state {
                    Some(h) => {
                        let zr_masks = &rmasks[..rmasks.len().min(2)];
                        let zr = recurrent(h, rk_zr.as_ref().expect("split"), zr_masks)?;
                        let zr = ops::split_even(&zr, 2, 1)?;
                        let z = rec.apply(&ops::add(&x[0], &zr[0])?)?;
                        let r = rec.apply(&ops::add(&x[1], &zr[1])?)?;
                        let h_h = match rmasks.get(2) {
                            Some(m) => ops::mul(h, m)?,
                            None => h.clone(),
                        };
                        let rh = ops::matmul(&ops::mul(&r, &h_h)?, rk_h.as_ref().expect("split"))?;
                        (z, act.apply(&ops::add(&x[2], &rh)?)?)
                    }
                    None => (rec.apply(&x[0])?, act.apply(&x[2])?),
                }
            };
            let h = match &state {
                Some(h) => ops::add(&ops::mul(&z, h)?, &ops::mul(&one_minus(&z)?, &hh)?)?,
                None => ops::mul(&one_minus(&z)?, &hh)?,
            };
            outputs.push(h.clone());
            state = Some(h);
        }
        let h = state.expect("at least one step");
        if let Some(vars) = carried {
            vars[0].assign(&h)?;
        }
        let mut out = vec![finish(outputs, self.return_sequences)?];
        if self.return_state {
            out.push(h);
        }
        Ok(out)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(output_shape(
            &input_shapes[0],
            self.units,
            self.return_sequences,
        ))
    }
    fn compute_output_shapes(&self, input_shapes: &[Shape]) -> Option<Result<Vec<Shape>>> {
        let states = usize::from(self.return_state);
        Some(output_shapes(
            &input_shapes[0],
            self.units,
            self.return_sequences,
            states,
        ))
    }
    fn built_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn reset_states(&self) -> Result<()> {
        zero_states(self.states.as_deref())
    }
}
