//! Adam (kiln_gpu::adam) against its CPU reference, the textbook f64 formulation, and the
//! closed form of the first step; the NaN rule; gather / resize / snapshot.
//!
//! Tolerances (GPU f32 vs CPU f32 with the same operation order; the GPU may fuse multiply-adds
//! and its sqrt/division may differ by an ulp or two):
//! - moments: |Δ| ≤ 1e-6·|x| + 1e-30;
//! - parameters: |Δ| ≤ 2e-7·|p| + 1e-5·Σ lr (an Adam step moves a parameter by at most about
//!   3.2·lr, so 1e-5·Σ lr allows a relative error of ~3e-6 per update).

mod adam {
    use kiln_gpu::adam::{adam_step_cpu, gather_rows_cpu, AdamConfig, AdamGroup};
    use kiln_gpu::{GpuContext, GATHER_ZERO};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    use std::sync::Arc;

    fn ctx() -> Arc<GpuContext> {
        GpuContext::shared().expect("a GPU adapter (Mesa lavapipe in CI)")
    }

    const LRS: [f32; 6] = [1e-3, 5e-2, 1.6e-4, 2.5e-3, 0.05, 1e-2];

    fn normal(rng: &mut StdRng) -> f32 {
        // Box–Muller; rand_distr is not a dependency of kiln-gpu.
        let u1: f64 = rng.random_range(1e-12..1.0);
        let u2: f64 = rng.random();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    fn params(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| normal(&mut rng)).collect()
    }

    /// Gradients spanning six decades, 10 % exact zeros (Gaussians no pixel saw).
    fn grads(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                if rng.random_range(0..10) == 0 {
                    0.0
                } else {
                    normal(&mut rng) * 10f32.powf(rng.random_range(-6.0..0.0))
                }
            })
            .collect()
    }

    fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], rel: f32, abs: f32) {
        assert_eq!(gpu.len(), cpu.len(), "{what}: length");
        let mut worst = (0usize, 0.0f32);
        for i in 0..cpu.len() {
            let d = (gpu[i] - cpu[i]).abs();
            assert!(gpu[i].is_finite(), "{what}[{i}] = {} is not finite", gpu[i]);
            let tol = rel * cpu[i].abs() + abs;
            if d > tol {
                panic!("{what}[{i}]: gpu {} cpu {} (|Δ| {d:e} > {tol:e})", gpu[i], cpu[i]);
            }
            if d > worst.1 {
                worst = (i, d);
            }
        }
        eprintln!("{what}: n = {}, worst |Δ| = {:e} at {}", cpu.len(), worst.1, worst.0);
    }

    /// `steps` steps on GPU and CPU with the LR schedule above; compares parameters, moments and
    /// the step counter.
    fn run_case(ctx: &GpuContext, n: usize, config: AdamConfig, steps: usize, seed: u64) {
        let mut p = params(n, seed);
        let mut m = vec![0.0f32; n];
        let mut v = vec![0.0f32; n];
        let param_buf = ctx.upload("param", &p);
        let mut group = AdamGroup::new(ctx, "test", n as u32, 1, config).unwrap();
        let mut lr_sum = 0.0f32;
        for s in 0..steps {
            let g = grads(n, seed * 1000 + s as u64 + 1);
            let lr = LRS[s % LRS.len()];
            lr_sum += lr;
            let grad_buf = ctx.upload("grad", &g);
            let mut enc = ctx.encoder("adam test");
            group.encode_step(ctx, &mut enc, &param_buf, &grad_buf, lr, None).unwrap();
            ctx.submit(enc);
            adam_step_cpu(&config, (s + 1) as u64, lr, &mut p, &g, &mut m, &mut v);
        }
        assert_eq!(group.step(), steps as u64);
        let snap = group.snapshot(ctx).unwrap();
        let gp = ctx.read::<f32>(&param_buf, n).unwrap();
        assert_close(&format!("exp_avg (n {n})"), &snap.exp_avg, &m, 1e-6, 1e-30);
        assert_close(&format!("exp_avg_sq (n {n})"), &snap.exp_avg_sq, &v, 1e-6, 1e-30);
        assert_close(&format!("param (n {n})"), &gp, &p, 2e-7, 1e-5 * lr_sum);
    }

    #[test]
    fn adam_matches_cpu_reference_over_steps_and_sizes() {
        let ctx = ctx();
        for (k, n) in [0usize, 1, 1000, (1 << 20) + 3].into_iter().enumerate() {
            run_case(&ctx, n, AdamConfig::default(), 6, 10 + k as u64);
        }
    }

    /// AdamW: the decoupled decay runs in the kernel as in the CPU reference.
    #[test]
    fn adamw_weight_decay_matches_cpu() {
        let ctx = ctx();
        run_case(&ctx, 5000, AdamConfig { eps: 1e-8, weight_decay: 0.01, ..Default::default() }, 6, 40);
    }

    #[test]
    fn adam_folds_past_65535_workgroups() {
        let ctx = ctx();
        let config = AdamConfig { workgroup_size: 64, ..Default::default() };
        // 65,537 workgroups of 64 threads: the grid folds into 2-D.
        run_case(&ctx, 65_536 * 64 + 3, config, 2, 20);
    }

    /// The CPU reference against the textbook formulation in f64 (m̂ = m/(1−β1ᵗ),
    /// v̂ = v/(1−β2ᵗ), p −= lr·m̂/(√v̂ + eps)), relative 1e-4 of the accumulated step.
    #[test]
    fn adam_cpu_reference_matches_textbook_f64() {
        let config = AdamConfig::default();
        let n = 2000;
        let mut p = params(n, 3);
        let mut m = vec![0.0f32; n];
        let mut v = vec![0.0f32; n];
        let mut p64: Vec<f64> = p.iter().map(|&x| x as f64).collect();
        let mut m64 = vec![0.0f64; n];
        let mut v64 = vec![0.0f64; n];
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-15f64);
        let mut lr_sum = 0.0;
        for s in 0..20usize {
            let g = grads(n, 500 + s as u64);
            let lr = LRS[s % LRS.len()];
            lr_sum += lr as f64;
            adam_step_cpu(&config, (s + 1) as u64, lr, &mut p, &g, &mut m, &mut v);
            let t = (s + 1) as i32;
            for i in 0..n {
                let gi = g[i] as f64;
                m64[i] = b1 * m64[i] + (1.0 - b1) * gi;
                v64[i] = b2 * v64[i] + (1.0 - b2) * gi * gi;
                let mh = m64[i] / (1.0 - b1.powi(t));
                let vh = v64[i] / (1.0 - b2.powi(t));
                p64[i] -= lr as f64 * mh / (vh.sqrt() + eps);
            }
        }
        for i in 0..n {
            let d = (p[i] as f64 - p64[i]).abs();
            assert!(d <= 1e-4 * lr_sum + 2e-7 * p64[i].abs(), "param {i}: f32 {} f64 {} (|Δ| {d:e})", p[i], p64[i]);
        }
    }

    /// The first step moves every parameter with a nonzero gradient by exactly lr·sign(g)
    /// (m̂ = g, v̂ = g²), and leaves the others alone.
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let ctx = ctx();
        let n = 4096;
        let p = params(n, 4);
        let g = grads(n, 5);
        let lr = 0.01f32;
        let param_buf = ctx.upload("param", &p);
        let grad_buf = ctx.upload("grad", &g);
        let mut group = AdamGroup::new(&ctx, "first", n as u32, 1, AdamConfig::default()).unwrap();
        let mut enc = ctx.encoder("adam");
        group.encode_step(&ctx, &mut enc, &param_buf, &grad_buf, lr, None).unwrap();
        ctx.submit(enc);
        let out = ctx.read::<f32>(&param_buf, n).unwrap();
        for i in 0..n {
            let expect = p[i] - lr * if g[i] > 0.0 { 1.0 } else if g[i] < 0.0 { -1.0 } else { 0.0 };
            let tol = 4.0 * f32::EPSILON * (p[i].abs() + lr);
            assert!((out[i] - expect).abs() <= tol, "{i}: g {} p {} → {} (expected {expect})", g[i], p[i], out[i]);
        }
    }

    /// NaN and ±Inf gradients count as 0: the GPU result equals the run with zeros in their place
    /// (bit for bit, same kernel) and the CPU reference, and nothing becomes non-finite.
    #[test]
    fn adam_non_finite_grads_count_as_zero() {
        let ctx = ctx();
        let n = 10_000;
        let config = AdamConfig::default();
        let p0 = params(n, 6);
        let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN];
        let mut runs = Vec::new();
        for poisoned in [true, false] {
            let param_buf = ctx.upload("param", &p0);
            let mut group = AdamGroup::new(&ctx, "nan", n as u32, 1, config).unwrap();
            for s in 0..4u64 {
                let mut g = grads(n, 40 + s);
                for i in (s as usize..n).step_by(7) {
                    g[i] = if poisoned { bad[i % bad.len()] } else { 0.0 };
                }
                let grad_buf = ctx.upload("grad", &g);
                let mut enc = ctx.encoder("adam");
                group.encode_step(&ctx, &mut enc, &param_buf, &grad_buf, LRS[s as usize], None).unwrap();
                ctx.submit(enc);
            }
            let snap = group.snapshot(&ctx).unwrap();
            runs.push((ctx.read::<f32>(&param_buf, n).unwrap(), snap));
        }
        let (pp, sp) = &runs[0];
        let (pz, sz) = &runs[1];
        assert!(pp.iter().chain(&sp.exp_avg).chain(&sp.exp_avg_sq).all(|x| x.is_finite()), "a non-finite value escaped");
        assert_eq!(pp, pz, "params: NaN/Inf gradients differ from zero gradients");
        assert_eq!(sp.exp_avg, sz.exp_avg);
        assert_eq!(sp.exp_avg_sq, sz.exp_avg_sq);
        // And the CPU reference (which applies the same rule) agrees.
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
        let mut lr_sum = 0.0;
        for s in 0..4u64 {
            let mut g = grads(n, 40 + s);
            for i in (s as usize..n).step_by(7) {
                g[i] = bad[i % bad.len()];
            }
            adam_step_cpu(&config, s + 1, LRS[s as usize], &mut p, &g, &mut m, &mut v);
            lr_sum += LRS[s as usize];
        }
        assert_close("param (NaN rule)", pp, &p, 2e-7, 1e-5 * lr_sum);
    }

    /// Several groups (different sizes, rows, learning rates) stepped in one encoder and one
    /// compute pass: each dispatch sees its own uniform.
    #[test]
    fn adam_groups_in_one_pass_each_with_its_lr() {
        let ctx = ctx();
        let config = AdamConfig::default();
        let specs = [(1000u32, 3u32, 1.6e-4f32), (1000, 4, 1e-3), (1000, 1, 0.05), (777, 45, 2.5e-3 / 20.0)];
        let mut host = Vec::new();
        let mut dev = Vec::new();
        for (k, &(items, row, _)) in specs.iter().enumerate() {
            let n = (items * row) as usize;
            let p = params(n, 60 + k as u64);
            dev.push((ctx.upload("p", &p), AdamGroup::new(&ctx, &format!("g{k}"), items, row, config).unwrap()));
            host.push((p, vec![0.0f32; n], vec![0.0f32; n]));
        }
        for s in 0..3u64 {
            let grads_now: Vec<Vec<f32>> = specs.iter().enumerate().map(|(k, &(i, r, _))| grads((i * r) as usize, 70 + 10 * s + k as u64)).collect();
            let grad_bufs: Vec<_> = grads_now.iter().map(|g| ctx.upload("g", g)).collect();
            let mut enc = ctx.encoder("adam all");
            {
                let mut pass = GpuContext::begin_pass(&mut enc, "adam", None);
                for (k, (pbuf, group)) in dev.iter_mut().enumerate() {
                    let lr = specs[k].2 * (1.0 + s as f32);
                    group.record_step(&ctx, &mut pass, pbuf, &grad_bufs[k], lr).unwrap();
                }
            }
            ctx.submit(enc);
            for (k, (p, m, v)) in host.iter_mut().enumerate() {
                adam_step_cpu(&config, s + 1, specs[k].2 * (1.0 + s as f32), p, &grads_now[k], m, v);
            }
        }
        for (k, ((pbuf, group), (p, m, _))) in dev.iter().zip(&host).enumerate() {
            let lr_sum = specs[k].2 * 6.0;
            assert_close(&format!("group {k} param"), &ctx.read::<f32>(pbuf, p.len()).unwrap(), p, 2e-7, 1e-5 * lr_sum);
            assert_close(&format!("group {k} exp_avg"), &group.snapshot(&ctx).unwrap().exp_avg, m, 1e-6, 1e-30);
        }
    }

    #[test]
    fn adam_gather_resize_and_snapshot() {
        let ctx = ctx();
        let config = AdamConfig::default();
        let (items, row) = (5000u32, 3u32);
        let n = (items * row) as usize;
        let param_buf = ctx.upload("p", &params(n, 80));
        let mut group = AdamGroup::new(&ctx, "means", items, row, config).unwrap();
        for s in 0..3u64 {
            let g = ctx.upload("g", &grads(n, 81 + s));
            let mut enc = ctx.encoder("adam");
            group.encode_step(&ctx, &mut enc, &param_buf, &g, 1e-3, None).unwrap();
            ctx.submit(enc);
        }
        let before = group.snapshot(&ctx).unwrap();

        // Prune every third row, duplicate some, append zero rows (clone/split): one gather.
        let mut rng = StdRng::seed_from_u64(82);
        let mut idx: Vec<u32> = (0..items).filter(|i| i % 3 != 0).collect();
        idx.extend((0..500).map(|_| rng.random_range(0..items)));
        idx.extend(std::iter::repeat_n(GATHER_ZERO, 300));
        let mut enc = ctx.encoder("gather");
        group.gather_host(&ctx, &mut enc, &idx).unwrap();
        ctx.submit(enc);
        let after = group.snapshot(&ctx).unwrap();
        assert_eq!(after.items, idx.len() as u32);
        assert_eq!(after.step, 3, "gather keeps the step counter");
        assert_eq!(after.exp_avg, gather_rows_cpu(&before.exp_avg, row as usize, &idx));
        assert_eq!(after.exp_avg_sq, gather_rows_cpu(&before.exp_avg_sq, row as usize, &idx));

        // Grow (zero tail) then shrink (prefix).
        let grown = after.items + 123;
        let mut enc = ctx.encoder("resize");
        group.resize(&ctx, &mut enc, grown).unwrap();
        ctx.submit(enc);
        let s = group.snapshot(&ctx).unwrap();
        assert_eq!(&s.exp_avg[..after.exp_avg.len()], &after.exp_avg[..]);
        assert!(s.exp_avg[after.exp_avg.len()..].iter().all(|&x| x == 0.0));
        assert_eq!(s.exp_avg.len(), (grown * row) as usize);
        let mut enc = ctx.encoder("resize");
        group.resize(&ctx, &mut enc, 10).unwrap();
        ctx.submit(enc);
        let s = group.snapshot(&ctx).unwrap();
        assert_eq!(&s.exp_avg[..], &after.exp_avg[..30]);
        assert_eq!(&s.exp_avg_sq[..], &after.exp_avg_sq[..30]);

        // Snapshot round trip: a restored group continues exactly like the original.
        let snap = before.clone();
        let mut a = AdamGroup::from_snapshot(&ctx, "a", &snap, config).unwrap();
        let mut b = AdamGroup::new(&ctx, "b", 1, 1, config).unwrap();
        b.restore(&ctx, &snap).unwrap();
        assert_eq!(a.step(), 3);
        assert_eq!((b.items(), b.row()), (items, row));
        let p = params(n, 90);
        let pa = ctx.upload("pa", &p);
        let pb = ctx.upload("pb", &p);
        let g = ctx.upload("g", &grads(n, 91));
        let mut enc = ctx.encoder("adam");
        a.encode_step(&ctx, &mut enc, &pa, &g, 1e-2, None).unwrap();
        b.encode_step(&ctx, &mut enc, &pb, &g, 1e-2, None).unwrap();
        ctx.submit(enc);
        assert_eq!(ctx.read::<f32>(&pa, n).unwrap(), ctx.read::<f32>(&pb, n).unwrap());
        let (mut hp, mut hm, mut hv) = (p.clone(), snap.exp_avg.clone(), snap.exp_avg_sq.clone());
        adam_step_cpu(&config, 4, 1e-2, &mut hp, &grads(n, 91), &mut hm, &mut hv);
        assert_close("restored param", &ctx.read::<f32>(&pa, n).unwrap(), &hp, 2e-7, 1e-7);
    }

    /// gather_rows on its own, with > 65,535 workgroups (256-thread groups, 1-float rows) and
    /// out-of-range indices reading as zero rows.
    #[test]
    fn adam_gather_rows_large() {
        let ctx = ctx();
        let src_rows = 70_000u32;
        let src = params(src_rows as usize, 100);
        let count = 65_536 * 256 + 11;
        let mut rng = StdRng::seed_from_u64(101);
        let idx: Vec<u32> = (0..count)
            .map(|i| match i % 97 {
                0 => GATHER_ZERO,
                1 => src_rows + 5,
                _ => rng.random_range(0..src_rows),
            })
            .collect();
        let src_buf = ctx.upload("src", &src);
        let idx_buf = ctx.upload("idx", &idx);
        let dst = ctx.zeroed("dst", count as u64 * 4);
        let mut enc = ctx.encoder("gather");
        ctx.gather_rows(&mut enc, &src_buf, src_rows, &idx_buf, &dst, count, 1).unwrap();
        ctx.submit(enc);
        let got = ctx.read::<f32>(&dst, count as usize).unwrap();
        assert!(got == gather_rows_cpu(&src, 1, &idx), "gather_rows differs from the CPU gather");
    }
}
