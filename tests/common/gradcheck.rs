//! Gradient checks: the tape's gradients (first order, and second order through nested tapes)
//! against central finite differences of a float64 reference written in the test.
//!
//! For a function `f(x_1..x_k)` with upstream `u` and a direction `w`:
//! - first order: `d/dx_i sum(f(x) * u)`;
//! - second order: `d/dx_i sum_j (w_j * d/dx_j sum(f(x) * u))`, the Hessian of
//!   `sum(f(x) * u)` applied to `w`.

use super::{Gen, assert_close, values};
use wgflow::{GradientTape, Tensor, ops};

/// A float64 reference of the op: inputs (row-major values) to output values.
pub type RefFn<'a> = &'a dyn Fn(&[Vec<f64>]) -> Vec<f64>;
/// The op in wgflow on the same inputs.
pub type OpFn<'a> = &'a dyn Fn(&[Tensor]) -> wgflow::Result<Tensor>;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `d/dx sum(f(x) * u)` by central differences of step `h`.
pub fn numeric_grad(f: RefFn, xs: &[Vec<f64>], u: &[f64], h: f64) -> Vec<Vec<f64>> {
    let mut xs = xs.to_vec();
    let mut out = Vec::with_capacity(xs.len());
    for i in 0..xs.len() {
        let mut g = vec![0.0; xs[i].len()];
        for (j, gj) in g.iter_mut().enumerate() {
            let x0 = xs[i][j];
            xs[i][j] = x0 + h;
            let up = dot(&f(&xs), u);
            xs[i][j] = x0 - h;
            let down = dot(&f(&xs), u);
            xs[i][j] = x0;
            *gj = (up - down) / (2.0 * h);
        }
        out.push(g);
    }
    out
}

/// The Hessian of `sum(f(x) * u)` applied to `w`, by central differences (step `h_outer`)
/// of [`numeric_grad`] (step `h`) along `w`.
pub fn numeric_hvp(
    f: RefFn,
    xs: &[Vec<f64>],
    u: &[f64],
    w: &[Vec<f64>],
    h: f64,
    h_outer: f64,
) -> Vec<Vec<f64>> {
    let shift = |s: f64| -> Vec<Vec<f64>> {
        xs.iter()
            .zip(w)
            .map(|(x, w)| x.iter().zip(w).map(|(a, b)| a + s * b).collect())
            .collect()
    };
    let gp = numeric_grad(f, &shift(h_outer), u, h);
    let gm = numeric_grad(f, &shift(-h_outer), u, h);
    gp.iter()
        .zip(&gm)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(p, m)| (p - m) / (2.0 * h_outer))
                .collect()
        })
        .collect()
}

/// One gradient check.
pub struct Check<'a> {
    pub name: &'a str,
    /// Input values and shapes (float32 inputs; rounded from these values).
    pub inputs: Vec<(Vec<f64>, Vec<usize>)>,
    /// Tolerances for first and second order.
    pub atol: f64,
    pub rtol: f64,
    /// Also check second order through nested tapes.
    pub second_order: bool,
    /// Finite-difference step.
    pub h: f64,
}

impl<'a> Check<'a> {
    pub fn new(name: &'a str, inputs: Vec<(Vec<f64>, Vec<usize>)>) -> Self {
        Check {
            name,
            inputs,
            atol: 1e-3,
            rtol: 1e-3,
            second_order: true,
            h: 1e-4,
        }
    }
    pub fn tol(mut self, atol: f64, rtol: f64) -> Self {
        self.atol = atol;
        self.rtol = rtol;
        self
    }
    pub fn first_order_only(mut self) -> Self {
        self.second_order = false;
        self
    }

    /// Runs the check on the current device with random `u` and `w` from `rng`.
    pub fn run(&self, rng: &mut Gen, reference: RefFn, op: OpFn) {
        // The reference sees the float32-rounded inputs the op sees.
        let xs64: Vec<Vec<f64>> = self
            .inputs
            .iter()
            .map(|(v, _)| v.iter().map(|&x| x as f32 as f64).collect())
            .collect();
        let out_len = reference(&xs64).len();
        let u: Vec<f64> = (0..out_len)
            .map(|_| rng.uniform(-1.0, 1.0) as f32 as f64)
            .collect();
        let w: Vec<Vec<f64>> = xs64
            .iter()
            .map(|x| {
                x.iter()
                    .map(|_| rng.uniform(-1.0, 1.0) as f32 as f64)
                    .collect()
            })
            .collect();
        let xs: Vec<Tensor> = self
            .inputs
            .iter()
            .map(|(v, s)| {
                let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
                Tensor::from_slice(&v, s).unwrap()
            })
            .collect();

        let outer = GradientTape::new();
        let inner = GradientTape::new();
        for x in &xs {
            outer.watch(x);
            inner.watch(x);
        }
        let y = op(&xs).unwrap_or_else(|e| panic!("{}: op failed: {e}", self.name));
        assert_eq!(y.size(), out_len, "{}: output size", self.name);
        let uf: Vec<f32> = u.iter().map(|&x| x as f32).collect();
        let ut = Tensor::from_slice(&uf, y.shape()).unwrap();
        let refs: Vec<&Tensor> = xs.iter().collect();
        let g = inner
            .gradient_with(&y, &refs, Some(&ut), wgflow::UnconnectedGradients::Zero)
            .unwrap_or_else(|e| panic!("{}: gradient failed: {e}", self.name));
        let want = numeric_grad(reference, &xs64, &u, self.h);
        for (i, (g, want)) in g.iter().zip(&want).enumerate() {
            let got = values(g.as_ref().expect("zeros for unconnected"));
            assert_close(
                &format!("{}: d/dx{i}", self.name),
                &got,
                want,
                self.atol,
                self.rtol,
            );
        }
        if !self.second_order {
            return;
        }
        // s = sum_i sum(g_i * w_i); its gradient is the Hessian applied to w.
        let mut s: Option<Tensor> = None;
        for (gi, wi) in g.iter().zip(&w) {
            let gi = gi.as_ref().unwrap();
            let wf: Vec<f32> = wi.iter().map(|&x| x as f32).collect();
            let wt = Tensor::from_slice(&wf, gi.shape()).unwrap();
            let term =
                ops::reduce_sum(&ops::mul(gi, &wt).unwrap(), wgflow::Axes::All, false).unwrap();
            s = Some(match s {
                Some(s) => ops::add(&s, &term).unwrap(),
                None => term,
            });
        }
        let h2 = outer
            .gradient_with(&s.unwrap(), &refs, None, wgflow::UnconnectedGradients::Zero)
            .unwrap_or_else(|e| panic!("{}: second-order gradient failed: {e}", self.name));
        let want2 = numeric_hvp(reference, &xs64, &u, &w, self.h, 1e-3);
        for (i, (g, want)) in h2.iter().zip(&want2).enumerate() {
            let got = values(g.as_ref().expect("zeros for unconnected"));
            assert_close(
                &format!("{}: second order d/dx{i}", self.name),
                &got,
                want,
                self.atol * 10.0,
                self.rtol * 10.0,
            );
        }
    }
}
