//! Clipped PPO (Schulman et al. 2017) as DeepRacer trains it, read top to bottom:
//! values and GAE advantages for the workers' rollouts, then `num_epochs` passes of shuffled
//! minibatches with the clipped surrogate, a Huber or squared value loss, an entropy bonus,
//! per-minibatch advantage normalisation and gradient-norm clipping.

use paddock_policy::model::{ModelMetadata, Tensors};
use paddock_sandbox::Rollout;
use paddock_sim::ObsBuffer;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Reduction, Tensor};

use crate::gae::{advantages, Steps};
use crate::nets::{self, preprocess, ActorCritic};
use crate::TrainError;
use paddock_run::config::{Hyperparameters, LossType};
use paddock_run::PpoStats;

/// Rows per forward pass when evaluating a whole rollout without gradients.
const CHUNK: i64 = 1024;

pub struct Ppo {
    vs: nn::VarStore,
    net: ActorCritic,
    opt: nn::Optimizer,
    meta: ModelMetadata,
    h: Hyperparameters,
    has_batch_norm: bool,
}

/// A rollout batch as tensors on the training device.
pub(crate) fn obs_tensor(obs: &ObsBuffer, shape: &[usize], device: Device) -> Tensor {
    let mut size: Vec<i64> = vec![-1];
    size.extend(shape.iter().map(|&d| d as i64));
    match obs {
        ObsBuffer::U8(v) => Tensor::from_slice(v).view(size.as_slice()).to_device(device),
        ObsBuffer::F32(v) => Tensor::from_slice(v).view(size.as_slice()).to_device(device),
    }
}

impl Ppo {
    pub fn new(meta: ModelMetadata, h: Hyperparameters, device: Device) -> Result<Ppo, TrainError> {
        let vs = nn::VarStore::new(device);
        let net = ActorCritic::new(&vs, &meta)?;
        let opt = nn::Adam { eps: 1e-5, ..Default::default() }.build(&vs, h.lr).map_err(|e| TrainError::Torch(e.to_string()))?;
        let has_batch_norm = meta.network.layers().contains(&paddock_policy::Layer::BatchNorm);
        Ok(Ppo { vs, net, opt, meta, h, has_batch_norm })
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    /// The whole network (policy and value heads) as the policy crate's tensors.
    pub fn export(&self) -> Tensors {
        nets::export(&self.vs)
    }

    /// Loads weights; a model without a value head keeps this one's fresh value head.
    pub fn import(&mut self, tensors: &Tensors) -> Result<(), TrainError> {
        let mut all = self.export();
        for (name, t) in tensors {
            if !all.contains_key(name) {
                return Err(TrainError::Model(format!("tensor '{name}' does not belong to this network")));
            }
            all.insert(name.clone(), t.clone());
        }
        nets::import(&self.vs, &all)
    }

    /// Policy outputs and values of raw observations, on the CPU, as flat vectors (for checks).
    pub fn forward_raw(&self, obs: &Tensor) -> (Vec<f32>, Vec<f32>) {
        let (pi, v) = self.evaluate(&obs.to_device(self.vs.device()));
        let flat = |t: Tensor| Vec::<f32>::try_from(t.to_device(Device::Cpu).flatten(0, -1)).expect("f32 tensor");
        (flat(pi), flat(v))
    }

    fn inputs(&self, obs: &Tensor) -> Tensor {
        preprocess(obs, self.meta.observation.preprocessing)
    }

    /// Policy outputs and values for many observations, without gradients, in chunks.
    fn evaluate(&self, obs: &Tensor) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let n = obs.size()[0];
            let (mut pis, mut vs) = (Vec::new(), Vec::new());
            let mut start = 0;
            while start < n {
                let len = CHUNK.min(n - start);
                let (pi, v) = self.net.forward_t(&self.inputs(&obs.narrow(0, start, len)), false);
                pis.push(pi);
                vs.push(v);
                start += len;
            }
            (Tensor::cat(&pis, 0), Tensor::cat(&vs, 0))
        })
    }

    /// One PPO update on the rollouts of one policy version.
    pub fn update(&mut self, rollouts: &[Rollout]) -> Result<PpoStats, TrainError> {
        let device = self.vs.device();
        let shape = self.meta.observation.shape.clone();
        let (gamma, lambda) = (self.h.discount_factor as f32, self.h.gae_lambda as f32);
        let (mut all_obs, mut all_actions, mut all_logp, mut all_adv, mut all_ret, mut all_values) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut mismatch = 0f64;
        for r in rollouts {
            if r.steps == 0 {
                continue;
            }
            let obs = obs_tensor(&r.obs, &shape, device);
            let last = obs_tensor(&r.last_obs, &shape, device);
            let actions = Tensor::from_slice(r.actions.as_flattened()).view([-1, 2]).to_device(device);
            let old_logp = Tensor::from_slice(&r.log_probs).to_device(device);
            let (pi, values) = self.evaluate(&obs);
            let (_, last_values) = self.evaluate(&last);
            let (logp, _) = tch::no_grad(|| self.net.log_prob_entropy(&pi, &actions));
            mismatch = mismatch.max((&logp - &old_logp).abs().max().double_value(&[]));
            let values: Vec<f32> = Vec::<f32>::try_from(values.to_device(Device::Cpu)).map_err(|e| TrainError::Torch(e.to_string()))?;
            let last_values: Vec<f32> = Vec::<f32>::try_from(last_values.to_device(Device::Cpu)).map_err(|e| TrainError::Torch(e.to_string()))?;
            let steps = Steps { envs: r.envs, rewards: &r.rewards, dones: &r.dones, truncated: &r.truncated, values: &values, last_values: &last_values };
            let adv = advantages(&steps, gamma, lambda);
            let returns: Vec<f32> = adv.iter().zip(&values).map(|(a, v)| a + v).collect();
            all_obs.push(obs);
            all_actions.push(actions);
            all_logp.push(old_logp);
            all_adv.push(Tensor::from_slice(&adv).to_device(device));
            all_ret.push(Tensor::from_slice(&returns).to_device(device));
            all_values.push(Tensor::from_slice(&values).to_device(device));
        }
        if all_obs.is_empty() {
            return Err(TrainError::Workers("the workers returned no steps".into()));
        }
        let obs = Tensor::cat(&all_obs, 0);
        let actions = Tensor::cat(&all_actions, 0);
        let old_logp = Tensor::cat(&all_logp, 0);
        let advantages = Tensor::cat(&all_adv, 0);
        let returns = Tensor::cat(&all_ret, 0);
        let old_values = Tensor::cat(&all_values, 0);
        let n = obs.size()[0];
        let batch = (self.h.batch_size as i64).min(n);
        let clip = self.h.clip_epsilon;
        let mut stats = PpoStats { samples: n as usize, logp_mismatch: mismatch, ..Default::default() };
        let mut minibatches = 0f64;
        for _epoch in 0..self.h.num_epochs {
            let (mut epoch_kl, mut epoch_batches) = (0.0, 0.0);
            let order = Tensor::randperm(n, (Kind::Int64, device));
            let mut start = 0;
            while start + batch <= n {
                let idx = order.narrow(0, start, batch);
                start += batch;
                // Batch norm (deep_deep) uses the running statistics the workers used, so that
                // the first ratio is 1; they are refreshed after the update.
                let (pi, values) = self.net.forward_t(&self.inputs(&obs.index_select(0, &idx)), false);
                let (logp, entropy) = self.net.log_prob_entropy(&pi, &actions.index_select(0, &idx));
                let log_ratio = logp - old_logp.index_select(0, &idx);
                let ratio = log_ratio.exp();
                let adv = advantages.index_select(0, &idx);
                let adv = if batch > 1 { (&adv - adv.mean(Kind::Float)) / (adv.std(true) + 1e-8) } else { adv };
                let surrogate = (&ratio * &adv).minimum(&(ratio.clamp(1.0 - clip, 1.0 + clip) * &adv));
                let policy_loss = -surrogate.mean(Kind::Float);
                let target = returns.index_select(0, &idx);
                let value_loss = match self.h.loss_type {
                    LossType::Huber => values.huber_loss(&target, Reduction::Mean, 1.0),
                    LossType::MeanSquaredError => (&values - &target).pow_tensor_scalar(2).mean(Kind::Float),
                };
                let entropy = entropy.mean(Kind::Float);
                let loss = &policy_loss + &value_loss * self.h.value_coefficient - &entropy * self.h.beta_entropy;
                self.opt.zero_grad();
                loss.backward();
                self.opt.clip_grad_norm(self.h.max_grad_norm);
                self.opt.step();
                tch::no_grad(|| {
                    stats.policy_loss += policy_loss.double_value(&[]);
                    stats.value_loss += value_loss.double_value(&[]);
                    stats.entropy += entropy.double_value(&[]);
                    let kl = ((log_ratio.exp() - 1.0) - &log_ratio).mean(Kind::Float).double_value(&[]);
                    stats.approx_kl += kl;
                    epoch_kl += kl;
                    epoch_batches += 1.0;
                    stats.clip_fraction += (ratio - 1.0).abs().gt(clip).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
                });
                minibatches += 1.0;
            }
            stats.epochs += 1;
            if self.h.target_kl.is_some_and(|target| epoch_kl / f64::max(epoch_batches, 1.0) > target) {
                break;
            }
        }
        if self.has_batch_norm {
            // Refresh the running statistics on this iteration's observations.
            tch::no_grad(|| {
                let mut start = 0;
                while start < n {
                    let len = CHUNK.min(n - start);
                    let _ = self.net.forward_t(&self.inputs(&obs.narrow(0, start, len)), true);
                    start += len;
                }
            });
        }
        let m = minibatches.max(1.0);
        stats.policy_loss /= m;
        stats.value_loss /= m;
        stats.entropy /= m;
        stats.approx_kl /= m;
        stats.clip_fraction /= m;
        let var_y = returns.var(true).double_value(&[]);
        stats.explained_variance = if var_y > 0.0 { 1.0 - (&returns - &old_values).var(true).double_value(&[]) / var_y } else { 0.0 };
        Ok(stats)
    }
}
