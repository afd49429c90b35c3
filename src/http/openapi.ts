import { PROBLEM_CODES } from "./problem-codes.ts";
import { openApiPath, type RouteDefinition } from "./routes.ts";

/** Every refusal's response in a route's `doc`: problem+json with a stable code. */
export const PROBLEM_RESPONSE = { $ref: "#/components/responses/Problem" } as const;

/** A required JSON request body: an object with these members, nothing else. */
export function jsonRequestBody(properties: Readonly<Record<string, unknown>>, required: readonly string[]): Readonly<Record<string, unknown>> {
  return {
    required: true,
    content: { "application/json": { schema: { type: "object", required, additionalProperties: false, properties } } },
  };
}

/** The OpenAPI 3.1 document, assembled from the mounted routes. */
export function buildOpenApiDocument(routes: readonly RouteDefinition[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (route.doc === undefined) continue;
    const key = openApiPath(route.path);
    const parameters = [...route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map(([, name]) => ({
      name,
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const own = Array.isArray(route.doc.parameters) ? (route.doc.parameters as unknown[]) : [];
    const allParameters = [...parameters, ...own];
    paths[key] = {
      ...paths[key],
      [route.method]: {
        ...route.doc,
        ...(allParameters.length > 0 ? { parameters: allParameters } : {}),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Custos",
      version,
      description: "Identity, step-up and secrets control plane. Every error is application/problem+json with a stable `code`.",
    },
    paths,
    // Domain calls take an admin's or auditor's id_token, or the browser session (with
    // X-CSRF-Token on unsafe methods); operator, node and public routes say otherwise.
    security: [{ idToken: [] }, { session: [] }],
    components: {
      securitySchemes: {
        idToken: { type: "http", scheme: "bearer", bearerFormat: "JWT (an id_token from the domain's OpenID provider)" },
        session: { type: "apiKey", in: "cookie", name: "custos_session" },
        operatorToken: { type: "http", scheme: "bearer", description: "CUSTOS_OPERATOR_TOKEN" },
        nodeBearer: { type: "http", scheme: "bearer", bearerFormat: "nsk.<kid>.<base64url(bearer_secret)>" },
      },
      schemas: {
        Problem: {
          type: "object",
          required: ["type", "title", "status", "code", "request_id"],
          properties: {
            type: { type: "string", format: "uri" },
            title: { type: "string" },
            status: { type: "integer" },
            code: { type: "string", enum: Object.keys(PROBLEM_CODES) },
            detail: { type: "string" },
            request_id: { type: "string" },
          },
        },
      },
      responses: {
        Problem: {
          description: "A refusal, with a stable code",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
      },
    },
  };
}
