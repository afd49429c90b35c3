import type { Adapter, AdapterFactory, AdapterPayload } from "oidc-provider";

/**
 * An in-memory store for oidc-provider's models, owned by one development provider.
 *
 * Why not the bundled memory adapter: its storage is module-wide, so two development providers
 * in one process (tests start several) would share sessions, and it would not survive the
 * provider instance being rebuilt — which is how `rotateKeys()` switches signing keys. This one
 * lives exactly as long as the development provider and is handed to every instance it builds.
 */
interface Entry {
  readonly payload: AdapterPayload;
  /** Milliseconds since the epoch; undefined: until the provider closes. */
  readonly expiresAt: number | undefined;
}

/** Models that hang off a grant and die with it (oidc-provider's "grantable" list). */
const GRANTABLE = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode", "BackchannelAuthenticationRequest"]);

export interface DevStore {
  readonly adapter: AdapterFactory;
  clear(): void;
}

export function createDevStore(): DevStore {
  const entries = new Map<string, Entry>();
  const index = new Map<string, string>();
  const grants = new Map<string, Set<string>>();

  const live = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  const adapterFor = (model: string): Adapter => {
    const key = (id: string): string => `${model}:${id}`;
    return {
      upsert(id, payload, expiresIn) {
        entries.set(key(id), { payload, expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000 });
        if (typeof payload.uid === "string" && model === "Session") index.set(`uid:${payload.uid}`, id);
        if (typeof payload.userCode === "string") index.set(`userCode:${payload.userCode}`, id);
        if (typeof payload.grantId === "string" && GRANTABLE.has(model)) {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          members.add(key(id));
          grants.set(payload.grantId, members);
        }
        return Promise.resolve();
      },
      find: (id) => Promise.resolve(live(key(id))),
      findByUid(uid) {
        const id = index.get(`uid:${uid}`);
        return Promise.resolve(id === undefined ? undefined : live(key(id)));
      },
      findByUserCode(userCode) {
        const id = index.get(`userCode:${userCode}`);
        return Promise.resolve(id === undefined ? undefined : live(key(id)));
      },
      consume(id) {
        const payload = live(key(id));
        // Single-use codes: the provider refuses a consumed code and revokes its grant.
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      },
      destroy(id) {
        entries.delete(key(id));
        return Promise.resolve();
      },
      revokeByGrantId(grantId) {
        for (const member of grants.get(grantId) ?? []) entries.delete(member);
        grants.delete(grantId);
        return Promise.resolve();
      },
    };
  };

  return {
    adapter: adapterFor,
    clear() {
      entries.clear();
      index.clear();
      grants.clear();
    },
  };
}
