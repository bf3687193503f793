-- Paddock's race server: one schema for SQLite and PostgreSQL (portable types only; ids are
-- random text made by the server, times are Unix milliseconds).

CREATE TABLE races (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- The checked RaceConfig as JSON.
    config TEXT NOT NULL,
    track_json TEXT NOT NULL,
    -- JSON array of [name, track JSON] for the private leaderboard.
    hidden_json TEXT NOT NULL,
    seed BIGINT NOT NULL,
    invite_code TEXT NOT NULL UNIQUE,
    admin_token_hash TEXT NOT NULL UNIQUE,
    opens_at BIGINT NOT NULL,
    closes_at BIGINT NOT NULL,
    -- 'open' or 'closed' set by the organiser over the dates; NULL follows the dates.
    override_state TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE racers (
    id TEXT PRIMARY KEY,
    race_id TEXT NOT NULL REFERENCES races (id),
    alias TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    removed BIGINT NOT NULL DEFAULT 0,
    joined_at BIGINT NOT NULL,
    UNIQUE (race_id, alias)
);

-- Model files by content: the same file submitted twice is stored once.
CREATE TABLE models (
    sha256 TEXT PRIMARY KEY,
    size_bytes BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- A submission is also its evaluation job: queued -> running -> done | refused | failed.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    -- Order of arrival across the server (the queue's order).
    seq BIGINT NOT NULL UNIQUE,
    race_id TEXT NOT NULL REFERENCES races (id),
    racer_id TEXT NOT NULL REFERENCES racers (id),
    model_sha256 TEXT NOT NULL REFERENCES models (sha256),
    file_name TEXT NOT NULL,
    sensor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- The current claim: who evaluates it, a fencing token, until when the claim holds.
    claimed_by TEXT,
    claim_token TEXT,
    lease_until BIGINT,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX submissions_queue ON submissions (state, seq);
CREATE INDEX submissions_race ON submissions (race_id, racer_id);

-- One row per track evaluated: the public track, then each hidden one.
CREATE TABLE evaluations (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    board TEXT NOT NULL,
    track_name TEXT NOT NULL,
    -- NULL: not ranked (too few laps in a row).
    score DOUBLE PRECISION,
    completed_laps BIGINT NOT NULL,
    off_tracks BIGINT NOT NULL,
    collisions BIGINT NOT NULL,
    -- The EvalReport as JSON: per-lap times and the trace for the replay.
    report_json TEXT NOT NULL,
    PRIMARY KEY (submission_id, board, track_name)
);

-- Counters: 'changes' is bumped whenever a result is stored (the pages' live updates follow it);
-- 'submissions' numbers submissions in order of arrival (the queue's order).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('changes', 0);
INSERT INTO counters (name, value) VALUES ('submissions', 0);
