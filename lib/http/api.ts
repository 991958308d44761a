// The one wrapper every HTTP function goes through: principal and role, body size and JSON, schema
// validation, and the mapping of errors to `{"error": {code, message, field?}}`. Handlers stay thin.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { z } from "zod";
import { dispositionOf, errorBody, InvalidRequestError } from "../domain/errors";
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
      return await handler({ req, ctx, principal });
    } catch (err) {
      const { httpStatus, alert } = dispositionOf(err);
      if (httpStatus >= 500 || alert) ctx.error(`[keyrotor] [http] ${req.method} ${new URL(req.url).pathname} failed`, err);
      else ctx.log(`[keyrotor] [http] ${req.method} ${new URL(req.url).pathname} refused: ${(err as Error).message}`);
      return json(httpStatus, errorBody(err));
    }
  };
}

/** Reads and validates a JSON body: at most 64 KiB, an object, exactly the schema's fields. */
export async function readBody<S extends z.ZodType>(req: HttpRequest, schema: S): Promise<z.output<S>> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const text = await req.text();
  if (Buffer.byteLength(text, "utf8") > MAX_BODY_BYTES) throw tooLarge();
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
