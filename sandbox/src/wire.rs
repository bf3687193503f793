//! The protocol's messages (generated from `proto/worker.proto`) and the conversions between
//! them and the crate's own types, errors included. A reply from a worker is untrusted: a
//! converted rollout still has to pass [`crate::rollout::Expect::check`].

use paddock_sim::env::EpisodeSummary;
use paddock_sim::{EpisodeStatus, ObsBuffer, StepTrace};
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};

use crate::rollout::{EpisodeRecord, Mode, Rollout, RolloutRequest, TraceRow};
use crate::WorkerError;

#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("paddock.worker.v1");
}

/// Bumped when a message's meaning changes; client and worker must agree. 2: errors carry
/// their kind as a status detail (see [`error_to_status`]).
pub const PROTOCOL_VERSION: u32 = 2;
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
        ObsBuffer::U8(v) => (v, Vec::new()),
        ObsBuffer::F32(v) => (Vec::new(), v),
    };
    let (last_obs_u8, last_obs_f32) = match r.last_obs {
        ObsBuffer::U8(v) => (v, Vec::new()),
        ObsBuffer::F32(v) => (Vec::new(), v),
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

/// A worker's reply as a rollout, refusing only what the type cannot hold (an unknown status,
/// both kinds of observations, half an action); the rest is [`crate::rollout::Expect::check`]'s.
pub fn rollout_from_pb(r: pb::CollectReply) -> Result<Rollout, String> {
    let image = !r.obs_u8.is_empty() || !r.last_obs_u8.is_empty();
    if image && (!r.obs_f32.is_empty() || !r.last_obs_f32.is_empty()) {
        return Err("observations of the wrong type".into());
    }
    let (obs, last_obs) =
        if image { (ObsBuffer::U8(r.obs_u8), ObsBuffer::U8(r.last_obs_u8)) } else { (ObsBuffer::F32(r.obs_f32), ObsBuffer::F32(r.last_obs_f32)) };
    if r.actions.len() % 2 != 0 {
        return Err(format!("{} action values, not pairs", r.actions.len()));
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
        envs: r.envs as usize,
        steps: r.steps as usize,
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

/// Which [`WorkerError`] a status is, as its detail (JSON): everything but the message, which is
/// the status's own, and the worker, which the client names.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ErrorDetail {
    Setup,
    Model { version: u64 },
    NoPolicy,
    StaleVersion { asked: u64, held: u64 },
    Run,
    Reward,
    Died,
    Start,
}

/// A worker's error as it answers it: a status code any gRPC client understands, the variant as
/// the detail, and the variant's message (the whole text for one without a message).
pub fn error_to_status(e: WorkerError) -> Status {
    let whole = e.to_string();
    let (code, detail, message) = match e {
        WorkerError::Setup { message, .. } => (Code::InvalidArgument, ErrorDetail::Setup, message),
        WorkerError::Model { version, message, .. } => (Code::InvalidArgument, ErrorDetail::Model { version }, message),
        WorkerError::Reward { message, .. } => (Code::InvalidArgument, ErrorDetail::Reward, message),
        WorkerError::NoPolicy { .. } => (Code::FailedPrecondition, ErrorDetail::NoPolicy, whole),
        WorkerError::StaleVersion { asked, held, .. } => (Code::FailedPrecondition, ErrorDetail::StaleVersion { asked, held }, whole),
        WorkerError::Run { message, .. } => (Code::Internal, ErrorDetail::Run, message),
        WorkerError::Died { .. } => (Code::Internal, ErrorDetail::Died, whole),
        WorkerError::Start(message) => (Code::Internal, ErrorDetail::Start, message),
    };
    // Serialising a fieldless-or-integer enum cannot fail; no detail would read as a plain failure.
    Status::with_details(code, message, serde_json::to_vec(&detail).unwrap_or_default().into())
}

/// The [`WorkerError`] worker `worker` answered with; `None` for a status that is no worker
/// error (a transport failure, a busy worker, a bad token) or whose detail doesn't parse.
pub fn error_from_status(s: &Status, worker: usize) -> Option<WorkerError> {
    let detail: ErrorDetail = serde_json::from_slice(s.details()).ok()?;
    let message = s.message().to_string();
    Some(match detail {
        ErrorDetail::Setup => WorkerError::Setup { worker, message },
        ErrorDetail::Model { version } => WorkerError::Model { worker, version, message },
        ErrorDetail::NoPolicy => WorkerError::NoPolicy { worker },
        ErrorDetail::StaleVersion { asked, held } => WorkerError::StaleVersion { worker, asked, held },
        ErrorDetail::Run => WorkerError::Run { worker, message },
        ErrorDetail::Reward => WorkerError::Reward { worker, message },
        ErrorDetail::Died => WorkerError::Died { worker },
        ErrorDetail::Start => WorkerError::Start(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_error_crosses_the_wire_as_itself() {
        let errors = [
            WorkerError::Reward { worker: 3, message: "/r.py, step 4 of the episode: ZeroDivisionError".into() },
            WorkerError::Model { worker: 3, version: 7, message: "truncated or corrupt".into() },
            WorkerError::Setup { worker: 3, message: "no track".into() },
            WorkerError::StaleVersion { worker: 3, asked: 2, held: 1 },
            WorkerError::Run { worker: 3, message: "policy failed".into() },
        ];
        for e in errors {
            let (text, fatal) = (e.to_string(), e.is_fatal());
            let back = error_from_status(&error_to_status(e), 3).expect("a worker error");
            assert_eq!((back.to_string(), back.is_fatal()), (text, fatal));
        }
        // The worker's own id doesn't cross: the client names it.
        let rewarded = error_from_status(&error_to_status(WorkerError::Reward { worker: 0, message: "m".into() }), 5).unwrap();
        assert_eq!(rewarded.to_string(), "worker 5: reward function m");
        assert!(error_from_status(&Status::unavailable("the worker is busy with another request"), 0).is_none());
        assert!(error_from_status(&Status::with_details(Code::Internal, "x", b"{\"kind\": 7}".to_vec().into()), 0).is_none());
    }
}
