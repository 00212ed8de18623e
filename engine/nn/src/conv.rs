//! Stride-1 2-D convolutions written as matrix products (im2col by shifted slices), one per
//! batch entry with its own weights (a grouped convolution: the decoders batch their views).
//!
//! Why not only Burn's `conv2d`: the decoders spend nearly all of CoherentGS's step in Burn, and
//! there the convolutions' backward dominates. Side by side on lavapipe (a per-shape probe,
//! 2 shared cores), forward + backward of the decoder's wide 3×3 stage shapes (240→240 at 8×6,
//! 120→120 at 32×24, 60→60 at 64×48 and 128×96) took 2.5–3.2× less time as k² shifted slices
//! of the padded input stacked into a column matrix (now pixel-major, [H·W, k²·C]) and
//! multiplied by the weights, with the same values (the forward's bits equal Burn's). Narrow convolutions are
//! faster as Burn's `conv2d` there; the decoder picks per stage (`decoder::ConvForm`). Every
//! op here (pad, slice, reshape, cat, permute, expand, matmul) has Burn's own backward.
//!
//! **Row bands (split-K).** The weight gradient of `W·columns` is `dY·columnsᵀ`: an [O, k²·C]
//! result reduced over all H·W pixels. At an image's full size that is a few thousand outputs
//! each summing ~200,000 products, and Burn 0.22's matmul has no split-K: it launches a handful
//! of workgroups that walk the whole reduction. On an H100 the decoders' backward took 660 ms
//! per CoherentGS step at fern's 504×378. With `bands > 1` the image is cut into bands of whole
//! rows, each band a batch of one batched matmul against the weights expanded over the batch;
//! the weight gradient is then `bands` independent reductions that Burn's expand backward sums.
//! With the bands and the batched views the step went from 1.11 to 3.46 steps/s on the H100
//! (docs/COHERENTGS.md).

use burn::tensor::ops::PadMode;
use burn::tensor::Tensor;

/// Target pixels per band of [`conv2d_matmul`]'s split reduction, and the most bands.
const PIXELS_PER_BAND: usize = 4096;
const MAX_BANDS: usize = 64;

/// How many row bands an `h × w` output is cut into: about [`PIXELS_PER_BAND`] pixels each, at
/// most [`MAX_BANDS`], and rounded so that the last band is not mostly padding.
pub fn row_bands(h: usize, w: usize) -> usize {
    let target = (h * w / PIXELS_PER_BAND).clamp(1, MAX_BANDS).min(h.max(1));
    let rows = h.div_ceil(target);
    h.div_ceil(rows.max(1)).max(1)
}

/// `x`: `[V, C, H + k − 1, W + k − 1]`, already padded; `weight`: `[V·O, C, k, k]`; `bias`:
/// `[V·O]` — V independent convolutions (batch entry v with weights v·O..(v+1)·O, Burn's
/// grouped `conv2d` on the batch folded into the channels). Returns the valid
/// cross-correlation `[V, O, H, W]` (PyTorch's `conv2d`, stride 1, no padding), its reduction
/// split into [`row_bands`] bands.
pub fn conv2d_matmul(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let [_, _, hp, wp] = x.dims();
    let k = weight.dims()[2];
    let bands = row_bands(hp + 1 - k, wp + 1 - k);
    conv2d_matmul_banded(x, weight, bias, bands)
}

/// [`conv2d_matmul`] with an explicit number of row bands (1: one matmul per batch entry).
///
/// The column matrix is built pixel-major, `[V, H·W, k²·C]`: row bands are then contiguous
/// runs of its pixels, and `[V·bands, H·W / bands, k²·C]` is a free reshape. (Channel-major
/// columns needed a transposed copy of the whole k²-times-the-input matrix for the bands, and
/// its backward another.)
pub fn conv2d_matmul_banded(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, bands: usize) -> Tensor<4> {
    let [v, c, hp, wp] = x.dims();
    let [vo, _, k, _] = weight.dims();
    let o = vo / v;
    let (h, w) = (hp + 1 - k, wp + 1 - k);
    let bands = bands.clamp(1, h.max(1));
    // Rows per band; the bottom is padded with zero rows up to a whole number of bands, and
    // the outputs of those rows are cut off below (their gradient is zero).
    let rows = h.div_ceil(bands);
    let hb = rows * bands;
    let x = if hb > h { x.pad((0, 0, 0, hb - h), PadMode::Constant(0.0)) } else { x };
    let kk = k * k * c;
    // [V, C, H', W'] → [V, H', W', C]: channels last, so the shifts stack along the last axis.
    let x = x.permute([0, 2, 3, 1]);
    let columns: Tensor<3> = if k == 1 {
        x.reshape([v, hb * w, c])
    } else {
        // Column (dy·k + dx)·C + c of a pixel's row is channel c shifted by (dy, dx): the k
        // column shifts first ([V, H', W, k·C]), then the k row shifts of those — 2k slices
        // instead of k², each a Burn op and, in the backward, two kernels.
        let across = Tensor::cat((0..k).map(|dx| x.clone().slice([0..v, 0..hp + hb - h, dx..dx + w, 0..c])).collect(), 3);
        let down = Tensor::cat((0..k).map(|dy| across.clone().slice([0..v, dy..dy + hb, 0..w, 0..k * c])).collect(), 3);
        down.reshape([v, hb * w, kk])
    };
    // [V·O, C, k, k] → [V·O, k, k, C] → [V, O, k²·C] → [V, k²·C, O]: the columns' (dy, dx, c) order.
    let matrix = weight.permute([0, 2, 3, 1]).reshape([v, o, kk]).swap_dims(1, 2);
    let y: Tensor<3> = if bands == 1 {
        columns.matmul(matrix)
    } else {
        let n = rows * w;
        // Each view's weights broadcast over its bands; the bands are the batch.
        let matrix = matrix.reshape([v, 1, kk, o]).expand([v, bands, kk, o]).reshape([v * bands, kk, o]);
        columns.reshape([v * bands, n, kk]).matmul(matrix).reshape([v, hb * w, o])
    };
    // [V, H·W, O] + bias → [V, O, H, W].
    let y = (y + bias.reshape([v, 1, o])).swap_dims(1, 2).reshape([v, o, hb, w]);
    if hb > h {
        y.slice([0..v, 0..o, 0..h, 0..w])
    } else {
        y
    }
}
