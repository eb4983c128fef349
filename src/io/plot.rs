//! PNG output: particle scatter plots over a density, and raw RGB or grey
//! image writers. Uses only the `png` crate.

use std::path::Path;

use anyhow::{anyhow, bail};

use super::write_atomic;

/// Side of the square particle plot in pixels.
const PLOT_SIZE: usize = 640;

/// Fractions of the grid's maximum density at which contour lines are drawn.
const CONTOUR_LEVELS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];

/// Colour ramp for the density shading, from zero density to the maximum.
const RAMP: [(f64, [f64; 3]); 4] = [
    (0.0, [255.0, 255.0, 255.0]),
    (0.25, [222.0, 235.0, 247.0]),
    (0.6, [180.0, 210.0, 235.0]),
    (1.0, [130.0, 180.0, 220.0]),
];

const CONTOUR_RGB: [u8; 3] = [40, 100, 170];
const AXIS_RGB: [u8; 3] = [200, 200, 200];
const FRAME_RGB: [u8; 3] = [60, 60, 60];
const DOT_RGB: [u8; 3] = [25, 25, 25];
/// Second point set (model samples) in [`plot_density_2d`].
const SAMPLE_RGB: [u8; 3] = [230, 110, 20];

/// Renders 2-D particles over a density and writes a 640×640 RGB PNG to
/// `path` (atomically, see [`write_atomic`]).
///
/// * `particles` is row-major `[n, 2]`; non-finite particles are skipped.
/// * `log_density(x, y)` is evaluated once per pixel; it need not be
///   normalised. The shading is `exp(log_density)` relative to its maximum on
///   the grid, with contour lines at fixed fractions of that maximum. NaN and
///   `-inf` count as zero density.
/// * `bounds` is the view box `[xmin, xmax, ymin, ymax]`; keep it fixed to
///   compare frames. With `None` the box is the particles' bounding square
///   plus a 10% margin on each side.
/// * `title` is stored as the PNG text chunk `Title`; no text is drawn.
///
/// Particles are drawn as dark dots of radius 2 pixels; the axes `x = 0` and
/// `y = 0` are drawn as light grey lines when in view, inside a thin frame.
pub fn plot_particles_2d(
    path: &Path,
    particles: &[f32],
    log_density: &dyn Fn(f64, f64) -> f64,
    title: &str,
    bounds: Option<[f64; 4]>,
) -> anyhow::Result<()> {
    let rgb = render_particles_2d(PLOT_SIZE, &[(particles, DOT_RGB)], log_density, bounds)
        .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    let png = encode_png(
        PLOT_SIZE as u32,
        PLOT_SIZE as u32,
        png::ColorType::Rgb,
        &rgb,
        title,
    )
    .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    write_atomic(path, &png)
}

/// A learned 2-D density with two point sets: `data` as dark dots and `samples` (drawn from
/// the model) as orange dots, over the shading and contours of `log_density`, as in
/// [`plot_particles_2d`]. With `bounds` None the box covers both sets.
pub fn plot_density_2d(
    path: &Path,
    data: &[f32],
    samples: &[f32],
    log_density: &dyn Fn(f64, f64) -> f64,
    title: &str,
    bounds: Option<[f64; 4]>,
) -> anyhow::Result<()> {
    let both: Vec<f32> = data.iter().chain(samples).copied().collect();
    let bounds = match bounds {
        Some(b) => b,
        None => view_box(&both, None).map_err(|e| anyhow!("{}: {}", path.display(), e))?,
    };
    let sets = [(data, DOT_RGB), (samples, SAMPLE_RGB)];
    let rgb = render_particles_2d(PLOT_SIZE, &sets, log_density, Some(bounds))
        .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    let png = encode_png(
        PLOT_SIZE as u32,
        PLOT_SIZE as u32,
        png::ColorType::Rgb,
        &rgb,
        title,
    )
    .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    write_atomic(path, &png)
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

/// Writes samples `[n, rows·cols]` (values in [0, 1], clamped; NaN shown black) as a grey
/// PNG grid, ⌈√n⌉ images per row, each scaled up to at least 28 pixels high, with 2-pixel
/// gaps (atomically).
pub fn write_image_grid(
    path: &Path,
    samples: &[f32],
    (rows, cols): (usize, usize),
    title: &str,
) -> anyhow::Result<()> {
    let d = rows * cols;
    if d == 0 || samples.is_empty() || !samples.len().is_multiple_of(d) {
        bail!(
            "{}: {} values do not make whole {rows}x{cols} images",
            path.display(),
            samples.len()
        );
    }
    let n = samples.len() / d;
    let per_row = (n as f64).sqrt().ceil() as usize;
    let grid_rows = n.div_ceil(per_row);
    let scale = 28usize.div_ceil(rows).max(1);
    let gap = 2;
    let (ih, iw) = (rows * scale, cols * scale);
    let width = per_row * (iw + gap) + gap;
    let height = grid_rows * (ih + gap) + gap;
    let mut img = vec![255u8; width * height];
    for (q, sample) in samples.chunks_exact(d).enumerate() {
        let (gr, gc) = (q / per_row, q % per_row);
        let (oy, ox) = (gap + gr * (ih + gap), gap + gc * (iw + gap));
        for y in 0..ih {
            for x in 0..iw {
                let v = sample[(y / scale) * cols + x / scale];
                let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
                img[(oy + y) * width + ox + x] = (v * 255.0).round() as u8;
            }
        }
    }
    let png = encode_png(
        width as u32,
        height as u32,
        png::ColorType::Grayscale,
        &img,
        title,
    )
    .map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    write_atomic(path, &png)
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
fn ramp(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    for w in RAMP.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            return [0, 1, 2].map(|i| (c0[i] + f * (c1[i] - c0[i])).round() as u8);
        }
    }
    RAMP[RAMP.len() - 1].1.map(|c| c as u8)
}

/// Renders the particle plot into a `size × size` RGB buffer.
fn render_particles_2d(
    size: usize,
    sets: &[(&[f32], [u8; 3])],
    log_density: &dyn Fn(f64, f64) -> f64,
    bounds: Option<[f64; 4]>,
) -> anyhow::Result<Vec<u8>> {
    check_sets(sets)?;
    let view = view_box(sets[0].0, bounds)?;
    let dens = pixel_centres(size, view)
        .iter()
        .map(|&[x, y]| log_density(x, y))
        .collect();
    Ok(render_grid(size, sets, dens, view))
}

/// The centres of a `size × size` plot's pixels in the view box `[x0, x1, y0, y1]`, row by
/// row from the top, each row from the left.
fn pixel_centres(size: usize, [x0, x1, y0, y1]: [f64; 4]) -> Vec<[f64; 2]> {
    let sx = (x1 - x0) / size as f64;
    let sy = (y1 - y0) / size as f64;
    (0..size * size)
        .map(|p| {
            let (j, i) = (p / size, p % size);
            [x0 + (i as f64 + 0.5) * sx, y1 - (j as f64 + 0.5) * sy]
        })
        .collect()
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
    let sets = [(particles, DOT_RGB)];
    check_sets(&sets).map_err(at)?;
    let view = view_box(particles, bounds).map_err(at)?;
    let points = pixel_centres(PLOT_SIZE, view);
    let dens = log_density(&points)?;
    anyhow::ensure!(
        dens.len() == points.len(),
        "plot: {} log-densities for {} pixels",
        dens.len(),
        points.len()
    );
    let rgb = render_grid(PLOT_SIZE, &sets, dens, view);
    let png = encode_png(
        PLOT_SIZE as u32,
        PLOT_SIZE as u32,
        png::ColorType::Rgb,
        &rgb,
        title,
    )
    .map_err(at)?;
    write_atomic(path, &png)
}

/// Fails unless every set holds 2-D points.
fn check_sets(sets: &[(&[f32], [u8; 3])]) -> anyhow::Result<()> {
    for (particles, _) in sets {
        if !particles.len().is_multiple_of(2) {
            bail!(
                "particles have {} values, which is not a multiple of 2; pass 2-D particles as an [n, 2] array",
                particles.len()
            );
        }
    }
    Ok(())
}

/// Renders the particle plot from the log-density at the pixel centres ([`pixel_centres`]).
fn render_grid(
    size: usize,
    sets: &[(&[f32], [u8; 3])],
    mut dens: Vec<f64>,
    [x0, x1, y0, y1]: [f64; 4],
) -> Vec<u8> {
    let (w, h) = (size, size);
    let sx = (x1 - x0) / w as f64;
    let sy = (y1 - y0) / h as f64;

    // density on the pixel grid, relative to its maximum
    let max = dens
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    for v in &mut dens {
        *v = if max.is_finite() && !v.is_nan() {
            if *v == f64::INFINITY {
                1.0
            } else {
                (*v - max).exp()
            }
        } else {
            0.0
        };
    }

    let mut img = vec![0u8; w * h * 3];
    let put = |img: &mut [u8], i: usize, j: usize, c: [u8; 3]| {
        let k = (j * w + i) * 3;
        img[k..k + 3].copy_from_slice(&c);
    };
    for j in 0..h {
        for i in 0..w {
            put(&mut img, i, j, ramp(dens[j * w + i]));
        }
    }

    // axes x = 0 and y = 0 when in view
    if x0 < 0.0 && 0.0 < x1 {
        let i = ((0.0 - x0) / sx).floor() as usize;
        for j in 0..h {
            put(&mut img, i.min(w - 1), j, AXIS_RGB);
        }
    }
    if y0 < 0.0 && 0.0 < y1 {
        let j = ((y1 - 0.0) / sy).floor() as usize;
        for i in 0..w {
            put(&mut img, i, j.min(h - 1), AXIS_RGB);
        }
    }

    // contours: a level is crossed between a pixel and its right or lower neighbour
    if max.is_finite() {
        for j in 0..h {
            for i in 0..w {
                let v = dens[j * w + i];
                let right = if i + 1 < w { dens[j * w + i + 1] } else { v };
                let below = if j + 1 < h { dens[(j + 1) * w + i] } else { v };
                let crossed = CONTOUR_LEVELS
                    .iter()
                    .any(|&lev| (v >= lev) != (right >= lev) || (v >= lev) != (below >= lev));
                if crossed {
                    put(&mut img, i, j, CONTOUR_RGB);
                }
            }
        }
    }

    // frame
    for i in 0..w {
        put(&mut img, i, 0, FRAME_RGB);
        put(&mut img, i, h - 1, FRAME_RGB);
    }
    for j in 0..h {
        put(&mut img, 0, j, FRAME_RGB);
        put(&mut img, w - 1, j, FRAME_RGB);
    }

    // particles: filled discs of radius 2 px, set by set
    for (p, colour) in sets
        .iter()
        .flat_map(|(ps, c)| ps.chunks_exact(2).map(move |p| (p, *c)))
    {
        let (x, y) = (p[0] as f64, p[1] as f64);
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let ci = ((x - x0) / sx).floor();
        let cj = ((y1 - y) / sy).floor();
        if ci < -3.0 || cj < -3.0 || ci > w as f64 + 3.0 || cj > h as f64 + 3.0 {
            continue;
        }
        let (ci, cj) = (ci as i64, cj as i64);
        for dj in -2i64..=2 {
            for di in -2i64..=2 {
                if di * di + dj * dj > 5 {
                    continue;
                }
                let (i, j) = (ci + di, cj + dj);
                if i >= 0 && j >= 0 && (i as usize) < w && (j as usize) < h {
                    put(&mut img, i as usize, j as usize, colour);
                }
            }
        }
    }
    img
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

    #[test]
    fn renders_particles_over_density() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plot.png");
        let particles: Vec<f32> = vec![-1.0, 0.0, 1.5, 0.5, 0.0, -1.0, 2.0, 2.0, f32::NAN, 0.0];
        plot_particles_2d(&p, &particles, &two_bumps, "step 10 — 5 particles", None).unwrap();
        let (info, buf, texts) = decode(&p);
        assert_eq!((info.width, info.height), (640, 640));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(buf.len(), 640 * 640 * 3);
        let px: Vec<&[u8]> = buf.chunks_exact(3).collect();
        let dark = px.iter().filter(|c| c.iter().all(|&v| v < 60)).count();
        let shaded = px
            .iter()
            .filter(|c| c.iter().any(|&v| v < 250) && c.iter().all(|&v| v > 100))
            .count();
        let contour = px.iter().filter(|c| **c == CONTOUR_RGB).count();
        assert!(dark >= 4 * 13, "dark pixels: {dark}");
        assert!(shaded > 10_000, "shaded pixels: {shaded}");
        assert!(contour > 1000, "contour pixels: {contour}");
        assert!(
            texts
                .iter()
                .any(|(k, t)| k == "Title" && t == "step 10 — 5 particles"),
            "{texts:?}"
        );
        // the particle at (-1, 0) sits at the peak of the first bump: centre pixel is dark
        let [x0, x1, _y0, y1] = view_box(&particles, None).unwrap();
        let s = (x1 - x0) / 640.0;
        let (i, j) = (((-1.0 - x0) / s) as usize, ((y1 - 0.0) / s) as usize);
        assert!(px[j * 640 + i].iter().all(|&v| v < 60));
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

    #[test]
    fn image_grid_places_each_sample_in_its_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        // 5 images of 2x3: image q is uniformly q/4.
        let samples: Vec<f32> = (0..5).flat_map(|q| vec![q as f32 / 4.0; 6]).collect();
        write_image_grid(&path, &samples, image_shape(6, Some((2, 3))).unwrap(), "t").unwrap();
        let (info, px, _) = decode(&path);
        // 3 per row, 2 rows; scale 14 → cells 28 x 42, gaps 2.
        assert_eq!((info.width, info.height), (3 * 44 + 2, 2 * 30 + 2));
        let at = |x: usize, y: usize| px[y * info.width as usize + x];
        for q in 0..5usize {
            let (x, y) = (2 + (q % 3) * 44 + 5, 2 + (q / 3) * 30 + 5);
            assert_eq!(
                at(x, y),
                (q as f32 / 4.0 * 255.0).round() as u8,
                "image {q}"
            );
        }
        assert_eq!(at(0, 0), 255, "gap is white");
        assert_eq!(
            at(2 + 2 * 44 + 5, 2 + 30 + 5),
            255,
            "missing sixth cell is white"
        );
        assert!(image_shape(784, None).unwrap() == (28, 28));
        assert!(image_shape(10, None).is_err() && image_shape(6, Some((4, 2))).is_err());
        // A product that wraps in usize (2^58 + 1)·64 = 64 mod 2^64 is refused, not taken.
        assert!(image_shape(64, Some(((1 << 58) + 1, 64))).is_err());
    }
}
