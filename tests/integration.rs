//! The one integration-test binary (one link of wgpu): GPU kernels against their f64
//! references, the exact median, end-to-end SVGD, the library's workflows, and the command
//! line's handling of bad input.

mod integration {
    pub mod ais;
    pub mod algorithms;
    pub mod bandwidth;
    pub mod batch;
    pub mod cli;
    pub mod common;
    pub mod generator;
    pub mod kernels;
    pub mod median;
    pub mod mlp;
    pub mod models;
    pub mod regression;
    pub mod run;
    pub mod trainer;
}
