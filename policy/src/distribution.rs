//! From the network's outputs to an action: greedy for evaluation and the car, sampled (with
//! its log-probability) for training. The trainer's tch code computes the same densities.
//!
//! Continuous actions live in normalised units, -1..1 per dimension (steering, then speed),
//! rescaled onto the action space's ranges only when they reach the car.

use paddock_vehicle::action::{Action, ActionSpace};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Bounds of a squashed Gaussian's log standard deviation (SAC), applied before `exp`.
pub const LOG_STD_MIN: f32 = -5.0;
pub const LOG_STD_MAX: f32 = 2.0;
/// Keeps `log(1 - tanh(u)^2)` finite.
pub const SQUASH_EPS: f32 = 1e-6;
const LN_SQRT_2PI: f32 = 0.918_938_5;

/// How the policy head's outputs define the action distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// One logit per discrete action (PPO, discrete spaces).
    Categorical,
    /// Means per dimension and a learned, state-independent `pi_log_std` (PPO, continuous);
    /// samples are clipped to -1..1 on the way to the car, as DeepRacer does.
    Gaussian,
    /// Means and log standard deviations from the network, squashed by tanh (SAC).
    SquashedGaussian,
}

/// A sampled action in the policy's own units, with its log-probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionSample {
    /// Discrete: `[index, 0]`; continuous: normalised `[steering, speed]` (unclipped for
    /// [`Head::Gaussian`], so that its log-probability stays exact).
    pub raw: [f32; 2],
    pub log_prob: f32,
}

impl Head {
    /// The head that fits an action space and algorithm.
    pub fn for_space(space: &ActionSpace, squashed: bool) -> Head {
        match (space.is_discrete(), squashed) {
            (true, _) => Head::Categorical,
            (false, false) => Head::Gaussian,
            (false, true) => Head::SquashedGaussian,
        }
    }

    /// Number of outputs of the `pi` layer.
    pub fn outputs(&self, space: &ActionSpace) -> usize {
        match self {
            Head::Categorical => space.len(),
            Head::Gaussian => 2,
            Head::SquashedGaussian => 4,
        }
    }

    /// Whether it fits the space: categorical heads for discrete spaces only.
    pub fn fits(&self, space: &ActionSpace) -> bool {
        space.is_discrete() == matches!(self, Head::Categorical)
    }

    /// The most likely action: argmax, the mean, or tanh of the mean.
    pub fn greedy(&self, out: &[f32]) -> [f32; 2] {
        match self {
            Head::Categorical => [argmax(out) as f32, 0.0],
            Head::Gaussian => [out[0], out[1]],
            Head::SquashedGaussian => [out[0].tanh(), out[1].tanh()],
        }
    }

    /// Samples an action. `log_std` is the Gaussian head's `pi_log_std`.
    pub fn sample<R: Rng>(&self, out: &[f32], log_std: &[f32], rng: &mut R) -> ActionSample {
        match self {
            Head::Categorical => {
                let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let total: f32 = out.iter().map(|&l| (l - max).exp()).sum();
                let mut u = rng.random::<f32>() * total;
                let mut index = out.len() - 1;
                for (i, &l) in out.iter().enumerate() {
                    u -= (l - max).exp();
                    if u <= 0.0 {
                        index = i;
                        break;
                    }
                }
                ActionSample { raw: [index as f32, 0.0], log_prob: out[index] - max - total.ln() }
            }
            Head::Gaussian => {
                let mut raw = [0.0; 2];
                let mut log_prob = 0.0;
                for d in 0..2 {
                    let z = standard_normal(rng);
                    raw[d] = out[d] + log_std[d].exp() * z;
                    log_prob += -0.5 * z * z - log_std[d] - LN_SQRT_2PI;
                }
                ActionSample { raw, log_prob }
            }
            Head::SquashedGaussian => {
                let mut raw = [0.0; 2];
                let mut log_prob = 0.0;
                for d in 0..2 {
                    let log_std = out[2 + d].clamp(LOG_STD_MIN, LOG_STD_MAX);
                    let z = standard_normal(rng);
                    let a = (out[d] + log_std.exp() * z).tanh();
                    raw[d] = a;
                    log_prob += -0.5 * z * z - log_std - LN_SQRT_2PI - (1.0 - a * a + SQUASH_EPS).ln();
                }
                ActionSample { raw, log_prob }
            }
        }
    }

    /// The simulator's (or car's) action for a raw action of this head: the index, or the
    /// normalised values clipped to -1..1 and rescaled onto the space's ranges.
    pub fn to_action(&self, space: &ActionSpace, raw: [f32; 2]) -> Action {
        match space {
            ActionSpace::Discrete(list) => Action::Discrete((raw[0].max(0.0) as usize).min(list.len().saturating_sub(1))),
            ActionSpace::Continuous { steering_angle, speed } => {
                let scale = |x: f32, lo: f32, hi: f32| lo + (x.clamp(-1.0, 1.0) + 1.0) * 0.5 * (hi - lo);
                Action::Continuous { steering_angle: scale(raw[0], steering_angle.low, steering_angle.high), speed: scale(raw[1], speed.low, speed.high) }
            }
        }
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Box-Muller; one normal per call keeps streams simple and reproducible.
fn standard_normal<R: Rng>(rng: &mut R) -> f32 {
    let u1 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn categorical_samples_follow_the_softmax_and_report_its_log_probability() {
        let logits = [0.0f32, 1.0, 2.0];
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let mut counts = [0usize; 3];
        let n = 30_000;
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        for _ in 0..n {
            let s = Head::Categorical.sample(&logits, &[], &mut rng);
            let i = s.raw[0] as usize;
            counts[i] += 1;
            assert!((s.log_prob - (logits[i].exp() / z).ln()).abs() < 1e-5);
        }
        for i in 0..3 {
            let p = logits[i].exp() / z;
            assert!((counts[i] as f32 / n as f32 - p).abs() < 0.01, "action {i}: {counts:?}");
        }
        assert_eq!(Head::Categorical.greedy(&logits), [2.0, 0.0]);
    }

    #[test]
    fn gaussian_samples_have_the_set_mean_and_spread() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
        let (mean, log_std) = ([0.3f32, -0.2], [(0.5f32).ln(), (0.1f32).ln()]);
        let n = 20_000;
        let (mut s0, mut ss0) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let s = Head::Gaussian.sample(&mean, &log_std, &mut rng);
            s0 += s.raw[0] as f64;
            ss0 += (s.raw[0] as f64 - 0.3).powi(2);
            // Density of an independent 2-D normal at the sample.
            let d = |x: f32, m: f32, sd: f32| -((x - m) / sd).powi(2) / 2.0 - sd.ln() - LN_SQRT_2PI;
            let expect = d(s.raw[0], 0.3, 0.5) + d(s.raw[1], -0.2, 0.1);
            assert!((s.log_prob - expect).abs() < 1e-4);
        }
        assert!((s0 / n as f64 - 0.3).abs() < 0.02);
        assert!(((ss0 / n as f64).sqrt() - 0.5).abs() < 0.02);
    }

    #[test]
    fn squashed_samples_stay_inside_the_range_and_map_onto_the_space() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let out = [3.0f32, -3.0, 1.0, 1.0];
        for _ in 0..1000 {
            let s = Head::SquashedGaussian.sample(&out, &[], &mut rng);
            assert!(s.raw.iter().all(|a| a.abs() <= 1.0) && s.log_prob.is_finite());
        }
        let space = ActionSpace::deepracer_default_continuous();
        let ActionSpace::Continuous { steering_angle, speed } = &space else { unreachable!() };
        let Action::Continuous { steering_angle: st, speed: sp } = Head::Gaussian.to_action(&space, [5.0, -5.0]) else {
            panic!("continuous space gives continuous actions")
        };
        assert_eq!((st, sp), (steering_angle.high, speed.low), "out-of-range samples are clipped");
        let Action::Continuous { steering_angle: st, .. } = Head::Gaussian.to_action(&space, [0.0, 0.0]) else { panic!() };
        assert!((st - (steering_angle.low + steering_angle.high) / 2.0).abs() < 1e-5);
    }
}
