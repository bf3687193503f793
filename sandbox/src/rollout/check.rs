//! The check every rollout from another process or host passes before the trainer sees it: a
//! worker (or the reward code inside it) could send anything.

use paddock_sim::ObsBuffer;

use super::{Rollout, RolloutRequest, WorkerSpec};

/// What every rollout must look like, from the trainer's own spec (never from the worker).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    pub envs: usize,
    pub obs_len: usize,
    pub image: bool,
    /// The number of discrete actions, or `None` for a continuous space.
    pub discrete_actions: Option<usize>,
}

impl Expect {
    pub fn of(spec: &WorkerSpec) -> Expect {
        let env = &spec.env;
        Expect {
            envs: spec.envs,
            obs_len: env.observation.shape(&env.car).iter().product(),
            image: env.observation.is_image(),
            discrete_actions: env.action_space.is_discrete().then(|| env.action_space.len()),
        }
    }

    /// Checks a rollout against what was asked and what the spec says a rollout holds: shapes,
    /// finite numbers, actions in range, and one episode per `done`.
    pub fn check(&self, r: &Rollout, asked: &RolloutRequest) -> Result<(), String> {
        let (envs, steps, obs_len) = (r.envs, r.steps, self.obs_len);
        if r.policy_version != asked.policy_version {
            return Err(format!("rollout for policy version {}, asked for {}", r.policy_version, asked.policy_version));
        }
        if envs != self.envs || steps == 0 || steps > asked.max_steps.max(1) {
            return Err(format!("{steps} steps of {envs} envs (the worker has {} envs; asked for at most {} steps)", self.envs, asked.max_steps));
        }
        let n = envs * steps;
        let image = |o: &ObsBuffer| matches!(o, ObsBuffer::U8(_));
        if image(&r.obs) != self.image || image(&r.last_obs) != self.image {
            return Err("observations of the wrong type".into());
        }
        let lengths = [
            ("observations", r.obs.len(), n * obs_len),
            ("last observations", r.last_obs.len(), envs * obs_len),
            ("actions", 2 * r.actions.len(), 2 * n),
            ("log_probs", r.log_probs.len(), n),
            ("rewards", r.rewards.len(), n),
            ("dones", r.dones.len(), n),
            ("truncated", r.truncated.len(), n),
        ];
        for (what, got, want) in lengths {
            if got != want {
                return Err(format!("{got} {what} for {steps} steps of {envs} envs (want {want})"));
            }
        }
        for data in [&r.obs, &r.last_obs] {
            if let ObsBuffer::F32(v) = data {
                if v.iter().any(|x| !x.is_finite()) {
                    return Err("non-finite observations".into());
                }
            }
        }
        if r.rewards.iter().chain(&r.log_probs).chain(r.actions.iter().flatten()).any(|x| !x.is_finite()) {
            return Err("non-finite rewards, actions or log-probabilities".into());
        }
        if let Some(count) = self.discrete_actions {
            if r.actions.iter().any(|a| a[0] < 0.0 || a[0] >= count as f32 || a[0].fract() != 0.0) {
                return Err(format!("a discrete action outside 0..{count}"));
            }
        }
        if r.truncated.iter().zip(&r.dones).any(|(&t, &d)| t && !d) {
            return Err("a step truncated but not done".into());
        }
        let want_trace = if asked.trace { n } else { 0 };
        if r.trace.len() != want_trace || r.trace.iter().any(|t| t.env as usize >= envs) {
            return Err(format!("{} simtrace rows (want {want_trace})", r.trace.len()));
        }
        // One finished episode per env per `done`.
        let mut per_env = vec![0usize; envs];
        for (i, &d) in r.dones.iter().enumerate() {
            if d {
                per_env[i % envs] += 1;
            }
        }
        for e in &r.episodes {
            if e.env >= envs || per_env[e.env] == 0 {
                return Err(format!("an episode of env {} that no step ended", e.env));
            }
            per_env[e.env] -= 1;
            let s = &e.summary;
            if ![s.progress, s.total_reward, s.time_s, s.start_progress].iter().all(|x| x.is_finite()) {
                return Err("non-finite episode figures".into());
            }
        }
        if per_env.iter().any(|&left| left != 0) {
            return Err("episodes and dones disagree".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use paddock_policy::model::{random_tensors, to_bytes, ObservationSpec, Preprocessing, Sensor};
    use paddock_policy::{Head, ModelMetadata, Network};
    use paddock_sim::EnvConfig;
    use paddock_tracks::Track;
    use rand::SeedableRng;

    use super::*;
    use crate::rollout::{Mode, RolloutWorker};
    use crate::wire;

    /// A real rollout of two lidar envs, and what it was asked with.
    fn rollout() -> (Expect, RolloutRequest, Rollout) {
        let env = EnvConfig { observation: Sensor::Lidar, ..Default::default() };
        let spec = WorkerSpec {
            env,
            track_json: Track::resolve("oval").unwrap().to_json_string(),
            reward_function: "progress".into(),
            reward_python: None,
            envs: 2,
            seed: 3,
        };
        let meta = ModelMetadata::new(
            Network::Mlp { hidden: vec![8] },
            Head::Categorical,
            ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
            spec.env.action_space.clone(),
        );
        let model = to_bytes(&meta, &random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(1)).unwrap()).unwrap();
        let mut worker = RolloutWorker::new(0, &spec).unwrap();
        worker.set_policy(1, &model).unwrap();
        let asked = RolloutRequest { policy_version: 1, min_episodes: 1, max_steps: 20, mode: Mode::Sample, trace: true };
        let r = worker.run(&asked).unwrap();
        (Expect::of(&spec), asked, r)
    }

    #[test]
    fn a_rollout_passes_the_wire_and_the_check_and_a_damaged_one_does_not() {
        let (expect, asked, r) = rollout();
        let back = wire::rollout_from_pb(wire::rollout_to_pb(r.clone())).unwrap();
        expect.check(&back, &asked).unwrap();
        assert_eq!((back.actions, back.rewards, back.trace.len()), (r.actions.clone(), r.rewards.clone(), r.trace.len()));

        let damaged = |f: fn(&mut Rollout)| {
            let mut bad = r.clone();
            f(&mut bad);
            expect.check(&bad, &asked).unwrap_err()
        };
        assert!(damaged(|r| r.policy_version = 2).contains("policy version 2"));
        assert!(damaged(|r| r.rewards.truncate(1)).contains("rewards"));
        assert!(damaged(|r| r.rewards[0] = f32::NAN).contains("non-finite"));
        assert!(damaged(|r| r.actions[0][0] = 99.0).contains("discrete action"));
        assert!(damaged(|r| r.obs = ObsBuffer::U8(vec![0; r.obs.len()])).contains("wrong type"));
        assert!(damaged(|r| r.trace.clear()).contains("simtrace"));

        // What the Rust type can't hold is refused in the conversion.
        let mut reply = wire::rollout_to_pb(r.clone());
        reply.actions.pop();
        assert!(wire::rollout_from_pb(reply).unwrap_err().contains("not pairs"));
        let mut reply = wire::rollout_to_pb(r);
        reply.obs_u8 = vec![1];
        assert!(wire::rollout_from_pb(reply).unwrap_err().contains("wrong type"));
    }
}
