//! Intrinsic triangulations in the edge-length representation: the tufted cover of a triangle
//! soup, intrinsic Delaunay edge flips and the cotangent operators of the result (Sharp & Crane,
//! "A Laplacian for Nonmanifold Triangle Meshes", SGP 2020).
//!
//! Why our own structure: the cover is a Δ-complex (after flips a face may repeat a vertex, two
//! edges may join the same pair of vertices, an edge may be a loop), which the mesh libraries at
//! hand do not represent; the flips only need a twin table and one length per half-edge.
//!
//! Layout: face `f` owns half-edges `3f`, `3f+1`, `3f+2`; half-edge `3f+k` runs from corner `k` to
//! corner `k+1` of its face (so `next` is implicit) and carries the intrinsic length of its edge.
//! Only lengths are stored — no positions — after the cover is built.

use std::collections::VecDeque;

/// The tufted cover (or any closed intrinsic triangulation built on it).
#[derive(Clone, Debug)]
pub(crate) struct IntrinsicTriangulation {
    /// Vertex at the tail of each half-edge (= the vertex of corner `h % 3` of face `h / 3`).
    tail: Vec<u32>,
    /// The opposite half-edge (every edge of a cover has exactly two sides).
    twin: Vec<u32>,
    /// Intrinsic length of each half-edge's edge (equal on twins).
    len: Vec<f64>,
    /// Edge id of each half-edge, and one half-edge per edge: flips keep an edge's id.
    edge: Vec<u32>,
    edge_half: Vec<u32>,
}

/// How the Delaunay flips ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct FlipOutcome {
    pub flips: usize,
    /// Edges still below the tolerance whose two sides lie in one face (a self-glued triangle
    /// cannot be flipped); zero on every input we have seen, reported rather than hidden.
    pub unflippable: usize,
}

#[inline]
fn next(h: usize) -> usize {
    if h % 3 == 2 { h - 2 } else { h + 1 }
}

/// The area of a triangle from its side lengths, by Kahan's stable Heron
/// formula (sides sorted a ≥ b ≥ c); 0 for lengths violating the triangle inequality.
pub(crate) fn triangle_area(l0: f64, l1: f64, l2: f64) -> f64 {
    let mut s = [l0, l1, l2];
    s.sort_by(|x, y| y.total_cmp(x));
    let [a, b, c] = s;
    let p = (a + (b + c)) * (c - (a - b)) * (c + (a - b)) * (a + (b - c));
    0.25 * p.max(0.0).sqrt()
}

/// Cotangent of the angle opposite the side `opposite` in a triangle of area `area`.
#[inline]
fn cot_opposite(opposite: f64, s1: f64, s2: f64, area: f64) -> f64 {
    (s1 * s1 + s2 * s2 - opposite * opposite) / (4.0 * area)
}

impl IntrinsicTriangulation {
    /// The tufted cover of a triangle soup: every face twice (front, and back with the reverse
    /// orientation); around each input edge the incident faces are sorted by their angle about
    /// the edge, and the two face sides bounding each wedge between consecutive faces are glued
    /// (a boundary edge glues a face's front to its own back). Every edge of the result has
    /// exactly two sides, whatever the input's manifoldness. `lengths[i][k]` is the length of
    /// the edge from corner `k` to corner `k+1` of face `i` (equal for all faces sharing it).
    ///
    /// Faces must have three distinct vertices; `positions` only orders faces about an edge.
    pub(crate) fn tufted_cover(positions: &[[f64; 3]], faces: &[[u32; 3]], lengths: &[[f64; 3]]) -> Self {
        let nf = faces.len();
        let mut tail = vec![0u32; 6 * nf];
        let mut len = vec![0f64; 6 * nf];
        for (i, f) in faces.iter().enumerate() {
            // Front: (a, b, c); back: (a, c, b), whose half-edges a→c, c→b, b→a are the front's
            // c→a, b→c, a→b reversed.
            tail[6 * i..6 * i + 6].copy_from_slice(&[f[0], f[1], f[2], f[0], f[2], f[1]]);
            let l = lengths[i];
            len[6 * i..6 * i + 6].copy_from_slice(&[l[0], l[1], l[2], l[2], l[1], l[0]]);
        }
        // The back half-edge along the same input edge as front half-edge 6i+k.
        let back_of = |h: usize| h - h % 6 + 5 - h % 6;
        // Group the front half-edges by undirected edge (sorting keeps it deterministic).
        let mut by_edge: Vec<(u32, u32, u32)> = (0..3 * nf)
            .map(|j| {
                let h = 6 * (j / 3) + j % 3;
                let (a, b) = (tail[h], tail[next(h)]);
                (a.min(b), a.max(b), h as u32)
            })
            .collect();
        by_edge.sort_unstable();
        let mut twin = vec![u32::MAX; 6 * nf];
        let mut fins: Vec<(f64, usize, usize)> = Vec::new(); // (angle, plus side, minus side)
        for group in by_edge.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
            let (u, v) = (group[0].0 as usize, group[0].1 as usize);
            let (pu, pv) = (positions[u], positions[v]);
            let d = unit(sub(pv, pu));
            let (e0, e1) = tangent_basis(d);
            fins.clear();
            for &(_, _, h) in group {
                let h = h as usize;
                let w = tail[next(next(h))] as usize;
                let r = sub(positions[w], pu);
                let angle = dot(r, e1).atan2(dot(r, e0));
                // The side whose half-edge runs u→v has its normal (d × r) towards increasing
                // angle: it faces the wedge after this face; the other side the wedge before.
                let (plus, minus) = if tail[h] as usize == u { (h, back_of(h)) } else { (back_of(h), h) };
                fins.push((angle, plus, minus));
            }
            // Ties (duplicate faces) keep the face order.
            fins.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            for j in 0..fins.len() {
                let (plus, minus) = (fins[j].1, fins[(j + 1) % fins.len()].2);
                twin[plus] = minus as u32;
                twin[minus] = plus as u32;
            }
        }
        let mut edge = vec![u32::MAX; 6 * nf];
        let mut edge_half = Vec::with_capacity(3 * nf);
        for h in 0..6 * nf {
            if edge[h] == u32::MAX {
                edge[h] = edge_half.len() as u32;
                edge[twin[h] as usize] = edge_half.len() as u32;
                edge_half.push(h as u32);
            }
        }
        Self { tail, twin, len, edge, edge_half }
    }

    pub(crate) fn num_faces(&self) -> usize {
        self.tail.len() / 3
    }

    pub(crate) fn num_edges(&self) -> usize {
        self.edge_half.len()
    }

    fn face_area(&self, f: usize) -> f64 {
        triangle_area(self.len[3 * f], self.len[3 * f + 1], self.len[3 * f + 2])
    }

    /// Half the cotangent of the angle opposite half-edge `h` in its face.
    fn half_cot(&self, h: usize) -> f64 {
        let (h1, h2) = (next(h), next(next(h)));
        let area = self.face_area(h / 3);
        0.5 * cot_opposite(self.len[h], self.len[h1], self.len[h2], area)
    }

    /// The cotangent weight ½(cot α + cot β) of an edge; ≥ 0 ⇔ the edge is intrinsically Delaunay.
    pub(crate) fn edge_weight(&self, e: usize) -> f64 {
        let h = self.edge_half[e] as usize;
        self.half_cot(h) + self.half_cot(self.twin[h] as usize)
    }

    /// Length of the other diagonal of the quadrilateral formed by the two faces of `h`, from
    /// their layout in the plane: a = (0, 0), b = (|ab|, 0), c above, d below.
    fn flipped_length(&self, h: usize) -> f64 {
        let t = self.twin[h] as usize;
        let lab = self.len[h];
        let (lbc, lca) = (self.len[next(h)], self.len[next(next(h))]);
        let (lad, ldb) = (self.len[next(t)], self.len[next(next(t))]);
        let place = |l_a: f64, l_b: f64, sign: f64| {
            let x = (lab * lab + l_a * l_a - l_b * l_b) / (2.0 * lab);
            (x, sign * (l_a * l_a - x * x).max(0.0).sqrt())
        };
        let (cx, cy) = place(lca, lbc, 1.0);
        let (dx, dy) = place(lad, ldb, -1.0);
        (cx - dx).hypot(cy - dy)
    }

    /// Flips edge `e` (its two faces must differ) to the other diagonal of its quadrilateral,
    /// with length `new_len`. Faces (a, b, c) and (b, a, d) become (c, a, d) and (d, b, c).
    fn flip(&mut self, e: usize, new_len: f64) {
        let h0 = self.edge_half[e] as usize;
        let t0 = self.twin[h0] as usize;
        let (h1, t1) = (next(h0), next(t0));
        let (h2, t2) = (next(h1), next(t1));
        let (f, g) = (h0 / 3, t0 / 3);
        let (a, b, c, d) = (self.tail[h0], self.tail[h1], self.tail[h2], self.tail[t2]);
        // Old boundary half-edge → its new slot.
        let moves = [(h2, 3 * f), (t1, 3 * f + 1), (t2, 3 * g), (h1, 3 * g + 1)];
        let remap = |x: usize| moves.iter().find(|m| m.0 == x).map_or(x, |m| m.1);
        let saved: Vec<(usize, usize, f64, u32)> = moves.iter().map(|&(old, new)| (new, remap(self.twin[old] as usize), self.len[old], self.edge[old])).collect();
        self.tail[3 * f..3 * f + 3].copy_from_slice(&[c, a, d]);
        self.tail[3 * g..3 * g + 3].copy_from_slice(&[d, b, c]);
        for (new, tw, l, ed) in saved {
            self.twin[new] = tw as u32;
            self.twin[tw] = new as u32;
            self.len[new] = l;
            self.edge[new] = ed;
            self.edge_half[ed as usize] = new as u32;
        }
        let (nf, ng) = (3 * f + 2, 3 * g + 2);
        self.twin[nf] = ng as u32;
        self.twin[ng] = nf as u32;
        self.len[nf] = new_len;
        self.len[ng] = new_len;
        self.edge[nf] = e as u32;
        self.edge[ng] = e as u32;
        self.edge_half[e] = nf as u32;
    }

    /// Flips edges with cotangent weight below `-tolerance` until none is left (a queue of
    /// suspects, as in the classic algorithm: a flip re-queues the four edges of its
    /// quadrilateral). Returns `Err(flips)` when `max_flips` is reached first.
    pub(crate) fn flip_to_delaunay(&mut self, tolerance: f64, max_flips: usize) -> Result<FlipOutcome, usize> {
        let ne = self.num_edges();
        let mut queue: VecDeque<u32> = (0..ne as u32).collect();
        let mut queued = vec![true; ne];
        let mut out = FlipOutcome::default();
        while let Some(e) = queue.pop_front() {
            let e = e as usize;
            queued[e] = false;
            if !(self.edge_weight(e) < -tolerance) {
                continue;
            }
            let h = self.edge_half[e] as usize;
            if h / 3 == self.twin[h] as usize / 3 {
                continue; // counted below if it stays non-Delaunay
            }
            let new_len = self.flipped_length(h);
            if !(new_len.is_finite() && new_len > 0.0) {
                continue;
            }
            if out.flips == max_flips {
                return Err(out.flips);
            }
            self.flip(e, new_len);
            out.flips += 1;
            let (hf, hg) = (self.edge_half[e] as usize, self.twin[self.edge_half[e] as usize] as usize);
            for n in [next(hf), next(next(hf)), next(hg), next(next(hg))] {
                let ne = self.edge[n] as usize;
                if !queued[ne] {
                    queued[ne] = true;
                    queue.push_back(ne as u32);
                }
            }
        }
        out.unflippable = (0..ne)
            .filter(|&e| {
                let h = self.edge_half[e] as usize;
                h / 3 == self.twin[h] as usize / 3 && self.edge_weight(e) < -tolerance
            })
            .count();
        Ok(out)
    }

    /// Index of the first face whose lengths give no positive area (a degenerate triangle).
    pub(crate) fn degenerate_face(&self) -> Option<usize> {
        (0..self.num_faces()).find(|&f| !(self.face_area(f) > 0.0 && self.face_area(f).is_finite()))
    }

    /// Cotangent stiffness triplets (row, col, value) and lumped vertex mass, each multiplied by
    /// `scale`, over `n` vertices. Faces must be non-degenerate ([`Self::degenerate_face`]).
    /// Loop edges (both ends one vertex) contribute nothing: their terms cancel.
    pub(crate) fn cotangent_terms(&self, n: usize, scale: f64) -> (Vec<(usize, usize, f64)>, Vec<f64>) {
        let mut trip = Vec::with_capacity(self.tail.len() * 2 + n);
        let mut diag = vec![0.0; n];
        let mut mass = vec![0.0; n];
        for f in 0..self.num_faces() {
            let area = self.face_area(f);
            for k in 0..3 {
                let h = 3 * f + k;
                let (i, j) = (self.tail[h] as usize, self.tail[next(h)] as usize);
                mass[i] += scale * area / 3.0;
                if i == j {
                    continue;
                }
                let w = scale * self.half_cot(h);
                trip.push((i, j, -w));
                trip.push((j, i, -w));
                diag[i] += w;
                diag[j] += w;
            }
        }
        trip.extend(diag.iter().enumerate().map(|(i, &d)| (i, i, d)));
        (trip, mass)
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}
fn unit(a: [f64; 3]) -> [f64; 3] {
    let n = dot(a, a).sqrt();
    if n > 0.0 { a.map(|x| x / n) } else { [1.0, 0.0, 0.0] }
}

/// Two unit vectors `e0`, `e1` with `e0 × e1 = d` (d a unit vector): angles about `d` measured
/// from `e0` increase counter-clockwise seen from the tip of `d`.
pub(crate) fn tangent_basis(d: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    let helper = if d[0].abs() < 0.9 { [1.0, 0.0, 0.0] } else { [0.0, 1.0, 0.0] };
    let e0 = unit(cross(helper, d));
    let e1 = cross(d, e0);
    (e0, e1)
}
