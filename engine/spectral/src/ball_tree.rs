//! Exact k nearest neighbours by a ball tree, for point-cloud neighbourhoods
//! (`pointcloud::knn`: O(n log n) instead of the O(n²) scan).
//!
//! A ball tree bounds distances by the triangle inequality (‖q − x‖ ≥ ‖q − c‖ − r for every x
//! in a ball of centre c and radius r), which adapts to the intrinsic dimension of the data, not
//! the ambient one. It was also tried for ZoomOut's nearest neighbours in 30–200-dimensional
//! spectral embeddings and lost 10× to the GEMM scan there (`fmap::nearest_rows`): those
//! nearest-neighbour distances are not small next to the spread, so little is pruned.
//!
//! Distances are computed in f32 as `Σ (q_i − x_i)²` (more accurate than the `‖q‖² − 2q·x + ‖x‖²`
//! of a GEMM); the search is exact in that arithmetic: ties aside, it returns what a brute-force
//! scan in the same arithmetic returns (tested against one).

/// Points per leaf: small enough to prune well, large enough that a leaf scan (contiguous rows)
/// beats descending further.
const LEAF_SIZE: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Range of `order` (and of the reordered rows) that this node holds.
    start: u32,
    end: u32,
    /// Children (`u32::MAX` for a leaf).
    left: u32,
    right: u32,
    radius: f32,
}

/// A ball tree over the rows of an `n × d` matrix (f32, row-major copy, reordered so that each
/// node's points are contiguous).
pub struct BallTree {
    dim: usize,
    /// Rows in tree order.
    rows: Vec<f32>,
    /// `order[i]` = original index of tree row `i`.
    order: Vec<u32>,
    nodes: Vec<Node>,
    /// Node centres, `nodes.len() × dim`.
    centres: Vec<f32>,
}

#[inline]
fn dist2(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators so the compiler vectorizes without reassociation.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        s += d * d;
    }
    s
}

impl BallTree {
    /// Builds the tree over `n` rows of `dim` values each (`data.len() == n · dim`, row-major).
    pub fn new(data: &[f32], dim: usize) -> Self {
        assert!(dim > 0 && data.len() % dim == 0, "ball tree: {} values are not rows of {dim}", data.len());
        let n = data.len() / dim;
        let mut tree = Self { dim, rows: data.to_vec(), order: (0..n as u32).collect(), nodes: Vec::with_capacity(2 * n / LEAF_SIZE + 1), centres: Vec::new() };
        if n > 0 {
            tree.build(0, n);
        }
        tree
    }

    /// From f64 rows (e.g. a faer matrix read row by row).
    pub fn from_fn(n: usize, dim: usize, value: impl Fn(usize, usize) -> f64) -> Self {
        let data: Vec<f32> = (0..n * dim).map(|t| value(t / dim, t % dim) as f32).collect();
        Self::new(&data, dim)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// Recursively builds the node over tree rows `[start, end)`; returns its index.
    fn build(&mut self, start: usize, end: usize) -> u32 {
        let d = self.dim;
        let mut centre = vec![0.0f64; d];
        for i in start..end {
            for (c, &x) in centre.iter_mut().zip(self.row(i)) {
                *c += x as f64;
            }
        }
        let count = (end - start) as f64;
        let centre: Vec<f32> = centre.iter().map(|c| (c / count) as f32).collect();
        let farthest_from = |tree: &Self, p: &[f32]| (start..end).map(|i| (dist2(tree.row(i), p), i)).fold((-1.0f32, start), |a, b| if b.0 > a.0 { b } else { a });
        let (r2, _) = farthest_from(self, &centre);
        // Rounding in the centre and the distance: pad the radius so the bound stays a bound.
        let radius = r2.max(0.0).sqrt() * (1.0 + 1e-5) + 1e-30;
        let id = self.nodes.len() as u32;
        self.nodes.push(Node { start: start as u32, end: end as u32, left: u32::MAX, right: u32::MAX, radius });
        self.centres.extend_from_slice(&centre);
        if end - start <= LEAF_SIZE {
            return id;
        }
        // Split along the direction between two far-apart points (a cheap principal axis), at the
        // median projection, so the tree stays balanced.
        let (_, a) = farthest_from(self, &centre);
        let pa = self.row(a).to_vec();
        let (_, b) = farthest_from(self, &pa);
        let pb = self.row(b).to_vec();
        let axis: Vec<f32> = pb.iter().zip(&pa).map(|(x, y)| x - y).collect();
        let mut keyed: Vec<(f32, u32, usize)> = (start..end).map(|i| (self.row(i).iter().zip(&axis).map(|(x, y)| x * y).sum::<f32>(), self.order[i], i)).collect();
        let mid = keyed.len() / 2;
        keyed.select_nth_unstable_by(mid, |x, y| x.0.total_cmp(&y.0));
        // Rewrite the range in the new order.
        let old: Vec<f32> = self.rows[start * d..end * d].to_vec();
        for (slot, &(_, orig, i)) in keyed.iter().enumerate() {
            let src = (i - start) * d;
            self.rows[(start + slot) * d..(start + slot + 1) * d].copy_from_slice(&old[src..src + d]);
            self.order[start + slot] = orig;
        }
        let left = self.build(start, start + mid);
        let right = self.build(start + mid, end);
        let node = &mut self.nodes[id as usize];
        node.left = left;
        node.right = right;
        id
    }

    /// Lower bound of the squared distance from `q` to any point of node `id` (and the distance
    /// to its centre, for ordering).
    #[inline]
    fn bound(&self, id: u32, q: &[f32]) -> f32 {
        let c = &self.centres[id as usize * self.dim..(id as usize + 1) * self.dim];
        let gap = dist2(q, c).sqrt() - self.nodes[id as usize].radius;
        if gap > 0.0 {
            gap * gap
        } else {
            0.0
        }
    }

    /// Pushes an inner node's children with their bounds, the farther first so that the nearer
    /// one is searched first.
    fn push_children(&self, node: Node, q: &[f32], stack: &mut Vec<(u32, f32)>) {
        let (bl, br) = (self.bound(node.left, q), self.bound(node.right, q));
        if bl <= br {
            stack.push((node.right, br));
            stack.push((node.left, bl));
        } else {
            stack.push((node.left, bl));
            stack.push((node.right, br));
        }
    }

    /// The `k` nearest rows to `q`, nearest first, excluding the original index `skip` (a query
    /// point's own row). Returns (original index, squared distance).
    pub fn k_nearest(&self, q: &[f32], k: usize, skip: Option<u32>) -> Vec<(u32, f32)> {
        assert_eq!(q.len(), self.dim);
        let mut found: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        if k == 0 || self.is_empty() {
            return found;
        }
        // `found` is kept sorted; its last entry bounds the search once it holds k.
        let kth = |found: &Vec<(u32, f32)>| if found.len() < k { f32::INFINITY } else { found[k - 1].1 };
        let mut stack: Vec<(u32, f32)> = vec![(0, self.bound(0, q))];
        while let Some((id, lb)) = stack.pop() {
            if lb >= kth(&found) {
                continue;
            }
            let node = self.nodes[id as usize];
            if node.left == u32::MAX {
                for i in node.start as usize..node.end as usize {
                    if Some(self.order[i]) == skip {
                        continue;
                    }
                    let dd = dist2(q, self.row(i));
                    if dd < kth(&found) {
                        let at = found.partition_point(|e| e.1 <= dd);
                        found.insert(at, (self.order[i], dd));
                        found.truncate(k);
                    }
                }
                continue;
            }
            self.push_children(node, q, &mut stack);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// A wiggly 2-D surface in `dim` dimensions (what a spectral embedding looks like).
    fn surface(n: usize, dim: usize, seed: &mut u64) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let (u, v) = (lcg(seed) * 6.0, lcg(seed) * 6.0);
            for c in 0..dim {
                let f = 1.0 + c as f32 * 0.37;
                out.push((f * u + 0.5 * c as f32).sin() * (f * 0.7 * v).cos() / f.sqrt());
            }
        }
        out
    }

    fn brute(data: &[f32], dim: usize, q: &[f32]) -> (u32, f32) {
        (0..data.len() / dim).map(|i| (i as u32, dist2(q, &data[i * dim..(i + 1) * dim]))).fold((u32::MAX, f32::INFINITY), |a, b| if b.1 < a.1 { b } else { a })
    }

    #[test]
    fn nearest_matches_brute_force_on_surfaces_and_noise() {
        let mut seed = 7;
        for (n, dim) in [(1, 3), (17, 3), (2000, 3), (1500, 40), (1200, 130)] {
            let data = surface(n, dim, &mut seed);
            let tree = BallTree::new(&data, dim);
            let queries: Vec<f32> = surface(300, dim, &mut seed).iter().map(|x| x + 0.01 * lcg(&mut seed)).collect();
            for j in 0..300 {
                let q = &queries[j * dim..(j + 1) * dim];
                let (want, wd) = brute(&data, dim, q);
                let got = tree.k_nearest(q, 1, None);
                assert_eq!(got.len(), 1);
                for g in got.iter().map(|g| g.0) {
                    let gd = dist2(q, &data[g as usize * dim..(g as usize + 1) * dim]);
                    assert!(g == want || gd <= wd, "n {n} dim {dim} query {j}: tree {g} ({gd}) vs brute {want} ({wd})");
                }
            }
        }
    }

    #[test]
    fn k_nearest_matches_brute_force_and_skips_the_query() {
        let mut seed = 3;
        let dim = 3;
        let data = surface(3000, dim, &mut seed);
        let tree = BallTree::new(&data, dim);
        for i in (0..3000).step_by(97) {
            let q = &data[i * dim..(i + 1) * dim];
            let got = tree.k_nearest(q, 10, Some(i as u32));
            let mut all: Vec<(u32, f32)> = (0..3000).filter(|&j| j != i).map(|j| (j as u32, dist2(q, &data[j * dim..(j + 1) * dim]))).collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1));
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(&all) {
                assert_eq!(g.1, w.1, "point {i}: distances of the k nearest differ");
            }
            assert!(got.iter().all(|g| g.0 != i as u32));
        }
    }

    #[test]
    fn point_cloud_knn_matches_brute_force() {
        let mut seed = 11;
        // A torus-like surface cloud with some noise, in f64 like the point-cloud Laplacian's input.
        let pts: Vec<[f64; 3]> = (0..2500)
            .map(|_| {
                let (u, v) = (lcg(&mut seed) as f64 * 6.3, lcg(&mut seed) as f64 * 6.3);
                let r = 1.0 + 0.3 * v.cos() + 0.001 * lcg(&mut seed) as f64;
                [r * u.cos(), r * u.sin(), 0.3 * v.sin()]
            })
            .collect();
        let (tree, brute) = (crate::pointcloud::knn(&pts, 12), crate::pointcloud::knn_brute_force(&pts, 12));
        let d = |i: usize, j: usize| (0..3).map(|a| (pts[i][a] - pts[j][a]).powi(2)).sum::<f64>();
        for i in 0..pts.len() {
            assert_eq!(tree[i].len(), 12);
            assert!(!tree[i].contains(&i));
            for (r, (&t, &b)) in tree[i].iter().zip(&brute[i]).enumerate() {
                assert!((d(i, t) - d(i, b)).abs() <= 1e-5 * d(i, b), "point {i}, rank {r}: tree {t} at {}, brute force {b} at {}", d(i, t), d(i, b));
            }
        }
    }
}
