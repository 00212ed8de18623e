//! PrefixScan against a CPU reference.
//!
//! Sizes: 0, 1, 255, 256, 257, 1000, 2047, 2048, 2049, 2^20 + 3 (2 levels) and 2048² + 7
//! (3 levels) with the default 256 × 8 blocks; 65,536 × 32 + 5 with 32-element blocks (65,537
//! workgroups in the first dispatch, so the grid folds into 2-D; 6 levels).

use kiln_gpu::scan::{PrefixScan, ScanConfig};
use kiln_gpu::{GpuContext, GpuTimer};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

fn ctx() -> Arc<GpuContext> {
    GpuContext::shared().expect("a GPU adapter (Mesa lavapipe in CI)")
}

fn cpu_scan(data: &[u32]) -> (Vec<u32>, u32) {
    let mut acc = 0u32;
    let out = data
        .iter()
        .map(|&x| {
            let e = acc;
            acc = acc.wrapping_add(x);
            e
        })
        .collect();
    (out, acc)
}

fn random(n: usize, below: u32, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| if below == 0 { rng.random() } else { rng.random_range(0..below) }).collect()
}

fn check(scan: &PrefixScan, ctx: &GpuContext, data: &[u32], what: &str) {
    let (gpu, gpu_total) = scan.scan_host(ctx, data).unwrap();
    let (cpu, cpu_total) = cpu_scan(data);
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    if let Some(i) = (0..cpu.len()).find(|&i| gpu[i] != cpu[i]) {
        panic!("{what} (n = {}): first mismatch at {i}: gpu {} cpu {}", data.len(), gpu[i], cpu[i]);
    }
    assert_eq!(gpu_total, cpu_total, "{what} (n = {}): total", data.len());
}

#[test]
fn scan_sizes() {
    let ctx = ctx();
    let scan = PrefixScan::new(&ctx).unwrap();
    for (k, n) in [0usize, 1, 255, 256, 257, 1000, 2047, 2048, 2049, (1 << 20) + 3, 2048 * 2048 + 7].into_iter().enumerate() {
        check(&scan, &ctx, &random(n, 1000, k as u64), "random below 1000");
    }
}

#[test]
fn scan_wraps_like_u32() {
    let ctx = ctx();
    let scan = PrefixScan::new(&ctx).unwrap();
    check(&scan, &ctx, &random(100_003, 0, 7), "full-range u32");
}

#[test]
fn scan_folds_past_65535_workgroups() {
    let ctx = ctx();
    let config = ScanConfig { workgroup_size: 32, elements_per_thread: 1 };
    let scan = PrefixScan::with_config(&ctx, config).unwrap();
    let n = 65_536 * config.block() as usize + 5;
    check(&scan, &ctx, &random(n, 10, 11), "small blocks, > 65,535 workgroups");
}

#[test]
fn scan_in_place_with_total_after_the_data_and_two_scans_in_one_encoder() {
    let ctx = ctx();
    let scan = PrefixScan::new(&ctx).unwrap();
    // One buffer: [data (n), total]. A second, larger scan recorded after the first into the
    // same encoder (the scan's scratch is shared and grows between the two).
    let a = random(3000, 50, 21);
    let b = random(300_001, 50, 22);
    let mut a_buf = a.clone();
    a_buf.push(12345);
    let a_gpu = ctx.upload("a", &a_buf);
    let b_in = ctx.upload("b", &b);
    let b_out = ctx.zeroed("b out", b.len() as u64 * 4 + 4);
    let totals = ctx.zeroed("totals", 16);
    let mut encoder = ctx.encoder("two scans");
    let mut timer = GpuTimer::new(&ctx, 8);
    scan.encode_with_offset(&ctx, &mut encoder, &a_gpu, &a_gpu, a.len() as u32, &a_gpu, a.len() as u64 * 4, None).unwrap();
    scan.encode_with_offset(&ctx, &mut encoder, &b_in, &b_out, b.len() as u32, &totals, 8, Some(&mut timer)).unwrap();
    timer.resolve(&mut encoder);
    ctx.submit(encoder);
    let a_res: Vec<u32> = ctx.read(&a_gpu, a.len() + 1).unwrap();
    let (a_cpu, a_total) = cpu_scan(&a);
    assert_eq!(&a_res[..a.len()], &a_cpu[..]);
    assert_eq!(a_res[a.len()], a_total);
    let b_res: Vec<u32> = ctx.read(&b_out, b.len() + 1).unwrap();
    let (b_cpu, b_total) = cpu_scan(&b);
    assert_eq!(&b_res[..b.len()], &b_cpu[..]);
    assert_eq!(b_res[b.len()], 0, "elements past the count are left alone");
    assert_eq!(ctx.read::<u32>(&totals, 4).unwrap(), vec![0, 0, b_total, 0]);
    let times = timer.read(&ctx).unwrap();
    if timer.enabled() {
        assert_eq!(times.iter().map(|t| t.stage.as_str()).collect::<Vec<_>>(), vec!["scan"]);
    }
}

#[test]
fn scan_rejects_small_buffers() {
    let ctx = ctx();
    let scan = PrefixScan::new(&ctx).unwrap();
    let small = ctx.zeroed("small", 16);
    let mut encoder = ctx.encoder("bad");
    assert!(scan.encode_with_offset(&ctx, &mut encoder, &small, &small, 5, &small, 0, None).is_err());
    assert!(scan.encode_with_offset(&ctx, &mut encoder, &small, &small, 4, &small, 16, None).is_err());
}
