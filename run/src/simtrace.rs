//! `simtrace.csv`: DeepRacer's simtrace columns, one row per env step, plus the iteration and
//! the worker that drove it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use paddock_sandbox::Rollout;

use crate::RunError;

pub const SIMTRACE_HEADER: &str = "episode,steps,x,y,heading,steering_angle,speed,action,reward,done,all_wheels_on_track,progress,closest_waypoint,track_len,tstamp,episode_status,pause_duration,iteration,worker";

/// Appends rows; the header goes first into a new or empty file.
pub struct SimtraceWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl SimtraceWriter {
    pub fn append(path: &Path) -> Result<SimtraceWriter, RunError> {
        let new = std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(crate::io_err(path))?;
        let mut out = BufWriter::new(file);
        if new {
            writeln!(out, "{SIMTRACE_HEADER}").map_err(crate::io_err(path))?;
        }
        Ok(SimtraceWriter { path: path.to_path_buf(), out })
    }

    /// Every traced step of `rollouts`, flushed.
    pub fn write(&mut self, rollouts: &[Rollout], iteration: u64, track_len_m: f64) -> Result<(), RunError> {
        for r in rollouts {
            write_rows(&mut self.out, r, iteration, track_len_m).map_err(crate::io_err(&self.path))?;
        }
        self.out.flush().map_err(crate::io_err(&self.path))
    }
}

/// The iteration a simtrace line belongs to, if the line is whole.
pub(crate) fn iteration_of(line: &str) -> Option<u64> {
    let columns = SIMTRACE_HEADER.split(',').count();
    // The action column of continuous spaces holds a quoted "[a, b]": count from the end.
    let fields: Vec<&str> = line.rsplitn(3, ',').collect();
    let whole = line.matches(',').count() + 1 >= columns;
    if whole && fields.len() == 3 {
        fields[1].parse().ok()
    } else {
        None
    }
}

fn write_rows(out: &mut impl Write, r: &Rollout, iteration: u64, track_len: f64) -> std::io::Result<()> {
    for row in &r.trace {
        let s = &row.state;
        writeln!(
            out,
            "{},{},{:.4},{:.4},{:.2},{:.2},{:.3},{},{:.4},{},{},{:.3},{},{:.3},{:.3},{},0,{},{}",
            row.episode,
            row.step,
            s.x,
            s.y,
            s.heading_deg,
            row.command[0],
            row.command[1],
            if row.action_index >= 0 { row.action_index.to_string() } else { format!("\"[{:.2}, {:.2}]\"", row.command[0], row.command[1]) },
            row.reward,
            row.done,
            s.all_wheels_on_track,
            s.progress,
            s.closest_waypoint,
            track_len,
            s.time_s,
            row.status.as_str(),
            iteration,
            r.worker,
        )?;
    }
    Ok(())
}
