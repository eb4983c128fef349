//! The one integration-test binary (one link of wgpu): GPU kernels against their f64
//! references, the exact median, end-to-end SVGD, the library's workflows, the command
//! line's handling of bad input and of outputs that exist, and the data transform a model
//! carries.

mod integration {
    pub mod ais;
    pub mod algorithms;
    pub mod bandwidth;
    pub mod batch;
    pub mod bayes;
    pub mod bnn;
    pub mod cli;
    pub mod common;
    pub mod counts;
    pub mod faults;
    pub mod generator;
    pub mod kernels;
    pub mod logistic_example;
    pub mod median;
    pub mod mlp;
    pub mod models;
    pub mod outputs;
    pub mod predict;
    pub mod preprocessing;
    pub mod regression;
    pub mod run;
    pub mod softf64;
    pub mod targets;
    pub mod trainer;
}
