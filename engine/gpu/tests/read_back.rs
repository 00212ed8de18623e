//! Read-backs: `read_many` gives what one `read` per buffer gives, for prefixes of odd lengths
//! (regions that do not end on the 4-byte copy alignment), empty requests and 2-byte elements.

use kiln_gpu::GpuContext;

#[test]
fn read_many_equals_one_read_per_buffer() {
    let ctx = GpuContext::shared().expect("a GPU adapter (Mesa lavapipe in CI)");
    let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
    let b: Vec<f32> = (0..1000).map(|i| (i as f32).sin()).collect();
    let c: Vec<f32> = vec![7.25];
    let (ba, bb, bc) = (ctx.upload("a", &a), ctx.upload("b", &b), ctx.upload("c", &c));
    let many: Vec<Vec<f32>> = ctx.read_many(&[(&ba, 37), (&bb, 999), (&bc, 0), (&bc, 1), (&ba, 5)]).unwrap();
    assert_eq!(many.len(), 5);
    assert_eq!(many[0], ctx.read::<f32>(&ba, 37).unwrap());
    assert_eq!(many[1], b[..999]);
    assert!(many[2].is_empty());
    assert_eq!(many[3], c);
    assert_eq!(many[4], a[..5]);

    // 2-byte elements: an odd count leaves a region of 2 (mod 4) bytes, padded on the copy.
    let h: Vec<u16> = (0..9).map(|i| 1000 + i).collect();
    let bh = ctx.upload("h", &h);
    let halves: Vec<Vec<u16>> = ctx.read_many(&[(&bh, 3), (&bh, 9)]).unwrap();
    assert_eq!(halves[0], h[..3]);
    assert_eq!(halves[1], h);

    let none: Vec<Vec<f32>> = ctx.read_many(&[]).unwrap();
    assert!(none.is_empty());
}
