import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createJwksCache, type JwksCache } from "../../../src/identity/oidc/jwks-cache.ts";
import { DOMAIN_A, DOMAIN_B, FakeClock, FakeJwksEndpoint, jwksUriFor, jwksUriOf, rejectionReason, signingKey, type SigningKey } from "./id-token-fixtures.ts";

const ISSUER = DOMAIN_A.issuer;
const URI = jwksUriOf(ISSUER);
const NO_TOKEN = { payload: "", signature: "" };

/** Lets every queued request run until it waits on the (held) fetch. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

let current: SigningKey;
let next: SigningKey;

beforeAll(async () => {
  [current, next] = await Promise.all([signingKey("ES256", "k-current"), signingKey("ES256", "k-next")]);
});

describe("createJwksCache", () => {
  let clock: FakeClock;
  let endpoint: FakeJwksEndpoint;
  let cache: JwksCache;

  const keyFor = (kid: string, issuer: string = ISSUER) => cache.resolverFor(issuer)({ alg: "ES256", kid }, NO_TOKEN);

  beforeEach(() => {
    clock = new FakeClock();
    endpoint = new FakeJwksEndpoint();
    endpoint.publish(URI, [current]);
    cache = createJwksCache({ fetchJwks: endpoint.fetchJwks, jwksUriFor, now: clock.now, minRefreshIntervalSeconds: 30, maxAgeSeconds: 600 });
  });

  it("fetches the key set once and makes no network call per request for a known kid", async () => {
    for (let i = 0; i < 25; i += 1) {
      await keyFor(current.kid);
      clock.advance(10);
    }
    expect(endpoint.fetched).toEqual([URI]);
  });

  it("refreshes exactly once for an unknown kid, then answers kid_unknown", async () => {
    await keyFor(current.kid);
    clock.advance(31);
    expect(await rejectionReason(keyFor("k-nobody"))).toBe("kid_unknown");
    expect(endpoint.fetched).toHaveLength(2);
  });

  it("finds a key the provider published after the last fetch, with one refresh", async () => {
    await keyFor(current.kid);
    endpoint.publish(URI, [current, next]);
    clock.advance(31);
    const key = await keyFor(next.kid);
    expect(key.type).toBe("public");
    expect(endpoint.fetched).toHaveLength(2);
  });

  it("rate-limits refreshes: a stream of unknown kids costs at most one fetch per interval", async () => {
    await keyFor(current.kid);
    clock.advance(31);
    for (let i = 0; i < 100; i += 1) {
      expect(await rejectionReason(keyFor(`k-bogus-${i}`))).toBe("kid_unknown");
      if (i % 10 === 9) clock.advance(1);
    }
    // 10 s of bogus kids after the interval: the warm-up fetch plus one refresh.
    expect(endpoint.fetched).toHaveLength(2);
    clock.advance(30);
    expect(await rejectionReason(keyFor("k-bogus-again"))).toBe("kid_unknown");
    expect(endpoint.fetched).toHaveLength(3);
  });

  it("refuses an unknown kid without fetching while the last fetch is more recent than the interval", async () => {
    await keyFor(current.kid);
    endpoint.publish(URI, [current, next]);
    clock.advance(29);
    expect(await rejectionReason(keyFor(next.kid))).toBe("kid_unknown");
    expect(endpoint.fetched).toHaveLength(1);
  });

  it("coalesces concurrent unknown-kid refreshes into one fetch that every waiter uses", async () => {
    await keyFor(current.kid);
    endpoint.publish(URI, [current, next]);
    clock.advance(31);
    endpoint.hold();
    const pending = Array.from({ length: 20 }, () => keyFor(next.kid));
    await settle();
    expect(endpoint.fetched).toHaveLength(2); // one refresh parked, twenty requests waiting on it
    endpoint.release();
    const keys = await Promise.all(pending);
    expect(keys.every((key) => key.type === "public")).toBe(true);
    expect(endpoint.fetched).toHaveLength(2);
  });

  it("coalesces concurrent cold loads into one fetch, and every waiter gets the key", async () => {
    endpoint.hold();
    const pending = Array.from({ length: 10 }, () => keyFor(current.kid));
    await settle();
    expect(endpoint.fetched).toHaveLength(1);
    endpoint.release();
    const keys = await Promise.all(pending);
    expect(keys.every((key) => key.type === "public")).toBe(true);
    expect(endpoint.fetched).toHaveLength(1);
  });

  it("stops verifying a key the provider removed once an unknown-kid refresh has run", async () => {
    await keyFor(current.kid);
    endpoint.publish(URI, [next]);
    clock.advance(31);
    await keyFor(next.kid);
    expect(await rejectionReason(keyFor(current.kid))).toBe("kid_unknown");
  });

  it("stops verifying a key the provider removed after the cache's max age, without any unknown kid", async () => {
    await keyFor(current.kid);
    endpoint.publish(URI, [next]);
    clock.advance(599);
    expect((await keyFor(current.kid)).type).toBe("public");
    clock.advance(1);
    expect(await rejectionReason(keyFor(current.kid))).toBe("kid_unknown");
    expect(endpoint.fetched).toHaveLength(2);
  });

  it("answers jwks_unavailable when the provider cannot be reached and nothing is cached, and does not retry within the interval", async () => {
    endpoint.failing = true;
    expect(await rejectionReason(keyFor(current.kid))).toBe("jwks_unavailable");
    clock.advance(29);
    expect(await rejectionReason(keyFor(current.kid))).toBe("jwks_unavailable");
    expect(endpoint.fetched).toHaveLength(1);
    endpoint.failing = false;
    clock.advance(1);
    expect((await keyFor(current.kid)).type).toBe("public");
    expect(endpoint.fetched).toHaveLength(2);
  });

  it("keeps the previous key set when a max-age refresh fails, and retries only after the interval", async () => {
    await keyFor(current.kid);
    endpoint.failing = true;
    clock.advance(600);
    expect((await keyFor(current.kid)).type).toBe("public");
    expect((await keyFor(current.kid)).type).toBe("public");
    expect(endpoint.fetched).toHaveLength(2);
  });

  it("keeps one cache per issuer: a key of one issuer is unknown to another", async () => {
    endpoint.publish(jwksUriOf(DOMAIN_B.issuer), [next]);
    await keyFor(current.kid, ISSUER);
    expect(await rejectionReason(keyFor(current.kid, DOMAIN_B.issuer))).toBe("kid_unknown");
    expect(endpoint.fetched).toEqual([URI, jwksUriOf(DOMAIN_B.issuer)]);
  });
});
