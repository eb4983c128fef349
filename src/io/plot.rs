//! PNG pictures drawn with `plotters`: particles over a density, line charts (training curves,
//! the benchmark's sweep) and image grids, each with its title, axes, ticks and legend, in the
//! font compiled into stein (`assets/fonts`), so that no picture depends on the machine's fonts.
//!
//! Every picture is drawn into an RGB buffer by plotters' bitmap backend and encoded by the
//! `png` crate (`encode_png`), with its title also stored as the PNG text chunk `Title`, and
//! written atomically ([`write_atomic`]).

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::write_atomic;

/// DejaVu Sans, cut down to the characters the pictures use (`assets/fonts/README.md`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// The family name the font is registered under with plotters.
const FAMILY: &str = "sans-serif";

/// Side of the square particle plot in pixels.
const PLOT_SIZE: u32 = 800;

/// Fractions of the grid's maximum density at which contour lines are drawn.
const CONTOUR_LEVELS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];

/// Colour ramp for the density shading, from zero density to the maximum.
const RAMP: [(f64, [f64; 3]); 4] = [
    (0.0, [255.0, 255.0, 255.0]),
    (0.25, [222.0, 235.0, 247.0]),
    (0.6, [180.0, 210.0, 235.0]),
    (1.0, [130.0, 180.0, 220.0]),
];

const CONTOUR_RGB: RGBColor = RGBColor(40, 100, 170);
const DOT_RGB: RGBColor = RGBColor(25, 25, 25);
/// Second point set (model samples) in [`plot_density_2d`].
const SAMPLE_RGB: RGBColor = RGBColor(230, 110, 20);
/// The lines between the cells of an image grid.
const SEPARATOR_RGB: [u8; 3] = [70, 130, 180];

/// Line colours of the charts, one per series (d in the benchmark's picture).
const SERIES_RGB: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Registers the compiled-in font with plotters, once per process.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are this crate's own font, checked by the tests: it cannot fail.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// A plotters error as this crate's: drawing into a buffer of the right size fails only on a bug.
trait OrBug<T> {
    fn or_bug(self) -> anyhow::Result<T>;
}

impl<T, E: std::fmt::Display> OrBug<T> for Result<T, E> {
    fn or_bug(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow!("cannot draw the picture ({e}); this is a bug, please report it"))
    }
}

/// A `width × height` white RGB canvas, handed to `draw` as a plotters drawing area; returns
/// the pixels.
fn canvas(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    register_font();
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present().or_bug()?;
    }
    Ok(buf)
}

/// Encodes and writes an RGB picture with its title, naming `path` in any error.
fn write_rgb(path: &Path, width: u32, height: u32, rgb: &[u8], title: &str) -> anyhow::Result<()> {
    let png = encode_png(width, height, png::ColorType::Rgb, rgb, title)
        .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    write_atomic(path, &png)
}

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// The density under a particle plot: a function of a point, or of all the pixel centres at
/// once ([`GridDensity`]).
enum Density<'a, 'b> {
    Each(&'a dyn Fn(f64, f64) -> f64),
    All(&'a mut GridDensity<'b>),
}

/// A set of 2-D points drawn as dots of one colour, with its legend label.
struct PointSet<'a> {
    points: &'a [f32],
    colour: RGBColor,
    label: String,
}

/// Renders 2-D particles over a density and writes an 800×800 RGB PNG to `path` (atomically,
/// see [`write_atomic`]), with `title` above the plot, axes x₁ and x₂ with ticks, and a legend.
///
/// * `particles` is row-major `[n, 2]`; non-finite particles are skipped.
/// * `log_density(x, y)` is evaluated once per pixel of the plot area; it need not be
///   normalised. The shading is `exp(log_density)` relative to its maximum on the grid, with
///   contour lines at fixed fractions of that maximum. NaN and `-inf` count as zero density.
/// * `bounds` is the view box `[xmin, xmax, ymin, ymax]`; keep it fixed to compare frames.
///   With `None` the box is the particles' bounding square plus a 10% margin on each side.
/// * `title` is drawn and stored as the PNG text chunk `Title`.
pub fn plot_particles_2d(
    path: &Path,
    particles: &[f32],
    log_density: &dyn Fn(f64, f64) -> f64,
    title: &str,
    bounds: Option<[f64; 4]>,
) -> anyhow::Result<()> {
    let at = |e: anyhow::Error| anyhow!("{}: {}", path.display(), e);
    let sets = [particle_set(particles)];
    check_sets(&sets).map_err(at)?;
    let view = view_box(particles, bounds).map_err(at)?;
    let rgb = render_particles(
        &sets,
        Density::Each(log_density),
        view,
        title,
        "target density",
    )
    .map_err(at)?;
    write_rgb(path, PLOT_SIZE, PLOT_SIZE, &rgb, title)
}

/// The legend's particle set.
fn particle_set(particles: &[f32]) -> PointSet<'_> {
    PointSet {
        points: particles,
        colour: DOT_RGB,
        label: format!("particles (n = {})", particles.len() / 2),
    }
}

/// A learned 2-D density with two point sets: `data` as dark dots and `samples` (drawn from
/// the model) as orange dots, over the shading and contours of `log_density`, as in
/// [`plot_particles_2d`]. With `bounds` None the box covers both sets. `labels` name the two
/// sets in the legend.
pub fn plot_density_2d(
    path: &Path,
    (data, samples): (&[f32], &[f32]),
    labels: [&str; 2],
    log_density: &dyn Fn(f64, f64) -> f64,
    title: &str,
    bounds: Option<[f64; 4]>,
) -> anyhow::Result<()> {
    let at = |e: anyhow::Error| anyhow!("{}: {}", path.display(), e);
    let both: Vec<f32> = data.iter().chain(samples).copied().collect();
    let bounds = match bounds {
        Some(b) => b,
        None => view_box(&both, None).map_err(at)?,
    };
    let sets = [
        PointSet {
            points: data,
            colour: DOT_RGB,
            label: labels[0].to_string(),
        },
        PointSet {
            points: samples,
            colour: SAMPLE_RGB,
            label: labels[1].to_string(),
        },
    ];
    check_sets(&sets).map_err(at)?;
    let view = view_box(&both, Some(bounds)).map_err(at)?;
    let rgb = render_particles(
        &sets,
        Density::Each(log_density),
        view,
        title,
        "learned density exp(f)",
    )
    .map_err(at)?;
    write_rgb(path, PLOT_SIZE, PLOT_SIZE, &rgb, title)
}

/// A log-density evaluated at many points `[x, y]` in one call, one value each.
pub type GridDensity<'a> = dyn FnMut(&[[f64; 2]]) -> anyhow::Result<Vec<f64>> + 'a;

/// [`plot_particles_2d`] with the log-density evaluated at all pixel centres in one call
/// (`log_density` gets the points `[x, y]` and returns one value each): for a density
/// evaluated on the device, such as a WGSL target's `log_p`. Its error is returned as it is.
pub fn plot_particles_2d_batched(
    path: &Path,
    particles: &[f32],
    log_density: &mut GridDensity,
    title: &str,
    bounds: Option<[f64; 4]>,
) -> anyhow::Result<()> {
    let at = |e: anyhow::Error| anyhow!("{}: {}", path.display(), e);
    let sets = [particle_set(particles)];
    check_sets(&sets).map_err(at)?;
    let view = view_box(particles, bounds).map_err(at)?;
    let rgb = render_particles(
        &sets,
        Density::All(log_density),
        view,
        title,
        "target density",
    )?;
    write_rgb(path, PLOT_SIZE, PLOT_SIZE, &rgb, title)
}

/// Fails unless every set holds 2-D points.
fn check_sets(sets: &[PointSet]) -> anyhow::Result<()> {
    for s in sets {
        if !s.points.len().is_multiple_of(2) {
            bail!(
                "particles have {} values, which is not a multiple of 2; pass 2-D particles as an [n, 2] array",
                s.points.len()
            );
        }
    }
    Ok(())
}

/// Chooses the view box `[xmin, xmax, ymin, ymax]`.
fn view_box(particles: &[f32], bounds: Option<[f64; 4]>) -> anyhow::Result<[f64; 4]> {
    if let Some(b) = bounds {
        if !(b.iter().all(|v| v.is_finite()) && b[0] < b[1] && b[2] < b[3]) {
            bail!(
                "plot bounds {b:?} are invalid; give finite [xmin, xmax, ymin, ymax] with xmin < xmax and ymin < ymax"
            );
        }
        return Ok(b);
    }
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for p in particles.chunks_exact(2) {
        let (x, y) = (p[0] as f64, p[1] as f64);
        if x.is_finite() && y.is_finite() {
            lo = [lo[0].min(x), lo[1].min(y)];
            hi = [hi[0].max(x), hi[1].max(y)];
        }
    }
    if !lo[0].is_finite() {
        return Ok([-1.0, 1.0, -1.0, 1.0]);
    }
    let (cx, cy) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
    let mut span = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    if span <= 0.0 || !span.is_finite() {
        span = 1.0_f64.max(cx.abs().max(cy.abs()) * 1e-3);
    }
    let half = span * 0.5 * 1.2;
    Ok([cx - half, cx + half, cy - half, cy + half])
}

/// Linear interpolation in the colour ramp, `t` in `[0, 1]`.
fn ramp(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    for w in RAMP.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            let [r, g, b] = [0, 1, 2].map(|i| (c0[i] + f * (c1[i] - c0[i])).round() as u8);
            return RGBColor(r, g, b);
        }
    }
    let [r, g, b] = RAMP[RAMP.len() - 1].1.map(|c| c as u8);
    RGBColor(r, g, b)
}

/// The centres of a `w × h` pixel raster in the view box `[x0, x1, y0, y1]`, row by row from
/// the top, each row from the left.
fn pixel_centres((w, h): (usize, usize), [x0, x1, y0, y1]: [f64; 4]) -> Vec<[f64; 2]> {
    let sx = (x1 - x0) / w as f64;
    let sy = (y1 - y0) / h as f64;
    (0..w * h)
        .map(|p| {
            let (j, i) = (p / w, p % w);
            [x0 + (i as f64 + 0.5) * sx, y1 - (j as f64 + 0.5) * sy]
        })
        .collect()
}

/// exp(log-density − its maximum) on the raster; NaN and −∞ are 0, +∞ is 1. None when no value
/// is finite (nothing to shade).
fn relative_density(mut dens: Vec<f64>) -> Option<Vec<f64>> {
    let max = dens
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return None;
    }
    for v in &mut dens {
        *v = match *v {
            v if v.is_nan() => 0.0,
            f64::INFINITY => 1.0,
            v => (v - max).exp(),
        };
    }
    Some(dens)
}

/// Draws the particle plot: title, axes, the density's shading and contours on the plot area's
/// pixels, the point sets, and the legend. Returns the RGB pixels of the 800×800 picture.
fn render_particles(
    sets: &[PointSet],
    density: Density,
    view: [f64; 4],
    title: &str,
    density_label: &str,
) -> anyhow::Result<Vec<u8>> {
    let [x0, x1, y0, y1] = view;
    canvas(PLOT_SIZE, PLOT_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, font(18))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .or_bug()?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let (w, h) = ((xr.end - xr.start) as usize, (yr.end - yr.start) as usize);
        let centres = pixel_centres((w, h), view);
        let dens = match density {
            Density::Each(f) => centres.iter().map(|&[x, y]| f(x, y)).collect(),
            Density::All(f) => {
                let dens = f(&centres)?;
                anyhow::ensure!(
                    dens.len() == centres.len(),
                    "plot: {} log-densities for {} pixels",
                    dens.len(),
                    centres.len()
                );
                dens
            }
        };
        let area = chart.plotting_area().strip_coord_spec();
        if let Some(dens) = relative_density(dens) {
            for j in 0..h {
                for i in 0..w {
                    let v = dens[j * w + i];
                    let right = if i + 1 < w { dens[j * w + i + 1] } else { v };
                    let below = if j + 1 < h { dens[(j + 1) * w + i] } else { v };
                    let crossed = CONTOUR_LEVELS
                        .iter()
                        .any(|&l| (v >= l) != (right >= l) || (v >= l) != (below >= l));
                    let c = if crossed { CONTOUR_RGB } else { ramp(v) };
                    area.draw_pixel((i as i32, j as i32), &c).or_bug()?;
                }
            }
        }
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("x₁")
            .y_desc("x₂")
            .label_style(font(15))
            .axis_desc_style(font(17))
            .draw()
            .or_bug()?;
        let inside = |x: f64, y: f64| x >= x0 && x <= x1 && y >= y0 && y <= y1;
        for s in sets {
            let colour = s.colour;
            let dots = s
                .points
                .chunks_exact(2)
                .map(|p| (p[0] as f64, p[1] as f64))
                .filter(|&(x, y)| inside(x, y))
                .map(move |p| Circle::new(p, 2, colour.filled()));
            chart
                .draw_series(dots)
                .or_bug()?
                .label(s.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .or_bug()?
            .label(format!(
                "{density_label}: shading, contours at 2%–90% of its maximum"
            ))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], CONTOUR_RGB.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font(font(14))
            .draw()
            .or_bug()
    })
}

/// One line of a chart: (x, y) points, drawn in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// The legend's label.
    pub label: String,
    /// The points; non-finite ones are left out.
    pub points: Vec<(f64, f64)>,
    /// Colour index (into a fixed palette); lines of one index share a colour.
    pub colour: usize,
    /// `Some(k)`: the k-th peer's line beside stein's, drawn thin with the k-th dashes (its
    /// legend's too) and hollow markers (triangle, cross, circle, then again), so that two
    /// peers at one d (one colour) stay apart. `None`: a solid line with filled circles.
    pub peer: Option<usize>,
}

/// The k-th peer's dashes (length, gap in pixels): its line's and its legend's.
fn peer_dashes(k: usize) -> (i32, i32) {
    [(6, 4), (2, 3), (12, 4)][k % 3]
}

/// One chart of a picture: lines against a shared kind of x.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// The chart's own caption.
    pub caption: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Log scale on x (positive values only are drawn).
    pub log_x: bool,
    /// Log scale on y (positive values only are drawn).
    pub log_y: bool,
    /// The lines.
    pub lines: Vec<Line>,
    /// Where the legend goes (where the lines are expected to leave room).
    pub legend: Corner,
}

/// A corner of a chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    /// Top left.
    UpperLeft,
    /// Top right.
    UpperRight,
    /// Bottom left.
    LowerLeft,
    /// Bottom right.
    LowerRight,
}

/// Draws `panels` side by side (`cols` a row) under `title` as a `width × height` PNG.
/// A panel without any point to draw says so in its middle.
pub fn plot_panels(
    path: &Path,
    title: &str,
    panels: &[Panel],
    cols: usize,
    (width, height): (u32, u32),
) -> anyhow::Result<()> {
    let at = |e: anyhow::Error| anyhow!("{}: {}", path.display(), e);
    anyhow::ensure!(
        !panels.is_empty() && cols >= 1,
        "{}: no chart to draw",
        path.display()
    );
    let rows = panels.len().div_ceil(cols);
    let rgb = canvas(width, height, |root| {
        let body = root.titled(title, font(20)).or_bug()?;
        for (area, panel) in body.split_evenly((rows, cols)).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        Ok(())
    })
    .map_err(at)?;
    write_rgb(path, width, height, &rgb, title)
}

/// The drawable points of a line on `panel`'s axes.
fn drawable(panel: &Panel, line: &Line) -> Vec<(f64, f64)> {
    line.points
        .iter()
        .copied()
        .filter(|&(x, y)| {
            x.is_finite() && y.is_finite() && (!panel.log_x || x > 0.0) && (!panel.log_y || y > 0.0)
        })
        .collect()
}

/// The range an axis shows for `values`: their span with 5% of margin (a decade on log axes,
/// rounded out to powers of 10), or a unit span around a single value.
fn axis_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (a, b) = (lo.log10().floor(), hi.log10().ceil());
        let b = if b <= a { a + 1.0 } else { b };
        return (10f64.powf(a), 10f64.powf(b));
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        let half = 0.5 * lo.abs().max(1.0);
        return (lo - half, hi + half);
    }
    let m = 0.05 * (hi - lo);
    (lo - m, hi + m)
}

/// A tick label: plain numbers where short, else three significant digits in e-notation.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-2..1e5).contains(&a) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

/// A tick's value with rounding noise of the axis's span (`2.78e-17` for 0) taken away.
fn snap(v: f64, (lo, hi): (f64, f64)) -> f64 {
    if v.abs() < 1e-9 * (hi - lo) {
        0.0
    } else {
        v
    }
}

/// Draws one chart of [`plot_panels`].
fn draw_panel(area: &DrawingArea<BitMapBackend, Shift>, panel: &Panel) -> anyhow::Result<()> {
    let lines: Vec<(&Line, Vec<(f64, f64)>)> = panel
        .lines
        .iter()
        .map(|l| (l, drawable(panel, l)))
        .collect();
    let all = || lines.iter().flat_map(|(_, p)| p.iter());
    let xr = axis_range(all().map(|p| p.0), panel.log_x);
    let yr = axis_range(all().map(|p| p.1), panel.log_y);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.caption, font(16))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(70);
    // The four combinations of linear and log axes are four chart types.
    macro_rules! chart {
        ($x:expr, $y:expr) => {{
            let mut chart = builder.build_cartesian_2d($x, $y).or_bug()?;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .y_desc(panel.y_label.as_str())
                .x_label_formatter(&|v| tick(snap(*v, xr)))
                .y_label_formatter(&|v| tick(snap(*v, yr)))
                .x_labels(8)
                .y_labels(8)
                .light_line_style(BLACK.mix(0.05))
                .bold_line_style(BLACK.mix(0.15))
                .label_style(font(13))
                .axis_desc_style(font(14))
                .draw()
                .or_bug()?;
            if all().next().is_none() {
                let (px, py) = area.dim_in_pixel();
                area.draw_text(
                    "nothing logged yet",
                    &font(15).color(&BLACK.mix(0.6)),
                    (px as i32 / 2 - 60, py as i32 / 2),
                )
                .or_bug()?;
            }
            for (line, points) in &lines {
                let c = SERIES_RGB[line.colour % SERIES_RGB.len()];
                let peer = line.peer;
                let style = if peer.is_some() {
                    c.stroke_width(1)
                } else {
                    c.stroke_width(2)
                };
                if let Some(k) = peer {
                    let (dash, gap) = peer_dashes(k);
                    chart
                        .draw_series(DashedLineSeries::new(
                            points.iter().copied(),
                            dash,
                            gap,
                            style,
                        ))
                        .or_bug()?;
                } else {
                    chart
                        .draw_series(LineSeries::new(points.iter().copied(), style))
                        .or_bug()?;
                }
                let markers = points.len() <= 64;
                if markers {
                    chart
                        .draw_series(points.iter().map(|&p| -> DynElement<_, _> {
                            match peer.map(|k| k % 3) {
                                Some(0) => TriangleMarker::new(p, 4, style).into_dyn(),
                                Some(1) => Cross::new(p, 3, style).into_dyn(),
                                Some(_) => Circle::new(p, 3, style).into_dyn(),
                                None => Circle::new(p, 3, c.filled()).into_dyn(),
                            }
                        }))
                        .or_bug()?;
                }
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .or_bug()?
                    .label(line.label.as_str())
                    .legend(move |(x, y)| {
                        // Solid for stein: one dash as long as the mark.
                        let (dash, gap) = peer.map_or((18, 0), peer_dashes);
                        plotters::element::DashedPathElement::new(
                            [(x, y), (x + 18, y)],
                            dash,
                            gap,
                            style,
                        )
                    });
            }
            if lines.len() > 1 || lines.iter().any(|(l, _)| !l.label.is_empty()) {
                chart
                    .configure_series_labels()
                    .position(match panel.legend {
                        Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                        Corner::UpperRight => SeriesLabelPosition::UpperRight,
                        Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
                        Corner::LowerRight => SeriesLabelPosition::LowerRight,
                    })
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.4))
                    .label_font(font(12))
                    .draw()
                    .or_bug()?;
            }
        }};
    }
    let (x, y) = ((xr.0..xr.1), (yr.0..yr.1));
    match (panel.log_x, panel.log_y) {
        (false, false) => chart!(x, y),
        (true, false) => chart!(x.log_scale(), y),
        (false, true) => chart!(x, y.log_scale()),
        (true, true) => chart!(x.log_scale(), y.log_scale()),
    }
    Ok(())
}

/// The image shape `(rows, cols)` of a d-dimensional sample: `shape` if given (its product
/// must be d), else the square root of d when d is a perfect square.
pub fn image_shape(d: usize, shape: Option<(usize, usize)>) -> anyhow::Result<(usize, usize)> {
    if let Some((r, c)) = shape {
        let pixels = (r as u128) * (c as u128);
        if pixels != d as u128 || r == 0 {
            bail!("--image-shape {r}x{c} holds {pixels} pixels but the samples have d = {d}; give ROWSxCOLS with ROWS·COLS = d");
        }
        return Ok((r, c));
    }
    let s = (d as f64).sqrt().round() as usize;
    if s * s != d {
        bail!("d = {d} is not a square; give the image shape with --image-shape ROWSxCOLS");
    }
    Ok((s, s))
}

/// Pixels a side of a grid's cell aim for: 28-pixel images are drawn 3 times as large.
const CELL_TARGET: usize = 84;
/// Width of the lines between the cells of an image grid.
const SEPARATOR: usize = 2;
/// The largest side of a grid picture; larger grids are drawn with less upscaling.
const GRID_MAX_SIDE: usize = 4096;
/// Height of one line of text above a grid.
const TEXT_LINE: usize = 24;

/// Writes samples `[n, rows·cols]` (values in [0, 1], clamped; NaN shown black) as a PNG grid,
/// ⌈√n⌉ images a row, each scaled up by nearest neighbour (3 pixels a data pixel for 28×28
/// images, more for smaller ones), between separator lines, under `title` (atomically).
pub fn write_image_grid(
    path: &Path,
    samples: &[f32],
    shape: (usize, usize),
    title: &str,
) -> anyhow::Result<()> {
    write_image_grids(path, &[("", samples)], shape, title, &[])
}

/// [`write_image_grid`] with several grids of the same number of images side by side, each
/// under its label, and `notes` as extra lines of text under the title: for instance the
/// samples of an RBM beside the means of its visible units.
pub fn write_image_grids(
    path: &Path,
    grids: &[(&str, &[f32])],
    (rows, cols): (usize, usize),
    title: &str,
    notes: &[&str],
) -> anyhow::Result<()> {
    let d = rows * cols;
    let Some(&(_, first)) = grids.first() else {
        bail!("{}: no images to draw", path.display());
    };
    for (_, samples) in grids {
        if d == 0
            || samples.is_empty()
            || !samples.len().is_multiple_of(d)
            || samples.len() != first.len()
        {
            bail!(
                "{}: {} values do not make whole {rows}x{cols} images",
                path.display(),
                samples.len()
            );
        }
    }
    let n = first.len() / d;
    let per_row = (n as f64).sqrt().ceil() as usize;
    let grid_rows = n.div_ceil(per_row);
    let side = |scale: usize| {
        let w = per_row * (cols * scale + SEPARATOR) + SEPARATOR;
        let h = grid_rows * (rows * scale + SEPARATOR) + SEPARATOR;
        (w, h)
    };
    let mut scale = CELL_TARGET.div_ceil(rows.max(cols)).max(1);
    while scale > 1 && {
        let (w, h) = side(scale);
        w * grids.len() > GRID_MAX_SIDE || h > GRID_MAX_SIDE
    } {
        scale -= 1;
    }
    let (gw, gh) = side(scale);
    let labelled = grids.iter().any(|(l, _)| !l.is_empty());
    let gap = 16;
    let head = TEXT_LINE * (1 + notes.len() + usize::from(labelled)) + 8;
    let texts = std::iter::once((title, 17)).chain(notes.iter().map(|n| (*n, 14)));
    let text_width = texts
        .map(|(t, size)| (t.chars().count() * size * 6 / 10) + 20)
        .max()
        .unwrap_or(0);
    let width = (grids.len() * gw + (grids.len() - 1) * gap)
        .max(text_width)
        .max(200);
    let height = head + gh;
    if width * height > 64 << 20 {
        bail!(
            "{}: {n} images of {rows}x{cols} make a grid too large to draw; draw fewer samples",
            path.display()
        );
    }
    let rgb = canvas(width as u32, height as u32, |root| {
        root.draw_text(title, &font(17), (10, 6)).or_bug()?;
        for (k, note) in notes.iter().enumerate() {
            let y = (6 + TEXT_LINE * (k + 1)) as i32;
            root.draw_text(note, &font(14).color(&BLACK.mix(0.75)), (10, y))
                .or_bug()?;
        }
        for (g, (label, _)) in grids.iter().enumerate() {
            let x = (g * (gw + gap)) as i32;
            let y = (head - TEXT_LINE) as i32;
            root.draw_text(label, &font(14), (x + 4, y)).or_bug()?;
        }
        Ok(())
    })
    .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    let mut rgb = rgb;
    let put = |rgb: &mut [u8], x: usize, y: usize, c: [u8; 3]| {
        let k = (y * width + x) * 3;
        rgb[k..k + 3].copy_from_slice(&c);
    };
    for (g, (_, samples)) in grids.iter().enumerate() {
        let ox = g * (gw + gap);
        // Separators: the whole grid's area, then the cells over it.
        for y in 0..gh {
            for x in 0..gw {
                put(&mut rgb, ox + x, head + y, SEPARATOR_RGB);
            }
        }
        for (q, sample) in samples.chunks_exact(d).enumerate() {
            let (gr, gc) = (q / per_row, q % per_row);
            let cy = head + SEPARATOR + gr * (rows * scale + SEPARATOR);
            let cx = ox + SEPARATOR + gc * (cols * scale + SEPARATOR);
            for y in 0..rows * scale {
                for x in 0..cols * scale {
                    let v = sample[(y / scale) * cols + x / scale];
                    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
                    let v = (v * 255.0).round() as u8;
                    put(&mut rgb, cx + x, cy + y, [v, v, v]);
                }
            }
        }
        // The cells of the last row that no image fills: white.
        for q in n..grid_rows * per_row {
            let (gr, gc) = (q / per_row, q % per_row);
            let cy = head + SEPARATOR + gr * (rows * scale + SEPARATOR);
            let cx = ox + SEPARATOR + gc * (cols * scale + SEPARATOR);
            for y in 0..rows * scale {
                for x in 0..cols * scale {
                    put(&mut rgb, cx + x, cy + y, [255; 3]);
                }
            }
        }
    }
    write_rgb(path, width as u32, height as u32, &rgb, title)
}

/// Writes an 8-bit RGB image (`rgb` row-major, 3 bytes per pixel) as a PNG,
/// atomically.
pub fn write_png_rgb(path: &Path, width: u32, height: u32, rgb: &[u8]) -> anyhow::Result<()> {
    check_image(path, width, height, 3, rgb.len())?;
    let png = encode_png(width, height, png::ColorType::Rgb, rgb, "")
        .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    write_atomic(path, &png)
}

/// Writes an 8-bit greyscale image (`gray` row-major, 1 byte per pixel) as a
/// PNG, atomically.
pub fn write_png_gray(path: &Path, width: u32, height: u32, gray: &[u8]) -> anyhow::Result<()> {
    check_image(path, width, height, 1, gray.len())?;
    let png = encode_png(width, height, png::ColorType::Grayscale, gray, "")
        .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    write_atomic(path, &png)
}

/// Checks image dimensions against the buffer length.
fn check_image(
    path: &Path,
    width: u32,
    height: u32,
    channels: usize,
    len: usize,
) -> anyhow::Result<()> {
    let kind = if channels == 3 { "RGB" } else { "greyscale" };
    if width == 0 || height == 0 {
        bail!(
            "{}: cannot write a {width}x{height} image; width and height must be at least 1",
            path.display()
        );
    }
    let needed = (width as usize)
        .checked_mul(height as usize)
        .and_then(|p| p.checked_mul(channels));
    if needed != Some(len) {
        bail!(
            "{}: a {width}x{height} {kind} image needs {} bytes but {len} were given; pass {channels} byte(s) per pixel, row by row",
            path.display(),
            needed.map_or_else(|| "more".to_string(), |n| n.to_string())
        );
    }
    Ok(())
}

/// Encodes an 8-bit image as PNG bytes, with an optional `Title` text chunk.
fn encode_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    data: &[u8],
    title: &str,
) -> anyhow::Result<Vec<u8>> {
    let fail =
        |e: png::EncodingError| anyhow!("cannot encode PNG ({e}); this is a bug, please report it");
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        if !title.is_empty() {
            if title.chars().all(|c| (c as u32) < 256) {
                enc.add_text_chunk("Title".to_string(), title.to_string())
                    .map_err(fail)?;
            } else {
                enc.add_itxt_chunk("Title".to_string(), title.to_string())
                    .map_err(fail)?;
            }
        }
        enc.add_text_chunk("Software".to_string(), "stein".to_string())
            .map_err(fail)?;
        let mut writer = enc.write_header().map_err(fail)?;
        writer.write_image_data(data).map_err(fail)?;
        writer.finish().map_err(fail)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn decode(path: &Path) -> (png::OutputInfo, Vec<u8>, Vec<(String, String)>) {
        let bytes = std::fs::read(path).unwrap();
        let decoder = png::Decoder::new(Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        let mut texts: Vec<(String, String)> = reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .map(|t| (t.keyword.clone(), t.text.clone()))
            .collect();
        for t in &reader.info().utf8_text {
            texts.push((t.keyword.clone(), t.get_text().unwrap()));
        }
        (info, buf, texts)
    }

    fn two_bumps(x: f64, y: f64) -> f64 {
        let a = -0.5 * ((x + 1.0).powi(2) + y * y) / 0.25;
        let b = -0.5 * ((x - 1.5).powi(2) + (y - 0.5).powi(2));
        a.max(b) + (1.0 + (-(a - b).abs()).exp()).ln()
    }

    /// Pixels of `rgb` that are `c`.
    fn count(rgb: &[u8], c: RGBColor) -> usize {
        rgb.chunks_exact(3)
            .filter(|p| p == &[c.0, c.1, c.2])
            .count()
    }

    /// Dark pixels (text, ticks, dots) in the rows `rows` of an RGB picture `width` wide.
    fn dark_in_rows(rgb: &[u8], width: usize, rows: std::ops::Range<usize>) -> usize {
        rgb[rows.start * width * 3..rows.end * width * 3]
            .chunks_exact(3)
            .filter(|p| p.iter().all(|&v| v < 90))
            .count()
    }

    #[test]
    fn the_font_is_compiled_in_and_draws_text() {
        assert!(plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
        let rgb = canvas(200, 40, |root| {
            root.draw_text("particles x₁ ‖φ‖ KSD²", &font(16), (4, 10))
                .or_bug()
        })
        .unwrap();
        assert!(dark_in_rows(&rgb, 200, 0..40) > 100, "no text drawn");
    }

    #[test]
    fn renders_particles_over_density_with_title_axes_and_legend() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plot.png");
        let particles: Vec<f32> = vec![-1.0, 0.0, 1.5, 0.5, 0.0, -1.0, 2.0, 2.0, f32::NAN, 0.0];
        plot_particles_2d(&p, &particles, &two_bumps, "step 10 — 5 particles", None).unwrap();
        let (info, buf, texts) = decode(&p);
        assert_eq!((info.width, info.height), (PLOT_SIZE, PLOT_SIZE));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let w = PLOT_SIZE as usize;
        let shaded = buf
            .chunks_exact(3)
            .filter(|c| c.iter().any(|&v| v < 250) && c.iter().all(|&v| v > 100))
            .count();
        assert!(shaded > 20_000, "shaded pixels: {shaded}");
        assert!(count(&buf, CONTOUR_RGB) > 1000, "contour pixels");
        assert!(count(&buf, DOT_RGB) >= 4 * 9, "particle pixels");
        // The title (top 40 rows) and the x axis's ticks and label (bottom 60) are drawn.
        assert!(dark_in_rows(&buf, w, 0..40) > 200, "no title");
        assert!(dark_in_rows(&buf, w, w - 60..w) > 200, "no x axis");
        // The y axis's tick labels, left of the plot area.
        let left = buf
            .chunks_exact(3 * w)
            .map(|row| {
                row[..3 * 60]
                    .chunks_exact(3)
                    .filter(|p| p.iter().all(|&v| v < 90))
                    .count()
            })
            .sum::<usize>();
        assert!(left > 100, "no y axis: {left}");
        assert!(
            texts
                .iter()
                .any(|(k, t)| k == "Title" && t == "step 10 — 5 particles"),
            "{texts:?}"
        );
    }

    #[test]
    fn fixed_bounds_and_degenerate_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.png");
        // all particles at one point, fixed bounds, density -inf everywhere
        plot_particles_2d(
            &p,
            &[3.0, 3.0, 3.0, 3.0],
            &|_, _| f64::NEG_INFINITY,
            "latin title",
            Some([-5.0, 5.0, -5.0, 5.0]),
        )
        .unwrap();
        let (_, _, texts) = decode(&p);
        assert!(texts
            .iter()
            .any(|(k, t)| k == "Title" && t == "latin title"));
        plot_particles_2d(
            &p,
            &[3.0, 3.0],
            &|x, _| if x > 3.0 { f64::NAN } else { 0.0 },
            "",
            None,
        )
        .unwrap();
        plot_particles_2d(&p, &[], &|x, y| -(x * x + y * y), "", None).unwrap();
        let e = plot_particles_2d(&p, &[1.0, 2.0, 3.0], &|_, _| 0.0, "", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.png") && e.contains("not a multiple of 2"),
            "{e}"
        );
        let e = plot_particles_2d(&p, &[1.0, 2.0], &|_, _| 0.0, "", Some([1.0, 0.0, 0.0, 1.0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bounds"), "{e}");
        let e = plot_particles_2d(
            &dir.path().join("no/such.png"),
            &[1.0, 2.0],
            &|_, _| 0.0,
            "",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn density_plot_draws_both_sets_and_batched_matches_pointwise() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.png");
        let data = [-1.0f32, 0.0, -0.9, 0.1];
        let samples = [1.5f32, 0.5, 1.4, 0.4, 1.6, 0.6];
        plot_density_2d(
            &p,
            (&data, &samples),
            ["data", "samples"],
            &two_bumps,
            "t",
            None,
        )
        .unwrap();
        let (info, buf, _) = decode(&p);
        assert_eq!((info.width, info.height), (PLOT_SIZE, PLOT_SIZE));
        assert!(count(&buf, SAMPLE_RGB) > 3 * 9, "sample dots");
        assert!(count(&buf, DOT_RGB) > 2 * 9, "data dots");
        // The batched form evaluates the same pixels: the same picture.
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        let x = [0.0f32, 0.0, 1.0, 1.0];
        plot_particles_2d(&a, &x, &two_bumps, "t", None).unwrap();
        let mut each = |pts: &[[f64; 2]]| Ok(pts.iter().map(|p| two_bumps(p[0], p[1])).collect());
        plot_particles_2d_batched(&b, &x, &mut each, "t", None).unwrap();
        assert_eq!(decode(&a).1, decode(&b).1);
        // Its error is returned as it is.
        let mut fail = |_: &[[f64; 2]]| -> anyhow::Result<Vec<f64>> { bail!("device lost") };
        let e = plot_particles_2d_batched(&b, &x, &mut fail, "t", None).unwrap_err();
        assert_eq!(e.to_string(), "device lost");
    }

    #[test]
    fn panels_draw_lines_on_linear_and_log_axes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        let line = |colour, peer, points: Vec<(f64, f64)>| Line {
            label: format!("line {colour}"),
            points,
            colour,
            peer,
        };
        let panels = [
            Panel {
                caption: "linear".into(),
                x_label: "update".into(),
                y_label: "gap".into(),
                log_x: false,
                log_y: false,
                lines: vec![line(
                    0,
                    None,
                    (0..50).map(|i| (i as f64, (i as f64).sin())).collect(),
                )],
                legend: Corner::UpperRight,
            },
            Panel {
                caption: "log-log".into(),
                x_label: "n".into(),
                y_label: "pairs/s".into(),
                log_x: true,
                log_y: true,
                lines: vec![
                    line(1, None, vec![(1e3, 1e8), (1e4, 1e9), (1e5, 2e9)]),
                    // Non-positive values cannot be drawn on log axes: left out.
                    line(
                        1,
                        Some(0),
                        vec![(1e3, 5e7), (0.0, 1.0), (1e5, -1.0), (1e4, 4e8)],
                    ),
                ],
                legend: Corner::LowerRight,
            },
            Panel {
                caption: "empty".into(),
                x_label: "update".into(),
                y_label: "MMD²".into(),
                log_x: false,
                log_y: true,
                lines: vec![line(2, None, vec![])],
                legend: Corner::UpperLeft,
            },
        ];
        plot_panels(&p, "three charts", &panels, 2, (900, 700)).unwrap();
        let (info, buf, texts) = decode(&p);
        assert_eq!((info.width, info.height), (900, 700));
        assert!(count(&buf, SERIES_RGB[0]) > 300, "the first line");
        assert!(count(&buf, SERIES_RGB[1]) > 300, "the log-log lines");
        assert!(dark_in_rows(&buf, 900, 0..30) > 200, "no title");
        assert!(texts
            .iter()
            .any(|(k, t)| k == "Title" && t == "three charts"));
        assert!(plot_panels(&p, "none", &[], 2, (900, 700)).is_err());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.15), "0.15");
        assert_eq!(tick(1024.0), "1024");
        assert_eq!(tick(1e9), "1e9");
        assert_eq!(tick(2.5e-5), "2.5e-5");
        assert_eq!(snap(2.78e-17, (-0.2, 0.2)), 0.0);
        assert_eq!(axis_range([5.0, 5.0].into_iter(), false), (2.5, 7.5));
        assert_eq!(axis_range([3e3, 2e5].into_iter(), true), (1e3, 1e6));
    }

    #[test]
    fn writes_rgb_and_gray() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.png");
        let gray: Vec<u8> = (0..12u8).map(|v| v * 20).collect();
        write_png_gray(&p, 4, 3, &gray).unwrap();
        let (info, buf, _) = decode(&p);
        assert_eq!(
            (info.width, info.height, info.color_type),
            (4, 3, png::ColorType::Grayscale)
        );
        assert_eq!(buf, gray);
        let rgb: Vec<u8> = (0..18u8).collect();
        let q = dir.path().join("c.png");
        write_png_rgb(&q, 3, 2, &rgb).unwrap();
        let (info, buf, _) = decode(&q);
        assert_eq!(
            (info.width, info.height, info.color_type),
            (3, 2, png::ColorType::Rgb)
        );
        assert_eq!(buf, rgb);
        let e = write_png_rgb(&q, 3, 3, &rgb).unwrap_err().to_string();
        assert!(e.contains("needs 27 bytes but 18"), "{e}");
        assert!(write_png_gray(&q, 0, 3, &[]).is_err());
    }

    /// The grid's cell `q` of grid `g`: its top-left pixel.
    fn cell(
        (rows, cols, scale, per_row): (usize, usize, usize, usize),
        head: usize,
        gw: usize,
        g: usize,
        q: usize,
    ) -> (usize, usize) {
        let (gr, gc) = (q / per_row, q % per_row);
        (
            g * (gw + 16) + SEPARATOR + gc * (cols * scale + SEPARATOR),
            head + SEPARATOR + gr * (rows * scale + SEPARATOR),
        )
    }

    #[test]
    fn image_grid_scales_up_each_sample_into_its_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        // 5 images of 2x3: image q is uniformly q/4; scale 84/3 = 28 → cells of 56 x 84.
        let samples: Vec<f32> = (0..5).flat_map(|q| vec![q as f32 / 4.0; 6]).collect();
        let shape = image_shape(6, Some((2, 3))).unwrap();
        write_image_grid(&path, &samples, shape, "five images of 2x3").unwrap();
        let (info, px, _) = decode(&path);
        let (w, scale) = (info.width as usize, 28);
        let gw = 3 * (3 * scale + 2) + 2;
        let head = TEXT_LINE + 8;
        assert_eq!(info.height as usize, head + 2 * (2 * scale + 2) + 2);
        assert!(w >= gw);
        let at = |(x, y): (usize, usize)| &px[(y * w + x) * 3..(y * w + x) * 3 + 3];
        let geom = (2, 3, scale, 3);
        for q in 0..5usize {
            let (x, y) = cell(geom, head, gw, 0, q);
            let v = (q as f32 / 4.0 * 255.0).round() as u8;
            assert_eq!(at((x + 5, y + 5)), [v; 3], "image {q}");
            assert_eq!(
                at((x + 3 * scale - 1, y + 2 * scale - 1)),
                [v; 3],
                "image {q}'s corner"
            );
            assert_eq!(at((x - 1, y + 5)), SEPARATOR_RGB, "separator left of {q}");
        }
        let (x, y) = cell(geom, head, gw, 0, 5);
        assert_eq!(at((x + 5, y + 5)), [255; 3], "missing sixth cell is white");
        assert!(dark_in_rows(&px, w, 0..head) > 20, "no title");
        assert!(image_shape(784, None).unwrap() == (28, 28));
        assert!(image_shape(10, None).is_err() && image_shape(6, Some((4, 2))).is_err());
        // A product that wraps in usize (2^58 + 1)·64 = 64 mod 2^64 is refused, not taken.
        assert!(image_shape(64, Some(((1 << 58) + 1, 64))).is_err());
    }

    #[test]
    fn mnist_sized_grids_get_three_pixels_a_pixel_and_two_grids_sit_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnist.png");
        let a: Vec<f32> = (0..64 * 784).map(|i| (i % 784) as f32 / 784.0).collect();
        let b = vec![0.5f32; 64 * 784];
        write_image_grids(
            &path,
            &[("left", &a), ("right", &b)],
            (28, 28),
            "t",
            &["a note"],
        )
        .unwrap();
        let (info, px, _) = decode(&path);
        let gw = 8 * (28 * 3 + 2) + 2;
        let head = TEXT_LINE * 3 + 8;
        assert_eq!(
            (info.width as usize, info.height as usize),
            (2 * gw + 16, head + gw)
        );
        let w = info.width as usize;
        let at = |(x, y): (usize, usize)| &px[(y * w + x) * 3..(y * w + x) * 3 + 3];
        // Pixel (r, c) of image 9 of the left grid fills 3x3 screen pixels.
        let (x, y) = cell((28, 28, 3, 8), head, gw, 0, 9);
        let (r, c) = (10, 20);
        let want = ((r * 28 + c) as f32 / 784.0 * 255.0).round() as u8;
        for (dy, dx) in [(0, 0), (2, 2), (1, 2)] {
            assert_eq!(at((x + 3 * c + dx, y + 3 * r + dy)), [want; 3]);
        }
        let (x, y) = cell((28, 28, 3, 8), head, gw, 1, 63);
        assert_eq!(at((x + 40, y + 40)), [128; 3], "right grid");
        let e = write_image_grids(&path, &[("a", &a), ("b", &b[..784])], (28, 28), "t", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("do not make whole"), "{e}");
    }
}
