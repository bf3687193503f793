//! Uniform grid over the track's segments, so global queries touch only a few segments.
use crate::DVec2;

/// Each cell lists every segment whose bounding box, padded by the segment's half width,
/// overlaps the cell. Padding makes one cell enough for on-track tests; nearest-segment
/// searches walk outwards ring by ring.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    origin: DVec2,
    cell: f64,
    nx: usize,
    ny: usize,
    /// Compressed rows: segments of cell c are `items[start[c]..start[c + 1]]`.
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Grid {
    /// `segs` yields (a, b, pad) for each segment.
    pub(crate) fn build(segs: &[(DVec2, DVec2, f64)], cell_hint: f64) -> Grid {
        let mut lo = DVec2::splat(f64::INFINITY);
        let mut hi = DVec2::splat(f64::NEG_INFINITY);
        for &(a, b, pad) in segs {
            lo = lo.min(a.min(b) - pad);
            hi = hi.max(a.max(b) + pad);
        }
        let extent = (hi - lo).max(DVec2::splat(1e-9));
        // Keep the cell count bounded (about a million) even for huge or odd inputs.
        let cell = cell_hint.max((extent.x * extent.y / 1.0e6).sqrt()).max(1e-6);
        let nx = ((extent.x / cell).floor() as usize + 1).max(1);
        let ny = ((extent.y / cell).floor() as usize + 1).max(1);
        let mut grid = Grid { origin: lo, cell, nx, ny, start: vec![0; nx * ny + 1], items: Vec::new() };
        // Two passes: count, then fill.
        for pass in 0..2 {
            let mut fill: Vec<u32> = if pass == 1 { grid.start[..nx * ny].to_vec() } else { Vec::new() };
            if pass == 1 {
                grid.items = vec![0; grid.start[nx * ny] as usize];
            }
            for (k, &(a, b, pad)) in segs.iter().enumerate() {
                let (x0, y0) = grid.cell_clamped(a.min(b) - pad);
                let (x1, y1) = grid.cell_clamped(a.max(b) + pad);
                for iy in y0..=y1 {
                    for ix in x0..=x1 {
                        let c = iy * nx + ix;
                        if pass == 0 {
                            grid.start[c + 1] += 1;
                        } else {
                            grid.items[fill[c] as usize] = k as u32;
                            fill[c] += 1;
                        }
                    }
                }
            }
            if pass == 0 {
                for c in 0..nx * ny {
                    grid.start[c + 1] += grid.start[c];
                }
            }
        }
        grid
    }

    fn cell_clamped(&self, p: DVec2) -> (usize, usize) {
        let q = (p - self.origin) / self.cell;
        // `as` saturates (and maps NaN to 0), so this never panics.
        let ix = (q.x.floor().max(0.0) as usize).min(self.nx - 1);
        let iy = (q.y.floor().max(0.0) as usize).min(self.ny - 1);
        (ix, iy)
    }

    /// Segments listed in the cell containing `p`; empty outside the grid.
    pub(crate) fn segments_at(&self, p: DVec2) -> &[u32] {
        let q = (p - self.origin) / self.cell;
        if !(q.x >= 0.0 && q.y >= 0.0 && q.x < self.nx as f64 && q.y < self.ny as f64) {
            return &[];
        }
        let c = q.y as usize * self.nx + q.x as usize;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }

    /// Calls `f` with every segment listed in the cells overlapping the box `lo`..`hi`
    /// (repeats possible).
    pub(crate) fn for_each_in_box(&self, lo: DVec2, hi: DVec2, mut f: impl FnMut(u32)) {
        let (x0, y0) = self.cell_clamped(lo);
        let (x1, y1) = self.cell_clamped(hi);
        for iy in y0..=y1 {
            for ix in x0..=x1 {
                self.cell_items(ix, iy).iter().for_each(|&k| f(k));
            }
        }
    }

    fn cell_items(&self, ix: usize, iy: usize) -> &[u32] {
        let c = iy * self.nx + ix;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }

    /// Distance from `p` to the box of cells x0..=x1, y0..=y1 (cell indices).
    fn dist_to_cells(&self, p: DVec2, x0: usize, x1: usize, y0: usize, y1: usize) -> f64 {
        let lo = self.origin + DVec2::new(x0 as f64, y0 as f64) * self.cell;
        let hi = self.origin + DVec2::new((x1 + 1) as f64, (y1 + 1) as f64) * self.cell;
        let d = (lo - p).max(p - hi).max(DVec2::ZERO);
        d.length()
    }

    /// Nearest segment to `p` by `dist2(segment, p)` (squared distance), searching rings of
    /// cells outwards until no unvisited cell can hold anything nearer.
    pub(crate) fn nearest(&self, p: DVec2, mut dist2: impl FnMut(usize) -> f64) -> Option<(usize, f64)> {
        let (cx, cy) = self.cell_clamped(p);
        let mut best: Option<(usize, f64)> = None;
        let max_ring = self.nx.max(self.ny);
        for r in 0..=max_ring {
            let x0 = cx.saturating_sub(r);
            let x1 = (cx + r).min(self.nx - 1);
            let y0 = cy.saturating_sub(r);
            let y1 = (cy + r).min(self.ny - 1);
            let mut visit = |ix: usize, iy: usize| {
                for &k in self.cell_items(ix, iy) {
                    let d2 = dist2(k as usize);
                    if best.is_none_or(|(_, b)| d2 < b) {
                        best = Some((k as usize, d2));
                    }
                }
            };
            for iy in y0..=y1 {
                if iy + r == cy || iy == cy + r {
                    (x0..=x1).for_each(|ix| visit(ix, iy));
                } else {
                    // Inner rows of the ring: only its left and right cells are new.
                    if cx >= r {
                        visit(cx - r, iy);
                    }
                    if cx + r < self.nx {
                        visit(cx + r, iy);
                    }
                }
            }
            if x0 == 0 && y0 == 0 && x1 == self.nx - 1 && y1 == self.ny - 1 {
                break;
            }
            // Unvisited cells form up to four strips around the visited box.
            let mut lower = f64::INFINITY;
            if x0 > 0 {
                lower = lower.min(self.dist_to_cells(p, 0, x0 - 1, 0, self.ny - 1));
            }
            if x1 + 1 < self.nx {
                lower = lower.min(self.dist_to_cells(p, x1 + 1, self.nx - 1, 0, self.ny - 1));
            }
            if y0 > 0 {
                lower = lower.min(self.dist_to_cells(p, x0, x1, 0, y0 - 1));
            }
            if y1 + 1 < self.ny {
                lower = lower.min(self.dist_to_cells(p, x0, x1, y1 + 1, self.ny - 1));
            }
            if let Some((_, b)) = best {
                if lower * lower > b {
                    break;
                }
            }
        }
        best
    }
}
