//! Line plots as PNG with numeric axis labels, drawn directly into an image (a 3×5 pixel font
//! for digits keeps kiln free of font files). One plot per quantity; the file name says what.

use image::{Rgb, RgbImage};
use std::path::Path;

/// One curve: points (x, y) and a colour.
pub struct Series<'a> {
    pub points: &'a [(f64, f64)],
    pub color: [u8; 3],
}

const W: u32 = 640;
const H: u32 = 400;
const LEFT: u32 = 64;
const RIGHT: u32 = 16;
const TOP: u32 = 16;
const BOTTOM: u32 = 32;

// 3×5 glyphs, rows top to bottom, 3 bits each (MSB = left).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'e' => [0, 7, 7, 4, 7],
        '+' => [0, 2, 7, 2, 0],
        _ => return None,
    })
}

fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, scale: i64) {
    for (k, c) in s.chars().enumerate() {
        let Some(g) = glyph(c) else { continue };
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            put(img, x + (k as i64 * 4 + col) * scale + dx, y + row as i64 * scale + dy, [40, 40, 40]);
                        }
                    }
                }
            }
        }
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(c));
    }
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: [u8; 3]) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        put(img, (x0 + t * (x1 - x0)).round() as i64, (y0 + t * (y1 - y0)).round() as i64, c);
    }
}

fn label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-2..1e5).contains(&a) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// Writes the series as one plot. `log_y` plots log10(y) (labels stay in y units).
pub fn line_plot(path: &Path, series: &[Series<'_>], log_y: bool) -> image::ImageResult<()> {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let ty = |y: f64| if log_y { y.max(1e-30).log10() } else { y };
    let pts = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        let y = ty(y);
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        y1 = y0 + 1.0;
    }
    let pw = (W - LEFT - RIGHT) as f64;
    let ph = (H - TOP - BOTTOM) as f64;
    let sx = |x: f64| LEFT as f64 + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP as f64 + (1.0 - (ty(y) - y0) / (y1 - y0)) * ph;
    // Axes, grid and labels.
    for k in 0..=4 {
        let f = k as f64 / 4.0;
        let gy = TOP as f64 + f * ph;
        line(&mut img, (LEFT as f64, gy), ((W - RIGHT) as f64, gy), [225, 225, 225]);
        let yv = y1 - f * (y1 - y0);
        let yv = if log_y { 10f64.powf(yv) } else { yv };
        text(&mut img, 2, gy as i64 - 5, &label(yv), 2);
        let gx = LEFT as f64 + f * pw;
        line(&mut img, (gx, TOP as f64), (gx, (H - BOTTOM) as f64), [225, 225, 225]);
        text(&mut img, gx as i64 - 10, (H - BOTTOM + 8) as i64, &label(x0 + f * (x1 - x0)), 2);
    }
    line(&mut img, (LEFT as f64, TOP as f64), (LEFT as f64, (H - BOTTOM) as f64), [0, 0, 0]);
    line(&mut img, (LEFT as f64, (H - BOTTOM) as f64), ((W - RIGHT) as f64, (H - BOTTOM) as f64), [0, 0, 0]);
    for s in series {
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let p = (sx(x), sy(y));
            if let Some(q) = prev {
                line(&mut img, q, p, s.color);
            }
            prev = Some(p);
        }
    }
    img.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_curves_in_their_colours() {
        let path = std::env::temp_dir().join(format!("kiln-plot-{}.png", std::process::id()));
        let a: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 1.0 / (1.0 + i as f64))).collect();
        let b: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 0.5)).collect();
        line_plot(&path, &[Series { points: &a, color: [200, 30, 30] }, Series { points: &b, color: [30, 30, 200] }], true).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (W, H));
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(count([200, 30, 30]) > 300 && count([30, 30, 200]) > 300);
        assert_eq!(label(0.25), "0.25");
        assert_eq!(label(30000.0), "30000");
        assert_eq!(label(2.5e-5), "2.5e-5");
    }
}
