import type { Database } from "../../platform/db/database.ts";
import type { loginAttemptsTable, sessionsTable } from "./sessions.table.ts";

export interface LoginAttempt {
  readonly domain: string;
  readonly returnTo: string;
  readonly acrValues: string | undefined;
  readonly maxAge: number | undefined;
}

export interface AdminSession {
  readonly domain: string;
  readonly subject: string;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  readonly authTime: number | undefined;
  readonly expiresAt: number;
}

/** How a new login attempt keeps the table bounded (see {@link SessionRepository.saveLoginAttempt}). */
export interface LoginAttemptBounds {
  /** The bucket the attempt is counted in: its source address (IPv6: the /64). */
  readonly source: string;
  /** At most this many pending attempts per source, the new one included; the oldest go. */
  readonly maxPerSource: number;
  /** Epoch seconds: attempts expired by then may be purged on the way. */
  readonly now: number;
  /** At most this many expired attempts purged on the way, so one insert never does much work. */
  readonly purgeBatch: number;
}

export interface PurgeCounts {
  readonly loginAttempts: number;
  readonly sessions: number;
}

export interface SessionRepository {
  /**
   * Stores a pending login attempt, purging a batch of expired attempts on the way, then evicts
   * the source's oldest pending attempts beyond `maxPerSource`, so that unauthenticated
   * login requests can neither grow the table without bound nor leave it growing between purges.
   */
  saveLoginAttempt(digest: string, attempt: LoginAttempt, expiresAt: number, bounds: LoginAttemptBounds): Promise<void>;
  /** Single use: the attempt is deleted as it is read, expired or not. */
  takeLoginAttempt(digest: string, now: number): Promise<LoginAttempt | undefined>;
  saveSession(digest: string, session: AdminSession): Promise<void>;
  /** An active session: not ended and not expired at `now`. */
  findActiveSession(digest: string, now: number): Promise<AdminSession | undefined>;
  endSession(digest: string, now: number): Promise<void>;
  /** Deletes a session outright; resolves with it when it was still active at `now`. */
  deleteSession(digest: string, now: number): Promise<Pick<AdminSession, "domain" | "subject"> | undefined>;
  /**
   * Deletes login attempts and sessions that can never be used again (expired at `now`, or
   * ended), at most `limit` of each when given.
   */
  purgeExpired(now: number, limit?: number): Promise<PurgeCounts>;
}

// Rows typed by the tables' shapes (sessions.table.ts); the SQL names its columns in camelCase
// to match. Computed columns (expired, epoch seconds) are added to the picked shape.
type AttemptRow = Pick<typeof loginAttemptsTable.$inferSelect, "domain" | "returnTo" | "acrValues" | "maxAge"> & { expired: boolean };
type SessionRow = Pick<typeof sessionsTable.$inferSelect, "domain" | "subject" | "acr" | "amr" | "authTime"> & { expiresAt: number };

const toTimestamp = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

export function createSessionRepository(db: Database): SessionRepository {
  return {
    async saveLoginAttempt(digest, attempt, expiresAt, bounds) {
      // SKIP LOCKED throughout: a row another request is already deleting is its business, and
      // waiting for it would let two logins, deleting each other's rows in another order,
      // deadlock each other.
      await db.query(
        `WITH purged AS (
           DELETE FROM login_attempts WHERE id_digest IN (
             SELECT id_digest FROM login_attempts WHERE expires_at <= $8::timestamptz ORDER BY expires_at LIMIT $9
             FOR UPDATE SKIP LOCKED)
         )
         INSERT INTO login_attempts (id_digest, domain, return_to, acr_values, max_age, expires_at, source)
         VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7)`,
        [
          digest, attempt.domain, attempt.returnTo, attempt.acrValues ?? null, attempt.maxAge ?? null, toTimestamp(expiresAt),
          bounds.source, toTimestamp(bounds.now), bounds.purgeBatch,
        ],
      );
      // After the insert committed, and one trim of a source at a time (a transaction-scoped
      // advisory lock on the source): each trim then sees this attempt and every one committed
      // before it, and the last leaves at most maxPerSource. Without the lock, concurrent trims
      // skipping each other's rows counted their OFFSET over different sets and left one too
      // many. Only logins from the same source wait for each other, and only for one DELETE.
      await db.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`custos/login-source/${bounds.source}`]);
        await tx.query(
          `DELETE FROM login_attempts WHERE id_digest IN (
             SELECT id_digest FROM login_attempts WHERE source = $1 ORDER BY created_at DESC, id_digest DESC OFFSET $2)`,
          [bounds.source, bounds.maxPerSource],
        );
      });
    },
    async takeLoginAttempt(digest, now) {
      const [row] = await db.query<AttemptRow>(
        `DELETE FROM login_attempts WHERE id_digest = $1
         RETURNING domain, return_to AS "returnTo", acr_values AS "acrValues", max_age AS "maxAge", expires_at <= $2::timestamptz AS expired`,
        [digest, toTimestamp(now)],
      );
      if (row === undefined || row.expired) return undefined;
      return { domain: row.domain, returnTo: row.returnTo, acrValues: row.acrValues ?? undefined, maxAge: row.maxAge ?? undefined };
    },
    async saveSession(digest, session) {
      await db.query(
        `INSERT INTO sessions (id_digest, domain, subject, acr, amr, auth_time, expires_at) VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7::timestamptz)`,
        [digest, session.domain, session.subject, session.acr ?? null, JSON.stringify(session.amr), session.authTime ?? null, toTimestamp(session.expiresAt)],
      );
    },
    async findActiveSession(digest, now) {
      const [row] = await db.query<SessionRow>(
        `SELECT domain, subject, acr, amr, auth_time AS "authTime", extract(epoch FROM expires_at)::bigint AS "expiresAt"
           FROM sessions
          WHERE id_digest = $1 AND ended_at IS NULL AND expires_at > $2::timestamptz`,
        [digest, toTimestamp(now)],
      );
      if (row === undefined) return undefined;
      return { domain: row.domain, subject: row.subject, acr: row.acr ?? undefined, amr: row.amr, authTime: row.authTime ?? undefined, expiresAt: row.expiresAt };
    },
    async endSession(digest, now) {
      await db.query(`UPDATE sessions SET ended_at = $2::timestamptz WHERE id_digest = $1 AND ended_at IS NULL`, [digest, toTimestamp(now)]);
    },
    async deleteSession(digest, now) {
      const [row] = await db.query<Pick<typeof sessionsTable.$inferSelect, "domain" | "subject"> & { active: boolean }>(
        `DELETE FROM sessions WHERE id_digest = $1
         RETURNING domain, subject, ended_at IS NULL AND expires_at > $2::timestamptz AS active`,
        [digest, toTimestamp(now)],
      );
      return row?.active === true ? { domain: row.domain, subject: row.subject } : undefined;
    },
    async purgeExpired(now, limit) {
      // LIMIT NULL is no limit. SKIP LOCKED: a row another purge (or a login) holds is left to it.
      const [row] = await db.query<{ login_attempts: number; sessions: number }>(
        `WITH attempts AS (
           DELETE FROM login_attempts WHERE id_digest IN (
             SELECT id_digest FROM login_attempts WHERE expires_at <= $1::timestamptz LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING 1
         ), ended AS (
           DELETE FROM sessions WHERE id_digest IN (
             SELECT id_digest FROM sessions WHERE expires_at <= $1::timestamptz OR ended_at IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM attempts)::int AS login_attempts, (SELECT count(*) FROM ended)::int AS sessions`,
        [toTimestamp(now), limit ?? null],
      );
      return { loginAttempts: row?.login_attempts ?? 0, sessions: row?.sessions ?? 0 };
    },
  };
}
