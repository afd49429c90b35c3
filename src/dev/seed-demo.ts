import { randomUUID } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Custos } from "../custos.ts";
import { relationship } from "../authz/authorizer.ts";
import { SpiceDbDomainMembership } from "../authz/domain-membership.ts";
import { domainRef, nodeRef, secretRef } from "../authz/object-ids.ts";
import { createDomainRepository } from "../identity/domains/domain-repo.ts";
import { putDomain } from "../identity/domains/put-domain.ts";
import { registerNode } from "../nodes/enroll-node.ts";
import { createNodeRepository } from "../nodes/node-repo.ts";
import { auditActor } from "../audit/audit-vocabulary.ts";
import { changeSecretReader } from "../secrets/secret-readers.ts";
import { createSecretRepository } from "../secrets/secret-repo.ts";
import { storeSecret } from "../secrets/write-secret.ts";

export const DEMO_DOMAIN = "demo";
export const DEMO_ADMIN = "alice";
export const DEMO_AUDITOR = "bob";
export const DEMO_SECRET = "database-password";
export const DEMO_CLIENT_ID = "custos-dev";
const ACTOR = auditActor.system("dev-seed");

/** The facts `custos dev` prints and writes to .custos/dev.json (DESIGN.md, "Command line"). */
export interface DevFacts {
  readonly base_url: string;
  readonly operator_token: string;
  readonly domain: string;
  readonly node_id: string;
  readonly kid: string;
  readonly nsk_file: string;
  readonly secret_name: string;
  readonly issuer: string;
}

interface PreviousNode {
  readonly node_id: string;
  readonly kid: string;
}

async function previousNode(dataDir: string, custos: Custos): Promise<PreviousNode | undefined> {
  try {
    const facts = JSON.parse(await readFile(path.join(dataDir, "dev.json"), "utf8")) as Partial<DevFacts>;
    if (typeof facts.node_id !== "string" || typeof facts.kid !== "string" || typeof facts.nsk_file !== "string") return undefined;
    await readFile(facts.nsk_file, "utf8");
    const key = await createNodeRepository(custos.db).findKey(facts.kid);
    return key?.nodeId === facts.node_id ? { node_id: facts.node_id, kid: facts.kid } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Seeds the demo through the same services and ports the API uses, each step audited as
 * the dev seeder: the domain wired to the development provider (admin and auditor), one
 * enrolled node whose NSK is written to a 0600 file, and one secret granted to it. A restart
 * keeps the node and its NSK when they are still valid.
 */
export async function seedDemo(custos: Custos, options: { baseUrl: string; issuer: string; operatorToken: string }): Promise<DevFacts> {
  const { dataDir } = custos.config;
  const requestId = "dev-seed";
  const audit = custos.audit;
  await putDomain(
    { domains: createDomainRepository(custos.db), members: new SpiceDbDomainMembership(custos.authorizer), audit },
    DEMO_DOMAIN,
    { issuer: options.issuer, clientId: DEMO_CLIENT_ID, admins: [DEMO_ADMIN], auditors: [DEMO_AUDITOR] },
    { actor: ACTOR, requestId },
  );

  const nskFile = path.join(dataDir, "demo-node.nsk");
  const nodes = createNodeRepository(custos.db);
  const secrets = createSecretRepository(custos.db);
  const { authorizer, backend } = custos;
  let node = await previousNode(dataDir, custos);
  if (node === undefined) {
    // The API's enrollment without its admin check: the seeder is the deployment itself.
    const enrolled = await registerNode({ audit, authorizer, wrapper: backend, nodes }, { actor: ACTOR, domain: DEMO_DOMAIN, nodeId: randomUUID(), name: "demo-node", requestId });
    await writeFile(nskFile, `${enrolled.nsk}\n`, { mode: 0o600 });
    node = { node_id: enrolled.nodeId, kid: enrolled.kid };
  }
  // Written on every start, not only at enrollment: the seed leaves the demo complete
  // whatever the authorization store kept (touching an existing relationship changes nothing).
  await authorizer.writeRelationships([
    relationship(nodeRef(node.node_id), "domain", domainRef(DEMO_DOMAIN)),
    relationship(secretRef(DEMO_DOMAIN, DEMO_SECRET), "domain", domainRef(DEMO_DOMAIN)),
  ], []);

  if ((await secrets.find(DEMO_DOMAIN, DEMO_SECRET)) === undefined) {
    await storeSecret({ audit, authorizer, backend, secrets, events: custos.events }, { actor: ACTOR, domain: DEMO_DOMAIN, name: DEMO_SECRET, value: Buffer.from("correct horse battery staple"), requestId });
  }
  await changeSecretReader(
    { audit, authorizer, nodes, secrets, events: custos.events },
    { actor: ACTOR, domain: DEMO_DOMAIN, name: DEMO_SECRET, nodeId: node.node_id, change: "reader_added", requestId },
  );

  const facts: DevFacts = {
    base_url: options.baseUrl,
    operator_token: options.operatorToken,
    domain: DEMO_DOMAIN,
    node_id: node.node_id,
    kid: node.kid,
    nsk_file: nskFile,
    secret_name: DEMO_SECRET,
    issuer: options.issuer,
  };
  // Replaced in one rename: a script never reads half a file, or the previous run's.
  const factsFile = path.join(dataDir, "dev.json");
  await writeFile(`${factsFile}.tmp`, `${JSON.stringify(facts, null, 2)}\n`, { mode: 0o600 });
  await rename(`${factsFile}.tmp`, factsFile);
  return facts;
}
