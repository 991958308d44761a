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
