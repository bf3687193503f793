//! Soft actor-critic (Haarnoja et al. 2018) for continuous action spaces: a tanh-Gaussian
//! actor, twin Q networks with Polyak-averaged targets, a replay buffer, and the entropy
//! temperature tuned towards -|A| (or fixed at DeepRacer's `sac_alpha`).

use paddock_policy::model::{ModelMetadata, Tensors};
use paddock_sandbox::Rollout;
use paddock_sim::ObsBuffer;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use crate::nets::{self, preprocess, Actor, QNet};
use crate::TrainError;
use paddock_run::config::Hyperparameters;
use paddock_run::SacStats;

/// Transitions, stored as the workers sent them (u8 pixels stay u8).
struct ReplayBuffer {
    obs_len: usize,
    capacity: usize,
    obs: ObsBuffer,
    next_obs: ObsBuffer,
    actions: Vec<[f32; 2]>,
    rewards: Vec<f32>,
    dones: Vec<f32>,
    /// Next slot to overwrite once full.
    cursor: usize,
}

impl ReplayBuffer {
    fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Stores observation `o` of `obs`, followed by observation `n` of `next`.
    fn push(&mut self, (obs, o): (&ObsBuffer, usize), (next, n): (&ObsBuffer, usize), action: [f32; 2], reward: f32, done: bool) {
        let l = self.obs_len;
        let full = self.len() == self.capacity;
        let slot = if full { self.cursor } else { self.len() };
        // Overwrite the oldest slot once full, else append.
        fn put<T: Copy>(d: &mut Vec<T>, row: &[T], slot: Option<usize>) {
            match slot {
                Some(i) => d[i * row.len()..(i + 1) * row.len()].copy_from_slice(row),
                None => d.extend_from_slice(row),
            }
        }
        let at = full.then_some(slot);
        let copy = |dst: &mut ObsBuffer, src: &ObsBuffer, i: usize| match (dst, src) {
            (ObsBuffer::U8(d), ObsBuffer::U8(s)) => put(d, &s[i * l..(i + 1) * l], at),
            (ObsBuffer::F32(d), ObsBuffer::F32(s)) => put(d, &s[i * l..(i + 1) * l], at),
            _ => unreachable!("one observation type per run"),
        };
        copy(&mut self.obs, obs, o);
        copy(&mut self.next_obs, next, n);
        let d = if done { 1.0 } else { 0.0 };
        if full {
            (self.actions[slot], self.rewards[slot], self.dones[slot]) = (action, reward, d);
            self.cursor = (self.cursor + 1) % self.capacity;
        } else {
            self.actions.push(action);
            self.rewards.push(reward);
            self.dones.push(d);
        }
    }

    fn gather(&self, data: &ObsBuffer, idx: &[usize], shape: &[i64], device: Device) -> Tensor {
        let l = self.obs_len;
        let mut size = vec![idx.len() as i64];
        size.extend_from_slice(shape);
        match data {
            ObsBuffer::U8(v) => {
                let rows: Vec<u8> = idx.iter().flat_map(|&i| v[i * l..(i + 1) * l].iter().copied()).collect();
                Tensor::from_slice(&rows).view(size.as_slice()).to_device(device)
            }
            ObsBuffer::F32(v) => {
                let rows: Vec<f32> = idx.iter().flat_map(|&i| v[i * l..(i + 1) * l].iter().copied()).collect();
                Tensor::from_slice(&rows).view(size.as_slice()).to_device(device)
            }
        }
    }
}

pub struct Sac {
    actor_vs: nn::VarStore,
    actor: Actor,
    critic_vs: nn::VarStore,
    q: [QNet; 2],
    target_vs: nn::VarStore,
    q_target: [QNet; 2],
    alpha_vs: nn::VarStore,
    log_alpha: Tensor,
    actor_opt: nn::Optimizer,
    critic_opt: nn::Optimizer,
    alpha_opt: nn::Optimizer,
    buffer: Option<ReplayBuffer>,
    meta: ModelMetadata,
    h: Hyperparameters,
    rng: Pcg64Mcg,
}

impl Sac {
    pub fn new(meta: ModelMetadata, h: Hyperparameters, device: Device, seed: u64) -> Result<Sac, TrainError> {
        let torch = |e: tch::TchError| TrainError::Torch(e.to_string());
        let actor_vs = nn::VarStore::new(device);
        let actor = Actor::new(&actor_vs, &meta)?;
        let critic_vs = nn::VarStore::new(device);
        let q = [QNet::new(&(critic_vs.root() / "q1"), &meta)?, QNet::new(&(critic_vs.root() / "q2"), &meta)?];
        let mut target_vs = nn::VarStore::new(device);
        let q_target = [QNet::new(&(target_vs.root() / "q1"), &meta)?, QNet::new(&(target_vs.root() / "q2"), &meta)?];
        target_vs.copy(&critic_vs).map_err(torch)?;
        let alpha_vs = nn::VarStore::new(device);
        let log_alpha = alpha_vs.root().var("log_alpha", &[1], nn::Init::Const(h.sac_alpha.ln()));
        let adam = |vs: &nn::VarStore| nn::Adam::default().build(vs, h.lr).map_err(torch);
        Ok(Sac {
            actor_opt: adam(&actor_vs)?,
            critic_opt: adam(&critic_vs)?,
            alpha_opt: adam(&alpha_vs)?,
            actor_vs,
            actor,
            critic_vs,
            q,
            target_vs,
            q_target,
            alpha_vs,
            log_alpha,
            buffer: None,
            meta,
            h,
            rng: Pcg64Mcg::seed_from_u64(seed),
        })
    }

    /// A fresh stream for replay sampling (a resumed run).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Pcg64Mcg::seed_from_u64(seed);
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    /// The actor, as the policy crate's tensors.
    pub fn export(&self) -> Tensors {
        nets::export(&self.actor_vs)
    }

    pub fn import(&mut self, tensors: &Tensors) -> Result<(), TrainError> {
        nets::import(&self.actor_vs, tensors)
    }

    /// Critics, targets and temperature, for checkpoints.
    pub fn export_state(&self) -> Tensors {
        let mut t = Tensors::new();
        for (prefix, vs) in [("critic.", &self.critic_vs), ("target.", &self.target_vs), ("alpha.", &self.alpha_vs)] {
            t.extend(nets::export(vs).into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
        }
        t
    }

    pub fn import_state(&mut self, tensors: &Tensors) -> Result<(), TrainError> {
        for (prefix, vs) in [("critic.", &self.critic_vs), ("target.", &self.target_vs), ("alpha.", &self.alpha_vs)] {
            let part: Tensors = tensors.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone()))).collect();
            nets::import(vs, &part)?;
        }
        Ok(())
    }

    fn inputs(&self, obs: &Tensor) -> Tensor {
        preprocess(obs, self.meta.observation.preprocessing)
    }

    /// Adds the rollouts to the replay buffer, then takes gradient steps.
    pub fn update(&mut self, rollouts: &[Rollout]) -> Result<SacStats, TrainError> {
        let obs_len: usize = self.meta.observation.shape.iter().product();
        let mut stats = SacStats::default();
        for r in rollouts {
            let buffer = self.buffer.get_or_insert_with(|| {
                // Keep pixel buffers within about 2 GB.
                let bytes = if matches!(r.obs, ObsBuffer::U8(_)) { obs_len } else { 4 * obs_len };
                let capacity = self.h.sac_buffer_size.min((1usize << 31) / (2 * bytes)).max(1_000);
                let empty = |o: &ObsBuffer| match o {
                    ObsBuffer::U8(_) => ObsBuffer::U8(Vec::new()),
                    ObsBuffer::F32(_) => ObsBuffer::F32(Vec::new()),
                };
                ReplayBuffer { obs_len, capacity, obs: empty(&r.obs), next_obs: empty(&r.obs), actions: vec![], rewards: vec![], dones: vec![], cursor: 0 }
            });
            for t in 0..r.steps {
                for e in 0..r.envs {
                    let i = t * r.envs + e;
                    // The next observation is the next step's, or the one after the rollout.
                    // After an episode ends it belongs to the next episode, but `done` masks it.
                    let (next, at) = if t + 1 < r.steps { (&r.obs, i + r.envs) } else { (&r.last_obs, e) };
                    if r.truncated.get(i).copied().unwrap_or(false) {
                        // Cut by the step limit: bootstrap, from this state (its true successor
                        // was replaced by the reset).
                        buffer.push((&r.obs, i), (&r.obs, i), r.actions[i], r.rewards[i], false);
                    } else {
                        buffer.push((&r.obs, i), (next, at), r.actions[i], r.rewards[i], r.dones[i]);
                    }
                    stats.transitions += 1;
                }
            }
        }
        let Some(buffer) = self.buffer.take() else { return Ok(stats) };
        stats.buffer = buffer.len();
        if buffer.len() >= self.h.sac_learning_starts.min(buffer.capacity) {
            let steps = ((stats.transitions as f64) * self.h.sac_updates_per_step).ceil() as usize;
            for _ in 0..steps {
                self.gradient_step(&buffer, &mut stats);
            }
            let m = stats.gradient_steps.max(1) as f64;
            stats.q_loss /= m;
            stats.actor_loss /= m;
            stats.entropy /= m;
        }
        stats.alpha = self.log_alpha.exp().double_value(&[0]);
        self.buffer = Some(buffer);
        Ok(stats)
    }

    fn gradient_step(&mut self, buffer: &ReplayBuffer, stats: &mut SacStats) {
        let device = self.actor_vs.device();
        let batch = self.h.batch_size.min(buffer.len());
        let idx: Vec<usize> = (0..batch).map(|_| self.rng.random_range(0..buffer.len())).collect();
        let shape: Vec<i64> = self.meta.observation.shape.iter().map(|&d| d as i64).collect();
        let obs = self.inputs(&buffer.gather(&buffer.obs, &idx, &shape, device));
        let next_obs = self.inputs(&buffer.gather(&buffer.next_obs, &idx, &shape, device));
        let pick = |v: &[f32]| Tensor::from_slice(&idx.iter().map(|&i| v[i]).collect::<Vec<f32>>()).to_device(device);
        let actions = Tensor::from_slice(&idx.iter().flat_map(|&i| buffer.actions[i]).collect::<Vec<f32>>()).view([-1, 2]).to_device(device);
        let (rewards, dones) = (pick(&buffer.rewards), pick(&buffer.dones));
        let alpha = self.log_alpha.exp().detach();
        let gamma = self.h.discount_factor;

        let target = tch::no_grad(|| {
            let (next_a, next_logp) = self.actor.sample(&next_obs, false);
            let q_next = self.q_target[0].forward(&next_obs, &next_a, false).minimum(&self.q_target[1].forward(&next_obs, &next_a, false));
            &rewards + (1.0 - &dones) * gamma * (q_next - &alpha * next_logp)
        });
        let q_loss = (self.q[0].forward(&obs, &actions, true) - &target).pow_tensor_scalar(2).mean(Kind::Float)
            + (self.q[1].forward(&obs, &actions, true) - &target).pow_tensor_scalar(2).mean(Kind::Float);
        self.critic_opt.zero_grad();
        q_loss.backward();
        self.critic_opt.clip_grad_norm(self.h.max_grad_norm.max(10.0));
        self.critic_opt.step();

        let (a, logp) = self.actor.sample(&obs, true);
        let q_pi = self.q[0].forward(&obs, &a, false).minimum(&self.q[1].forward(&obs, &a, false));
        let actor_loss = (&alpha * &logp - q_pi).mean(Kind::Float);
        self.actor_opt.zero_grad();
        actor_loss.backward();
        self.actor_opt.step();

        if self.h.sac_auto_alpha {
            let target_entropy = -2.0;
            let alpha_loss = -(&self.log_alpha * (logp.detach() + target_entropy)).mean(Kind::Float);
            self.alpha_opt.zero_grad();
            alpha_loss.backward();
            self.alpha_opt.step();
        }
        tch::no_grad(|| {
            let source = self.critic_vs.variables();
            for (name, mut t) in self.target_vs.variables() {
                let s = &source[&name];
                t.copy_(&(&t * (1.0 - self.h.sac_tau) + s * self.h.sac_tau));
            }
        });
        stats.gradient_steps += 1;
        stats.q_loss += q_loss.double_value(&[]);
        stats.actor_loss += actor_loss.double_value(&[]);
        stats.entropy += -logp.mean(Kind::Float).double_value(&[]);
    }
}
