//! Box-constrained convex quadratic programs with a (cyclic) pentadiagonal Hessian:
//! minimise 1/2 x'Hx + f'x subject to lo <= x <= hi.
//!
//! Solved by Bertsekas' projected Newton method (1982): each iteration fixes the variables held
//! at a bound by the gradient, takes an exact Newton step on the others (a sparse Cholesky
//! solve, O(n)), projects onto the box and backtracks (Armijo). Only the active set is iterated
//! on; the smooth error modes that make Gauss-Seidel-type sweeps crawl on a fourth-difference
//! operator are solved exactly by each step.

/// Symmetric matrix with entries only between indices at most 2 apart (cyclically when
/// `cyclic`): `band[i][d]` is H[i][i + d] for d = 0, 1, 2.
#[derive(Debug, Clone)]
pub(crate) struct Penta {
    pub(crate) n: usize,
    pub(crate) cyclic: bool,
    pub(crate) band: Vec<[f64; 3]>,
}

impl Penta {
    pub(crate) fn zeros(n: usize, cyclic: bool) -> Penta {
        Penta { n, cyclic, band: vec![[0.0; 3]; n] }
    }

    /// Adds `v` to H[i][j] (and H[j][i]); i and j at most 2 apart.
    pub(crate) fn add(&mut self, i: usize, j: usize, v: f64) {
        let (a, d) = self.slot(i, j).expect("entry outside the band");
        self.band[a][d] += v;
    }

    /// Where H[i][j] is stored, if inside the band.
    fn slot(&self, i: usize, j: usize) -> Option<(usize, usize)> {
        let n = self.n;
        if self.cyclic {
            let d = (j + n - i) % n;
            if d <= 2 {
                Some((i, d))
            } else if n - d <= 2 {
                Some((j, n - d))
            } else {
                None
            }
        } else {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            if b - a <= 2 {
                Some((a, b - a))
            } else {
                None
            }
        }
    }

    pub(crate) fn get(&self, i: usize, j: usize) -> f64 {
        self.slot(i, j).map_or(0.0, |(a, d)| self.band[a][d])
    }

    /// Indices coupled to `i` (itself excluded).
    fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let n = self.n;
        [-2isize, -1, 1, 2].into_iter().filter_map(move |d| {
            let j = i as isize + d;
            if self.cyclic {
                Some(j.rem_euclid(n as isize) as usize)
            } else if j >= 0 && (j as usize) < n {
                Some(j as usize)
            } else {
                None
            }
        })
    }

    pub(crate) fn mul(&self, x: &[f64], out: &mut [f64]) {
        for i in 0..self.n {
            let mut acc = self.get(i, i) * x[i];
            for j in self.neighbours(i) {
                acc += self.get(i, j) * x[j];
            }
            out[i] = acc;
        }
    }
}

/// Cholesky factor of a principal submatrix in envelope (profile) storage: row r holds columns
/// `first[r]..=r`. The envelope of a cyclic band is the band plus the last two rows, and
/// Cholesky fills nothing outside the envelope, so the cost stays O(n).
struct EnvelopeCholesky {
    first: Vec<usize>,
    offset: Vec<usize>,
    l: Vec<f64>,
}

impl EnvelopeCholesky {
    /// Factors H restricted to the (sorted) indices `free`; `None` if not positive definite.
    fn factor(h: &Penta, free: &[usize], reduced: &[usize]) -> Option<EnvelopeCholesky> {
        let m = free.len();
        let mut first = Vec::with_capacity(m);
        let mut offset = Vec::with_capacity(m + 1);
        offset.push(0);
        for (r, &i) in free.iter().enumerate() {
            let f = h.neighbours(i).map(|j| reduced[j]).filter(|&c| c < r).min().unwrap_or(r);
            first.push(f);
            offset.push(offset[r] + (r - f + 1));
        }
        let mut l = vec![0.0; offset[m]];
        for r in 0..m {
            for c in first[r]..=r {
                let mut sum = h.get(free[r], free[c]);
                let k0 = first[r].max(first[c]);
                let (row_r, row_c) = (offset[r] - first[r], offset[c] - first[c]);
                for k in k0..c {
                    sum -= l[row_r + k] * l[row_c + k];
                }
                if c < r {
                    l[row_r + c] = sum / l[row_c + c];
                } else {
                    // Also catches NaN.
                    if sum.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                        return None;
                    }
                    l[row_r + r] = sum.sqrt();
                }
            }
        }
        Some(EnvelopeCholesky { first, offset, l })
    }

    /// Solves (L L') x = b in place.
    fn solve(&self, b: &mut [f64]) {
        let m = b.len();
        for r in 0..m {
            let row = self.offset[r] - self.first[r];
            let lrow = &self.l[row + self.first[r]..row + r];
            let sum: f64 = lrow.iter().zip(&b[self.first[r]..r]).map(|(l, y)| l * y).sum();
            b[r] = (b[r] - sum) / self.l[row + r];
        }
        for r in (0..m).rev() {
            let row = self.offset[r] - self.first[r];
            b[r] /= self.l[row + r];
            let x = b[r];
            let lrow = &self.l[row + self.first[r]..row + r];
            for (y, l) in b[self.first[r]..r].iter_mut().zip(lrow) {
                *y -= l * x;
            }
        }
    }
}

/// Result of [`solve_box_qp`].
#[derive(Debug, Clone)]
pub(crate) struct QpSolution {
    pub(crate) x: Vec<f64>,
    pub(crate) iterations: usize,
    /// Largest violation of the optimality (KKT) conditions, in gradient units.
    pub(crate) kkt_residual: f64,
}

/// Largest KKT violation: free variables need a zero gradient, variables at a bound a gradient
/// pushing into that bound.
pub(crate) fn kkt_residual(x: &[f64], g: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..x.len() {
        let at_lo = x[i] <= lo[i];
        let at_hi = x[i] >= hi[i];
        let v = if at_lo && at_hi {
            0.0
        } else if at_lo {
            (-g[i]).max(0.0)
        } else if at_hi {
            g[i].max(0.0)
        } else {
            g[i].abs()
        };
        worst = worst.max(v);
    }
    worst
}

/// Minimises 1/2 x'Hx + f'x over lo <= x <= hi (H positive definite, lo <= hi) by Bertsekas'
/// projected Newton method, from x = clamp(0).
///
/// (The primal-dual active set method was tried too: it oscillates between two active sets on
/// these fourth-difference Hessians, which are not M-matrices.)
pub(crate) fn solve_box_qp(h: &Penta, f: &[f64], lo: &[f64], hi: &[f64]) -> QpSolution {
    let scale = f.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-300);
    projected_newton(h, f, lo, hi, 1e-12 * scale)
}

/// Bertsekas' projected Newton method from x = clamp(0).
fn projected_newton(h: &Penta, f: &[f64], lo: &[f64], hi: &[f64], tol: f64) -> QpSolution {
    let n = h.n;
    let objective = |x: &[f64], hx: &mut Vec<f64>| -> f64 {
        h.mul(x, hx);
        (0..n).map(|i| x[i] * (0.5 * hx[i] + f[i])).sum()
    };
    let project = |i: usize, v: f64| v.clamp(lo[i], hi[i]);
    let mut x: Vec<f64> = (0..n).map(|i| project(i, 0.0)).collect();
    let mut hx = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut fx = objective(&x, &mut hx);
    let mut reduced = vec![usize::MAX; n];
    let mut free = Vec::with_capacity(n);
    let mut d = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut iterations = 0;
    for iter in 0..1000 {
        iterations = iter;
        for i in 0..n {
            g[i] = hx[i] + f[i];
        }
        if kkt_residual(&x, &g, lo, hi) <= tol {
            break;
        }
        // Bertsekas' epsilon-active set: near a bound with the gradient pushing outwards.
        let eps = (0..n).map(|i| (x[i] - project(i, x[i] - g[i] / h.get(i, i))).abs()).fold(0.0f64, f64::max).min(1e-2);
        free.clear();
        reduced.fill(usize::MAX);
        for i in 0..n {
            let active = (x[i] <= lo[i] + eps && g[i] > 0.0) || (x[i] >= hi[i] - eps && g[i] < 0.0);
            if !active {
                reduced[i] = free.len();
                free.push(i);
            }
        }
        // Newton direction on the free variables, scaled gradient on the active ones.
        for i in 0..n {
            d[i] = if reduced[i] == usize::MAX { -g[i] / h.get(i, i) } else { 0.0 };
        }
        if !free.is_empty() {
            let Some(chol) = EnvelopeCholesky::factor(h, &free, &reduced) else {
                break;
            };
            let mut rhs: Vec<f64> = free.iter().map(|&i| -g[i]).collect();
            chol.solve(&mut rhs);
            for (r, &i) in free.iter().enumerate() {
                d[i] = rhs[r];
            }
        }
        let mut tau = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            for i in 0..n {
                trial[i] = project(i, x[i] + tau * d[i]);
            }
            let ft = objective(&trial, &mut hx);
            let predicted: f64 = (0..n).map(|i| if reduced[i] == usize::MAX { g[i] * (x[i] - trial[i]) } else { -tau * g[i] * d[i] }).sum();
            if fx - ft >= 1e-4 * predicted {
                accepted = true;
                fx = ft;
                std::mem::swap(&mut x, &mut trial);
                break;
            }
            tau *= 0.5;
        }
        if !accepted {
            h.mul(&x, &mut hx);
            break;
        }
    }
    h.mul(&x, &mut hx);
    for i in 0..n {
        g[i] = hx[i] + f[i];
    }
    QpSolution { kkt_residual: kkt_residual(&x, &g, lo, hi), x, iterations }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_problem(n: usize, cyclic: bool, seed: u64) -> (Penta, Vec<f64>, Vec<f64>, Vec<f64>) {
        // A fourth-difference-like operator plus a little diagonal: ill-conditioned like ours.
        let mut state = seed;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut h = Penta::zeros(n, cyclic);
        let rows = if cyclic { n } else { n - 2 };
        for k in 0..rows {
            let idx = [k, (k + 1) % n, (k + 2) % n];
            let c = [1.0, -2.0, 1.0];
            let wt = 0.5 + rnd();
            for a in 0..3 {
                for b in a..3 {
                    let v = wt * c[a] * c[b];
                    h.add(idx[a], idx[b], v);
                }
            }
        }
        for i in 0..n {
            h.add(i, i, 1e-6);
        }
        let f: Vec<f64> = (0..n).map(|_| rnd() - 0.5).collect();
        let lo: Vec<f64> = (0..n).map(|_| -0.5 - rnd()).collect();
        let hi: Vec<f64> = (0..n).map(|_| 0.5 + rnd()).collect();
        (h, f, lo, hi)
    }

    fn objective(h: &Penta, f: &[f64], x: &[f64]) -> f64 {
        let mut hx = vec![0.0; x.len()];
        h.mul(x, &mut hx);
        (0..x.len()).map(|i| x[i] * (0.5 * hx[i] + f[i])).sum()
    }

    #[test]
    fn projected_newton_meets_kkt_and_beats_perturbations() {
        for (n, cyclic, seed) in [(50, true, 1), (300, true, 2), (301, false, 3), (9, true, 4), (8, false, 5)] {
            let (h, f, lo, hi) = random_problem(n, cyclic, seed);
            let sol = solve_box_qp(&h, &f, &lo, &hi);
            let scale = f.iter().fold(0.0f64, |a, v| a.max(v.abs()));

            assert!(sol.kkt_residual <= 1e-9 * scale, "n={n}: KKT residual {}", sol.kkt_residual);
            assert!(sol.iterations < 200, "n={n}: {} iterations", sol.iterations);
            let best = objective(&h, &f, &sol.x);
            // Any feasible perturbation is no better (convexity + KKT make this a global minimum).
            for k in 0..n {
                for delta in [-1e-3, 1e-3] {
                    let mut y = sol.x.clone();
                    y[k] = (y[k] + delta).clamp(lo[k], hi[k]);
                    assert!(objective(&h, &f, &y) >= best - 1e-12, "n={n} k={k}");
                }
            }
        }
    }

    #[test]
    fn unconstrained_solution_solves_the_linear_system() {
        let (h, f, _, _) = random_problem(120, true, 7);
        let lo = vec![-1e9; 120];
        let hi = vec![1e9; 120];
        let sol = solve_box_qp(&h, &f, &lo, &hi);
        let mut hx = vec![0.0; 120];
        h.mul(&sol.x, &mut hx);
        for i in 0..120 {
            assert!((hx[i] + f[i]).abs() < 1e-8, "{i}: {}", hx[i] + f[i]);
        }
    }
}
