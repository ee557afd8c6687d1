//! `cli::plot`: loss-curve PNGs: size, series colours, legend text, the
//! atomic write, smoothing of long series, and the error paths.

use std::path::Path;

use balgan::cli::plot::{plot_lines, series_colour, Series, SMOOTH_ABOVE};
use balgan::Error;

use crate::common::TempDir;

fn two_series() -> Vec<Series> {
    let g = (0..=100)
        .map(|s| (s as f64 * 10.0, 2.0 * (-(s as f64) / 30.0).exp() + 0.2))
        .collect();
    let d = (0..=100)
        .map(|s| (s as f64 * 10.0, 1.4 - 0.6 * (s as f64 / 100.0)))
        .collect();
    vec![Series::new("generator", g), Series::new("critic", d)]
}

fn count_colour(img: &image::RgbImage, (r, g, b): (u8, u8, u8)) -> usize {
    img.pixels().filter(|p| p.0 == [r, g, b]).count()
}

/// Files in `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read temp dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn plot_two_series_has_size_colours_and_no_tmp_file() {
    let dir = TempDir::new("two");
    let path = dir.0.join("loss.png");
    plot_lines(&path, "Training loss", "step", &two_series(), (900, 500)).expect("plot");

    assert_eq!(
        listing(&dir.0),
        vec!["loss.png".to_string()],
        "only the PNG, no .tmp left"
    );
    let img = image::open(&path).expect("decode PNG").to_rgb8();
    assert_eq!(img.dimensions(), (900, 500));
    // Each curve spans the plot width with a 2-pixel line: far more pixels of
    // its exact colour than the legend swatch (24 x 2) alone would give.
    for i in 0..2 {
        let n = count_colour(&img, series_colour(i));
        assert!(n > 400, "series {i}: only {n} pixels of {:?}", series_colour(i));
    }
    // A colour that no series uses is absent.
    assert_eq!(count_colour(&img, series_colour(2)), 0);
}

#[test]
fn plot_renders_title_text_with_the_embedded_font() {
    let dir = TempDir::new("text");
    let with_title = dir.0.join("titled.png");
    let without = dir.0.join("untitled.png");
    plot_lines(
        &with_title,
        "Generator and critic loss",
        "step",
        &two_series(),
        (600, 400),
    )
    .expect("plot");
    plot_lines(&without, "", "step", &two_series(), (600, 400)).expect("plot");
    let a = image::open(&with_title).expect("decode").to_rgb8();
    let b = image::open(&without).expect("decode").to_rgb8();
    // The title is the only dark thing in the middle of the top band (axis
    // lines and tick labels are at the left and bottom, the legend at the
    // right): dark glyph pixels there when it is set, none when it is empty.
    let dark_on_top = |img: &image::RgbImage| {
        let (w, _) = img.dimensions();
        (0..40u32)
            .flat_map(|y| (w / 4..3 * w / 4).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 110))
            .count()
    };
    let (ta, tb) = (dark_on_top(&a), dark_on_top(&b));
    assert!(ta > 100, "title should draw dark glyph pixels, got {ta}");
    assert_eq!(tb, 0, "nothing should be drawn above the chart without a title");
}

#[test]
fn plot_overwrites_an_existing_file() {
    let dir = TempDir::new("over");
    let path = dir.0.join("loss.png");
    std::fs::write(&path, b"not a png").expect("write placeholder");
    plot_lines(&path, "loss", "step", &two_series(), (400, 300)).expect("plot");
    let img = image::open(&path).expect("decode PNG").to_rgb8();
    assert_eq!(img.dimensions(), (400, 300));
    assert_eq!(listing(&dir.0), vec!["loss.png".to_string()]);
}

#[test]
fn plot_long_noisy_series_draws_a_moving_average() {
    let dir = TempDir::new("noisy");
    let path = dir.0.join("noisy.png");
    // 1000 points of a decaying loss with deterministic noise, a few NaNs.
    let mut state = 12345u64;
    let points: Vec<(f64, f64)> = (0..1000)
        .map(|s| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.8;
            let y = if s % 97 == 0 {
                f64::NAN
            } else {
                1.0 / (1.0 + s as f64 / 100.0) + noise
            };
            (s as f64, y)
        })
        .collect();
    assert!(points.len() > SMOOTH_ABOVE);
    let series = [
        Series::new("loss", points),
        Series::new("lr", vec![(0.0, 0.5), (999.0, 0.1)]),
    ];
    plot_lines(&path, "Noisy loss", "step", &series, (900, 500)).expect("plot");
    assert_eq!(listing(&dir.0), vec!["noisy.png".to_string()]);
    let img = image::open(&path).expect("decode PNG").to_rgb8();
    assert_eq!(img.dimensions(), (900, 500));
    // The smoothed curve is solid in the series colour across the width...
    let (r, g, b) = series_colour(0);
    assert!(count_colour(&img, (r, g, b)) > 400);
    // ...and the raw curve is drawn faintly: pale pixels of that hue (blended
    // with white at ~30 %), which a solid-only plot would not have.
    let faint = img
        .pixels()
        .filter(|p| {
            let [pr, pg, pb] = p.0;
            let near = |c: u8, base: u8| {
                let want = base as f64 * 0.3 + 255.0 * 0.7;
                (c as f64 - want).abs() < 12.0
            };
            near(pr, r) && near(pg, g) && near(pb, b)
        })
        .count();
    assert!(faint > 1000, "expected a faint raw curve, found {faint} pale pixels");
    assert!(count_colour(&img, series_colour(1)) > 200);
}

#[test]
fn plot_skips_non_finite_points_within_a_series() {
    let dir = TempDir::new("nan");
    let path = dir.0.join("partial.png");
    let series = [
        Series::new("all nan", vec![(0.0, f64::NAN), (1.0, f64::INFINITY)]),
        Series::new("some nan", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5), (3.0, 0.25)]),
    ];
    plot_lines(&path, "partial", "step", &series, (500, 300)).expect("one series has finite points");
    let img = image::open(&path).expect("decode PNG").to_rgb8();
    assert!(count_colour(&img, series_colour(1)) > 200);
}

#[test]
fn plot_bad_inputs_are_errors() {
    let dir = TempDir::new("bad");
    let path = dir.0.join("bad.png");
    let invalid = |r: balgan::Result<()>, what: &str| match r {
        Err(Error::InvalidArgument { op: "plot", message }) => message,
        other => panic!("{what}: expected an invalid-argument error, got {other:?}"),
    };

    let msg = invalid(plot_lines(&path, "t", "step", &[], (900, 500)), "no series");
    assert!(msg.contains("no series"), "{msg}");

    let nan_only = [
        Series::new("a", vec![(0.0, f64::NAN), (1.0, f64::NAN)]),
        Series::new("b", vec![(0.0, f64::NEG_INFINITY)]),
    ];
    let msg = invalid(plot_lines(&path, "t", "step", &nan_only, (900, 500)), "only NaN");
    assert!(msg.contains("non-finite"), "{msg}");

    let empty = [Series::new("a", vec![])];
    invalid(plot_lines(&path, "t", "step", &empty, (900, 500)), "empty series");

    invalid(plot_lines(&path, "t", "step", &two_series(), (0, 0)), "zero size");
    invalid(
        plot_lines(&path, "t", "step", &two_series(), (100_000, 500)),
        "huge size",
    );

    // A missing parent directory is a file error naming the file.
    let missing = dir.0.join("no-such-dir").join("x.png");
    match plot_lines(&missing, "t", "step", &two_series(), (400, 300)) {
        Err(Error::Io { path, .. }) => assert!(path.contains("x.png"), "{path}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }

    assert!(
        listing(&dir.0).is_empty(),
        "failed plots leave no files: {:?}",
        listing(&dir.0)
    );
}

#[test]
fn plot_series_colours_are_distinct() {
    let colours: Vec<_> = (0..10).map(series_colour).collect();
    for i in 0..colours.len() {
        for j in 0..i {
            assert_ne!(colours[i], colours[j], "series {i} and {j}");
        }
        assert_ne!(colours[i], (255, 255, 255), "series colour must not be the background");
    }
}
