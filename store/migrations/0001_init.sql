-- otj-edge store, schema version 1: rooms, their calendar sync state, raw events, series
-- masters, resolved meetings and endpoint state. Times are Unix milliseconds (UTC).

CREATE TABLE schema_history (
    version     INTEGER PRIMARY KEY,
    applied_at  INTEGER NOT NULL,
    app_version TEXT    NOT NULL
) STRICT;

-- Small facts that outlive restarts: the box id, counters, the daily Graph budget.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per room mailbox the site syncs, with its calendar sync state.
CREATE TABLE rooms (
    mailbox        TEXT PRIMARY KEY,          -- lower-case SMTP address
    integration    TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT 'pending', -- ok, throttled, policy_denied, not_found, not_rest_enabled, auth_failed, transient, pending
    status_detail  TEXT NOT NULL DEFAULT '',
    delta_link     TEXT NOT NULL DEFAULT '',  -- Graph deltaLink of the last complete round
    next_link      TEXT NOT NULL DEFAULT '',  -- nextLink of a round in progress
    window_start   INTEGER NOT NULL DEFAULT 0, -- the round's calendarView window
    window_end     INTEGER NOT NULL DEFAULT 0,
    last_attempt   INTEGER NOT NULL DEFAULT 0,
    last_success   INTEGER NOT NULL DEFAULT 0,
    last_full_sync INTEGER NOT NULL DEFAULT 0,
    retry_after    INTEGER NOT NULL DEFAULT 0, -- no request before this time
    diagnosis      TEXT NOT NULL DEFAULT '[]'  -- JSON: calendar-processing findings
) STRICT;

-- Events as the calendar source gives them (Graph event JSON, partial updates merged).
CREATE TABLE raw_events (
    room             TEXT NOT NULL REFERENCES rooms(mailbox) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    type             TEXT NOT NULL DEFAULT '',
    series_master_id TEXT NOT NULL DEFAULT '',
    change_key       TEXT NOT NULL DEFAULT '',
    start_ms         INTEGER NOT NULL,
    end_ms           INTEGER NOT NULL,
    data             TEXT NOT NULL,
    updated          INTEGER NOT NULL,
    PRIMARY KEY (room, id)
) STRICT;
CREATE INDEX raw_events_master ON raw_events(room, series_master_id) WHERE series_master_id <> '';

-- Series masters fetched once per changeKey, to fill occurrence stubs.
CREATE TABLE series_masters (
    room       TEXT NOT NULL REFERENCES rooms(mailbox) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    change_key TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL,
    fetched    INTEGER NOT NULL,
    PRIMARY KEY (room, id)
) STRICT;

-- Resolved meetings: what each room shows (calendar.Meeting JSON), written by the processor.
CREATE TABLE meetings (
    room     TEXT NOT NULL REFERENCES rooms(mailbox) ON DELETE CASCADE,
    id       TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    hash     TEXT NOT NULL,
    data     TEXT NOT NULL,
    updated  INTEGER NOT NULL,
    PRIMARY KEY (room, id)
) STRICT;
CREATE INDEX meetings_by_time ON meetings(room, start_ms);

-- Endpoint state, each driver reporting its own success as data.
CREATE TABLE endpoints (
    name         TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    room         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'unknown',
    detail       TEXT NOT NULL DEFAULT '',
    product      TEXT NOT NULL DEFAULT '',
    software     TEXT NOT NULL DEFAULT '',
    cert_sha256  TEXT NOT NULL DEFAULT '',     -- pinned certificate
    seen_sha256  TEXT NOT NULL DEFAULT '',     -- presented but not trusted (changed certificate)
    last_contact INTEGER NOT NULL DEFAULT 0,
    last_push    INTEGER NOT NULL DEFAULT 0,
    push_hash    TEXT NOT NULL DEFAULT '',     -- SHA-256 of the last payload the device accepted
    last_poll    INTEGER NOT NULL DEFAULT 0,
    poll_every   INTEGER NOT NULL DEFAULT 0,   -- usual poll interval seen (ms)
    data         TEXT NOT NULL DEFAULT '{}'    -- driver-specific JSON
) STRICT;
