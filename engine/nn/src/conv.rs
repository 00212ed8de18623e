//! A stride-1, batch-1 2-D convolution written as one matrix product (im2col by shifted slices).
//!
//! Why not only Burn's `conv2d`: the decoders spend nearly all of CoherentGS's step in Burn, and
//! there the convolutions' backward dominates. Side by side on lavapipe (a per-shape probe,
//! 2 shared cores), forward + backward of the decoder's wide 3×3 stage shapes (240→240 at 8×6,
//! 120→120 at 32×24, 60→60 at 64×48 and 128×96) took 2.5–3.2× less time as k² shifted slices
//! of the padded input stacked into a [k²·C, H·W] matrix and multiplied by the [O, k²·C]
//! weights, with the same values (the forward's bits equal Burn's). Narrow convolutions are
//! faster as Burn's `conv2d`; the decoder picks per stage (`decoder::MATMUL_CONV_FROM`). Every
//! op here (slice, reshape, cat, permute, matmul) has Burn's own backward.

use burn::tensor::Tensor;

/// `x`: `[1, C, H + k − 1, W + k − 1]`, already padded; `weight`: `[O, C, k, k]`; `bias`: `[O]`.
/// Returns the valid cross-correlation `[1, O, H, W]` (PyTorch's `conv2d`, stride 1, no padding).
pub fn conv2d_matmul(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let [_, c, hp, wp] = x.dims();
    let [o, _, k, _] = weight.dims();
    let (h, w) = (hp + 1 - k, wp + 1 - k);
    let columns = if k == 1 {
        x.reshape([c, h * w])
    } else {
        // Row (dy·k + dx)·C + c of the column matrix is channel c shifted by (dy, dx).
        let shifted = (0..k * k).map(|s| x.clone().slice([0..1, 0..c, s / k..s / k + h, s % k..s % k + w]).reshape([c, h * w])).collect();
        Tensor::cat(shifted, 0)
    };
    // [O, C, k, k] → [O, k, k, C] → [O, k²·C]: the same (dy, dx, c) order as the rows above.
    let matrix = weight.permute([0, 2, 3, 1]).reshape([o, k * k * c]);
    (matrix.matmul(columns) + bias.reshape([o, 1])).reshape([1, o, h, w])
}
