//! `metrics.jsonl`: one [`IterationMetrics`] per training iteration, written by the trainer
//! and read by `paddock bench train`, the desktop simulator and the notebooks.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RunError;

/// What one training iteration did. Times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationMetrics {
    pub iteration: u64,
    /// Training time of the whole run so far (resumed sessions added up).
    #[serde(deserialize_with = "null_as_nan")]
    pub wall_time_s: f64,
    /// Run totals so far.
    pub env_steps: u64,
    pub episodes: u64,
    /// This iteration's env steps and finished episodes.
    pub iteration_steps: u64,
    pub iteration_episodes: u64,
    /// Env steps per second of rollout plus update.
    #[serde(deserialize_with = "null_as_nan")]
    pub steps_per_s: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub rollout_s: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub update_s: f64,
    /// Means over this iteration's finished episodes; progress in percent of a lap.
    #[serde(deserialize_with = "null_as_nan")]
    pub mean_reward: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub mean_progress: f64,
    /// Share of this iteration's episodes that completed a lap, 0-1.
    #[serde(deserialize_with = "null_as_nan")]
    pub completion_rate: f64,
    /// Fastest training lap of the run so far, and of this iteration.
    pub best_lap_s: Option<f64>,
    pub iteration_best_lap_s: Option<f64>,
    /// The update's statistics; `None` when the lap check passed and no update ran.
    pub train: Option<UpdateStats>,
    /// Worker faults recovered from during the iteration.
    #[serde(default)]
    pub worker_incidents: Vec<String>,
    /// The greedy lap check, when this iteration ran one.
    pub eval: Option<LapCheck>,
}

/// serde_json writes a NaN or infinite value as `null`: read it back as NaN rather than refuse
/// the whole file over one diverged loss.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One update's statistics, by algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UpdateStats {
    Ppo(PpoStats),
    Sac(SacStats),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PpoStats {
    pub samples: usize,
    #[serde(deserialize_with = "null_as_nan")]
    pub policy_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub value_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub entropy: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub approx_kl: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub clip_fraction: f64,
    /// Largest difference between the workers' log-probabilities (policy crate) and tch's,
    /// before the update: the two implementations must agree.
    #[serde(deserialize_with = "null_as_nan")]
    pub logp_mismatch: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub explained_variance: f64,
    /// Epochs run (fewer than `num_epochs` when `target_kl` stopped the update).
    #[serde(default)]
    pub epochs: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SacStats {
    pub transitions: usize,
    pub buffer: usize,
    pub gradient_steps: usize,
    #[serde(deserialize_with = "null_as_nan")]
    pub q_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub actor_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub alpha: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub entropy: f64,
}

/// The greedy evaluation that ends a run once it drives `eval_laps` clean laps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LapCheck {
    pub clean_laps_in_a_row: usize,
    pub completed_laps: usize,
    pub best_lap_s: Option<f64>,
}

/// Every whole line of a `metrics.jsonl`. A last line without its newline (a run killed
/// mid-write) is left out; any other line that does not parse is an error naming it.
pub fn read_metrics(path: &Path) -> Result<Vec<IterationMetrics>, RunError> {
    let text = std::fs::read_to_string(path).map_err(crate::io_err(path))?;
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    whole
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| RunError::Folder { path: path.display().to_string(), message: format!("line {}: {e}", i + 1) }))
        .collect()
}

/// The iteration a `metrics.jsonl` line is about, if it is a whole record.
pub(crate) fn iteration_of(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("iteration").and_then(|i| i.as_u64()))
}

/// Appends records, each flushed as it is written so a reader sees whole iterations.
pub struct MetricsWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MetricsWriter {
    pub fn append(path: &Path) -> Result<MetricsWriter, RunError> {
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(crate::io_err(path))?;
        Ok(MetricsWriter { path: path.to_path_buf(), out: BufWriter::new(file) })
    }

    pub fn write(&mut self, record: &IterationMetrics) -> Result<(), RunError> {
        let line = serde_json::to_string(record).map_err(|e| RunError::Folder { path: self.path.display().to_string(), message: e.to_string() })?;
        writeln!(self.out, "{line}").and_then(|_| self.out.flush()).map_err(crate::io_err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(iteration: u64, train: Option<UpdateStats>) -> IterationMetrics {
        IterationMetrics {
            iteration,
            wall_time_s: 1.5,
            env_steps: 100 * iteration,
            episodes: 4 * iteration,
            iteration_steps: 100,
            iteration_episodes: 4,
            steps_per_s: 2000.0,
            rollout_s: 0.04,
            update_s: 0.01,
            mean_reward: 12.5,
            mean_progress: 40.0,
            completion_rate: 0.25,
            best_lap_s: Some(9.5),
            iteration_best_lap_s: None,
            train,
            worker_incidents: vec!["worker 1 restarted".into()],
            eval: Some(LapCheck { clean_laps_in_a_row: 1, completed_laps: 2, best_lap_s: Some(9.8) }),
        }
    }

    #[test]
    fn records_read_back_with_their_algorithm_and_a_cut_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("paddock-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        let _ = std::fs::remove_file(&path);
        let ppo = record(1, Some(UpdateStats::Ppo(PpoStats { samples: 100, epochs: 10, ..Default::default() })));
        let sac = record(2, Some(UpdateStats::Sac(SacStats { transitions: 100, alpha: 0.2, ..Default::default() })));
        let passed = record(3, None);
        let mut w = MetricsWriter::append(&path).unwrap();
        for r in [&ppo, &sac, &passed] {
            w.write(r).unwrap();
        }
        drop(w);
        // A run killed mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"iteration\": 4, \"wall_ti").unwrap();
        assert_eq!(read_metrics(&path).unwrap(), vec![ppo, sac, passed]);
        // A damaged line in the middle is named, not skipped.
        std::fs::write(&path, "{\"iteration\": 1}\n").unwrap();
        let e = read_metrics(&path).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("metrics.jsonl"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_diverged_loss_reads_back_as_nan() {
        let mut r = record(1, Some(UpdateStats::Ppo(PpoStats { value_loss: f64::NAN, ..Default::default() })));
        r.mean_reward = f64::INFINITY;
        let back: IterationMetrics = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert!(back.mean_reward.is_nan());
        assert!(matches!(back.train, Some(UpdateStats::Ppo(p)) if p.value_loss.is_nan()));
    }

    #[test]
    fn the_old_json_layout_reads_as_records() {
        // A line as the trainer wrote it before the record was typed (keys sorted).
        let line = r#"{"best_lap_s":null,"completion_rate":0.0,"env_steps":1616,"episodes":16,"eval":null,"iteration":1,"iteration_best_lap_s":null,"iteration_episodes":16,"iteration_steps":1616,"mean_progress":13.2,"mean_reward":13.1,"rollout_s":0.3,"steps_per_s":3650.2,"train":{"approx_kl":0.004,"clip_fraction":0.02,"entropy":1.6,"epochs":10,"explained_variance":0.1,"logp_mismatch":1e-6,"policy_loss":-0.01,"samples":1616,"value_loss":3.2},"update_s":0.14,"wall_time_s":0.5,"worker_incidents":[]}"#;
        let r: IterationMetrics = serde_json::from_str(line).unwrap();
        assert!(matches!(r.train, Some(UpdateStats::Ppo(PpoStats { samples: 1616, epochs: 10, .. }))));
        assert_eq!(iteration_of(line), Some(1));
        // Runs from before `epochs` was logged; SAC's lines stay SAC's.
        let r: IterationMetrics = serde_json::from_str(&line.replace("\"epochs\":10,", "")).unwrap();
        assert!(matches!(r.train, Some(UpdateStats::Ppo(PpoStats { samples: 1616, epochs: 0, .. }))));
        let sac = r#"{"transitions":100,"buffer":100,"gradient_steps":25,"q_loss":0.5,"actor_loss":-1.0,"alpha":0.2,"entropy":1.0}"#;
        assert!(matches!(serde_json::from_str::<UpdateStats>(sac).unwrap(), UpdateStats::Sac(_)));
    }
}
