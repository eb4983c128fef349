// Software binary64 for the few host f64 computations that must happen on the device bit for
// bit (median_finish: the bandwidth h = med / ln(n + 1) and 1/h as the host's f64 gives them).
// WGSL has no portable f64, so a binary64 is its IEEE 754 bit pattern as vec2<u32>(hi, lo),
// hi holding sign, exponent and the top 20 fraction bits. Every operation rounds to nearest,
// ties to even, exactly as IEEE 754 (and the host's f64) does; overflow gives +inf, results
// below the normal range are subnormal. Integer code only: no float operation touches a value,
// so no device's flushing of subnormals or fused arithmetic can change a bit. Straight-line
// and simple rather than fast: the callers run it once per step in one invocation. The
// rounding follows Berkeley SoftFloat 3 (roundPackToF64, addMagsF64, f64_to_f32); the
// division is restoring long division.
//
// Internal significand convention (SoftFloat's): a 64-bit integer `sig` with its leading one
// at bit 62 and `exp` one less than the result's biased exponent, so that packing adds the
// leading one into the exponent field (and a rounding carry moves up one binade for free).

const F64_ONE: vec2<u32> = vec2<u32>(0x3ff00000u, 0u);
const F64_INF: vec2<u32> = vec2<u32>(0x7ff00000u, 0u);
const F64_NAN: vec2<u32> = vec2<u32>(0x7ff80000u, 0u);
const F32_INF_BITS: u32 = 0x7f800000u;
const F32_NAN_BITS: u32 = 0x7fc00000u;

// ---- 64-bit unsigned integers as vec2<u32>(hi, lo) ----

fn u64_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.y + b.y;
    return vec2<u32>(a.x + b.x + select(0u, 1u, lo < a.y), lo);
}

fn u64_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x - select(0u, 1u, a.y < b.y), a.y - b.y);
}

fn u64_lt(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.x < b.x || (a.x == b.x && a.y < b.y);
}

fn u64_is_zero(a: vec2<u32>) -> bool {
    return (a.x | a.y) == 0u;
}

// a << s for any s (0 past 63). WGSL shifts take the count modulo 32, hence the cases.
fn u64_shl(a: vec2<u32>, s: u32) -> vec2<u32> {
    if s == 0u {
        return a;
    }
    if s >= 64u {
        return vec2<u32>(0u, 0u);
    }
    if s >= 32u {
        return vec2<u32>(a.y << (s - 32u), 0u);
    }
    return vec2<u32>((a.x << s) | (a.y >> (32u - s)), a.y << s);
}

// a >> s for any s (0 past 63).
fn u64_shr(a: vec2<u32>, s: u32) -> vec2<u32> {
    if s == 0u {
        return a;
    }
    if s >= 64u {
        return vec2<u32>(0u, 0u);
    }
    if s >= 32u {
        return vec2<u32>(0u, a.x >> (s - 32u));
    }
    return vec2<u32>(a.x >> s, (a.y >> s) | (a.x << (32u - s)));
}

// a >> s with the bits shifted out ORed into bit 0 ("jamming": a sticky bit for rounding).
fn u64_shr_jam(a: vec2<u32>, s: u32) -> vec2<u32> {
    let q = u64_shr(a, s);
    let lost = any(u64_shl(q, s) != a);
    return vec2<u32>(q.x, q.y | select(0u, 1u, lost));
}

fn u64_clz(a: vec2<u32>) -> u32 {
    if a.x != 0u {
        return countLeadingZeros(a.x);
    }
    return 32u + countLeadingZeros(a.y);
}

// ---- binary64 ----

// The biased exponent field (0 for zeros and subnormals, 0x7ff for inf and NaN).
fn f64_exp(a: vec2<u32>) -> u32 {
    return (a.x >> 20u) & 0x7ffu;
}

// The 52 fraction bits.
fn f64_frac(a: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x & 0xfffffu, a.y);
}

// Whether a is +0 or -0.
fn f64_is_zero(a: vec2<u32>) -> bool {
    return ((a.x & 0x7fffffffu) | a.y) == 0u;
}

// The binary64 of sign (0 or 1), exponent exp and significand sig in the internal convention
// above (exp may be negative or past the range), rounded to nearest even: +-inf on overflow,
// subnormal or zero below the normal range. SoftFloat's softfloat_roundPackToF64.
fn f64_round_pack(sign: u32, exp_in: i32, sig_in: vec2<u32>) -> vec2<u32> {
    var exp = exp_in;
    var sig = sig_in;
    var round_bits = sig.y & 0x3ffu;
    if exp < 0 {
        sig = u64_shr_jam(sig, u32(-exp));
        exp = 0;
        round_bits = sig.y & 0x3ffu;
    } else if exp >= 0x7fd {
        if exp > 0x7fd || u64_add(sig, vec2<u32>(0u, 0x200u)).x >= 0x80000000u {
            return vec2<u32>((sign << 31u) | F64_INF.x, 0u);
        }
    }
    sig = u64_shr(u64_add(sig, vec2<u32>(0u, 0x200u)), 10u);
    if round_bits == 0x200u {
        sig.y = sig.y & ~1u; // a tie: to even
    }
    if u64_is_zero(sig) {
        exp = 0;
    }
    // Addition, not OR: the significand's leading one carries into the exponent.
    return u64_add(vec2<u32>((sign << 31u) | (u32(exp) << 20u), 0u), sig);
}

// Exact: the binary64 of the binary32 with bits `b`, any class (zeros and subnormals, infinities
// keep their sign; a NaN gives the quiet NaN F64_NAN with b's sign).
fn f64_from_f32(b: u32) -> vec2<u32> {
    let sign = b & 0x80000000u;
    let e = (b >> 23u) & 0xffu;
    var f = b & 0x7fffffu;
    if e == 0xffu {
        if f == 0u {
            return vec2<u32>(sign | F64_INF.x, 0u);
        }
        return vec2<u32>(sign | F64_NAN.x, 0u);
    }
    if e == 0u && f == 0u {
        return vec2<u32>(sign, 0u);
    }
    // Unbiased exponent; a subnormal is normalised (its leading one moved to bit 23).
    var ue = i32(e) - 127;
    if e == 0u {
        let shift = countLeadingZeros(f) - 8u;
        f = (f << shift) & 0x7fffffu;
        ue = -126 - i32(shift);
    }
    let e64 = u32(ue + 1023);
    return vec2<u32>(sign | (e64 << 20u) | (f >> 3u), f << 29u);
}

// a + b rounded to nearest even, for non-negative finite a and b (+inf on overflow).
// SoftFloat's softfloat_addMagsF64 for the positive sign.
fn f64_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let ea = i32(f64_exp(a));
    let eb = i32(f64_exp(b));
    var sa = f64_frac(a);
    var sb = f64_frac(b);
    let diff = ea - eb;
    if diff == 0 {
        if ea == 0 {
            // Both subnormal (or zero): the integer sum is exact, and a carry into bit 52 is
            // the smallest normal's encoding.
            return u64_add(a, b);
        }
        // Both leading ones (2^52 each) at once: the sum's leading one is at bit 53, then 62.
        let sig = u64_shl(u64_add(vec2<u32>(0x200000u, 0u), u64_add(sa, sb)), 9u);
        return f64_round_pack(0u, ea, sig);
    }
    sa = u64_shl(sa, 9u);
    sb = u64_shl(sb, 9u);
    var ez: i32;
    if diff < 0 {
        ez = eb;
        // A subnormal's exponent is 1, not its field's 0: one place less to shift.
        if ea != 0 {
            sa = u64_add(sa, vec2<u32>(0x20000000u, 0u));
        } else {
            sa = u64_shl(sa, 1u);
        }
        sa = u64_shr_jam(sa, u32(-diff));
    } else {
        ez = ea;
        if eb != 0 {
            sb = u64_add(sb, vec2<u32>(0x20000000u, 0u));
        } else {
            sb = u64_shl(sb, 1u);
        }
        sb = u64_shr_jam(sb, u32(diff));
    }
    // The larger's leading one at bit 61; the sum's at 61 or 62.
    var sig = u64_add(vec2<u32>(0x20000000u, 0u), u64_add(sa, sb));
    if sig.x < 0x40000000u {
        ez -= 1;
        sig = u64_shl(sig, 1u);
    }
    return f64_round_pack(0u, ez, sig);
}

// a / 2 rounded to nearest even, for non-negative finite a: exact unless the result is
// subnormal with a lost last bit.
fn f64_halve(a: vec2<u32>) -> vec2<u32> {
    if f64_exp(a) >= 2u {
        return vec2<u32>(a.x - 0x100000u, a.y);
    }
    // Exponent field 0 or 1: the bit pattern, as an integer, is the value in units of 2^-1074
    // (the smallest normal's hidden one is its exponent field's bit), so halve the integer; a
    // dropped one is always a tie, rounded to even.
    let q = u64_shr(a, 1u);
    let up = a.y & q.y & 1u;
    return u64_add(q, vec2<u32>(0u, up));
}

// The significand of positive finite a with its leading one at bit 52, and the exponent that
// goes with it (a subnormal normalised: exponent field 1 - shift).
fn f64_normalised(a: vec2<u32>) -> vec3<u32> {
    let e = f64_exp(a);
    if e == 0u {
        let frac = f64_frac(a);
        let shift = u64_clz(frac) - 11u;
        let sig = u64_shl(frac, shift);
        return vec3<u32>(sig.x, sig.y, bitcast<u32>(1 - i32(shift)));
    }
    return vec3<u32>((a.x & 0xfffffu) | 0x100000u, a.y, e);
}

// a / b rounded to nearest even, for positive finite a and b (+inf on overflow, subnormal or
// zero on underflow). Restoring long division: 54 quotient bits (the 53 kept and the rounding
// bit), the remainder's being non-zero as the sticky bit.
fn f64_div(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let na = f64_normalised(a);
    let nb = f64_normalised(b);
    var rem = na.xy;
    let den = nb.xy;
    var exp = bitcast<i32>(na.z) - bitcast<i32>(nb.z) + 0x3fe;
    // The quotient of the significands in [1, 2): double the dividend when it is the smaller.
    if u64_lt(rem, den) {
        rem = u64_shl(rem, 1u);
        exp -= 1;
    }
    // Quotient bits 62 (the leading one: rem >= den) down to 9, the remainder below den.
    var q = vec2<u32>(0x40000000u, 0u);
    rem = u64_sub(rem, den);
    for (var bit = 61u; bit >= 9u; bit--) {
        rem = u64_shl(rem, 1u);
        if !u64_lt(rem, den) {
            rem = u64_sub(rem, den);
            if bit >= 32u {
                q.x |= 1u << (bit - 32u);
            } else {
                q.y |= 1u << bit;
            }
        }
    }
    q.y |= select(0u, 1u, !u64_is_zero(rem));
    return f64_round_pack(0u, exp, q);
}

// The binary32 bits of a rounded to nearest even (+-inf on overflow, subnormal or zero below
// the normal range; a NaN gives the quiet NaN F32_NAN_BITS with a's sign), any class.
// SoftFloat's f64_to_f32 and softfloat_roundPackToF32.
fn f64_to_f32(a: vec2<u32>) -> u32 {
    let sign = a.x & 0x80000000u;
    let e = f64_exp(a);
    let frac = f64_frac(a);
    if e == 0x7ffu {
        if u64_is_zero(frac) {
            return sign | F32_INF_BITS;
        }
        return sign | F32_NAN_BITS;
    }
    // The top 30 fraction bits, the other 22 as a sticky bit.
    let f30 = u64_shr_jam(frac, 22u).y;
    if e == 0u && f30 == 0u {
        return sign;
    }
    var exp = i32(e) - 0x381;
    var sig = f30 | 0x40000000u;
    var round_bits = sig & 0x7fu;
    if exp < 0 {
        let s = u32(-exp);
        if s < 31u {
            sig = (sig >> s) | select(0u, 1u, (sig << (32u - s)) != 0u);
        } else {
            sig = 1u; // sig != 0
        }
        exp = 0;
        round_bits = sig & 0x7fu;
    } else if exp >= 0xfd {
        if exp > 0xfd || sig + 0x40u >= 0x80000000u {
            return sign | F32_INF_BITS;
        }
    }
    sig = (sig + 0x40u) >> 7u;
    if round_bits == 0x40u {
        sig &= ~1u; // a tie: to even
    }
    if sig == 0u {
        exp = 0;
    }
    return sign + (u32(exp) << 23u) + sig;
}

// ---- the median bandwidth (median_finish, median_small) ----

// An order statistic the bandwidth can use: finite and not negative (-0 included).
fn finish_input_ok(b: u32) -> bool {
    return b < F32_INF_BITS || b == 0x80000000u;
}

// The f32 bits of (h, 1/h) for n particles from the order statistics' bits b0 and b1 (b1
// ignored for odd n) and ln(n + 1) as binary64 bits `ln` (positive finite).
fn median_finish_bits(n: u32, b0: u32, b1: u32, ln: vec2<u32>) -> vec2<u32> {
    let two = (n & 1u) == 0u;
    if !finish_input_ok(b0) || (two && !finish_input_ok(b1)) {
        return vec2<u32>(F32_NAN_BITS, F32_NAN_BITS);
    }
    // -0 as +0 (the sum and the test med > 0 treat them alike).
    var med = f64_from_f32(b0 & 0x7fffffffu);
    if two {
        med = f64_halve(f64_add(med, f64_from_f32(b1 & 0x7fffffffu)));
    }
    if f64_is_zero(med) {
        return vec2<u32>(0x3f800000u, 0x3f800000u);
    }
    let h = f64_div(med, ln);
    return vec2<u32>(f64_to_f32(h), f64_to_f32(f64_div(F64_ONE, h)));
}
