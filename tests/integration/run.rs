//! The library's workflows (`stein::run`) called directly, as a Rust program or a binding
//! would: an SVGD run is the engine's loop with its reports, a training job resumes exactly,
//! and bad options are refused before a device is needed.

use std::path::PathBuf;

use stein::io::npy::encode_npy_f32;
use stein::io::target::{Gmm, Target};
use stein::run::svgd::{mean_cov, Init, ScoreSource, Watch};
use stein::run::{Progress, Schedule, SvgdRun, TrainJob, TrainOptions};
use stein::svgd::{target_score, Bandwidth, Optimizer, Svgd};

use super::common::{gpu, normals};

/// Records what a workflow reported.
#[derive(Default)]
struct Recorder {
    updates: Vec<(u64, u64)>,
    statuses: usize,
    finished: usize,
}

impl Progress for Recorder {
    fn update(&mut self, done: u64, total: u64) {
        self.updates.push((done, total));
    }
    fn status(&mut self, _line: &str) {
        self.statuses += 1;
    }
    fn finish(&mut self) {
        self.finished += 1;
    }
}

fn mixture() -> Target {
    Target::Gmm(
        Gmm::new(
            vec![1.0, 2.0],
            vec![vec![-2.0, 0.0], vec![2.0, 0.5]],
            vec![vec![1.0, 0.7], vec![0.8, 1.0]],
        )
        .unwrap(),
    )
}

#[test]
fn an_svgd_run_is_the_engine_loop_and_reports_its_progress() {
    let Some((ctx, k)) = gpu().unwrap() else {
        return;
    };
    let target = mixture();
    let (n, steps) = (64, 12);
    let (x0, _) = normals(n, 2, 1.5, 3);
    let run = SvgdRun {
        ksd_every: Some(5),
        optimizer: stein::run::OptimizerKind::Sgd,
        ..SvgdRun::new(Init::Particles(x0.clone()), steps, 0.1)
    };
    let mut seen = Recorder::default();
    let r = run.run(ctx, &target, &mut seen).unwrap();

    let mut engine = Svgd::new(
        ctx,
        k,
        target_score(ctx, &target).unwrap(),
        &x0,
        n,
        Optimizer::Sgd,
    )
    .unwrap();
    let mut h = f64::NAN;
    for _ in 0..steps {
        let info = engine.step(0.1, Bandwidth::Median).unwrap();
        h = engine.last_bandwidth(&info).unwrap().0;
    }
    assert_eq!(r.particles, engine.particles().unwrap(), "particles differ");
    assert_eq!(r.h, h);
    assert_eq!((r.n, r.d, r.steps), (n, 2, steps));
    assert_eq!(
        (r.mean.clone(), r.cov.clone()),
        mean_cov(&r.particles, n, 2)
    );
    let at: Vec<u64> = r.ksd_trace.iter().map(|p| p.step).collect();
    assert_eq!(at, [0, 5, 10, 12]);
    assert!(r.ksd_trace.iter().all(|p| p.ksd2_u.is_finite()));
    assert_eq!(seen.updates.first(), Some(&(0, steps)));
    assert_eq!(seen.updates.last(), Some(&(steps, steps)));
    assert_eq!(seen.updates.len() as u64, steps + 1);
    assert_eq!((seen.statuses, seen.finished), (3, 1));
}

/// `run_with` on a score the caller made (a host score of the same mixture, f64 on the host)
/// follows the target's run, and a watch sees the particles every K steps and may stop it.
#[test]
fn a_run_takes_a_host_score_and_a_watch_that_stops_it() {
    let Some((ctx, _)) = gpu().unwrap() else {
        return;
    };
    let target = mixture();
    let (n, steps) = (40, 10);
    let (x0, _) = normals(n, 2, 1.5, 5);
    let run = SvgdRun {
        optimizer: stein::run::OptimizerKind::Sgd,
        ..SvgdRun::new(Init::Particles(x0.clone()), steps, 0.1)
    };
    let host = |t: Target| {
        stein::score::HostScore::new(2, move |x: &[f32], s: &mut [f32]| {
            for (xi, si) in x.chunks(2).zip(s.chunks_mut(2)) {
                let g = t
                    .grad_log_density(&[f64::from(xi[0]), f64::from(xi[1])])
                    .unwrap();
                si[0] = g[0] as f32;
                si[1] = g[1] as f32;
            }
            Ok(())
        })
    };
    let built = run.run(ctx, &target, &mut stein::run::Silent).unwrap();
    let source = ScoreSource::Score(Box::new(host(target.clone())));
    let r = run
        .run_with(ctx, source, &mut stein::run::Silent, None)
        .unwrap();
    let most = built
        .particles
        .iter()
        .zip(&r.particles)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(most < 1e-4, "host score run differs by {most}");
    assert!(!r.interrupted && r.ksd2_u.is_finite());

    let mut seen = Vec::new();
    let mut f = |step: u64, x: &[f32]| -> anyhow::Result<bool> {
        seen.push((step, x.to_vec()));
        Ok(step < 6)
    };
    let watch = Watch {
        every: 3,
        f: &mut f,
    };
    let source = ScoreSource::Score(Box::new(host(target.clone())));
    let stopped = run
        .run_with(ctx, source, &mut stein::run::Silent, Some(watch))
        .unwrap();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [3, 6]);
    assert!(stopped.interrupted && stopped.steps == 6 && stopped.ksd2_u.is_nan());
    assert_eq!(seen[1].1, stopped.particles);

    // No density to plot, no prior to draw from.
    let plot = SvgdRun {
        plot: Some(std::env::temp_dir().join("never-written.png")),
        ..run.clone()
    };
    let source = ScoreSource::Score(Box::new(host(target.clone())));
    let e = plot
        .run_with(ctx, source, &mut stein::run::Silent, None)
        .unwrap_err();
    assert!(format!("{e:#}").contains("leave out --plot"), "{e:#}");
    let prior = SvgdRun::new(Init::Prior { n: 4, seed: 0 }, 1, 0.1);
    let source = ScoreSource::Score(Box::new(host(target)));
    let e = prior
        .run_with(ctx, source, &mut stein::run::Silent, None)
        .unwrap_err();
    assert!(format!("{e:#}").contains("--init prior"), "{e:#}");
}

#[test]
fn bad_options_are_refused_before_a_device_is_needed() {
    let err = |r: anyhow::Result<()>| format!("{:#}", r.unwrap_err());
    let run = SvgdRun::new(Init::Particles(vec![0.0; 4]), 0, 0.1);
    assert!(err(run.check(None)).contains("--steps"));
    let run = SvgdRun {
        bandwidth: Bandwidth::Fixed(1e-300),
        ..SvgdRun::new(Init::Particles(vec![0.0; 4]), 1, 0.1)
    };
    assert!(err(run.check(None)).contains("f32"));
    let run = SvgdRun {
        plot: Some(PathBuf::from("plot.jpg")),
        ..SvgdRun::new(Init::Particles(vec![0.0; 4]), 1, 0.1)
    };
    assert!(err(run.check(None)).contains(".png"));

    let out = tempfile::tempdir().unwrap();
    let job = |o: &TrainOptions, s: &Schedule| {
        TrainJob::new("ring8".into(), out.path().join("run"), o, s).map(|_| ())
    };
    let fine = TrainOptions::default();
    assert!(job(&fine, &Schedule::default()).is_ok());
    let o = TrainOptions {
        widths: vec![],
        ..Default::default()
    };
    assert!(err(job(&o, &Schedule::default())).contains("--widths"));
    let o = TrainOptions {
        bandwidth: Some(1e-300),
        ..Default::default()
    };
    assert!(err(job(&o, &Schedule::default())).contains("f32"));
    let s = Schedule {
        checkpoint_every: Some(0),
        ..Default::default()
    };
    assert!(err(job(&fine, &s)).contains("--checkpoint-every"));
    let o = TrainOptions {
        holdout: 5000,
        ..Default::default()
    };
    assert!(job(&o, &Schedule::default()).is_err());
    assert!(
        !out.path().join("run").exists(),
        "a job wrote before it ran"
    );
}

#[test]
fn a_training_job_resumes_exactly_from_the_library() {
    let Some((ctx, _)) = gpu().unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // d = 3: no density plot, which d = 2 runs draw.
    let (x, _) = normals(300, 3, 1.0, 11);
    let data = dir.path().join("data.npy");
    std::fs::write(&data, encode_npy_f32(&x, &[300, 3])).unwrap();
    let options = TrainOptions {
        hidden: 4,
        algo: stein::train::Algo::SteinCd,
        holdout: 50,
        batch: 50,
        ..Default::default()
    };
    let schedule = |steps| Schedule {
        steps: Some(steps),
        log_every: Some(5),
        checkpoint_every: Some(5),
        ..Default::default()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let straight = TrainJob::new(data.clone(), a.clone(), &options, &schedule(20))
        .unwrap()
        .run(ctx, &mut stein::run::Silent)
        .unwrap();
    let first = TrainJob::new(data, b.clone(), &options, &schedule(10))
        .unwrap()
        .run(ctx, &mut stein::run::Silent)
        .unwrap();
    assert_eq!(first.last.as_ref().map(|m| m.step), Some(10));
    let resumed = TrainJob::resume(b.clone(), &schedule(20))
        .unwrap()
        .run(ctx, &mut stein::run::Silent)
        .unwrap();
    let (s, r) = (straight.last.unwrap(), resumed.last.unwrap());
    assert_eq!((s.step, r.step), (20, 20));
    assert!(s.valid_loglik.unwrap().is_finite());
    assert_eq!(s.valid_loglik, r.valid_loglik);
    // config.json alike but for the change of --steps that the resume recorded.
    let config = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
    };
    let (mut ca, mut cb) = (config(&a), config(&b));
    assert_eq!(ca["changes"], serde_json::json!([]));
    assert_eq!(
        cb["changes"],
        serde_json::json!([{"step": 10, "option": "steps", "from": 10, "to": 20}])
    );
    ca["changes"] = serde_json::Value::Null;
    cb["changes"] = serde_json::Value::Null;
    assert_eq!(ca, cb, "config.json differs beyond the recorded change");
    for file in ["model.safetensors", "checkpoint.safetensors", "valid.npy"] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file} differs between 20 updates straight and 10 + 10 resumed"
        );
    }
}
