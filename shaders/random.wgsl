// Philox 4x32-10, the same algorithm as src/kernel/philox.rs (a test checks the words agree).

fn wf_mulhilo(a: u32, b: u32) -> vec2<u32> {
    // WGSL has no 64-bit integers: build the high word from 16-bit halves.
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let t0 = a_lo * b_lo;
    let t1 = a_hi * b_lo;
    let t2 = a_lo * b_hi;
    let t3 = a_hi * b_hi;
    let mid = (t0 >> 16u) + (t1 & 0xffffu) + (t2 & 0xffffu);
    let hi = t3 + (t1 >> 16u) + (t2 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn wf_philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0; r < 10; r++) {
        if (r > 0) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = wf_mulhilo(0xD2511F53u, c.x);
        let p1 = wf_mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

fn wf_word(key: vec2<u32>, i: u32, draw: u32) -> u32 {
    let w = wf_philox(vec4<u32>(i / 4u, draw, 0u, 0u), key);
    return w[i % 4u];
}

fn wf_uniform(bits: u32) -> f32 {
    return bitcast<f32>((bits >> 9u) | 0x3f800000u) - 1.0;
}

fn wf_normal(key: vec2<u32>, i: u32, draw: u32) -> f32 {
    let w = wf_philox(vec4<u32>(i / 4u, draw, 0u, 0u), key);
    let pair = ((i % 4u) / 2u) * 2u;
    let u1 = 1.0 - wf_uniform(w[pair]);
    let u2 = wf_uniform(w[pair + 1u]);
    let r = sqrt(-2.0 * log(u1));
    let theta = 6.2831855 * u2;
    return select(r * sin(theta), r * cos(theta), (i % 2u) == 0u);
}

fn wf_truncated_normal(key: vec2<u32>, i: u32) -> f32 {
    var z = 0.0;
    for (var r = 0u; r < 16u; r++) {
        z = wf_normal(key, i, r);
        if (abs(z) <= 2.0) {
            return z;
        }
    }
    return clamp(z, -2.0, 2.0);
}
