// Validates a response body against the schema the OpenAPI document gives for one operation and
// status (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it). Shared by the e2e check of real answers
// and the check of the docs' response examples.
import { Ajv2020 } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { ROUTES, type RouteName } from "../../../lib/api/routes";
import { openApiDocument, openApiPaths } from "../../../lib/http/openapi";

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(openApiDocument(), "openapi");

/** JSON-pointer escaping of one path token. */
const token = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/** undefined when `body` fits; else what does not. `byId`: the route's path with its optional
 * last parameter (GET /api/policies/{policyId}) rather than without. */
export function responseMismatch(name: RouteName, status: number, body: unknown, byId = false): string | undefined {
  const route = ROUTES[name];
  const paths = openApiPaths(route.route);
  const p = byId ? paths[paths.length - 1]! : paths[0]!;
  const validate = ajv.compile({ $ref: `openapi#/paths/${token(p)}/${route.method.toLowerCase()}/responses/${status}/content/${token("application/json")}/schema` });
  return validate(body) ? undefined : `${route.method} ${p} ${status}: ${ajv.errorsText(validate.errors)}`;
}

export function isRouteName(name: string): name is RouteName {
  return Object.hasOwn(ROUTES, name);
}

const documented = openApiDocument() as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>> };

/**
 * undefined when an answer of the running app is what its OpenAPI document says for the operation
 * that served it: the status is listed, and a JSON body validates against that status' schema.
 * `params`: the route parameters the host matched (an optional last one present = the "ById" path).
 */
export function answerMismatch(name: RouteName, params: Readonly<Record<string, string | undefined>>, status: number, body: string): string | undefined {
  const route = ROUTES[name];
  const paths = openApiPaths(route.route);
  const optional = /\{([A-Za-z0-9_]+)\?\}$/.exec(route.route)?.[1];
  const byId = optional !== undefined && params[optional] !== undefined && params[optional] !== "";
  const p = byId ? paths[paths.length - 1]! : paths[0]!;
  const responses = documented.paths[p]?.[route.method.toLowerCase()]?.responses ?? {};
  const response = responses[String(status)];
  if (!response) return `${route.method} ${p} answered ${status}, which its OpenAPI document does not list (it lists ${Object.keys(responses).join(", ")}): ${body.slice(0, 300)}`;
  if (!response.content) return body.length === 0 ? undefined : `${route.method} ${p} ${status}: the document describes no body, the answer has one`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return `${route.method} ${p} ${status}: the body is not JSON: ${body.slice(0, 200)}`;
  }
  return responseMismatch(name, status, json, byId);
}
