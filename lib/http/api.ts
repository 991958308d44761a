// The one wrapper every HTTP function goes through: principal and role, body size and JSON, schema
// validation, and the mapping of errors to `{"error": {code, message, field?}}`. Handlers stay thin.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { z } from "zod";
import { dispositionOf, errorBody, InvalidRequestError } from "../domain/errors";
import { jsonTextTooDeep, MAX_JSON_DEPTH } from "../domain/jsonDepth";
import { parsePrincipal, requireRole, type Principal, type Role } from "./principal";

export const MAX_BODY_BYTES = 64 * 1024;

export interface ApiCall {
  req: HttpRequest;
  ctx: InvocationContext;
  /** Undefined only on routes with `role: "none"`. */
  principal: Principal | undefined;
}

export interface ApiOptions {
  role: Role | "none";
}

export type ApiHandler = (call: ApiCall) => Promise<HttpResponseInit>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { "content-type": "application/json", "cache-control": "no-store", ...headers } };
}

export function api(opts: ApiOptions, handler: ApiHandler) {
  return async (req: HttpRequest, ctx: InvocationContext): Promise<HttpResponseInit> => {
    try {
      let principal: Principal | undefined;
      if (opts.role !== "none") {
        principal = parsePrincipal(req.headers.get("x-ms-client-principal"));
        requireRole(principal, opts.role);
      }
      if (STATE_CHANGING.has(req.method.toUpperCase())) requireJsonContentType(req);
      return await handler({ req, ctx, principal });
    } catch (err) {
      const { httpStatus, alert } = dispositionOf(err);
      if (httpStatus >= 500 || alert) ctx.error(`[keyrotor] [http] ${req.method} ${new URL(req.url).pathname} failed`, err);
      else ctx.log(`[keyrotor] [http] ${req.method} ${new URL(req.url).pathname} refused: ${(err as Error).message}`);
      return json(httpStatus, errorBody(err));
    }
  };
}

// Cross-site request forgery: in Azure, App Service authentication also accepts its session cookie
// (AppServiceAuthSession), so a page on another site could make a signed-in browser POST a form
// (application/x-www-form-urlencoded, multipart/form-data or text/plain, which need no CORS
// preflight) or a body-less fetch (no Content-Type at all) to keyrotor. Only application/json is
// accepted on every method that changes state, body or not: a browser sends it cross-site only
// after a CORS preflight, which keyrotor never grants.
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const JSON_MEDIA_TYPE = /^application\/json[ \t]*(;[ \t]*charset[ \t]*=[ \t]*(utf-8|"utf-8")[ \t]*)?$/i;

/** 415 unless the request says `Content-Type: application/json` (optionally `; charset=utf-8`). */
export function requireJsonContentType(req: HttpRequest): void {
  const type = req.headers.get("content-type");
  if (type === null || !JSON_MEDIA_TYPE.test(type.trim())) {
    const got = type === null ? "no Content-Type" : `Content-Type ${JSON.stringify(type.slice(0, 80))}`;
    throw new InvalidRequestError("UnsupportedMediaType", `this request changes state and must be sent as Content-Type: application/json (got ${got})`, { status: 415 });
  }
}

/** Reads and validates a JSON body: Content-Type application/json, at most 64 KiB, nested at most
 * MAX_JSON_DEPTH deep, an object, exactly the schema's fields. */
export async function readBody<S extends z.ZodType>(req: HttpRequest, schema: S): Promise<z.output<S>> {
  requireJsonContentType(req);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const text = await req.text();
  if (Buffer.byteLength(text, "utf8") > MAX_BODY_BYTES) throw tooLarge();
  if (jsonTextTooDeep(text)) throw new InvalidRequestError("BodyTooDeep", `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    throw new InvalidRequestError("BodyNotJson", "request body must be JSON");
  }
  return validate(schema, value);
}

/** Validates a value against a zod schema; the first issue becomes an InvalidRequestError naming its field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String) ?? [];
  const unknownKeys = issue?.code === "unrecognized_keys" ? issue.keys : undefined;
  const field = unknownKeys?.length ? [...path, unknownKeys[0]].join(".") : path.join(".") || undefined;
  const message = unknownKeys?.length ? `unknown field "${unknownKeys.join('", "')}"` : (issue?.message ?? "invalid request");
  throw new InvalidRequestError("ValidationFailed", field ? `${field}: ${message}` : message, field ? { field } : {});
}

function tooLarge(): InvalidRequestError {
  return new InvalidRequestError("BodyTooLarge", `request body exceeds ${MAX_BODY_BYTES} bytes`, { status: 413 });
}
