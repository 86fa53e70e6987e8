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

// Eigen's rational tanh (the CPU backend uses the same one): WGSL's tanh is only
// "inherited from sinh/cosh", and some drivers return NaN for large |x|.
fn wf_tanh(x: f32) -> f32 {
    let xc = clamp(x, -7.90531110763549805, 7.90531110763549805);
    let x2 = xc * xc;
    var p = -2.76076847742355e-16;
    p = p * x2 + 2.00018790482477e-13;
    p = p * x2 - 8.60467152213735e-11;
    p = p * x2 + 5.12229709037114e-08;
    p = p * x2 + 1.48572235717979e-05;
    p = p * x2 + 6.37261928875436e-04;
    p = p * x2 + 4.89352455891786e-03;
    p = p * xc;
    var q = 1.19825839466702e-06;
    q = q * x2 + 1.18534705686654e-04;
    q = q * x2 + 2.26843463243900e-03;
    q = q * x2 + 4.89352518554385e-03;
    let r = select(p / q, x, abs(x) < 0.0004);
    return select(r, x, wf_isnan(x));
}

// sin and cos with Cephes' range reduction and polynomials: WGSL only promises an absolute
// error of 2^-11 for its builtins, and GPUs use fast approximations.
fn wf_sincos(x: f32) -> vec2<f32> {
    let ax = abs(x);
    let j = (u32(ax * 1.27323954473516) + 1u) & 0xfffffffeu;
    let y = f32(j);
    let z = ((ax - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
    let zz = z * z;
    let sp = ((-1.9515295891e-4 * zz + 8.3321608736e-3) * zz - 1.6666654611e-1) * zz * z + z;
    let cp = ((2.443315711809948e-5 * zz - 1.388731625493765e-3) * zz + 4.166664568298827e-2) * zz * zz - 0.5 * zz + 1.0;
    let q = j & 7u;
    var s = select(sp, cp, q == 2u || q == 6u);
    s = select(s, -s, q >= 4u);
    s = select(s, -s, x < 0.0);
    var c = select(cp, sp, q == 2u || q == 6u);
    c = select(c, -c, q == 2u || q == 4u);
    let bad = wf_isnan(x) || wf_isinf(x);
    return select(vec2<f32>(s, c), vec2<f32>(wf_nan(), wf_nan()), bad);
}

fn wf_sin(x: f32) -> f32 {
    return wf_sincos(x).x;
}

fn wf_cos(x: f32) -> f32 {
    return wf_sincos(x).y;
}

fn wf_tan(x: f32) -> f32 {
    let sc = wf_sincos(x);
    return sc.x / sc.y;
}

// Cephes' atanf, and atan2 from it (WGSL allows 4096 ulp for its atan2).
fn wf_atan(x: f32) -> f32 {
    let ax = abs(x);
    var y0 = 0.0;
    var t = ax;
    if (ax > 2.414213562373095) {
        y0 = 1.5707963267948966;
        t = -1.0 / ax;
    } else if (ax > 0.4142135623730950) {
        y0 = 0.7853981633974483;
        t = (ax - 1.0) / (ax + 1.0);
    }
    let z = t * t;
    let r = (((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * t + t + y0;
    return select(r, -r, x < 0.0);
}

fn wf_atan2(y: f32, x: f32) -> f32 {
    if (wf_isnan(x) || wf_isnan(y)) {
        return wf_nan();
    }
    if (x == 0.0) {
        if (y == 0.0) {
            return select(0.0, 3.14159265358979, bitcast<u32>(x) == 0x80000000u);
        }
        return select(-1.5707963267948966, 1.5707963267948966, y > 0.0);
    }
    if (wf_isinf(x) && wf_isinf(y)) {
        let a = select(0.7853981633974483, 2.356194490192345, x < 0.0);
        return select(a, -a, y < 0.0);
    }
    var z = wf_atan(y / x);
    if (x < 0.0) {
        z = z + select(3.14159265358979, -3.14159265358979, y < 0.0);
    }
    return z;
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

// C's fmod: the remainder of the truncated quotient, exact while the quotient fits in
// 24 bits (WGSL's `%` is `x - y * trunc(x / y)`, which rounds).
fn wf_fmod(x: f32, y: f32) -> f32 {
    let q = trunc(x / y);
    // q * y exactly as p + e (Dekker's product; WGSL's fma may not be fused), so the
    // subtraction from x rounds only once.
    let qc = 4097.0 * q;
    let qh = qc - (qc - q);
    let ql = q - qh;
    let yc = 4097.0 * y;
    let yh = yc - (yc - y);
    let yl = y - yh;
    let p = q * y;
    let e = ((qh * yh - p) + qh * yl + ql * yh) + ql * yl;
    var r = (x - p) - e;
    // x / y may round across an integer: bring r back to x's sign and below |y|.
    if (r != 0.0 && (r < 0.0) != (x < 0.0)) {
        r = r + select(abs(y), -abs(y), x < 0.0);
    }
    if (abs(r) >= abs(y)) {
        r = r - select(abs(y), -abs(y), x < 0.0);
    }
    return select(r, wf_nan(), y == 0.0 || wf_isinf(x));
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
