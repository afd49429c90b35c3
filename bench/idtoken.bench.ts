// `npm run bench -- idtoken [--seconds N]`: id_token validations per second through the Custos
// verifier (JWKS cached, so encoding check + jose jwtVerify + claim checks) against two
// baselines measured in the same process and run, on the very same token:
//   - bare jose `jwtVerify` with the key in hand: the ratio is what Custos adds on top of jose
//     (the canonical-encoding check, the cache's key resolver, the claim checks); it should sit
//     close to 1;
//   - bare `crypto.verify` of the same signature bytes: the ratio is the price of verifying
//     through jose (WebCrypto, an async job on the libuv pool) instead of owning the crypto.
//     It is below 1 and that is accepted: admin requests are rare and the node read path
//     carries no JWT (issue item 19).
// Printed per algorithm, one call at a time and with several calls in flight.
import { KeyObject, verify as cryptoVerify } from "node:crypto";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JSONWebKeySet } from "jose";
import type { Domain } from "../src/identity/domains/domain.ts";
import { createIdTokenVerifier } from "../src/identity/oidc/id-token-verifier.ts";
import { createJwksCache } from "../src/identity/oidc/jwks-cache.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
const SECONDS_PER_ROUND = Number(values.seconds);
const ROUNDS = 3;

const domain: Domain = { id: "bench", issuer: "https://idp.bench.example", clientId: "custos-bench", admins: [], auditors: [] };
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface Case {
  readonly alg: "ES256" | "RS256";
  readonly token: string;
  readonly cryptoKey: CryptoKey;
  readonly keyObject: KeyObject;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

async function makeCase(alg: "ES256" | "RS256"): Promise<{ bench: Case; jwk: JSONWebKeySet["keys"][number] }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const now = nowSeconds();
  const token = await new SignJWT({ sub: "bench-user", acr: "urn:custos:acr:mfa", amr: ["pwd", "otp"], auth_time: now - 5 })
    .setProtectedHeader({ alg, kid: alg, typ: "JWT" })
    .setIssuer(domain.issuer)
    .setAudience(domain.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);
  const [header, payload, signature] = token.split(".");
  return {
    bench: {
      alg,
      token,
      cryptoKey: publicKey,
      keyObject: KeyObject.from(publicKey),
      signingInput: Buffer.from(`${header!}.${payload!}`),
      signature: Buffer.from(signature!, "base64url"),
    },
    jwk: { ...(await exportJWK(publicKey)), kid: alg, alg, use: "sig" },
  };
}

/**
 * Calls per second of `once`, for the given time, with `inFlight` calls outstanding at a time
 * (1 = strictly one after another).
 */
async function rate(once: () => Promise<unknown>, seconds: number, inFlight = 1): Promise<number> {
  const batch = Array.from({ length: inFlight });
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let calls = 0;
  while (performance.now() < deadline) {
    // Several batches between clock readings keep the timer out of the measurement.
    for (let i = 0; i < 16; i += 1) await Promise.all(batch.map(once));
    calls += 16 * inFlight;
  }
  return calls / ((performance.now() - started) / 1000);
}

/** Calls per second of a synchronous `once`, called back to back. */
function rateSync(once: () => unknown, seconds: number): number {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let calls = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 64; i += 1) once();
    calls += 64;
  }
  return calls / ((performance.now() - started) / 1000);
}

const cases = await Promise.all([makeCase("ES256"), makeCase("RS256")]);
let fetches = 0;
const jwks = createJwksCache({
  fetchJwks: () => {
    fetches += 1;
    return Promise.resolve({ keys: cases.map((c) => c.jwk) });
  },
  jwksUriFor: (issuer) => Promise.resolve(`${issuer}/jwks`),
  now: nowSeconds,
});
const verifier = createIdTokenVerifier({ jwks, leewaySeconds: 30, now: nowSeconds });

/** In flight at once for the concurrent figure: what a server sees under load. */
const IN_FLIGHT = 16;

const perSecond = (value: number): string => `${Math.round(value).toLocaleString("en-US")}/s`;
const ratio = (value: number, baseline: number): string => (value / baseline).toFixed(2);

for (const { bench } of cases) {
  const dsaEncoding = bench.alg === "ES256" ? "ieee-p1363" : undefined;
  const rawVerify = (): boolean => cryptoVerify("sha256", bench.signingInput, { key: bench.keyObject, dsaEncoding }, bench.signature);
  const joseOptions = { algorithms: [bench.alg], issuer: domain.issuer, audience: domain.clientId, clockTolerance: 30 };
  const bareJose = (): Promise<unknown> => jwtVerify(bench.token, bench.cryptoKey, joseOptions);
  const custos = (): Promise<unknown> => verifier.verify(domain, bench.token);
  // Every path must accept the token, or the comparison means nothing.
  if (!rawVerify()) throw new Error(`${bench.alg}: crypto.verify refused the signature`);
  await bareJose();
  if ((await verifier.verify(domain, bench.token)).subject !== "oidc:bench:bench-user") throw new Error(`${bench.alg}: verifier refused`);

  // Warm-up, then alternating rounds, best of each: other load on a shared machine only ever
  // slows a round.
  rateSync(rawVerify, 0.3);
  await rate(bareJose, 0.3, IN_FLIGHT);
  await rate(custos, 0.3, IN_FLIGHT);
  const best = { raw: 0, joseSequential: 0, joseConcurrent: 0, sequential: 0, concurrent: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    best.raw = Math.max(best.raw, rateSync(rawVerify, SECONDS_PER_ROUND));
    best.joseSequential = Math.max(best.joseSequential, await rate(bareJose, SECONDS_PER_ROUND));
    best.sequential = Math.max(best.sequential, await rate(custos, SECONDS_PER_ROUND));
    best.joseConcurrent = Math.max(best.joseConcurrent, await rate(bareJose, SECONDS_PER_ROUND, IN_FLIGHT));
    best.concurrent = Math.max(best.concurrent, await rate(custos, SECONDS_PER_ROUND, IN_FLIGHT));
  }
  console.log(`${bench.alg}: crypto.verify ${perSecond(best.raw)}`);
  console.log(
    `  one at a time:  jose jwtVerify ${perSecond(best.joseSequential)}, Custos verifier ${perSecond(best.sequential)}` +
      ` (ratio ${ratio(best.sequential, best.joseSequential)} of jose, ${ratio(best.sequential, best.raw)} of crypto.verify)`,
  );
  console.log(
    `  ${String(IN_FLIGHT)} in flight:   jose jwtVerify ${perSecond(best.joseConcurrent)}, Custos verifier ${perSecond(best.concurrent)}` +
      ` (ratio ${ratio(best.concurrent, best.joseConcurrent)} of jose, ${ratio(best.concurrent, best.raw)} of crypto.verify)`,
  );
}
console.log(`JWKS fetches during the run: ${fetches}`);
