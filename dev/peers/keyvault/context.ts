// What the key and secret handlers share: the store, the clock, the vault's identity, paging and
// the hook that announces new versions.
import { randomBytes } from "node:crypto";
import type { PeerClock } from "./clock";
import { badParameter } from "./errors";
import type { Attributes, VaultStore } from "./store";

export interface VaultContext {
  store: VaultStore;
  clock: PeerClock;
  /** https://127.0.0.1:<port> */
  url: string;
  vaultName: string;
  pageSize(): number;
  newVersion(kind: "key" | "secret", name: string, version: string): void;
}

export interface HandlerRequest {
  name: string;
  version: string;
  query: URLSearchParams;
  body: unknown;
  apiVersion: string;
}

export interface Reply {
  status: number;
  body?: unknown;
}

export const ok = (body: unknown): Reply => ({ status: 200, body });

export const RECOVERY = { recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90 } as const;
export const SOFT_DELETE_MS = 90 * 86_400_000;

export const newVersionId = (): string => randomBytes(16).toString("hex");

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
export function checkName(kind: "key" | "secret", name: string): void {
  if (!NAME.test(name)) {
    throw badParameter(`The request URI contains an invalid name: ${name}. A ${kind} name must be 1-127 characters of 0-9, a-z, A-Z and -.`);
  }
}

export function asObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw badParameter("The request body must be a JSON object.");
  return body as Record<string, unknown>;
}

function optInt(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw badParameter(`Property ${field} must be a number of seconds since 1970-01-01T00:00:00Z.`);
  return Math.floor(v);
}

export function parseTags(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw badParameter("Property tags must be an object of string values.");
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== "string") throw badParameter(`Tag ${k} must be a string.`);
    out[k] = val;
  }
  if (Object.keys(out).length > 15) throw badParameter("A maximum of 15 tags are allowed.");
  return out;
}

/** Applies the editable attributes (enabled, nbf, exp) from a request onto `attrs`. */
export function applyAttributes(attrs: Attributes, v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v !== "object" || Array.isArray(v)) throw badParameter("Property attributes must be an object.");
  const a = v as Record<string, unknown>;
  if (a.enabled !== undefined && a.enabled !== null) {
    if (typeof a.enabled !== "boolean") throw badParameter("Property attributes.enabled must be a boolean.");
    attrs.enabled = a.enabled;
  }
  if ("nbf" in a) {
    const nbf = optInt(a.nbf, "attributes.nbf");
    if (nbf === undefined) delete attrs.nbf;
    else attrs.nbf = nbf;
  }
  if ("exp" in a) {
    const exp = optInt(a.exp, "attributes.exp");
    if (exp === undefined) delete attrs.exp;
    else attrs.exp = exp;
  }
  if (attrs.nbf !== undefined && attrs.exp !== undefined && attrs.nbf > attrs.exp) {
    throw badParameter("Property attributes.nbf must not be later than attributes.exp.");
  }
  if (a.exportable !== undefined && a.exportable !== null) attrs.exportable = Boolean(a.exportable);
}

export function attributesOut(attrs: Attributes): Record<string, unknown> {
  return { ...attrs, ...RECOVERY };
}

/** One page of `items` per Key Vault's paging (maxresults 1..25, $skiptoken, absolute nextLink). */
export function page<T>(ctx: VaultContext, req: HandlerRequest, path: string, items: T[]): { value: T[]; nextLink?: string } {
  const max = req.query.get("maxresults");
  let size = ctx.pageSize();
  if (max !== null && max !== "") {
    const n = Number(max);
    if (!Number.isInteger(n) || n < 1 || n > 25) throw badParameter("Invalid maxresults: the value must be between 1 and 25.");
    size = n;
  }
  const token = req.query.get("$skiptoken");
  let start = 0;
  if (token) {
    start = Number(Buffer.from(token, "base64url").toString("utf8"));
    if (!Number.isInteger(start) || start < 0) throw badParameter("Invalid $skiptoken.");
  }
  const value = items.slice(start, start + size);
  const next = start + size;
  // The last page has no nextLink (the REST spec types it as a string, never null).
  if (next >= items.length) return { value };
  const q = new URLSearchParams({ "api-version": req.apiVersion, $skiptoken: Buffer.from(String(next)).toString("base64url"), maxresults: String(size) });
  return { value, nextLink: `${ctx.url}${path}?${q.toString()}` };
}
