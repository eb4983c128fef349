// The device median's state (src/median/device.rs): one u32 buffer `st` that the median's
// passes read and the one-workgroup `median_control` stages write, so that a selection runs
// inside the step's encoder with no readback. Indices below; the host mirrors them in
// device.rs (`st` module) and reads the buffer back only when asked (logging steps).
const ST_LO: u32 = 0u;        // bracket [lo, hi] of the list pass, f32 bits; copied into
const ST_HI: u32 = 1u;        //   pair_bracket's uniform (SelectParams.lo, .hi); where every
                              //   pair is listed, median_small's guess or [0, +inf]
const ST_FLAGS: u32 = 2u;     // bit 0: the fast path missed, narrowing runs; bit 1: NaN
const ST_BELOW: u32 = 3u;     // pairs below lo (list pass)
const ST_INSIDE: u32 = 4u;    // pairs in [lo, hi] (list pass): the candidates
const ST_COUNT: u32 = 5u;     // values in the list under radix selection
const ST_T0: u32 = 6u;        // target ranks of the radix selection (in that list)
const ST_T1: u32 = 7u;
const ST_R0: u32 = 8u;        // running ranks (within the current prefix)
const ST_R1: u32 = 9u;
const ST_P0: u32 = 10u;       // running prefixes: after the last round, the values' bits
const ST_P1: u32 = 11u;
const ST_OVF: u32 = 12u;      // rows listed again (more in-bracket pairs than their slots)
const ST_NLO: u32 = 13u;      // narrowing bracket, f32 bits; copied into pair_histogram's
const ST_NHI: u32 = 14u;      //   uniform
const ST_NAN: u32 = 15u;      // NaN values seen in the sample
const ST_V0: u32 = 16u;       // narrowing results (bits)
const ST_V1: u32 = 17u;
const ST_SEL0: u32 = 18u;     // the two order statistics the median averages (bits)
const ST_SEL1: u32 = 19u;
const ST_IND_ROWS: u32 = 20u; // indirect dispatch (x, y, z) of pair_row_list (median_small:
                              //   of the second list pass)
const ST_IND_HIST: u32 = 24u; // indirect dispatch (x, y, z) of the narrowing pair_histogram
const ST_IND_NARROW: u32 = 28u; // indirect dispatch (1 or 0, 1, 1) of the NARROW stages
                                // (median_small: of its stage 2)
const ST_WHOLE: u32 = 31u;    // one-workgroup selections of over RADIX_CAP values that bypassed
                              //   their bracket (common/radix_small.wgsl; tests)
// The previous selection, for the next one's bracket where every pair is listed
// (median_small): it changes the work, never the result.
const ST_PREV0: u32 = 32u;    // its two off-diagonal order statistics (bits)
const ST_PREV1: u32 = 33u;
const ST_PREV_OK: u32 = 34u;  // 1 where ST_LO, ST_HI hold a guess (a selection ran, no NaN)
const ST_PREV_W: u32 = 35u;   // the bracket's relative half-width (f32 bits)
const ST_GUESSES: u32 = 36u;  // selections whose guess held both ranks (tests)
const ST_CURSOR: u32 = 40u;   // per relisted row: its write cursor (atomic in pair_row_list)

const FLAG_NARROW: u32 = 1u;
const FLAG_NAN: u32 = 2u;
