// wgflow math helpers: the primitives WGSL lacks or defines loosely. Included in every
// generated kernel that uses them (the printer names them `wf_*`).

fn wf_isnan(x: f32) -> bool {
    // Bit test: `x != x` may be folded away by compilers that assume no NaNs.
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn wf_isinf(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}

fn wf_nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn wf_inf() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

// NaN-propagating max/min, as TensorFlow's maximum/minimum.
fn wf_max(a: f32, b: f32) -> f32 {
    return select(b, a, a > b || wf_isnan(a));
}

fn wf_min(a: f32, b: f32) -> f32 {
    return select(b, a, a < b || wf_isnan(a));
}

// Eigen's rational erf approximation (the CPU backend uses the same one).
fn wf_erf(x: f32) -> f32 {
    let xc = clamp(x, -4.0, 4.0);
    let x2 = xc * xc;
    var p = -2.72614225801306e-10;
    p = p * x2 + 2.77068142495902e-08;
    p = p * x2 - 2.10102402082508e-06;
    p = p * x2 - 5.69250639462346e-05;
    p = p * x2 - 7.34990630326855e-04;
    p = p * x2 - 2.95459980854025e-03;
    p = p * x2 - 1.60960333262415e-02;
    p = p * xc;
    var q = -1.45660718464996e-05;
    q = q * x2 - 2.13374055278905e-04;
    q = q * x2 - 1.68282697438203e-03;
    q = q * x2 - 7.37332916720468e-03;
    q = q * x2 - 1.42647390514189e-02;
    return select(p / q, x, wf_isnan(x));
}

// tanh clamped first: some drivers return NaN for large |x|.
fn wf_tanh(x: f32) -> f32 {
    return tanh(clamp(x, -10.0, 10.0));
}

// exp(x) - 1 without cancellation near 0 (Kahan's trick; Taylor terms very near 0).
fn wf_expm1(x: f32) -> f32 {
    if (abs(x) < 1e-5) {
        return x + 0.5 * x * x;
    }
    if (x > 88.72283) {
        return wf_inf();
    }
    let u = exp(x);
    let um1 = u - 1.0;
    if (um1 == -1.0) {
        return -1.0;
    }
    return um1 * x / log(u);
}

// log(1 + x) without cancellation near 0.
fn wf_log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) {
        return x;
    }
    if (wf_isinf(u)) {
        return u;
    }
    return log(u) * x / (u - 1.0);
}

// C's pow: negative bases with integral exponents, and the zero cases.
fn wf_pow(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) {
        return 1.0;
    }
    if (wf_isnan(x) || wf_isnan(y)) {
        return wf_nan();
    }
    let integral = trunc(y) == y;
    let odd = integral && abs(y) < 16777216.0 && (i32(abs(y)) % 2) == 1;
    if (x == 0.0) {
        if (y > 0.0) {
            return select(0.0, x, odd);
        }
        return select(wf_inf(), select(wf_inf(), -wf_inf(), bitcast<u32>(x) == 0x80000000u), odd);
    }
    if (x < 0.0) {
        if (!integral) {
            return wf_nan();
        }
        let r = exp2(y * log2(-x));
        return select(r, -r, odd);
    }
    return exp2(y * log2(x));
}

fn wf_ipow(base: i32, e: i32) -> i32 {
    if (e < 0) {
        if (base == 1) {
            return 1;
        }
        if (base == -1) {
            return select(-1, 1, (e % 2) == 0);
        }
        return 0;
    }
    var r = 1;
    var b = base;
    var k = u32(e);
    while (k > 0u) {
        if ((k & 1u) == 1u) {
            r = r * b;
        }
        b = b * b;
        k = k >> 1u;
    }
    return r;
}

fn wf_upow(base: u32, e: u32) -> u32 {
    var r = 1u;
    var b = base;
    var k = e;
    while (k > 0u) {
        if ((k & 1u) == 1u) {
            r = r * b;
        }
        b = b * b;
        k = k >> 1u;
    }
    return r;
}

// Float to integer casts saturate and send NaN to 0, as Rust's `as` does.
fn wf_f2i(x: f32) -> i32 {
    if (wf_isnan(x)) {
        return 0;
    }
    if (x >= 2147483648.0) {
        return 2147483647;
    }
    if (x <= -2147483648.0) {
        return i32(-2147483647) - 1;
    }
    return i32(x);
}

fn wf_f2u(x: f32) -> u32 {
    if (wf_isnan(x) || x <= 0.0) {
        return 0u;
    }
    if (x >= 4294967296.0) {
        return 4294967295u;
    }
    return u32(x);
}
