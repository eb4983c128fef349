//! Energy models p(x|θ) ∝ exp(f(x; θ)) (algorithms.md §2): f, its score ∇ₓf and the
//! parameter gradient of a weighted batch sum, on the device, with θ in one flat buffer.

pub mod rbm;
