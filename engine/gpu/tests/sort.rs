//! RadixSort against std's stable sort.
//!
//! Default configuration (256 threads × 8 keys = 2,048-key blocks):
//! - random full 32-bit keys: 0, 1, 255, 256, 257, 1000, 2047, 2048, 2049, 2^20 + 3;
//! - random keys sorted on their low 13 / 14 bits (the high bits are noise that must be
//!   ignored): 1, 257, 1000, 100,003, 2^20 + 3;
//! - duplicates (4 distinct keys, all equal keys; values = original index): 2^20 + 3, 5,000;
//! - already sorted and reversed: 100,003 on 32 and 20 bits;
//! - odd and partial pass counts (result copied back): key_bits 1, 4, 5, 9, 12, 17, 28, 31 on 10,007;
//! - GPU-resident count below, equal to, above (clamped) the capacity, and 0; capacity 100,000;
//! - two sorts sharing one scratch in one encoder (caller-owned and internal), timer stages.
//!
//! Small blocks (32 threads × 8 keys = 256 keys): 65,536 × 256 + 5 = 16,777,221 pairs on 8 bits,
//! with the host count (the direct dispatch folds into 2-D) and a GPU count below capacity (the
//! indirect grid folds into 2-D).

use kiln_gpu::sort::{passes, RadixSort, SortConfig, SortCount};
use kiln_gpu::{GpuContext, GpuTimer};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

fn ctx() -> Arc<GpuContext> {
    GpuContext::shared().expect("a GPU adapter (Mesa lavapipe in CI)")
}

fn mask(key_bits: u32) -> u32 {
    if key_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << key_bits) - 1
    }
}

fn cpu_sort(keys: &[u32], values: &[u32], key_bits: u32) -> (Vec<u32>, Vec<u32>) {
    let mut pairs: Vec<(u32, u32)> = keys.iter().copied().zip(values.iter().copied()).collect();
    let m = mask(key_bits);
    pairs.sort_by_key(|p| p.0 & m); // stable
    pairs.into_iter().unzip()
}

fn random_keys(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random()).collect()
}

fn index_values(n: usize) -> Vec<u32> {
    (0..n as u32).collect()
}

fn assert_same(gpu: (&[u32], &[u32]), cpu: (&[u32], &[u32]), what: &str) {
    assert_eq!(gpu.0.len(), cpu.0.len(), "{what}: length");
    let n = cpu.0.len();
    if let Some(i) = (0..n).find(|&i| gpu.0[i] != cpu.0[i] || gpu.1[i] != cpu.1[i]) {
        panic!(
            "{what} (n = {n}): first mismatch at {i}: gpu ({:#010x}, {}) cpu ({:#010x}, {})",
            gpu.0[i], gpu.1[i], cpu.0[i], cpu.1[i]
        );
    }
}

fn check(sort: &RadixSort, ctx: &GpuContext, keys: &[u32], values: &[u32], key_bits: u32, what: &str) {
    let (gk, gv) = sort.sort_host(ctx, keys, values, key_bits).unwrap();
    let (ck, cv) = cpu_sort(keys, values, key_bits);
    assert_same((&gk, &gv), (&ck, &cv), &format!("{what}, {key_bits} bits"));
}

#[test]
fn sort_random_32_bit_keys() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    for (k, n) in [0usize, 1, 255, 256, 257, 1000, 2047, 2048, 2049, (1 << 20) + 3].into_iter().enumerate() {
        check(&sort, &ctx, &random_keys(n, k as u64), &index_values(n), 32, "random keys");
    }
}

#[test]
fn sort_random_keys_on_low_bits() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    for (k, n) in [1usize, 257, 1000, 100_003, (1 << 20) + 3].into_iter().enumerate() {
        let keys = random_keys(n, 100 + k as u64);
        check(&sort, &ctx, &keys, &index_values(n), 13, "random keys, high bits ignored");
    }
    let keys = random_keys(100_003, 200);
    check(&sort, &ctx, &keys, &index_values(keys.len()), 14, "random keys, high bits ignored");
}

#[test]
fn sort_is_stable_on_duplicates() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    let mut rng = StdRng::seed_from_u64(300);
    let n = (1 << 20) + 3;
    // Four distinct keys spread over all 32 bits (every pass moves them).
    let keys: Vec<u32> = (0..n).map(|_| rng.random_range(0..4u32).wrapping_mul(0x9E37_79B9)).collect();
    check(&sort, &ctx, &keys, &index_values(n), 32, "4 distinct keys");
    check(&sort, &ctx, &vec![0xDEAD_BEEF; 5000], &index_values(5000), 32, "all keys equal");
    // Few distinct 13-bit keys with noise above bit 13.
    let keys: Vec<u32> = (0..n).map(|_| rng.random_range(0..16u32) | (rng.random::<u32>() << 13)).collect();
    check(&sort, &ctx, &keys, &index_values(n), 13, "16 distinct low keys");
}

#[test]
fn sort_sorted_and_reversed() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    let n = 100_003u32;
    let ascending: Vec<u32> = (0..n).map(|i| i.wrapping_mul(40_000)).collect::<Vec<_>>();
    let mut ascending = ascending;
    ascending.sort();
    let descending: Vec<u32> = ascending.iter().rev().copied().collect();
    for bits in [32, 20] {
        check(&sort, &ctx, &ascending, &index_values(n as usize), bits, "ascending");
        check(&sort, &ctx, &descending, &index_values(n as usize), bits, "descending");
    }
}

#[test]
fn sort_odd_and_partial_pass_counts() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    let keys = random_keys(10_007, 400);
    let values = random_keys(10_007, 401);
    for bits in [1, 4, 5, 9, 12, 17, 28, 31] {
        check(&sort, &ctx, &keys, &values, bits, &format!("{} passes", passes(bits)));
    }
    // key_bits 0: nothing to sort, nothing moves.
    let (k, v) = sort.sort_host(&ctx, &keys, &values, 0).unwrap();
    assert_eq!((k, v), (keys.clone(), values.clone()));
    assert!(sort.sort_host(&ctx, &keys, &values, 33).is_err());
    assert!(sort.sort_host(&ctx, &keys, &values[1..], 32).is_err());
}

/// Sorts with the count at byte 8 of a GPU buffer; checks the sorted prefix and that the
/// elements past the (clamped) count are untouched.
fn check_gpu_count(sort: &RadixSort, ctx: &GpuContext, capacity: usize, count: u32, key_bits: u32, seed: u64) {
    let keys = random_keys(capacity, seed);
    let values = random_keys(capacity, seed + 1);
    let kb = ctx.upload("keys", &keys);
    let vb = ctx.upload("values", &values);
    let count_buf = ctx.upload("count", &[7u32, 7, count, 7]);
    let mut scratch = sort.scratch(ctx, 1000).unwrap(); // grows on demand
    let mut encoder = ctx.encoder("sort");
    sort.encode_with_scratch(
        ctx,
        &mut encoder,
        &mut scratch,
        &kb,
        &vb,
        SortCount::Gpu { buffer: &count_buf, offset: 8, max: capacity as u32 },
        key_bits,
        None,
    )
    .unwrap();
    ctx.submit(encoder);
    assert!(scratch.capacity() as usize >= capacity);
    let gk: Vec<u32> = ctx.read(&kb, capacity).unwrap();
    let gv: Vec<u32> = ctx.read(&vb, capacity).unwrap();
    let n = (count as usize).min(capacity);
    let (ck, cv) = cpu_sort(&keys[..n], &values[..n], key_bits);
    let what = format!("GPU count {count} of capacity {capacity}, {key_bits} bits");
    assert_same((&gk[..n], &gv[..n]), (&ck, &cv), &what);
    assert!(gk[n..] == keys[n..] && gv[n..] == values[n..], "{what}: elements past the count changed");
}

#[test]
fn sort_gpu_resident_count() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    let cap = 100_000;
    check_gpu_count(&sort, &ctx, cap, 65_432, 32, 500); // 8 passes
    check_gpu_count(&sort, &ctx, cap, 65_432, 12, 502); // 3 passes + copy back
    check_gpu_count(&sort, &ctx, cap, 1, 32, 504);
    check_gpu_count(&sort, &ctx, cap, 0, 32, 506);
    check_gpu_count(&sort, &ctx, cap, cap as u32, 14, 508);
    check_gpu_count(&sort, &ctx, cap, 250_000, 13, 510); // clamped to the capacity
}

#[test]
fn sort_two_sorts_share_scratch_in_one_encoder() {
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    // b: 3,001 pairs counted on the GPU in buffers of capacity 10,000, sorted first (the scratch
    // grows from 0 to 10,000); a: 50,000 pairs with a host count, sorted second (it grows again).
    let a_keys = random_keys(50_000, 600);
    let b_all = random_keys(10_000, 601);
    let b_keys = b_all[..3_001].to_vec();
    let a = (ctx.upload("a keys", &a_keys), ctx.upload("a values", &index_values(a_keys.len())));
    let b = (ctx.upload("b keys", &b_all), ctx.upload("b values", &index_values(b_all.len())));
    let b_count = ctx.upload("b count", &[b_keys.len() as u32]);
    let mut scratch = sort.scratch(&ctx, 0).unwrap();
    let mut timer = GpuTimer::new(&ctx, 64);
    let mut encoder = ctx.encoder("two sorts");
    let b_count = SortCount::Gpu { buffer: &b_count, offset: 0, max: b_all.len() as u32 };
    sort.encode_with_scratch(&ctx, &mut encoder, &mut scratch, &b.0, &b.1, b_count, 13, None).unwrap();
    sort.encode_with_scratch(&ctx, &mut encoder, &mut scratch, &a.0, &a.1, SortCount::Host(a_keys.len() as u32), 32, Some(&mut timer))
        .unwrap();
    timer.resolve(&mut encoder);
    ctx.submit(encoder);
    assert!(scratch.capacity() >= 50_000);
    for (keys, bufs, bits) in [(&a_keys, &a, 32), (&b_keys, &b, 13)] {
        let (ck, cv) = cpu_sort(keys, &index_values(keys.len()), bits);
        let gk: Vec<u32> = ctx.read(&bufs.0, keys.len()).unwrap();
        let gv: Vec<u32> = ctx.read(&bufs.1, keys.len()).unwrap();
        assert_same((&gk, &gv), (&ck, &cv), &format!("shared scratch, n = {}", keys.len()));
    }
    let times = timer.read(&ctx).unwrap();
    if timer.enabled() {
        let stages: Vec<&str> = times.iter().map(|t| t.stage.as_str()).collect();
        assert_eq!(stages, ["radix sort: count", "radix sort: scan", "radix sort: scatter"]);
    }
}

#[test]
fn sort_folds_past_65535_workgroups() {
    let ctx = ctx();
    let config = SortConfig { workgroup_size: 32, keys_per_thread: 8 };
    let sort = RadixSort::with_config(&ctx, config).unwrap();
    let n = 65_536 * config.block() as usize + 5;
    let mut rng = StdRng::seed_from_u64(700);
    let keys: Vec<u32> = (0..n).map(|_| rng.random()).collect();
    check(&sort, &ctx, &keys, &index_values(n), 8, "small blocks, > 65,535 workgroups");
    // GPU count: the indirect grid folds too.
    check_gpu_count(&sort, &ctx, n + 1000, n as u32, 8, 702);
}

#[test]
fn sort_encode_with_internal_scratch() {
    // The renderer's pattern: `encode` (scratch held by the sort), a small sort then a larger one
    // recorded into one encoder (the scratch grows in between), the second counted on the GPU.
    let ctx = ctx();
    let sort = RadixSort::new(&ctx).unwrap();
    let a_keys = random_keys(20_000, 800);
    let b_keys = random_keys(120_000, 801);
    let a = (ctx.upload("a keys", &a_keys), ctx.upload("a values", &index_values(a_keys.len())));
    let b = (ctx.upload("b keys", &b_keys), ctx.upload("b values", &index_values(b_keys.len())));
    let b_count = ctx.upload("b count", &[0u32, 99_999]);
    let mut encoder = ctx.encoder("two sorts");
    sort.encode(&ctx, &mut encoder, &a.0, &a.1, a_keys.len() as u32, 32, None).unwrap();
    let count = SortCount::Gpu { buffer: &b_count, offset: 4, max: b_keys.len() as u32 };
    sort.encode(&ctx, &mut encoder, &b.0, &b.1, count, 14, None).unwrap();
    ctx.submit(encoder);
    assert!(sort.scratch_bytes() >= 120_000 * 8);
    for (keys, bufs, n, bits) in [(&a_keys, &a, 20_000, 32), (&b_keys, &b, 99_999, 14)] {
        let (ck, cv) = cpu_sort(&keys[..n], &index_values(n), bits);
        let gk: Vec<u32> = ctx.read(&bufs.0, n).unwrap();
        let gv: Vec<u32> = ctx.read(&bufs.1, n).unwrap();
        assert_same((&gk, &gv), (&ck, &cv), &format!("internal scratch, n = {n}"));
    }
}
