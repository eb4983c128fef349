// The per-column rule of pair_bracket and its generated variants (_mid, _wide, _shuffle), so
// that every one counts and lists alike (the median's exactness rests on it): for four rows'
// squared distances s to one column, with `mine` marking the pairs j > i that exist, count
// those below lo and those in [lo, hi] (both inclusive); in list mode the caller writes s
// where `fits`, at `at`: the rows' cursors start + inside (before this column), while below
// end. With `mark_nan` (mode 2: the device median's list of every pair behind a guessed
// bracket, which counts a NaN distance neither below nor inside) a row that meets a NaN also
// sets bit 31 of its below count (a count stays below 2^31).
struct BracketStep {
    fits: vec4<bool>,
    at: vec4<u32>,
}

fn bracket_column(s: vec4<f32>, mine: vec4<bool>, lo: f32, hi: f32, start: vec4<u32>,
                  end: vec4<u32>, below: ptr<function, vec4<u32>>,
                  inside: ptr<function, vec4<u32>>, mark_nan: bool) -> BracketStep {
    let lt = mine & (s < vec4<f32>(lo));
    let inb = mine & (s >= vec4<f32>(lo)) & (s <= vec4<f32>(hi));
    let at = start + *inside;
    let nan = mine & ((bitcast<vec4<u32>>(s) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u))
        & vec4<bool>(mark_nan);
    *below = (*below + select(vec4<u32>(0u), vec4<u32>(1u), lt))
        | select(vec4<u32>(0u), vec4<u32>(0x80000000u), nan);
    *inside += select(vec4<u32>(0u), vec4<u32>(1u), inb);
    return BracketStep(inb & (at < end), at);
}
