// The per-column rule of pair_bracket and its generated variants (_mid, _wide, _shuffle), so
// that every one counts and lists alike (the median's exactness rests on it): for four rows'
// squared distances s to one column, with `mine` marking the pairs j > i that exist, count
// those below lo and those in [lo, hi] (both inclusive); in list mode the caller writes s
// where `fits`, at `at`: the rows' cursors start + inside (before this column), while below
// end.
struct BracketStep {
    fits: vec4<bool>,
    at: vec4<u32>,
}

fn bracket_column(s: vec4<f32>, mine: vec4<bool>, lo: f32, hi: f32, start: vec4<u32>,
                  end: vec4<u32>, below: ptr<function, vec4<u32>>,
                  inside: ptr<function, vec4<u32>>) -> BracketStep {
    let lt = mine & (s < vec4<f32>(lo));
    let inb = mine & (s >= vec4<f32>(lo)) & (s <= vec4<f32>(hi));
    let at = start + *inside;
    *below += select(vec4<u32>(0u), vec4<u32>(1u), lt);
    *inside += select(vec4<u32>(0u), vec4<u32>(1u), inb);
    return BracketStep(inb & (at < end), at);
}
