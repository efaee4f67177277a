-- Schema version 2: the telemetry outbox (the only durable queue towards MQTT) and a short
-- log of recent events for the status page.

CREATE TABLE outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id   TEXT NOT NULL UNIQUE,   -- unique id consumers deduplicate on (QoS 1 is at-least-once)
    topic    TEXT NOT NULL,          -- below otj/v1/<site>/, e.g. "events"
    payload  BLOB NOT NULL,
    retained INTEGER NOT NULL DEFAULT 0,
    created  INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE event_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    level    TEXT NOT NULL,          -- info, warn, error
    kind     TEXT NOT NULL,          -- e.g. sync.error, endpoint.down, push.ok
    room     TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL DEFAULT '',
    message  TEXT NOT NULL,
    data     TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX event_log_at ON event_log(at);
