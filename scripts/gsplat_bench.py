#!/usr/bin/env python3
"""The peer side of `kiln bench raster`: gsplat on the standard synthetic scene of BENCHMARKS.md.

Same scene distribution as kiln's generator (its own seeded draws, so tile-intersection counts
agree to well under 1 %): N Gaussians with z uniform in [2, 10] and x, y uniform inside the
1920×1080 / f = 1000 camera's field of view at that depth; log-scales uniform in
[ln 0.005, ln 0.03]; normalized Gaussian quaternions; opacity logits N(mu, 1); SH degree 3 with
DC ~ N(0, 1) and the rest N(0, 0.2). Forward = `gsplat.rasterization(..., packed=False)`;
backward = gradients of (sum of colour + sum of alpha) to all parameters. Median of `--iters`
runs after `--warmup`, timed with CUDA events. Prints one JSON object per scene.

Needs torch with CUDA and the gsplat wheel (1.5.3; its CUDA extension compiles on first use).
"""
import argparse
import json
import math

import torch


def scene(n, mu, width, height, focal, seed, device):
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = 2.0 + 8.0 * torch.rand(n, generator=g)
    x = (torch.rand(n, generator=g) - 0.5) * width / focal * z
    y = (torch.rand(n, generator=g) - 0.5) * height / focal * z
    means = torch.stack([x, y, z], -1)
    log_scales = math.log(0.005) + (math.log(0.03) - math.log(0.005)) * torch.rand(n, 3, generator=g)
    quats = torch.randn(n, 4, generator=g)
    quats = quats / quats.norm(dim=-1, keepdim=True)
    logits = mu + torch.randn(n, generator=g)
    sh = 0.2 * torch.randn(n, 16, 3, generator=g)
    sh[:, 0, :] = torch.randn(n, 3, generator=g)
    return [t.to(device).requires_grad_(True) for t in (means, quats, log_scales, logits, sh)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaussians", type=int, nargs="+", default=[1_000_000, 3_000_000])
    ap.add_argument("--opacity-means", type=float, nargs="+", default=[0.0, -4.0])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()

    import gsplat

    dev = torch.device("cuda")
    width, height, focal = 1920, 1080, 1000.0
    viewmat = torch.eye(4, device=dev)[None]
    K = torch.tensor([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], device=dev)[None]

    for n in args.gaussians:
        for mu in args.opacity_means:
            means, quats, log_scales, logits, sh = scene(n, mu, width, height, focal, 0, dev)

            def forward():
                return gsplat.rasterization(
                    means, quats, torch.exp(log_scales), torch.sigmoid(logits), sh, viewmat, K,
                    width, height, sh_degree=3, near_plane=0.01, packed=False)

            fwd, bwd = [], []
            isects = None
            for i in range(args.warmup + args.iters):
                s0, s1, s2 = (torch.cuda.Event(enable_timing=True) for _ in range(3))
                s0.record()
                colors, alphas, meta = forward()
                s1.record()
                (colors.sum() + alphas.sum()).backward()
                s2.record()
                torch.cuda.synchronize()
                for t in (means, quats, log_scales, logits, sh):
                    t.grad = None
                if i >= args.warmup:
                    fwd.append(s0.elapsed_time(s1))
                    bwd.append(s1.elapsed_time(s2))
                if isects is None:
                    for key in ("flatten_ids", "isect_ids"):
                        if key in meta:
                            isects = int(meta[key].numel())
                            break
            med = lambda v: sorted(v)[len(v) // 2]
            print(json.dumps({
                "peer": f"gsplat {gsplat.__version__}",
                "device": torch.cuda.get_device_name(0),
                "gaussians": n, "opacity_mean": mu, "tile_intersections": isects,
                "forward_ms": med(fwd), "backward_ms": med(bwd),
                "forward_backward_ms": med([a + b for a, b in zip(fwd, bwd)]),
            }), flush=True)
            del means, quats, log_scales, logits, sh
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
