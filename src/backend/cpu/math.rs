//! Branch-free f32 math that LLVM vectorises (the std functions call libm one element at a
//! time). Polynomials are Cephes' (exp, log) and Eigen's (tanh, erf), the same
//! approximations TensorFlow's CPU kernels use, accurate to a few ulp; the WGSL printer
//! uses the same erf so both backends agree.

/// Whether `f32::mul_add` is one instruction everywhere this crate is compiled for (elsewhere
/// it is a slow libm call, so the functions below take `FMA` to choose).
pub const STATIC_FMA: bool = cfg!(any(target_feature = "fma", target_arch = "aarch64"));

/// `a * b + c`, fused (one rounding, one instruction) when the caller is compiled with FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

#[inline(always)]
fn sel(c: bool, a: f32, b: f32) -> f32 {
    if c { a } else { b }
}

/// `2^n` for integer-valued `n` in [-126, 127].
#[inline(always)]
fn pow2i(n: f32) -> f32 {
    // SAFETY: callers pass integral values in [-126, 127], which fit i32 (a checked,
    // saturating `as` cast would stop LLVM from vectorising the loop).
    let i: i32 = unsafe { n.to_int_unchecked() };
    f32::from_bits(((i + 127) as u32) << 23)
}

#[inline(always)]
pub fn exp<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // NaN becomes 0 here (and NaN again at the end) so the integer conversion below is defined.
    let xc = sel(x.is_nan(), 0.0, x).clamp(-103.0, 88.72283);
    let n = (xc * LOG2E).round_ties_even();
    let r = xc - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let r2 = r * r;
    let mut p: f32 = 1.987_569_1e-4;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    p = madd::<FMA>(p, r, 5e-1);
    let p = p * r2 + r + 1.0;
    // Split the scale so results down to the denormal range stay exact.
    let h = (n * 0.5).floor();
    let y = p * pow2i(h) * pow2i(n - h);
    let y = sel(x > 88.72283, f32::INFINITY, y);
    let y = sel(x < -103.97208, 0.0, y);
    sel(x.is_nan(), x, y)
}

#[inline(always)]
pub fn log<const FMA: bool>(x: f32) -> f32 {
    const SQRTHF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    // Scale denormals into the normal range first.
    let denorm = x < f32::MIN_POSITIVE;
    let xs = sel(denorm, x * 8_388_608.0, x);
    let bits = xs.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 as f32 - 126.0;
    e = sel(denorm, e - 23.0, e);
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // [0.5, 1)
    let small = m < SQRTHF;
    e = sel(small, e - 1.0, e);
    m = sel(small, m + m - 1.0, m - 1.0);
    let z = m * m;
    let mut y: f32 = 7.037_683_6e-2;
    y = madd::<FMA>(y, m, -1.151_461e-1);
    y = madd::<FMA>(y, m, 1.167_699_9e-1);
    y = madd::<FMA>(y, m, -1.242_014_1e-1);
    y = madd::<FMA>(y, m, 1.424_932_3e-1);
    y = madd::<FMA>(y, m, -1.666_805_8e-1);
    y = madd::<FMA>(y, m, 2.000_071_4e-1);
    y = madd::<FMA>(y, m, -2.499_999_4e-1);
    y = madd::<FMA>(y, m, 3.333_333e-1);
    y = y * m * z;
    y += e * -2.121_944_4e-4;
    y += -0.5 * z;
    let r = m + y + e * 0.693_359_4;
    let r = sel(x == f32::INFINITY, x, r);
    let r = sel(x == 0.0, f32::NEG_INFINITY, r);
    sel(x < 0.0 || x.is_nan(), f32::NAN, r)
}

#[inline(always)]
pub fn tanh<const FMA: bool>(x: f32) -> f32 {
    let xc = x.clamp(-7.905_311, 7.905_311);
    let x2 = xc * xc;
    let mut p: f32 = -2.760_768_5e-16;
    p = madd::<FMA>(p, x2, 2.000_188e-13);
    p = madd::<FMA>(p, x2, -8.604_672e-11);
    p = madd::<FMA>(p, x2, 5.122_297e-8);
    p = madd::<FMA>(p, x2, 1.485_722_4e-5);
    p = madd::<FMA>(p, x2, 6.372_619_3e-4);
    p = madd::<FMA>(p, x2, 4.893_524_6e-3);
    p *= xc;
    let mut q: f32 = 1.198_258_4e-6;
    q = madd::<FMA>(q, x2, 1.185_347_1e-4);
    q = madd::<FMA>(q, x2, 2.268_434_6e-3);
    q = madd::<FMA>(q, x2, 4.893_525e-3);
    let r = sel(x.abs() < 0.0004, x, p / q);
    // tanh rounds to ±1 in f32 beyond |x| ≈ 8.7; at the clamp the fused rational lands an
    // ulp short of 1, so saturate explicitly.
    let r = sel(x.abs() >= 9.0, 1.0f32.copysign(x), r);
    sel(x.is_nan(), x, r)
}

/// `1 / (1 + e^-x)`: 0 and 1 at the infinities, NaN for NaN.
#[inline(always)]
pub fn sigmoid<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<FMA>(-x))
}

#[inline(always)]
pub fn erf<const FMA: bool>(x: f32) -> f32 {
    let xc = x.clamp(-4.0, 4.0);
    let x2 = xc * xc;
    let mut p: f32 = -2.726_142_3e-10;
    p = madd::<FMA>(p, x2, 2.770_681_4e-8);
    p = madd::<FMA>(p, x2, -2.101_024e-6);
    p = madd::<FMA>(p, x2, -5.692_506_4e-5);
    p = madd::<FMA>(p, x2, -7.349_906_3e-4);
    p = madd::<FMA>(p, x2, -2.954_600_2e-3);
    p = madd::<FMA>(p, x2, -1.609_603_3e-2);
    p *= xc;
    let mut q: f32 = -1.456_607_2e-5;
    q = madd::<FMA>(q, x2, -2.133_740_6e-4);
    q = madd::<FMA>(q, x2, -1.682_827e-3);
    q = madd::<FMA>(q, x2, -7.373_329e-3);
    q = madd::<FMA>(q, x2, -1.426_474e-2);
    sel(x.is_nan(), x, p / q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        name: &str,
        f: impl Fn(f32) -> f32,
        r: impl Fn(f64) -> f64,
        lo: f32,
        hi: f32,
        rtol: f64,
        atol: f64,
    ) {
        let n = 100_003;
        for i in 0..=n {
            let x = lo + (hi - lo) * (i as f32 / n as f32);
            let got = f(x) as f64;
            let want = r(x as f64);
            let err = (got - want).abs();
            assert!(
                err <= atol + rtol * want.abs(),
                "{name}({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn exp_log_tanh_erf_against_f64() {
        // Fused (AVX2 + FMA clone) and unfused (portable) multiply-adds: both stay accurate.
        check("exp", exp::<true>, f64::exp, -87.0, 88.0, 2e-7, 0.0);
        check("exp", exp::<true>, f64::exp, -103.0, -87.0, 2e-7, 1.5e-45);
        check("log", log::<true>, f64::ln, 1e-30, 1e30, 2e-7, 0.0);
        check("log", log::<true>, f64::ln, 0.5, 2.0, 2e-7, 1e-7);
        check("tanh", tanh::<true>, f64::tanh, -10.0, 10.0, 2e-6, 1e-7);
        check("erf", erf::<true>, libm_erf, -5.0, 5.0, 2e-6, 1e-7);
        let sigmoid64 = |x: f64| 1.0 / (1.0 + (-x).exp());
        check(
            "sigmoid",
            sigmoid::<true>,
            sigmoid64,
            -100.0,
            100.0,
            4e-7,
            1e-37,
        );
        check(
            "sigmoid",
            sigmoid::<false>,
            sigmoid64,
            -100.0,
            100.0,
            4e-7,
            1e-37,
        );
        assert_eq!(
            (sigmoid::<true>(f32::INFINITY), sigmoid::<true>(-200.0)),
            (1.0, 0.0)
        );
        assert!(sigmoid::<false>(f32::NAN).is_nan());
        check("exp", exp::<false>, f64::exp, -87.0, 88.0, 2e-7, 0.0);
        check("exp", exp::<false>, f64::exp, -103.0, -87.0, 2e-7, 1.5e-45);
        check("log", log::<false>, f64::ln, 1e-30, 1e30, 2e-7, 0.0);
        check("log", log::<false>, f64::ln, 0.5, 2.0, 2e-7, 1e-7);
        check("tanh", tanh::<false>, f64::tanh, -10.0, 10.0, 2e-6, 1e-7);
        check("erf", erf::<false>, libm_erf, -5.0, 5.0, 2e-6, 1e-7);
        assert_eq!(exp::<false>(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp::<false>(100.0), f32::INFINITY);
        assert!(exp::<false>(f32::NAN).is_nan());
        assert_eq!(log::<false>(0.0), f32::NEG_INFINITY);
        assert!(log::<false>(-1.0).is_nan());
        assert_eq!(log::<false>(f32::INFINITY), f32::INFINITY);
        assert!((log::<false>(1e-40) as f64 - (1e-40f32 as f64).ln()).abs() < 1e-5);
        for fma in [false, true] {
            let tanh = if fma { tanh::<true> } else { tanh::<false> };
            assert_eq!((tanh(f32::INFINITY), tanh(-30.0)), (1.0, -1.0));
        }
    }

    /// erf in f64 by its Taylor series / continued fraction (std has no erf).
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let mut sum = 0.0f64;
            let mut term = x;
            let mut n = 0.0;
            while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 5.0 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -x * x / n;
                if n > 200.0 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc continued fraction
            let a = x.abs();
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (a + f);
            }
            let erfc = (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + f));
            (1.0 - erfc) * x.signum()
        }
    }
}
