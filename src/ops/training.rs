//! Fused optimizer updates (TensorFlow's `ResourceApply*` ops, with Keras 3's formulas).
//!
//! Each op reads a variable's value, its gradient and its slots, and writes the new value
//! and the new slots in ONE map kernel with several outputs. Hyperparameters (learning
//! rate, beta powers, epsilon, ...) are runtime constants, so the compiled pipeline is
//! reused from step to step as they change. No gradient flows through an update.
//!
//! Inputs: `[var, grad, slots...]`; outputs: `[new_var, new_slots...]`, slots in the order
//! of [`TrainingOp::slot_names`]. An optional last input, `f32[k]` holding
//! [`TrainingOp::hyperparameters`], replaces the op's own values: a traced training step
//! uploads the step's values there on every call, so the update is one static kernel
//! (and fusion can fold it into the kernel that computes the gradient).

use super::{GradContext, Lowering, Meta, OpDef, expect_float};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MapKernel, contiguous_strides};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;

/// One optimizer update. `weight_decay` (when set) is Keras's decoupled decay applied to
/// the variable before the update: `var -= var * weight_decay * lr`.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainingOp {
    /// `var -= lr * g`; with momentum `m = m * momentum - lr * g`, then `var += m`
    /// (Nesterov: `var += m * momentum - lr * g`).
    Sgd {
        lr: f32,
        momentum: Option<f32>,
        nesterov: bool,
        weight_decay: Option<f32>,
    },
    /// Adam (AMSGrad keeps the running maximum of the second moment).
    Adam {
        lr: f32,
        /// `lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
        alpha: f32,
        one_minus_beta_1: f32,
        one_minus_beta_2: f32,
        epsilon: f32,
        amsgrad: bool,
        weight_decay: Option<f32>,
    },
    /// `acc += g^2; var -= lr * g / sqrt(acc + eps)`.
    Adagrad {
        lr: f32,
        epsilon: f32,
        weight_decay: Option<f32>,
    },
    /// RMSprop, optionally centered and with momentum.
    RmsProp {
        lr: f32,
        rho: f32,
        one_minus_rho: f32,
        momentum: Option<f32>,
        epsilon: f32,
        centered: bool,
        weight_decay: Option<f32>,
    },
}

impl TrainingOp {
    /// The slots the update reads and writes, in input/output order (Keras 3's names).
    pub fn slot_names(&self) -> Vec<&'static str> {
        match self {
            TrainingOp::Sgd { momentum, .. } => {
                if momentum.is_some() {
                    vec!["momentum"]
                } else {
                    vec![]
                }
            }
            TrainingOp::Adam { amsgrad, .. } => {
                if *amsgrad {
                    vec!["momentum", "velocity", "velocity_hat"]
                } else {
                    vec!["momentum", "velocity"]
                }
            }
            TrainingOp::Adagrad { .. } => vec!["accumulator"],
            TrainingOp::RmsProp {
                momentum, centered, ..
            } => {
                let mut v = vec!["velocity"];
                if momentum.is_some() {
                    v.push("momentum");
                }
                if *centered {
                    v.push("average_gradient");
                }
                v
            }
        }
    }

    fn lr_and_decay(&self) -> (f32, Option<f32>) {
        match *self {
            TrainingOp::Sgd {
                lr, weight_decay, ..
            }
            | TrainingOp::Adam {
                lr, weight_decay, ..
            }
            | TrainingOp::Adagrad {
                lr, weight_decay, ..
            }
            | TrainingOp::RmsProp {
                lr, weight_decay, ..
            } => (lr, weight_decay),
        }
    }

    /// The values the update's formula reads, in the order the kernel takes them from a
    /// hyperparameter input.
    pub fn hyperparameters(&self) -> Vec<f32> {
        let n = self.arity();
        let b = ExprBuilder::new(&vec![DType::F32; n]);
        let x: Vec<E> = (0..n).map(|i| b.load_affine(i, 0, vec![1])).collect();
        let mut values = vec![];
        self.expr(&x, &mut |v| {
            values.push(v);
            b.param(Scalar::F32(v))
        });
        values
    }

    /// Inputs without a hyperparameter input: var, grad, slots.
    fn arity(&self) -> usize {
        2 + self.slot_names().len()
    }

    /// The update as expressions: `x = [var, grad, slots...]` → `[var', slots'...]`; `p`
    /// gives the node for each hyperparameter value, called in a fixed order.
    fn expr(&self, x: &[E], p: &mut dyn FnMut(f32) -> E) -> Vec<E> {
        let (lr_v, wd) = self.lr_and_decay();
        let lr = p(lr_v);
        let mut var = x[0].clone();
        if let Some(wd) = wd {
            var = &var - &(&var * &p(wd)) * &lr;
        }
        let g = &x[1];
        match *self {
            TrainingOp::Sgd {
                momentum, nesterov, ..
            } => match momentum {
                None => vec![&var - &(g * &lr)],
                Some(mu) => {
                    let mu = p(mu);
                    let neg_g_lr = -g * &lr;
                    let m = &neg_g_lr + &(&x[2] * &mu);
                    let new_var = if nesterov {
                        &var + &(&neg_g_lr + &(&m * &mu))
                    } else {
                        &var + &m
                    };
                    vec![new_var, m]
                }
            },
            TrainingOp::Adam {
                alpha,
                one_minus_beta_1,
                one_minus_beta_2,
                epsilon,
                amsgrad,
                ..
            } => {
                let m = &x[2] + &((g - &x[2]) * p(one_minus_beta_1));
                let v = &x[3] + &((g * g - &x[3]) * p(one_minus_beta_2));
                let v_hat = if amsgrad { Some(x[4].max(&v)) } else { None };
                let denom_v = v_hat.clone().unwrap_or_else(|| v.clone());
                let new_var = &var - &((&m * &p(alpha)) / (denom_v.sqrt() + p(epsilon)));
                let mut out = vec![new_var, m, v];
                out.extend(v_hat);
                out
            }
            TrainingOp::Adagrad { epsilon, .. } => {
                let acc = &x[2] + &(g * g);
                let new_var = &var - &((&lr * g) / (&acc + &p(epsilon)).sqrt());
                vec![new_var, acc]
            }
            TrainingOp::RmsProp {
                rho,
                one_minus_rho,
                momentum,
                epsilon,
                centered,
                ..
            } => {
                let (rho, omr) = (p(rho), p(one_minus_rho));
                let vel = &(&rho * &x[2]) + &(&omr * &(g * g));
                let mut next = 3;
                let mom_in = momentum.map(|_| {
                    next += 1;
                    x[next - 1].clone()
                });
                let avg = if centered {
                    let a = &(&rho * &x[next]) + &(&omr * g);
                    Some(a)
                } else {
                    None
                };
                let denom = match &avg {
                    Some(a) => &(&vel - &(a * a)) + &p(epsilon),
                    None => &vel + &p(epsilon),
                };
                let incr = (&lr * g) / denom.sqrt();
                let mut out = vec![];
                match (momentum, mom_in) {
                    (Some(mu), Some(m_in)) => {
                        let m = &(&p(mu) * &m_in) + &incr;
                        out.push(&var - &m);
                        out.push(vel);
                        out.push(m);
                    }
                    _ => {
                        out.push(&var - &incr);
                        out.push(vel);
                    }
                }
                out.extend(avg);
                out
            }
        }
    }
}

impl OpDef for TrainingOp {
    fn name(&self) -> &'static str {
        match self {
            TrainingOp::Sgd { momentum: None, .. } => "ResourceApplyGradientDescent",
            TrainingOp::Sgd { nesterov: true, .. } => "ResourceApplyKerasMomentum",
            TrainingOp::Sgd { .. } => "ResourceApplyMomentum",
            TrainingOp::Adam { .. } => "ResourceApplyAdam",
            TrainingOp::Adagrad { .. } => "ResourceApplyAdagradV2",
            TrainingOp::RmsProp { centered: true, .. } => "ResourceApplyCenteredRMSProp",
            TrainingOp::RmsProp { .. } => "ResourceApplyRMSProp",
        }
    }

    fn infer(&self, inputs: &[Meta]) -> Result<Vec<Meta>> {
        let name = self.name();
        let n = self.arity();
        if inputs.len() != n && inputs.len() != n + 1 {
            return Err(Error::invalid(
                name,
                format!(
                    "expects {n} inputs (var, grad, slots) and optionally hyperparameters, got {}",
                    inputs.len()
                ),
            ));
        }
        if let Some(h) = inputs.get(n) {
            let k = self.hyperparameters().len();
            if h.dtype != DType::F32 || h.shape != [k] {
                return Err(Error::shape(
                    name,
                    format!(
                        "the hyperparameter input must be f32 [{k}], got {} {}",
                        h.dtype,
                        fmt_shape(&h.shape)
                    ),
                ));
            }
        }
        for m in &inputs[..n] {
            expect_float(name, m)?;
            if m.shape != inputs[0].shape {
                return Err(Error::shape(
                    name,
                    format!(
                        "all inputs must have the variable's shape {}, got {}",
                        fmt_shape(&inputs[0].shape),
                        fmt_shape(&m.shape)
                    ),
                ));
            }
        }
        Ok(vec![inputs[0].clone(); n - 1])
    }

    fn lower(&self, inputs: &[Meta], outputs: &[Meta]) -> Result<Lowering> {
        let n = self.arity();
        let space = &inputs[0].shape;
        let dtypes: Vec<DType> = inputs.iter().map(|m| m.dtype).collect();
        let b = ExprBuilder::new(&dtypes);
        let x: Vec<E> = (0..n)
            .map(|i| b.load_affine(i, 0, contiguous_strides(space)))
            .collect();
        let mut next = 0;
        let outs = if inputs.len() > n {
            // Hyperparameter `next` is element `next` of the last input, the same everywhere.
            self.expr(&x, &mut |_| {
                next += 1;
                b.load_affine(n, next - 1, vec![0; space.len()])
            })
        } else {
            self.expr(&x, &mut |v| b.param(Scalar::F32(v)))
        };
        let refs: Vec<&E> = outs.iter().collect();
        let k = Kernel::Map(MapKernel {
            space: space.clone(),
            inputs: dtypes,
            expr: b.finish(&refs),
            store: None,
        });
        Ok(Lowering::single(k, inputs.len(), outputs.len()))
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None; g.inputs.len()])
    }
}
