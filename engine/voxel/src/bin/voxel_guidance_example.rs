//! A reference client of kiln's external guidance protocol (v1, docs/VOXE.md), in Rust with no
//! dependencies beyond serde_json. It pulls every pixel towards one colour:
//! L = ½ Σ ‖I − c‖² / pixels, dL/dI = (I − c) / pixels.
//!
//! Usage: `voxel_guidance_example R G B`. The test modes `die` (exit after the first request)
//! and `garbage` (answer a non-JSON line) exercise kiln's error handling.

use std::io::{BufRead, Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    let color: Vec<f32> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).unwrap_or(0) == 0 {
            return; // kiln closed the session
        }
        let head: serde_json::Value = serde_json::from_str(&line).expect("JSON request header");
        let (w, h) = (head["width"].as_u64().unwrap() as usize, head["height"].as_u64().unwrap() as usize);
        let mut bytes = vec![0u8; w * h * 16];
        input.read_exact(&mut bytes).expect("image");
        match mode.as_str() {
            "die" => std::process::exit(3),
            "garbage" => {
                writeln!(out, "this is not JSON").unwrap();
                out.flush().unwrap();
                continue;
            }
            _ => {}
        }
        let px: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let n = (w * h) as f32;
        let mut loss = 0.0;
        let mut grad = Vec::with_capacity(w * h * 12);
        for p in px.chunks(4) {
            for c in 0..3 {
                let d = p[c] - color.get(c).copied().unwrap_or(1.0);
                loss += 0.5 * d * d / n;
                grad.extend_from_slice(&(d / n).to_le_bytes());
            }
        }
        writeln!(out, "{{\"loss\": {loss}}}").unwrap();
        out.write_all(&grad).unwrap();
        out.flush().unwrap();
    }
}
