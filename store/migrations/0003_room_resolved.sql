-- Schema version 3: which rooms' meetings were resolved from a completed calendar sync. An
-- endpoint is sent a room's meetings only once its row exists: before that the meetings table
-- says nothing about the room (a first start, an empty or moved-aside store), and an empty
-- list pushed then would wipe what the codec shows. The row goes with its room.

CREATE TABLE room_resolved (
    room      TEXT PRIMARY KEY REFERENCES rooms(mailbox) ON DELETE CASCADE,
    synced_at INTEGER NOT NULL, -- the room's last_success the processor resolved from (first time)
    at        INTEGER NOT NULL  -- when
) STRICT;
