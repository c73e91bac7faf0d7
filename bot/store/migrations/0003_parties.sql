-- Issue 5: parties. A party is a session (kind 'party') held in a thread; everything about it is
-- stored so a restart loses no vote, timer or prompt version, and a gallery needs nothing else.

CREATE TABLE parties (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL UNIQUE REFERENCES sessions (id),
    guild_id        TEXT,
    channel_id      TEXT NOT NULL,
    thread_id       TEXT NOT NULL UNIQUE,
    topic           TEXT NOT NULL,
    phase           TEXT NOT NULL DEFAULT 'associations'
                    CHECK (phase IN ('associations', 'rounds', 'final_vote', 'ended')),
    vote_mode       TEXT NOT NULL DEFAULT 'single' CHECK (vote_mode IN ('single', 'approval')),
    tie_break       TEXT NOT NULL DEFAULT 'earliest' CHECK (tie_break IN ('earliest', 'art-expert', 'facilitator')),
    quorum          INTEGER NOT NULL DEFAULT 0 CHECK (quorum >= 0),
    vote_minutes    REAL NOT NULL DEFAULT 5 CHECK (vote_minutes > 0),
    -- Long votes can also run as a native Discord poll beside the buttons.
    native_poll     INTEGER NOT NULL DEFAULT 0 CHECK (native_poll IN (0, 1)),
    -- When set, a timer moves the party on from the associations phase at this time.
    phase_deadline_at TEXT,
    brief_message_id TEXT,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    ended_at        TEXT
);

CREATE TABLE party_members (
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL DEFAULT '',
    roles       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles)),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    joined_at   TEXT NOT NULL,
    PRIMARY KEY (party_id, user_id)
);

CREATE TABLE associations (
    id          INTEGER PRIMARY KEY,
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    normalized  TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'word' CHECK (kind IN ('word', 'style', 'artist')),
    created_at  TEXT NOT NULL
);
CREATE INDEX associations_party ON associations (party_id, normalized);

-- Prompt fragments the Prompt Master made from associations, keeping who contributed what.
CREATE TABLE prompt_fragments (
    id          INTEGER PRIMARY KEY,
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    text        TEXT NOT NULL,
    made_by     TEXT NOT NULL,
    contributors TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(contributors)),
    created_at  TEXT NOT NULL
);

-- Proposed edits to the shared prompt; a committed one becomes a version.
CREATE TABLE prompt_proposals (
    id          INTEGER PRIMARY KEY,
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    author_id   TEXT NOT NULL,
    text        TEXT NOT NULL,
    negative    TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'committed', 'withdrawn')),
    created_at  TEXT NOT NULL
);

CREATE TABLE prompt_versions (
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    text        TEXT NOT NULL,
    negative    TEXT NOT NULL DEFAULT '',
    author_id   TEXT NOT NULL,
    committed_by TEXT NOT NULL,
    proposal_id INTEGER REFERENCES prompt_proposals (id),
    reverted_from INTEGER,
    diff        TEXT NOT NULL DEFAULT '',
    prompt_id   INTEGER REFERENCES prompts (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (party_id, version)
);

CREATE TABLE rounds (
    id          INTEGER PRIMARY KEY,
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    number      INTEGER NOT NULL CHECK (number >= 1),
    kind        TEXT NOT NULL DEFAULT 'round' CHECK (kind IN ('round', 'final')),
    prompt_version INTEGER,
    job_id      INTEGER REFERENCES jobs (id),
    base_image_id INTEGER REFERENCES images (id),
    status      TEXT NOT NULL DEFAULT 'generating'
                CHECK (status IN ('generating', 'voting', 'closed', 'failed')),
    vote_message_id TEXT,
    poll_message_id TEXT,
    deadline_at TEXT,
    winner_image_id INTEGER REFERENCES images (id),
    outcome     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(outcome)),
    created_at  TEXT NOT NULL,
    closed_at   TEXT,
    UNIQUE (party_id, number, kind)
);

-- One row per voter and chosen image; in single-choice mode a voter has at most one row per round.
CREATE TABLE round_votes (
    round_id    INTEGER NOT NULL REFERENCES rounds (id),
    voter_id    TEXT NOT NULL,
    image_id    INTEGER NOT NULL REFERENCES images (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (round_id, voter_id, image_id)
);

CREATE TABLE party_stars (
    party_id    INTEGER NOT NULL REFERENCES parties (id),
    image_id    INTEGER NOT NULL REFERENCES images (id),
    starred_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (party_id, image_id)
);
