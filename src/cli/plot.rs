//! Line charts as PNG files, for training reports (loss curves and the like).
//!
//! [`plot_lines`] draws one or more named [`Series`] of `(x, y)` points (x is
//! usually the training step) as a white-background line chart: a title on
//! top, a grid with tick labels on both axes, the x-axis described by a label,
//! and a legend in the upper right corner naming each series in its own colour
//! (the palette is [`series_colour`], ten distinct colours that repeat after
//! the tenth series). Text and line widths are sized for 900×500 and scale
//! with the image.
//!
//! A series with more than [`SMOOTH_ABOVE`] points is taken to be noisy: its
//! raw curve is drawn faintly and a centred moving average (window `n / 50`,
//! at least 1) solidly on top; its legend entry says "moving average".
//! Points whose x or y is not finite (NaN, ±inf) are skipped.
//!
//! Text is rendered with DejaVu Sans, embedded in the binary from
//! `assets/fonts/DejaVuSans.ttf` (licence beside it), so charts render the same
//! on a machine without any system fonts, fontconfig or freetype.
//!
//! The PNG is written atomically by [`write_atomic`]: into a temporary file
//! in the same directory, then renamed over `<name>`; a reader never sees
//! half a file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::OnceLock;

use plotters::backend::RGBPixel;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

/// One named curve: (x, y) points, x increasing (training step).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `name` with `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A series with more finite points than this gets a faint raw curve and a
/// solid moving average.
pub const SMOOTH_ABOVE: usize = 200;

/// Smallest and largest accepted image side, in pixels.
const MIN_SIZE: (u32, u32) = (400, 250);
const MAX_SIDE: u32 = 8192;

/// The font family every text element asks for; registered from the embedded
/// DejaVu Sans on first use.
const FAMILY: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The line colours, in series order (Tableau 10).
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of series `i` (RGB); the solid line and the legend swatch are
/// drawn in exactly this colour. Repeats after ten series.
pub fn series_colour(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

/// Draw `series` as a line chart into a PNG at `path` (`size` = width × height
/// pixels, e.g. 900 × 500): title, x-axis label, y-axis, a legend with series
/// names, a distinct colour per series ([`series_colour`]). Points with
/// non-finite x or y are skipped. A series with more than [`SMOOTH_ABOVE`]
/// points is drawn faintly with its moving average (window ≈ n/50, at least 1)
/// solidly on top, and its legend entry says "moving average".
///
/// The file is written atomically ([`write_atomic`]): into a temporary file
/// in the same directory, then renamed to `path`.
///
/// Errors: [`Error::InvalidArgument`] for no series, no finite point in any
/// series, a size outside 400×250 ..= 8192×8192, a path without a file name,
/// or a drawing failure; [`Error::Io`] when the file cannot be written. The
/// parent directory must exist.
pub fn plot_lines(path: &Path, title: &str, x_label: &str, series: &[Series], size: (u32, u32)) -> Result<()> {
    if series.is_empty() {
        return Err(Error::invalid("plot", format!("{}: no series to plot", path.display())));
    }
    let (w, h) = size;
    if w < MIN_SIZE.0 || h < MIN_SIZE.1 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(Error::invalid(
            "plot",
            format!(
                "{}: image size {w}x{h} is outside {}x{} ..= {MAX_SIDE}x{MAX_SIDE}",
                path.display(),
                MIN_SIZE.0,
                MIN_SIZE.1
            ),
        ));
    }
    check_target(path)?;

    let curves: Vec<Curve> = series.iter().enumerate().map(|(i, s)| Curve::new(i, s)).collect();
    let Some(bounds) = Bounds::of(&curves) else {
        return Err(Error::invalid(
            "plot",
            format!(
                "{}: nothing to plot, every series is empty or has only non-finite points",
                path.display()
            ),
        ));
    };
    if !font_registered() {
        return Err(Error::invalid(
            "plot",
            format!("{}: the embedded font could not be loaded", path.display()),
        ));
    }

    // Rendering should not panic on validated input; the guard keeps a failed
    // report from taking a training run down with it if it ever does.
    let pixels = catch_unwind(AssertUnwindSafe(|| {
        render(path, title, x_label, &curves, &bounds, size)
    }))
    .unwrap_or_else(|_| {
        Err(Error::invalid(
            "plot",
            format!("{}: the plotting library panicked while drawing", path.display()),
        ))
    })?;
    let Some(image) = image::RgbImage::from_raw(w, h, pixels) else {
        return Err(Error::invalid(
            "plot",
            format!("{}: rendered buffer does not match {w}x{h}", path.display()),
        ));
    };

    write_atomic(path, |w| {
        image.write_to(w, image::ImageFormat::Png).map_err(|e| match e {
            image::ImageError::IoError(source) => source,
            e => std::io::Error::other(format!("PNG encoding failed: {e}")),
        })
    })
}

/// Checks that `path` names a file in an existing directory (the atomic
/// writer would create missing directories; a plot never does).
fn check_target(path: &Path) -> Result<()> {
    if path.file_name().is_none() {
        return Err(Error::invalid(
            "plot",
            format!("{}: the output path has no file name", path.display()),
        ));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "the parent directory does not exist"),
        ));
    }
    Ok(())
}

fn font_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT_BYTES).is_ok())
}

/// A series ready to draw: finite points, and the moving average when smoothed.
struct Curve<'a> {
    name: &'a str,
    colour: RGBColor,
    raw: Vec<(f64, f64)>,
    /// `Some((window, points))` when the series is long enough to smooth.
    smooth: Option<(usize, Vec<(f64, f64)>)>,
}

impl<'a> Curve<'a> {
    fn new(i: usize, s: &'a Series) -> Curve<'a> {
        let (r, g, b) = series_colour(i);
        let raw: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let smooth = (raw.len() > SMOOTH_ABOVE).then(|| {
            let window = (raw.len() / 50).max(1);
            (window, moving_average(&raw, window))
        });
        Curve {
            name: &s.name,
            colour: RGBColor(r, g, b),
            raw,
            smooth,
        }
    }

    fn legend(&self) -> String {
        match (&self.smooth, self.raw.is_empty()) {
            (Some((window, _)), _) => format!("{} (moving average, window {window})", self.name),
            (None, true) => format!("{} (no finite points)", self.name),
            (None, false) => self.name.to_string(),
        }
    }
}

/// Centred moving average of the y values (the window shrinks at the ends);
/// non-finite averages (an overflowing sum) are dropped.
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let n = points.len();
    let mut prefix = Vec::with_capacity(n + 1);
    let mut sum = 0.0;
    prefix.push(sum);
    for &(_, y) in points {
        sum += y;
        prefix.push(sum);
    }
    let before = (window - 1) / 2;
    let after = window / 2;
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let lo = i.saturating_sub(before);
            let hi = (i + after + 1).min(n);
            (x, (prefix[hi] - prefix[lo]) / (hi - lo) as f64)
        })
        .filter(|(_, y)| y.is_finite())
        .collect()
}

/// The plotted ranges, padded so no curve sits on the frame.
struct Bounds {
    x: (f64, f64),
    y: (f64, f64),
}

impl Bounds {
    /// `None` when no curve has a point.
    fn of(curves: &[Curve]) -> Option<Bounds> {
        let mut pts = curves.iter().flat_map(|c| c.raw.iter());
        let &(x0, y0) = pts.next()?;
        let (mut x, mut y) = ((x0, x0), (y0, y0));
        for &(px, py) in pts {
            x = (x.0.min(px), x.1.max(px));
            y = (y.0.min(py), y.1.max(py));
        }
        Some(Bounds {
            x: pad(x, 0.0),
            y: pad(y, 0.05),
        })
    }
}

/// Widen `(lo, hi)` by `frac` of its span on each side; a zero span gets a
/// unit (or 10 %) margin. Spans too wide for f64 are clamped.
fn pad((lo, hi): (f64, f64), frac: f64) -> (f64, f64) {
    let span = hi - lo;
    let margin = if span > 0.0 && span.is_finite() {
        span * frac
    } else if span > 0.0 {
        0.0
    } else if lo == 0.0 {
        1.0
    } else {
        lo.abs() * 0.1
    };
    let (lo, hi) = (lo - margin, hi + margin);
    (lo.max(f64::MIN / 2.0), hi.min(f64::MAX / 2.0))
}

/// Tick labels for an axis over `(lo, hi)`: enough decimals to tell ~10 ticks
/// apart, trailing zeros trimmed; scientific notation for huge or tiny values.
fn tick_formatter((lo, hi): (f64, f64)) -> impl Fn(&f64) -> String {
    let step = (hi - lo) / 10.0;
    let decimals = if step > 0.0 && step.is_finite() {
        (1.0 - step.log10().floor()).max(0.0) as usize
    } else {
        2
    };
    let scientific = lo.abs().max(hi.abs()) >= 1e6 || decimals > 6;
    move |v: &f64| {
        let s = if scientific {
            let s = format!("{v:.2e}");
            match s.split_once('e') {
                Some((mantissa, exponent)) => match trim_zeros(mantissa) {
                    m if m == "0" || m == "-0" => "0".to_string(),
                    m => format!("{m}e{exponent}"),
                },
                None => s,
            }
        } else {
            trim_zeros(&format!("{v:.decimals$}"))
        };
        if s == "-0" {
            "0".to_string()
        } else {
            s
        }
    }
}

/// "2.50" -> "2.5", "3.00" -> "3", "120" -> "120".
fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Draw the chart into an RGB buffer of `size`.
fn render(
    path: &Path,
    title: &str,
    x_label: &str,
    curves: &[Curve],
    bounds: &Bounds,
    size: (u32, u32),
) -> Result<Vec<u8>> {
    let failed = |e: &dyn std::fmt::Display| Error::invalid("plot", format!("{}: drawing failed: {e}", path.display()));
    // Text, margins and line widths grow with the image (1.0 at 900×500).
    let scale = (size.0 as f64 / 900.0).min(size.1 as f64 / 500.0).clamp(0.85, 4.0);
    let px = |v: f64| (v * scale).round() as u32;
    let mut buffer = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buffer, size).map_err(|e| failed(&e))?;
        let root = backend.into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;

        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, px(22.0)))
            .margin(px(14.0))
            .margin_right(px(28.0))
            .x_label_area_size(px(48.0))
            .y_label_area_size(px(72.0))
            .build_cartesian_2d(bounds.x.0..bounds.x.1, bounds.y.0..bounds.y.1)
            .map_err(|e| failed(&e))?;

        let x_fmt = tick_formatter(bounds.x);
        let y_fmt = tick_formatter(bounds.y);
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FAMILY, px(14.0)))
            .x_labels((size.0 / 90).clamp(2, 12) as usize)
            .y_labels((size.1 / 45).clamp(2, 12) as usize)
            .axis_desc_style((FAMILY, px(16.0)))
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(|e| failed(&e))?;

        // Faint raw curves first, so every solid line lies on top of all of them.
        for c in curves.iter().filter(|c| c.smooth.is_some()) {
            chart
                .draw_series(LineSeries::new(
                    c.raw.iter().copied(),
                    c.colour.mix(0.3).stroke_width(px(1.0).max(1)),
                ))
                .map_err(|e| failed(&e))?;
        }
        let swatch = px(24.0) as i32;
        for c in curves {
            let solid = c.colour.stroke_width(px(2.0));
            let points = match &c.smooth {
                Some((_, avg)) => avg.as_slice(),
                None => c.raw.as_slice(),
            };
            let anno = if points.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(points[0], px(3.0), c.colour.filled())))
            } else {
                chart.draw_series(LineSeries::new(points.iter().copied(), solid))
            }
            .map_err(|e| failed(&e))?;
            anno.label(c.legend())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + swatch, y)], solid));
        }

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, px(14.0)))
            .draw()
            .map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(buffer)
}
