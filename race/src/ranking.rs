//! Scores and the leaderboard, as pure functions of the stored lap times: the board shown, the
//! CSV exported and a test's recomputation all come from here.

use serde::Serialize;

use crate::config::{RaceConfig, Ranking};

/// One lap as the ranking sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lap {
    pub completed: bool,
    /// Seconds, penalties included.
    pub time_s: f64,
}

/// An evaluation's score in seconds (lower is better), or `None` when it is not ranked: fewer
/// than `min_consecutive_laps` laps completed in a row from the start, or (total time) a lap
/// not completed.
pub fn score(config: &RaceConfig, laps: &[Lap]) -> Option<f64> {
    let in_a_row = laps.iter().take_while(|l| l.completed).count();
    if in_a_row < config.min_consecutive_laps as usize {
        return None;
    }
    let times = laps.iter().map(|l| if l.completed { Some(l.time_s) } else { None }).collect::<Vec<_>>();
    match config.ranking {
        Ranking::BestLap => times.iter().flatten().copied().reduce(f64::min),
        Ranking::TotalTime => times.iter().copied().sum::<Option<f64>>(),
        Ranking::BestAverage => {
            let n = config.average_laps as usize;
            times.windows(n).filter_map(|w| w.iter().copied().sum::<Option<f64>>()).map(|sum| sum / n as f64).reduce(f64::min)
        }
    }
}

/// A racer's counted result: their best evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub racer_id: String,
    pub alias: String,
    pub submission_id: String,
    pub score: Option<f64>,
    pub completed_laps: i64,
    pub laps: i64,
    pub off_tracks: i64,
    pub collisions: i64,
    /// Unix ms of the counted submission.
    pub submitted_at: i64,
    /// The racer's evaluated submissions.
    pub submissions: i64,
}

/// A row of the board.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// 1-based; `None` for entries without a score.
    pub rank: Option<usize>,
    #[serde(flatten)]
    pub entry: Entry,
    /// Seconds behind the leader.
    pub gap_s: Option<f64>,
}

/// The leaderboard from every racer's evaluations: each racer's best counts (a later, better
/// result replaces an earlier one; ties go to the earlier submission), ranked entries first by
/// score, then those without a score by laps completed.
pub fn leaderboard(evaluations: Vec<Entry>) -> Vec<Row> {
    use std::collections::HashMap;
    let mut best: HashMap<String, Entry> = HashMap::new();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for e in evaluations {
        *counts.entry(e.racer_id.clone()).or_default() += 1;
        match best.get(&e.racer_id) {
            Some(b) if !better(&e, b) => {}
            _ => {
                best.insert(e.racer_id.clone(), e);
            }
        }
    }
    let mut entries: Vec<Entry> = best.into_values().collect();
    for e in &mut entries {
        e.submissions = counts[&e.racer_id];
    }
    entries.sort_by(|a, b| {
        if better(a, b) {
            std::cmp::Ordering::Less
        } else if better(b, a) {
            std::cmp::Ordering::Greater
        } else {
            a.alias.cmp(&b.alias)
        }
    });
    let leader = entries.first().and_then(|e| e.score);
    let mut rank = 0;
    entries
        .into_iter()
        .map(|entry| {
            let ranked = entry.score.is_some();
            if ranked {
                rank += 1;
            }
            let gap_s = entry.score.zip(leader).map(|(s, l)| s - l);
            Row { rank: ranked.then_some(rank), entry, gap_s }
        })
        .collect()
}

/// Whether `a` beats `b`: a score beats none, a lower score beats a higher one, more completed
/// laps beat fewer among the unranked; ties go to the earlier submission, and between two sent in
/// the same millisecond, to the smaller id, so every page and restart picks the same one.
fn better(a: &Entry, b: &Entry) -> bool {
    match (a.score, b.score) {
        (Some(x), Some(y)) if x != y => x < y,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) if a.completed_laps != b.completed_laps => a.completed_laps > b.completed_laps,
        _ => (a.submitted_at, &a.submission_id) < (b.submitted_at, &b.submission_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laps(times: &[Option<f64>]) -> Vec<Lap> {
        times.iter().map(|t| Lap { completed: t.is_some(), time_s: t.unwrap_or(0.0) }).collect()
    }

    fn config(ranking: Ranking, min: u32, average: u32) -> RaceConfig {
        RaceConfig { ranking, min_consecutive_laps: min, average_laps: average, laps: 4, ..Default::default() }
    }

    #[test]
    fn each_ranking_scores_the_laps_as_documented() {
        let l = laps(&[Some(12.0), Some(10.0), Some(11.0), None]);
        assert_eq!(score(&config(Ranking::BestLap, 1, 1), &l), Some(10.0));
        assert_eq!(score(&config(Ranking::BestAverage, 1, 2), &l), Some(10.5));
        assert_eq!(score(&config(Ranking::BestAverage, 1, 3), &l), Some(11.0));
        assert_eq!(score(&config(Ranking::TotalTime, 1, 1), &l), None, "a lap missing: no total");
        assert_eq!(score(&config(Ranking::TotalTime, 1, 1), &l[..3]), Some(33.0));
        assert_eq!(score(&config(Ranking::BestLap, 4, 1), &l), None, "three in a row, four needed");
        let gap = laps(&[Some(12.0), None, Some(9.0), Some(9.0)]);
        assert_eq!(score(&config(Ranking::BestLap, 2, 1), &gap), None, "laps in a row count from the start");
        assert_eq!(score(&config(Ranking::BestAverage, 1, 2), &gap), Some(9.0), "averages skip windows with a missing lap");
    }

    fn entry(racer: &str, score: Option<f64>, completed: i64, at: i64) -> Entry {
        Entry {
            racer_id: racer.into(),
            alias: racer.into(),
            submission_id: format!("{racer}-{at}"),
            score,
            completed_laps: completed,
            laps: 3,
            off_tracks: 0,
            collisions: 0,
            submitted_at: at,
            submissions: 0,
        }
    }

    #[test]
    fn a_racers_best_counts_and_the_board_ranks_with_gaps() {
        let board = leaderboard(vec![
            entry("ann", Some(12.0), 3, 1),
            entry("bob", Some(11.0), 3, 2),
            entry("ann", Some(10.5), 3, 3),
            entry("ann", Some(13.0), 3, 4),
            entry("cat", None, 1, 5),
            entry("dan", None, 2, 6),
            entry("eve", Some(11.0), 3, 7),
        ]);
        let rows: Vec<(Option<usize>, &str, Option<f64>, i64)> = board.iter().map(|r| (r.rank, r.entry.alias.as_str(), r.gap_s, r.entry.submissions)).collect();
        assert_eq!(
            rows,
            vec![
                (Some(1), "ann", Some(0.0), 3),
                (Some(2), "bob", Some(0.5), 1),
                (Some(3), "eve", Some(0.5), 1),
                (None, "dan", None, 1),
                (None, "cat", None, 1),
            ]
        );
        assert_eq!(board[0].entry.submission_id, "ann-3", "the better later result replaced the earlier");
    }

    #[test]
    fn a_tie_in_the_same_millisecond_goes_to_the_same_submission_whatever_the_order() {
        let tied = |id: &str| Entry { submission_id: id.into(), ..entry("ann", None, 0, 7) };
        let forward = leaderboard(vec![tied("a"), tied("b"), tied("c")]);
        let backward = leaderboard(vec![tied("c"), tied("b"), tied("a")]);
        assert_eq!(forward[0].entry.submission_id, "a");
        assert_eq!(backward[0].entry.submission_id, "a");
    }
}
