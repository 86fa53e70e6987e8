//! Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), the
//! counter-based generator TensorFlow's stateless random ops use. This is the reference the
//! CPU backend calls; `shaders/random.wgsl` is the same algorithm in WGSL, and a test checks
//! that both give identical words.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Ten Philox rounds of `counter` under `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Word `i` of the stream for draw `round` (truncated normals redraw with round > 0).
pub fn word(key: [u32; 2], i: u32, round: u32) -> u32 {
    philox4x32_10([i / 4, round, 0, 0], key)[(i % 4) as usize]
}

/// A uniform float in `[0, 1)` from the top 23 bits of a word (exact on every backend).
pub fn uniform_from_bits(bits: u32) -> f32 {
    f32::from_bits((bits >> 9) | 0x3F80_0000) - 1.0
}

/// Element `i` of a standard normal stream: Box-Muller on the word pair holding `i`.
pub fn normal(key: [u32; 2], i: u32, round: u32) -> f32 {
    let words = philox4x32_10([i / 4, round, 0, 0], key);
    let pair = ((i % 4) / 2) as usize * 2;
    let u1 = 1.0 - uniform_from_bits(words[pair]); // (0, 1]: log stays finite
    let u2 = uniform_from_bits(words[pair + 1]);
    let r = (-2.0 * u1.ln()).sqrt();
    let theta = std::f32::consts::TAU * u2;
    if i.is_multiple_of(2) {
        r * theta.cos()
    } else {
        r * theta.sin()
    }
}

/// Draws a truncated normal at most this many times before clamping (the chance of
/// reaching it is about 1e-21).
pub const TRUNCATED_MAX_ROUNDS: u32 = 16;

/// Element `i` of a standard normal truncated to `[-2, 2]` (redrawn while outside).
pub fn truncated_normal(key: [u32; 2], i: u32) -> f32 {
    let mut z = 0.0;
    for round in 0..TRUNCATED_MAX_ROUNDS {
        z = normal(key, i, round);
        if z.abs() <= 2.0 {
            return z;
        }
    }
    z.clamp(-2.0, 2.0)
}

/// Splits a 64-bit seed into a Philox key.
pub fn key_from_seed(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_vectors() {
        // Random123's kat_vectors for philox4x32_10.
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn uniform_is_in_unit_interval() {
        assert_eq!(uniform_from_bits(0), 0.0);
        assert!(uniform_from_bits(u32::MAX) < 1.0);
    }
}
