//! One type over the two algorithms, so the training loop needn't know which it runs.

use paddock_policy::model::{ModelMetadata, Tensors};
use paddock_run::config::{Algorithm, Hyperparameters};
use paddock_run::UpdateStats;
use paddock_sandbox::Rollout;

use crate::ppo::Ppo;
use crate::sac::Sac;
use crate::TrainError;

pub enum Learner {
    Ppo(Box<Ppo>),
    Sac(Box<Sac>),
}

impl Learner {
    pub fn new(algorithm: Algorithm, meta: &ModelMetadata, h: &Hyperparameters, seed: u64) -> Result<Learner, TrainError> {
        let device = crate::device();
        tch::manual_seed(seed as i64);
        Ok(match algorithm {
            Algorithm::ClippedPpo => Learner::Ppo(Box::new(Ppo::new(meta.clone(), h.clone(), device)?)),
            Algorithm::Sac => Learner::Sac(Box::new(Sac::new(meta.clone(), h.clone(), device, seed)?)),
        })
    }
    /// The policy's weights, by the `policy` crate's names.
    pub fn export(&self) -> Tensors {
        match self {
            Learner::Ppo(p) => p.export(),
            Learner::Sac(s) => s.export(),
        }
    }
    pub fn import(&mut self, t: &Tensors) -> Result<(), TrainError> {
        match self {
            Learner::Ppo(p) => p.import(t),
            Learner::Sac(s) => s.import(t),
        }
    }
    /// What else a checkpoint needs to continue (SAC's critics and temperature).
    pub fn export_state(&self) -> Tensors {
        match self {
            Learner::Ppo(_) => Tensors::new(),
            Learner::Sac(s) => s.export_state(),
        }
    }
    pub fn import_state(&mut self, t: &Tensors) -> Result<(), TrainError> {
        match self {
            Learner::Ppo(_) => Ok(()),
            Learner::Sac(s) => s.import_state(t),
        }
    }
    /// Fresh random streams for a resumed run, so it does not replay the first run's.
    pub fn reseed(&mut self, seed: u64) {
        tch::manual_seed(seed as i64);
        if let Learner::Sac(s) = self {
            s.reseed(seed);
        }
    }
    pub fn update(&mut self, rollouts: &[Rollout]) -> Result<UpdateStats, TrainError> {
        Ok(match self {
            Learner::Ppo(p) => UpdateStats::Ppo(p.update(rollouts)?),
            Learner::Sac(s) => UpdateStats::Sac(s.update(rollouts)?),
        })
    }
}
