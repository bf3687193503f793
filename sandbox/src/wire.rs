//! The protocol's messages (generated from `proto/worker.proto`) and the conversions between
//! them and the crate's own types. A reply from a worker is untrusted: every length and enum is
//! checked before it becomes a [`Rollout`].

use paddock_sim::env::EpisodeSummary;
use paddock_sim::{EpisodeStatus, StepTrace};

use crate::grpc::Expect;
use crate::rollout::{EpisodeRecord, Mode, ObsData, Rollout, RolloutRequest, TraceRow};

#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("paddock.worker.v1");
}

/// Bumped when a message's meaning changes; client and worker must agree.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest message either side accepts (a camera worker's rollout is tens of MB).
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

fn status_to_pb(s: EpisodeStatus) -> pb::Status {
    match s {
        EpisodeStatus::InProgress => pb::Status::InProgress,
        EpisodeStatus::LapComplete => pb::Status::LapComplete,
        EpisodeStatus::OffTrack => pb::Status::OffTrack,
        EpisodeStatus::Crashed => pb::Status::Crashed,
        EpisodeStatus::Reversed => pb::Status::Reversed,
        EpisodeStatus::Immobilized => pb::Status::Immobilized,
        EpisodeStatus::TimeUp => pb::Status::TimeUp,
    }
}

fn status_from_pb(v: i32) -> Result<EpisodeStatus, String> {
    Ok(match pb::Status::try_from(v).map_err(|_| format!("unknown episode status {v}"))? {
        pb::Status::InProgress => EpisodeStatus::InProgress,
        pb::Status::LapComplete => EpisodeStatus::LapComplete,
        pb::Status::OffTrack => EpisodeStatus::OffTrack,
        pb::Status::Crashed => EpisodeStatus::Crashed,
        pb::Status::Reversed => EpisodeStatus::Reversed,
        pb::Status::Immobilized => EpisodeStatus::Immobilized,
        pb::Status::TimeUp => EpisodeStatus::TimeUp,
    })
}

pub fn request_to_pb(r: &RolloutRequest) -> pb::CollectRequest {
    pb::CollectRequest {
        policy_version: r.policy_version,
        min_episodes: r.min_episodes.min(u32::MAX as usize) as u32,
        max_steps: r.max_steps.min(u32::MAX as usize) as u32,
        greedy: r.mode == Mode::Greedy,
        trace: r.trace,
    }
}

pub fn request_from_pb(r: &pb::CollectRequest) -> RolloutRequest {
    RolloutRequest {
        policy_version: r.policy_version,
        min_episodes: r.min_episodes as usize,
        max_steps: r.max_steps as usize,
        mode: if r.greedy { Mode::Greedy } else { Mode::Sample },
        trace: r.trace,
    }
}

pub fn rollout_to_pb(r: Rollout) -> pb::CollectReply {
    let (obs_u8, obs_f32) = match r.obs {
        ObsData::U8(v) => (v, Vec::new()),
        ObsData::F32(v) => (Vec::new(), v),
    };
    let (last_obs_u8, last_obs_f32) = match r.last_obs {
        ObsData::U8(v) => (v, Vec::new()),
        ObsData::F32(v) => (Vec::new(), v),
    };
    pb::CollectReply {
        worker: r.worker as u32,
        policy_version: r.policy_version,
        envs: r.envs as u32,
        steps: r.steps as u32,
        obs_u8,
        obs_f32,
        last_obs_u8,
        last_obs_f32,
        actions: r.actions.iter().flatten().copied().collect(),
        log_probs: r.log_probs,
        rewards: r.rewards,
        dones: r.dones,
        truncated: r.truncated,
        episodes: r
            .episodes
            .iter()
            .map(|e| pb::Episode {
                env: e.env as u32,
                episode: e.episode,
                steps: e.summary.steps,
                progress: e.summary.progress,
                total_reward: e.summary.total_reward,
                status: status_to_pb(e.summary.status) as i32,
                time_s: e.summary.time_s,
                start_progress: e.summary.start_progress,
            })
            .collect(),
        trace: r
            .trace
            .iter()
            .map(|t| pb::TraceRow {
                env: t.env,
                episode: t.episode,
                step: t.step,
                x: t.state.x,
                y: t.state.y,
                heading_deg: t.state.heading_deg,
                steering_deg: t.state.steering_deg,
                speed: t.state.speed,
                progress: t.state.progress,
                all_wheels_on_track: t.state.all_wheels_on_track,
                closest_waypoint: t.state.closest_waypoint as u32,
                time_s: t.state.time_s,
                action_index: t.action_index,
                command_steering_deg: t.command[0],
                command_speed: t.command[1],
                reward: t.reward,
                done: t.done,
                status: status_to_pb(t.status) as i32,
            })
            .collect(),
    }
}

/// Checks a worker's reply against what was asked and what the trainer's spec says a rollout
/// holds: a worker (or the reward code inside it) could send anything.
pub fn rollout_from_pb(r: pb::CollectReply, asked: &RolloutRequest, expect: &Expect) -> Result<Rollout, String> {
    let (envs, steps) = (r.envs as usize, r.steps as usize);
    let obs_len = expect.obs_len;
    if r.policy_version != asked.policy_version {
        return Err(format!("rollout for policy version {}, asked for {}", r.policy_version, asked.policy_version));
    }
    if envs != expect.envs || steps == 0 || steps > asked.max_steps.max(1) {
        return Err(format!("{steps} steps of {envs} envs (the worker has {} envs; asked for at most {} steps)", expect.envs, asked.max_steps));
    }
    let n = envs * steps;
    let image = !r.obs_u8.is_empty() || !r.last_obs_u8.is_empty();
    if image != expect.image || (image && (!r.obs_f32.is_empty() || !r.last_obs_f32.is_empty())) {
        return Err("observations of the wrong type".into());
    }
    let (obs, last_obs) = if image {
        (ObsData::U8(r.obs_u8), ObsData::U8(r.last_obs_u8))
    } else {
        (ObsData::F32(r.obs_f32), ObsData::F32(r.last_obs_f32))
    };
    let lengths = [
        ("observations", obs.len(), n * obs_len),
        ("last observations", last_obs.len(), envs * obs_len),
        ("actions", r.actions.len(), 2 * n),
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
    for data in [&obs, &last_obs] {
        if let ObsData::F32(v) = data {
            if v.iter().any(|x| !x.is_finite()) {
                return Err("non-finite observations".into());
            }
        }
    }
    if r.rewards.iter().chain(&r.log_probs).chain(&r.actions).any(|x| !x.is_finite()) {
        return Err("non-finite rewards, actions or log-probabilities".into());
    }
    if let Some(count) = expect.discrete_actions {
        if r.actions.chunks_exact(2).any(|a| a[0] < 0.0 || a[0] >= count as f32 || a[0].fract() != 0.0) {
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
        let env = e.env as usize;
        if env >= envs || per_env[env] == 0 {
            return Err(format!("an episode of env {} that no step ended", e.env));
        }
        per_env[env] -= 1;
        if ![e.progress, e.total_reward, e.time_s, e.start_progress].iter().all(|x| x.is_finite()) {
            return Err("non-finite episode figures".into());
        }
    }
    if per_env.iter().any(|&left| left != 0) {
        return Err("episodes and dones disagree".into());
    }
    let episodes = r
        .episodes
        .iter()
        .map(|e| {
            Ok(EpisodeRecord {
                env: e.env as usize,
                episode: e.episode,
                summary: EpisodeSummary {
                    steps: e.steps,
                    progress: e.progress,
                    total_reward: e.total_reward,
                    status: status_from_pb(e.status)?,
                    time_s: e.time_s,
                    start_progress: e.start_progress,
                },
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let trace = r
        .trace
        .iter()
        .map(|t| {
            Ok(TraceRow {
                env: t.env,
                episode: t.episode,
                step: t.step,
                state: StepTrace {
                    x: t.x,
                    y: t.y,
                    heading_deg: t.heading_deg,
                    steering_deg: t.steering_deg,
                    speed: t.speed,
                    progress: t.progress,
                    all_wheels_on_track: t.all_wheels_on_track,
                    closest_waypoint: t.closest_waypoint as usize,
                    time_s: t.time_s,
                },
                action_index: t.action_index,
                command: [t.command_steering_deg, t.command_speed],
                reward: t.reward,
                done: t.done,
                status: status_from_pb(t.status)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Rollout {
        worker: r.worker as usize,
        policy_version: r.policy_version,
        envs,
        steps,
        obs,
        last_obs,
        actions: r.actions.chunks_exact(2).map(|a| [a[0], a[1]]).collect(),
        log_probs: r.log_probs,
        rewards: r.rewards,
        dones: r.dones,
        truncated: r.truncated,
        episodes,
        trace,
    })
}
