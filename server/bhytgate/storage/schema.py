"""Numbered migrations for both engines, applied in order at open and recorded in schema_version.

Never edit a released migration: append a new one. DDL is written once with `{type}` slots that the
dialect fills; statements that only one engine has (triggers) are tagged with its name.
"""

from __future__ import annotations

# The index row of one audit body in SQLite (`{b}`: the body column). `at` only from the exact form
# audit.chain._utc_iso writes (YYYY-MM-DDTHH:MM:SS.ffffffZ), as the dialect's integer microseconds.
# A facility over 64 characters or a pseudonym over 128 (the gateway writes 5 and 64) is not
# indexed: PostgreSQL's B-tree refuses a key over ~2.7 kB, and with it the append itself.
_SQLITE_INDEX_ROW = """CASE WHEN length(<f>) <= 64 THEN <f> ELSE '' END,
    CASE WHEN length(<f>) <= 64 THEN substr(<f>, 1, 2) ELSE '' END,
    CASE WHEN length(json_extract({b}, '$.document')) <= 128 THEN json_extract({b}, '$.document') END,
    CASE WHEN json_extract({b}, '$.at') GLOB
      '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'
      THEN CAST(strftime('%s', substr(json_extract({b}, '$.at'), 1, 19)) AS INTEGER) * 1000000
        + CAST(substr(json_extract({b}, '$.at'), 21, 6) AS INTEGER) END,
    COALESCE(NULLIF(json_extract({b}, '$.action'), ''), 'verify')""".replace(
    "<f>", "COALESCE(json_extract({b}, '$.facility'), '')"
)
_SQLITE_INDEX_TRIGGER = """CREATE TRIGGER audit_index_append AFTER INSERT ON audit_log
   WHEN json_valid(NEW.body) AND json_type(NEW.body) = 'object'
   BEGIN INSERT INTO audit_index (seq, facility, province, document, at, action)
   VALUES (NEW.seq, <row>); END""".replace("<row>", _SQLITE_INDEX_ROW.replace("{b}", "NEW.body"))
_SQLITE_INDEX_BACKFILL = """INSERT INTO audit_index (seq, facility, province, document, at, action)
   SELECT seq, <row> FROM audit_log
   WHERE json_valid(body) AND json_type(body) = 'object'""".replace(
    "<row>", _SQLITE_INDEX_ROW.replace("{b}", "body")
)
# PostgreSQL: the same row; a body that is not a JSON object, or an `at` that is not a time, is caught
# here (no row, or no time) rather than refusing the append or the migration. `{{4}}`: the braces
# of the regex, escaped for the `{type}` slots.
_PG_INDEX_FUNCTION = """CREATE FUNCTION audit_index_add(p_seq BIGINT, p_body TEXT) RETURNS void
   LANGUAGE plpgsql AS $$
   DECLARE b JSONB; t TIMESTAMPTZ; f TEXT; d TEXT;
   BEGIN
     BEGIN b := p_body::jsonb; EXCEPTION WHEN others THEN RETURN; END;
     IF jsonb_typeof(b) <> 'object' THEN RETURN; END IF;
     IF (b->>'at') ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}[.][0-9]{{6}}Z$' THEN
       BEGIN t := (b->>'at')::timestamptz; EXCEPTION WHEN others THEN t := NULL; END;
     END IF;
     f := COALESCE(b->>'facility', '');
     IF length(f) > 64 THEN f := ''; END IF;
     d := b->>'document';
     IF length(d) > 128 THEN d := NULL; END IF;
     INSERT INTO audit_index (seq, facility, province, document, at, action)
     VALUES (p_seq, f, left(f, 2), d, t, COALESCE(NULLIF(b->>'action', ''), 'verify'))
     ON CONFLICT (seq) DO NOTHING;
   END $$"""

# (version, [(engine or "*", statement)])
Migration = tuple[int, tuple[tuple[str, str], ...]]

MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        (
            (
                "*",
                """CREATE TABLE entitlements (
                card_number TEXT PRIMARY KEY,
                bhxh_number TEXT NOT NULL,
                cccd_number TEXT,
                valid_from {date} NOT NULL,
                data {json} NOT NULL,
                updated_at {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_entitlements_bhxh ON entitlements(bhxh_number)"),
            ("*", "CREATE INDEX ix_entitlements_cccd ON entitlements(cccd_number)"),
            (
                "*",
                """CREATE TABLE cccd_links (
                cccd_number TEXT PRIMARY KEY,
                bhxh_number TEXT NOT NULL,
                by_terminal TEXT NOT NULL,
                linked_at {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_cccd_links_bhxh ON cccd_links(bhxh_number)"),
            (
                "*",
                """CREATE TABLE face_templates (
                cccd_number TEXT PRIMARY KEY,
                model_name TEXT NOT NULL,
                model_version TEXT NOT NULL,
                nonce {blob} NOT NULL,
                ciphertext {blob} NOT NULL,
                enrolled_at {ts} NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE challenges (
                challenge_id TEXT PRIMARY KEY,
                terminal_id TEXT NOT NULL,
                nonce {blob} NOT NULL,
                aa_challenge {blob} NOT NULL,
                actions {json} NOT NULL,
                issued_at {ts} NOT NULL,
                expires_at {ts} NOT NULL,
                consumed_at {ts})""",
            ),
            ("*", "CREATE INDEX ix_challenges_expires ON challenges(expires_at)"),
            (
                "*",
                """CREATE TABLE lost_reports (
                document_key TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                reporter TEXT NOT NULL,
                reported_at {ts} NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE verification_events (
                id {serial},
                document_key TEXT NOT NULL,
                facility TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                decision TEXT NOT NULL,
                face_mismatch {bool} NOT NULL,
                at {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_events_document_at ON verification_events(document_key, at)"),
            ("*", "CREATE INDEX ix_events_terminal ON verification_events(terminal_id, id)"),
            (
                "*",
                """CREATE TABLE biometric_locks (
                document_key TEXT PRIMARY KEY,
                until {ts} NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE audit_log (
                seq {bigint} PRIMARY KEY,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                body TEXT NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE frame_hashes (
                digest {blob} PRIMARY KEY,
                seen_at {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_frame_hashes_seen ON frame_hashes(seen_at)"),
        ),
    ),
    (
        2,
        (
            # The audit log is append-only in the database too, not only by convention.
            (
                "sqlite",
                """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
            ),
            (
                "sqlite",
                """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
            ),
            (
                "postgres",
                """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$""",
            ),
            (
                "postgres",
                """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
               FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
            ),
            (
                "postgres",
                """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
               FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
            ),
        ),
    ),
    (
        3,
        (
            # One record per verification (or counter action): a retried append cannot add a second.
            ("*", "ALTER TABLE audit_log ADD COLUMN record_id TEXT"),
            ("*", "CREATE UNIQUE INDEX ux_audit_record ON audit_log(record_id)"),
            # INSERT OR REPLACE deletes the old row without firing delete triggers (unless
            # recursive_triggers is on): refuse any insert that would collide with a kept record.
            (
                "sqlite",
                """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
               WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq OR hash = NEW.hash
                            OR (NEW.record_id IS NOT NULL AND record_id = NEW.record_id))
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
            ),
            # A spent challenge is the intent of a record: facility for an orphan's record, and
            # recorded_at once its record exists (an orphan sweep finds the rest).
            ("*", "ALTER TABLE challenges ADD COLUMN facility TEXT"),
            ("*", "ALTER TABLE challenges ADD COLUMN recorded_at {ts}"),
            # Checks consumed before this migration were recorded by the code that consumed them.
            ("*", "UPDATE challenges SET recorded_at = consumed_at WHERE consumed_at IS NOT NULL"),
            (
                "*",
                "CREATE INDEX ix_challenges_unrecorded ON challenges(consumed_at) WHERE recorded_at IS NULL",
            ),
            (
                "*",
                """CREATE TABLE sessions (
                verification_id TEXT PRIMARY KEY,
                terminal_id TEXT NOT NULL,
                created_at {ts} NOT NULL,
                nonce {blob} NOT NULL,
                payload {blob} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_sessions_created ON sessions(created_at)"),
            (
                "*",
                """CREATE TABLE frame_fingerprints (
                id {serial},
                sha256 {blob} NOT NULL,
                phash {blob} NOT NULL,
                seen_at {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_fingerprints_seen ON frame_fingerprints(seen_at)"),
            (
                "*",
                """CREATE TABLE rate_windows (
                scope TEXT NOT NULL,
                window_start {bigint} NOT NULL,
                hits INTEGER NOT NULL,
                PRIMARY KEY (scope, window_start))""",
            ),
            (
                "*",
                """CREATE TABLE trust_items (
                id {serial},
                kind TEXT NOT NULL,
                sha256 TEXT NOT NULL UNIQUE,
                der {blob} NOT NULL,
                added_at {ts} NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE terminal_keys (
                key_id TEXT PRIMARY KEY,
                pem TEXT NOT NULL,
                registered_at {ts} NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE cluster (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                cluster_id TEXT NOT NULL,
                created_at {ts} NOT NULL,
                master_check TEXT NOT NULL,
                config TEXT NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE cluster_secrets (
                name TEXT PRIMARY KEY,
                nonce {blob} NOT NULL,
                wrapped {blob} NOT NULL)""",
            ),
        ),
    ),
    (
        4,
        (
            # Review cases (service.review): every REVIEW decision opens one; any replica lists,
            # resolves or expires it. `summary` holds no personal data (reasons, level, distance,
            # fraud facts as pseudonyms and counts); `sealed` (AES-GCM under the template key)
            # what an acceptance releases: the holder's document and card numbers, name, birth date.
            (
                "*",
                """CREATE TABLE review_cases (
                verification_id TEXT PRIMARY KEY,
                facility TEXT NOT NULL,
                province TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                terminal_kind TEXT NOT NULL,
                state TEXT NOT NULL,
                opened_at {ts} NOT NULL,
                expires_at {ts} NOT NULL,
                resolved_at {ts},
                reviewer TEXT,
                resolution TEXT,
                summary TEXT NOT NULL,
                nonce {blob} NOT NULL,
                sealed {blob} NOT NULL,
                attestation TEXT)""",
            ),
            ("*", "CREATE INDEX ix_review_open_facility ON review_cases(state, facility, opened_at)"),
            ("*", "CREATE INDEX ix_review_open_province ON review_cases(state, province, opened_at)"),
            ("*", "CREATE INDEX ix_review_expiry ON review_cases(state, expires_at)"),
        ),
    ),
    (
        5,
        (
            # Verified check-ins for the QĐ 4750 record and claims reconciliation (storage/checkins.py):
            # keyed pseudonyms only; the record itself sealed, and NULLed past its retention.
            (
                "*",
                """CREATE TABLE checkins (
                verification_id TEXT PRIMARY KEY,
                attestation_id TEXT NOT NULL,
                facility TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                verified_at {ts} NOT NULL,
                assurance_level TEXT NOT NULL,
                cccd_key TEXT,
                card_key TEXT,
                visit_key TEXT,
                record_nonce {blob},
                record_sealed {blob},
                record_expires_at {ts} NOT NULL,
                keep_until {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_checkins_cccd ON checkins(cccd_key, verified_at)"),
            ("*", "CREATE INDEX ix_checkins_card ON checkins(card_key, verified_at)"),
            ("*", "CREATE INDEX ix_checkins_keep ON checkins(keep_until)"),
            (
                "*",
                "CREATE INDEX ix_checkins_record_expiry ON checkins(record_expires_at)"
                " WHERE record_sealed IS NOT NULL",
            ),
        ),
    ),
    (
        6,
        (
            # Household renewals: one row per payment reference (the idempotency key), holding the
            # signed receipt returned to every repeat of that payment; one row per renewed card.
            (
                "*",
                """CREATE TABLE household_renewals (
                payment_reference TEXT PRIMARY KEY,
                request_digest TEXT NOT NULL,
                receipt_id TEXT NOT NULL UNIQUE,
                receipt TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                created_at {ts} NOT NULL)""",
            ),
            (
                "*",
                """CREATE TABLE household_renewal_members (
                payment_reference TEXT NOT NULL,
                position INTEGER NOT NULL,
                card_number TEXT NOT NULL,
                bhxh_number TEXT NOT NULL,
                old_valid_to {date},
                valid_from {date} NOT NULL,
                valid_to {date} NOT NULL,
                PRIMARY KEY (payment_reference, position))""",
            ),
            ("*", "CREATE INDEX ix_renewal_members_bhxh ON household_renewal_members(bhxh_number)"),
            # Consent to biometric processing (Law 91/2025/QH15), keyed by the CCCD's audit
            # pseudonym: what is kept, why, until when; withdrawn_at once withdrawn.
            (
                "*",
                """CREATE TABLE consents (
                id {serial},
                subject_key TEXT NOT NULL,
                purpose TEXT NOT NULL,
                data_kinds TEXT NOT NULL,
                terms_version TEXT NOT NULL,
                granted_at {ts} NOT NULL,
                expires_at {ts} NOT NULL,
                withdrawn_at {ts},
                terminal_id TEXT NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_consents_subject ON consents(subject_key)"),
            # The consent a template was enrolled under (NULL: enrolled before consent was recorded).
            ("*", "ALTER TABLE face_templates ADD COLUMN consent_id {bigint}"),
            ("*", "CREATE INDEX ix_face_templates_enrolled ON face_templates(enrolled_at)"),
        ),
    ),
    (
        7,
        (
            # Remote registrations: CCCD <-> BHXH number <-> contact (sealed), with their strength.
            # At most one in force (active or pending review) per CCCD; a verification used once.
            (
                "*",
                """CREATE TABLE registrations (
                registration_id TEXT PRIMARY KEY,
                cccd_number TEXT NOT NULL,
                bhxh_number TEXT NOT NULL,
                contact_kind TEXT NOT NULL,
                contact_nonce {blob} NOT NULL,
                contact_sealed {blob} NOT NULL,
                status TEXT NOT NULL,
                assurance_level TEXT NOT NULL,
                integrity_verdict TEXT NOT NULL,
                verification_id TEXT NOT NULL UNIQUE,
                terminal_id TEXT NOT NULL,
                facility TEXT NOT NULL,
                attestation TEXT NOT NULL,
                supersedes TEXT,
                created_at {ts} NOT NULL,
                superseded_at {ts})""",
            ),
            (
                "*",
                """CREATE UNIQUE INDEX ux_registrations_in_force ON registrations(cccd_number)
                   WHERE status <> 'superseded'""",
            ),
            # Registration attempts per device and per CCCD (pseudonym), in fixed windows of their
            # own length (not the Begin limit's one-minute windows, which are purged by minute).
            (
                "*",
                """CREATE TABLE registration_windows (
                scope TEXT NOT NULL,
                window_start {bigint} NOT NULL,
                window_end {bigint} NOT NULL,
                hits INTEGER NOT NULL,
                PRIMARY KEY (scope, window_start))""",
            ),
            ("*", "CREATE INDEX ix_registration_windows_end ON registration_windows(window_end)"),
        ),
    ),
    (
        8,
        (
            # Device keys by (terminal id, facility): terminal ids repeat across facilities, so a
            # key registered by one facility must bind only its own terminal. Rows registered
            # before this have no facility ('' here): they keep binding that terminal id in every
            # facility (fail closed) until a facility registers a key of its own for it.
            (
                "*",
                """CREATE TABLE device_keys (
                terminal_id TEXT NOT NULL,
                facility TEXT NOT NULL,
                pem TEXT NOT NULL,
                registered_at {ts} NOT NULL,
                PRIMARY KEY (terminal_id, facility))""",
            ),
            (
                "*",
                """INSERT INTO device_keys (terminal_id, facility, pem, registered_at)
                   SELECT key_id, '', pem, registered_at FROM terminal_keys""",
            ),
            ("*", "DROP TABLE terminal_keys"),
        ),
    ),
    (
        9,
        (
            # Which dossier of which claims file a verified check-in has been claimed by
            # (storage/claims.py): one check-in, one claim across files and replicas (the primary
            # key; claims are inserted ON CONFLICT DO NOTHING, so of two at once exactly one is
            # kept). Pseudonyms and references only: the dossier's keyed digest and visit key, the
            # file's facility, the dossier's index, the file's SHA-256 once its reconciliation ended.
            # Kept as long as the check-in's row (the purge deletes both).
            (
                "*",
                """CREATE TABLE claimed_checkins (
                verification_id TEXT PRIMARY KEY
                    REFERENCES checkins(verification_id) ON DELETE CASCADE,
                dossier_key TEXT NOT NULL,
                visit_key TEXT,
                file_facility TEXT NOT NULL,
                dossier_index INTEGER NOT NULL,
                run_id TEXT NOT NULL,
                file_sha256 TEXT,
                claimed_at {ts} NOT NULL)""",
            ),
            ("*", "CREATE INDEX ix_claimed_checkins_run ON claimed_checkins(run_id)"),
        ),
    ),
    (
        10,
        (
            # The audit log read by facility, time and pseudonym (the dashboard, the data-subject
            # export) without a pass over every record. A side table, filled by a trigger in the
            # append's own statement (so in its transaction, whoever appends) from the body the
            # record's hash covers; the record itself is never rewritten. A body that is not JSON,
            # or whose `at` is not the chain's own UTC form, has no row or no time here.
            (
                "*",
                """CREATE TABLE audit_index (
                seq {bigint} PRIMARY KEY,
                facility TEXT NOT NULL,
                province TEXT NOT NULL,
                document TEXT,
                at {ts},
                action TEXT NOT NULL)""",
            ),
            (
                "*",
                "CREATE INDEX ix_audit_index_facility ON audit_index(facility, at, seq)"
                " WHERE action = 'verify'",
            ),
            (
                "*",
                "CREATE INDEX ix_audit_index_province ON audit_index(province, at, seq)"
                " WHERE action = 'verify'",
            ),
            ("*", "CREATE INDEX ix_audit_index_at ON audit_index(at, seq) WHERE action = 'verify'"),
            (
                "*",
                "CREATE INDEX ix_audit_index_document ON audit_index(document, seq)"
                " WHERE document IS NOT NULL",
            ),
            # SQLite: json_extract; `at` as integer microseconds from the fixed form _utc_iso writes.
            ("sqlite", _SQLITE_INDEX_TRIGGER),
            ("sqlite", _SQLITE_INDEX_BACKFILL),
            (
                "sqlite",
                """CREATE TRIGGER audit_index_no_update BEFORE UPDATE ON audit_index
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
            ),
            (
                "sqlite",
                """CREATE TRIGGER audit_index_no_delete BEFORE DELETE ON audit_index
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
            ),
            # PostgreSQL: one function reads a body into its row, for the trigger and the backfill.
            ("postgres", _PG_INDEX_FUNCTION),
            (
                "postgres",
                """CREATE FUNCTION audit_index_on_append() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN PERFORM audit_index_add(NEW.seq, NEW.body); RETURN NULL; END $$""",
            ),
            # The backfill first, without the chain's lock: other replicas go on appending (their
            # appends give up after the 2 s lock timeout, and a long log takes minutes here). Then
            # the trigger, whose lock waits out the appends in flight and holds off new ones until
            # this commits; under it, the records committed since the first pass's snapshot (a
            # seq above every indexed one: appends commit in seq order under that lock) are
            # indexed too, so no gap opens and the lock is held for that short tail only.
            ("postgres", "SELECT audit_index_add(seq, body) FROM audit_log ORDER BY seq"),
            (
                "postgres",
                """CREATE TRIGGER audit_index_append AFTER INSERT ON audit_log
               FOR EACH ROW EXECUTE FUNCTION audit_index_on_append()""",
            ),
            (
                "postgres",
                """SELECT audit_index_add(seq, body) FROM audit_log
               WHERE seq > (SELECT COALESCE(MAX(seq), -1) FROM audit_index) ORDER BY seq""",
            ),
            (
                "postgres",
                """CREATE TRIGGER audit_index_no_change BEFORE UPDATE OR DELETE ON audit_index
               FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
            ),
            (
                "postgres",
                """CREATE TRIGGER audit_index_no_truncate BEFORE TRUNCATE ON audit_index
               FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
            ),
        ),
    ),
    (
        11,
        (
            # Revoked terminal certificates (storage/revocations.py), by the SHA-256 of their DER:
            # every replica refuses a call made with one. Rows are only added.
            (
                "*",
                """CREATE TABLE revoked_certificates (
                sha256 TEXT PRIMARY KEY,
                terminal_id TEXT NOT NULL,
                facility TEXT NOT NULL,
                reason TEXT NOT NULL,
                revoked_by TEXT NOT NULL,
                revoked_at {ts} NOT NULL)""",
            ),
        ),
    ),
    (
        12,
        (
            # The rejection-rate rule reads a terminal's last decisions by its id *at its facility*
            # (storage/ledger.py): with (terminal_id, id) alone, the facility was filtered after the
            # index, so a terminal id shared by many facilities (`desk-01`) read every facility's
            # rows of it. Nothing else reads events by terminal. On PostgreSQL the index build
            # holds off check-in writes for its length (seconds per million events).
            (
                "*",
                "CREATE INDEX ix_events_terminal_facility ON verification_events(terminal_id, facility, id)",
            ),
            ("*", "DROP INDEX ix_events_terminal"),
        ),
    ),
)
