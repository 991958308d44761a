// The route table against Azure's routing: Azure's front end decodes "%2F" before it matches a
// route (azure-functions-host #9290, #5619, #3998), so an id that can hold a "/" survives only in a
// catch-all `{*param}`, and Azure allows a catch-all only as a template's last segment.
import type { z } from "zod";
import { describe, expect, it } from "vitest";
import { CHAIN_ID, JWKS_PART, POLICY_ID } from "../../../lib/api/queries";
import { apiPath, ROUTE_LIST, routeParams, ROUTES } from "../../../lib/api/routes";
import { ROTATION_ID } from "../../../lib/api/rotations";

/** What each route parameter accepts: the validators the handlers in functions/ apply to it. */
const PARAM_VALIDATORS: Record<string, z.ZodType> = {
  rotationId: ROTATION_ID,
  keyId: CHAIN_ID,
  policyId: POLICY_ID,
  vault: JWKS_PART,
  key: JWKS_PART,
};

const WITH_SLASH = ["kek:demo-vault/tenant-kek", "kek:demo-vault/tenant-kek@manual:2026-03-01T00:00:00.000Z", "signing:v/k@expiry:0123abcd", "abc/def", "x/"];

interface Param {
  name: string;
  catchAll: boolean;
  index: number;
}

function paramsOf(route: string): { params: Param[]; segments: number } {
  const segments = route.split("/");
  const params: Param[] = [];
  segments.forEach((s, index) => {
    const m = /^\{(\*)?([A-Za-z0-9_]+)(?::[^}?]*)?\??\}$/.exec(s);
    if (m) params.push({ name: m[2]!, catchAll: m[1] === "*", index });
  });
  return { params, segments: segments.length };
}

const canHoldSlash = (name: string) => WITH_SLASH.some((v) => PARAM_VALIDATORS[name]?.safeParse(v).success);

describe("route table", () => {
  it("knows the validator of every route parameter (a new parameter must be classified here)", () => {
    const unknown = ROUTE_LIST.flatMap((r) => paramsOf(r.route).params.map((p) => p.name)).filter((n) => !(n in PARAM_VALIDATORS));
    expect(unknown).toEqual([]);
  });

  it("routes no parameter that can hold a '/' outside a catch-all (Azure decodes %2F before routing)", () => {
    const offending = ROUTE_LIST.flatMap((r) => paramsOf(r.route).params.filter((p) => !p.catchAll && canHoldSlash(p.name)).map((p) => `${r.name}: ${r.route} (${p.name})`));
    expect(offending).toEqual([]);
  });

  it("has every id that can hold a '/' (keyId, rotationId) travel in a catch-all wherever it is routed", () => {
    expect(canHoldSlash("keyId")).toBe(true);
    expect(canHoldSlash("rotationId")).toBe(true);
    expect(canHoldSlash("policyId")).toBe(false);
    expect(canHoldSlash("vault")).toBe(false);
  });

  it("puts a catch-all only as the last segment of a template, as Azure Functions requires", () => {
    for (const r of ROUTE_LIST) {
      const { params, segments } = paramsOf(r.route);
      for (const p of params.filter((q) => q.catchAll)) expect(p.index, r.route).toBe(segments - 1);
    }
  });
});

describe("apiPath", () => {
  const rotationId = "kek:demo-vault/tenant-kek@manual:2026-03-01T00:00:00.000Z";

  it("keeps an id readable in a catch-all: its '/', ':' and '@' stay as they are", () => {
    expect(apiPath(ROUTES.getRotation, { rotationId })).toBe(`/api/rotations/${rotationId}`);
    expect(apiPath(ROUTES.approveRotation, { rotationId })).toBe(`/api/rotations/approve/${rotationId}`);
    expect(apiPath(ROUTES.rollbackRotation, { rotationId })).toBe(`/api/rotations/rollback/${rotationId}`);
    expect(apiPath(ROUTES.breakLock, { keyId: "kek:demo-vault/tenant-kek" })).toBe("/api/locks/break/kek:demo-vault/tenant-kek");
    expect(apiPath(ROUTES.putKey, { keyId: "dek:tenant-a" })).toBe("/api/keys/dek:tenant-a");
  });

  it("encodes what would change the URL's meaning, so the decoded path is the id again", () => {
    const odd = "kek:v/k@manual:a b?c#d%e+f";
    const path = apiPath(ROUTES.getRotation, { rotationId: odd });
    expect(path).toBe("/api/rotations/kek:v/k@manual:a%20b%3Fc%23d%25e%2Bf");
    expect(decodeURIComponent(path.slice("/api/rotations/".length))).toBe(odd);
    expect(new URL(path, "http://h").pathname).toBe(path);
  });

  it("drops an optional parameter left out, and refuses a missing required one or a '/' in a one-segment parameter", () => {
    expect(apiPath(ROUTES.getPolicies)).toBe("/api/policies");
    expect(apiPath(ROUTES.getPolicies, { policyId: "quarterly" })).toBe("/api/policies/quarterly");
    expect(() => apiPath(ROUTES.getRotation, {})).toThrow(/needs a value for rotationId/);
    expect(() => apiPath(ROUTES.getJwks, { vault: "a/b", key: "k" })).toThrow(/cannot hold a "\/"/);
  });
});

describe("routeParams", () => {
  it("reads a %2F left in a parameter (Kestrel keeps it encoded, a double escape leaves it) as the '/' it stands for", () => {
    expect(routeParams({ rotationId: "kek:v%2Fk@manual:1", keyId: "kek:v%2fk" })).toEqual({ rotationId: "kek:v/k@manual:1", keyId: "kek:v/k" });
    expect(routeParams({ keyId: "kek:v/k", policyId: "quarterly" })).toEqual({ keyId: "kek:v/k", policyId: "quarterly" });
  });
});
