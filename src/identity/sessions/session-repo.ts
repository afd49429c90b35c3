import type { Database } from "../../platform/db/database.ts";

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

export interface SessionRepository {
  saveLoginAttempt(digest: string, attempt: LoginAttempt, expiresAt: number): Promise<void>;
  /** Single use: the attempt is deleted as it is read, expired or not. */
  takeLoginAttempt(digest: string, now: number): Promise<LoginAttempt | undefined>;
  saveSession(digest: string, session: AdminSession): Promise<void>;
  /** An active session: not ended and not expired at `now`. */
  findActiveSession(digest: string, now: number): Promise<AdminSession | undefined>;
  endSession(digest: string, now: number): Promise<void>;
}

interface AttemptRow {
  domain: string;
  return_to: string;
  acr_values: string | null;
  max_age: number | null;
  expired: boolean;
}

interface SessionRow {
  domain: string;
  subject: string;
  acr: string | null;
  amr: string[];
  auth_time: number | null;
  expires_at: number;
}

const toTimestamp = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

export function createSessionRepository(db: Database): SessionRepository {
  return {
    async saveLoginAttempt(digest, attempt, expiresAt) {
      await db.query(
        `INSERT INTO login_attempts (id_digest, domain, return_to, acr_values, max_age, expires_at) VALUES ($1, $2, $3, $4, $5, $6::timestamptz)`,
        [digest, attempt.domain, attempt.returnTo, attempt.acrValues ?? null, attempt.maxAge ?? null, toTimestamp(expiresAt)],
      );
    },
    async takeLoginAttempt(digest, now) {
      const [row] = await db.query<AttemptRow>(
        `DELETE FROM login_attempts WHERE id_digest = $1
         RETURNING domain, return_to, acr_values, max_age, expires_at <= $2::timestamptz AS expired`,
        [digest, toTimestamp(now)],
      );
      if (row === undefined || row.expired) return undefined;
      return { domain: row.domain, returnTo: row.return_to, acrValues: row.acr_values ?? undefined, maxAge: row.max_age ?? undefined };
    },
    async saveSession(digest, session) {
      await db.query(
        `INSERT INTO sessions (id_digest, domain, subject, acr, amr, auth_time, expires_at) VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7::timestamptz)`,
        [digest, session.domain, session.subject, session.acr ?? null, JSON.stringify(session.amr), session.authTime ?? null, toTimestamp(session.expiresAt)],
      );
    },
    async findActiveSession(digest, now) {
      const [row] = await db.query<SessionRow>(
        `SELECT domain, subject, acr, amr, auth_time, extract(epoch FROM expires_at)::bigint AS expires_at
           FROM sessions
          WHERE id_digest = $1 AND ended_at IS NULL AND expires_at > $2::timestamptz`,
        [digest, toTimestamp(now)],
      );
      if (row === undefined) return undefined;
      return { domain: row.domain, subject: row.subject, acr: row.acr ?? undefined, amr: row.amr, authTime: row.auth_time ?? undefined, expiresAt: row.expires_at };
    },
    async endSession(digest, now) {
      await db.query(`UPDATE sessions SET ended_at = $2::timestamptz WHERE id_digest = $1 AND ended_at IS NULL`, [digest, toTimestamp(now)]);
    },
  };
}
