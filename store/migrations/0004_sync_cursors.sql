-- Schema version 4: where a calendar source is in its sync of a room is the source's own
-- business. Each source keeps one opaque cursor per room (the store never reads inside it),
-- keyed by room and integration, so a second integration (a shadow during a move between
-- sources) can keep its own position for the same room. A cursor goes with its room.

CREATE TABLE sync_cursors (
    room        TEXT NOT NULL REFERENCES rooms(mailbox) ON DELETE CASCADE,
    integration TEXT NOT NULL,    -- the configured integration (source instance) that owns it
    cursor      TEXT NOT NULL,    -- in the source's own encoding; no row = start over
    updated     INTEGER NOT NULL,
    PRIMARY KEY (room, integration)
) STRICT;

-- Until now the rooms table held the one source's position in four columns. They move into
-- that source's cursor, in the encoding sync/graph reads (cursor.go: its delta and next links
-- and the round's window in Unix ms), so an upgraded store goes on polling its delta links
-- instead of syncing every room again.
INSERT INTO sync_cursors(room, integration, cursor, updated)
SELECT mailbox, integration,
       json_object('delta_link', delta_link, 'next_link', next_link, 'window_start', window_start, 'window_end', window_end),
       last_attempt
FROM rooms WHERE delta_link <> '' OR next_link <> '';

ALTER TABLE rooms DROP COLUMN delta_link;
ALTER TABLE rooms DROP COLUMN next_link;
ALTER TABLE rooms DROP COLUMN window_start;
ALTER TABLE rooms DROP COLUMN window_end;

-- Whether an event is cancelled is a column (set from the neutral event by whoever stores
-- it), so no query reads a source's JSON. Existing rows take it from the stored JSON, exactly
-- as the scheduler's query did before.
ALTER TABLE raw_events ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;
UPDATE raw_events SET cancelled = 1 WHERE NOT COALESCE(json_extract(data, '$.isCancelled'), 0) = 0;
