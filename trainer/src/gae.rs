//! Generalised advantage estimation (Schulman et al. 2016) over a rollout's env columns.

/// One rollout's steps, `[steps][envs]` flattened: step `t` of env `e` sits at `t * envs + e`.
pub struct Steps<'a> {
    pub envs: usize,
    pub rewards: &'a [f32],
    /// The episode ended with this step (the env has already reset).
    pub dones: &'a [bool],
    /// The episode was cut by the step limit rather than ended by the car (implies done).
    pub truncated: &'a [bool],
    /// The critic's value of each step's observation.
    pub values: &'a [f32],
    /// The value of each env's observation after the last step.
    pub last_values: &'a [f32],
}

/// The advantage of every step, in the same layout (returns are advantages plus values).
pub fn advantages(s: &Steps, gamma: f32, lambda: f32) -> Vec<f32> {
    let n = s.envs;
    let t_len = s.rewards.len() / n.max(1);
    let mut adv = vec![0f32; t_len * n];
    for (e, &last_value) in s.last_values.iter().enumerate().take(n) {
        let mut next_adv = 0f32;
        let mut next_value = last_value;
        for t in (0..t_len).rev() {
            let i = t * n + e;
            // An episode cut by the step limit bootstraps from its last state's value (the true
            // next state was replaced by the reset); a real ending does not.
            let truncated = s.truncated.get(i).copied().unwrap_or(false);
            let (bootstrap, not_done) = match (s.dones[i], truncated) {
                (false, _) => (next_value, 1.0),
                (true, true) => (s.values[i], 0.0),
                (true, false) => (0.0, 0.0),
            };
            let delta = s.rewards[i] + gamma * bootstrap - s.values[i];
            next_adv = delta + gamma * lambda * not_done * next_adv;
            adv[i] = next_adv;
            next_value = s.values[i];
        }
    }
    adv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn with_lambda_one_an_advantage_is_the_discounted_return_less_the_value() {
        let (rewards, values) = ([1.0, 2.0, 3.0], [0.5, 0.25, 1.0]);
        let s = Steps { envs: 1, rewards: &rewards, dones: &[false; 3], truncated: &[false; 3], values: &values, last_values: &[4.0] };
        let g = 0.9f32;
        let ret2 = 3.0 + g * 4.0;
        let ret1 = 2.0 + g * ret2;
        let ret0 = 1.0 + g * ret1;
        close(&advantages(&s, g, 1.0), &[ret0 - 0.5, ret1 - 0.25, ret2 - 1.0]);
    }

    #[test]
    fn with_lambda_zero_an_advantage_is_the_one_step_td_error() {
        let (rewards, values) = ([1.0, 2.0], [0.5, 0.25]);
        let s = Steps { envs: 1, rewards: &rewards, dones: &[false; 2], truncated: &[false; 2], values: &values, last_values: &[4.0] };
        close(&advantages(&s, 0.5, 0.0), &[1.0 + 0.5 * 0.25 - 0.5, 2.0 + 0.5 * 4.0 - 0.25]);
    }

    #[test]
    fn an_ending_stops_the_bootstrap_and_a_truncation_bootstraps_from_its_own_value() {
        // Step 1 ends the episode (off track): nothing flows back from step 2 across it.
        let (rewards, values) = ([1.0, 1.0, 1.0], [0.0, 2.0, 3.0]);
        let ended = Steps { envs: 1, rewards: &rewards, dones: &[false, true, false], truncated: &[false; 3], values: &values, last_values: &[5.0] };
        let adv = advantages(&ended, 1.0, 1.0);
        close(&adv[1..], &[1.0 - 2.0, 1.0 + 5.0 - 3.0]);
        close(&adv[..1], &[1.0 + 2.0 - 0.0 + (1.0 - 2.0)]);
        // The same step cut by the step limit instead: it bootstraps from its own value (2.0),
        // still without the next episode's advantage.
        let cut = Steps { truncated: &[false, true, false], ..ended };
        let adv = advantages(&cut, 1.0, 1.0);
        close(&adv[1..2], &[1.0 + 2.0 - 2.0]);
    }

    #[test]
    fn env_columns_are_independent() {
        // Two envs interleaved: env 0 at even indexes, env 1 at odd ones.
        let rewards = [1.0, 10.0, 1.0, 10.0];
        let values = [0.0, 0.0, 0.0, 0.0];
        let both = Steps { envs: 2, rewards: &rewards, dones: &[false, false, true, false], truncated: &[false; 4], values: &values, last_values: &[7.0, 3.0] };
        let adv = advantages(&both, 1.0, 1.0);
        let alone = |r: [f32; 2], dones: [bool; 2], last: f32| {
            advantages(&Steps { envs: 1, rewards: &r, dones: &dones, truncated: &[false; 2], values: &[0.0, 0.0], last_values: &[last] }, 1.0, 1.0)
        };
        let (a0, a1) = (alone([1.0, 1.0], [false, true], 7.0), alone([10.0, 10.0], [false, false], 3.0));
        close(&adv, &[a0[0], a1[0], a0[1], a1[1]]);
    }
}
