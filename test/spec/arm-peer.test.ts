// The ARM peer answers in the official ARM specifications' shapes: every answer the real
// @azure/arm-* clients got from it during a rotation (and the request bodies they sent) validates
// against the vendored spec definitions (test/fixtures/arm-specs, closed objects: an extra field
// fails too).
import { readFileSync } from "node:fs";
import path from "node:path";
import { CosmosDBManagementClient } from "@azure/arm-cosmosdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArmPeer } from "../../dev/peers/arm";
import { parseSecretProvider, type ProviderSpecOf } from "../../lib/domain/secretProviders";
import { serviceBusSasProvider, storageAccountKeyProvider } from "../../lib/secrets/arm";
import { armConnection, RG, startArmWithResources, SUB } from "../support/arm";
import { localArmPeerCredential } from "../../lib/secrets/arm";
import { describeErrors, SpecValidator } from "./specs";

const specs = path.resolve(__dirname, "..", "fixtures", "arm-specs");
const storageSpec = path.join(specs, "storage", "openapi.2026-06-01.definitions.json");
const serviceBusSpec = path.join(specs, "servicebus", "AuthorizationRules.2021-11-01.definitions.json");
const validator = new SpecValidator();

let peer: ArmPeer;
beforeAll(async () => {
  peer = await startArmWithResources();
});
afterAll(async () => {
  await peer?.stop();
});

function valid(file: string, definition: string, body: unknown): void {
  const v = validator.definition(file, definition);
  expect(v(body), `${definition}: ${describeErrors(v.errors)}`).toBe(true);
}

describe("ARM peer against the official ARM specifications", () => {
  it("Microsoft.Storage listKeys and regenerateKey answer StorageAccountListKeysResult", async () => {
    const spec = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "demostore" }) as ProviderSpecOf<"storageAccountKey">;
    const p = storageAccountKeyProvider(spec, armConnection(peer));
    const from = peer.calls.length;
    await p.read("key1");
    await p.regenerate("key2");
    const calls = peer.calls.slice(from);
    expect(calls.map((c) => `${c.status} ${c.path.split("/").pop()}`)).toEqual(["200 listKeys", "200 regenerateKey"]);
    for (const c of calls) valid(storageSpec, "StorageAccountListKeysResult", c.responseBody);
    expect(calls[1]?.requestBody).toEqual({ keyName: "key2" });
  });

  it("Microsoft.ServiceBus listKeys and regenerateKeys answer AccessKeys; the client sends RegenerateAccessKeyParameters", async () => {
    for (const entity of [{}, { queue: "orders" }]) {
      const spec = parseSecretProvider({ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: RG, namespace: "demo-bus", rule: "queue" in entity ? "orders-listen" : "app-send", ...entity }) as ProviderSpecOf<"serviceBusSas">;
      const p = serviceBusSasProvider(spec, armConnection(peer));
      const from = peer.calls.length;
      await p.read("primary");
      await p.regenerate("secondary");
      const calls = peer.calls.slice(from);
      expect(calls.map((c) => c.status)).toEqual([200, 200]);
      for (const c of calls) valid(serviceBusSpec, "AccessKeys", c.responseBody);
      valid(serviceBusSpec, "RegenerateAccessKeyParameters", calls[1]?.requestBody);
      expect(calls[1]?.requestBody).toEqual({ keyType: "SecondaryKey" });
    }
  });

  it("the validation can fail: the spelling real Azure sends (\"FULL\") and an undeclared field are caught", () => {
    const v = validator.definition(storageSpec, "StorageAccountListKeysResult");
    expect(v({ keys: [{ keyName: "key1", value: "x", permissions: "FULL" }] })).toBe(false);
    expect(v({ keys: [{ keyName: "key1", value: "x", permissions: "Full", extra: 1 }] })).toBe(false);
    expect(validator.definition(serviceBusSpec, "RegenerateAccessKeyParameters")({ keyType: "TertiaryKey" })).toBe(false);
  });
});

// ---- Microsoft.DocumentDB (the api-version @azure/arm-cosmosdb 17.0.0 sends: 2026-03-15) ---------
//
// The Cosmos DB spec is TypeSpec-generated: its results inherit through allOf (ListKeysResult is
// ListReadOnlyKeysResult plus the read-write pair; GetResults is common-types' Resource plus the
// account's fields). JSON Schema's allOf closes each part on its own, so the definitions are
// flattened the way Swagger means them (own properties plus the parents'), then closed. A $ref to a
// definition that is not vendored becomes `false`: the peer may not send a field nobody checked.

const cosmosSpec = path.join(specs, "cosmos-db", "resource-manager", "Microsoft.DocumentDB", "DocumentDB", "stable", "2026-03-15", "openapi.excerpt.json");
type Json = Record<string, unknown>;
const specDocs = new Map<string, Json>();
const specDoc = (file: string): Json => {
  let d = specDocs.get(file);
  if (!d) specDocs.set(file, (d = JSON.parse(readFileSync(file, "utf8")) as Json));
  return d;
};

function swaggerSchema(node: unknown, file: string, seen: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(node)) return node.map((n) => swaggerSchema(n, file, seen));
  if (!node || typeof node !== "object") return node;
  const n = node as Json;
  if (typeof n.$ref === "string") {
    const [rel, pointer] = n.$ref.split("#");
    const target = rel ? path.resolve(path.dirname(file), rel) : file;
    const name = (pointer ?? "").replace("/definitions/", "");
    const key = `${target}#${name}`;
    if (seen.has(key)) return {}; // a recursive definition (ErrorDetail.details): checked one level deep
    const def = (specDoc(target).definitions as Json | undefined)?.[name];
    return def === undefined ? false : swaggerSchema(def, target, new Set([...seen, key]));
  }
  const out: Json = {};
  let properties: Json = {};
  const required: string[] = [];
  for (const [k, v] of Object.entries(n)) {
    if (k.startsWith("x-ms-") || ["description", "title", "readOnly", "default"].includes(k) || (k === "format" && v === "arm-id")) continue;
    if (k === "properties") properties = { ...properties, ...Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, swaggerSchema(s, file, seen)])) };
    else if (k === "required") required.push(...(v as string[]));
    else if (k === "allOf") {
      for (const parent of v as unknown[]) {
        const flat = swaggerSchema(parent, file, seen) as Json;
        properties = { ...(flat.properties as Json | undefined), ...properties };
        required.push(...((flat.required as string[] | undefined) ?? []));
      }
    } else out[k] = k === "items" || k === "additionalProperties" ? swaggerSchema(v, file, seen) : v;
  }
  if (Object.keys(properties).length > 0) out.properties = properties;
  if (required.length > 0) out.required = [...new Set(required)];
  if ((n.type === "object" || n.properties || n.allOf) && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

function cosmosValid(definition: string, body: unknown): void {
  const v = validator.compile(swaggerSchema({ $ref: `#/definitions/${definition}` }, cosmosSpec) as object);
  expect(v(body), `${definition}: ${describeErrors(v.errors)} in ${JSON.stringify(body)}`).toBe(true);
}

/** The operation the spec declares for `method` on the path template ending in `suffix`. */
function cosmosOperation(suffix: string, method: string): Json {
  const paths = specDoc(cosmosSpec).paths as Json;
  const template = Object.keys(paths).find((t) => t.endsWith(suffix));
  const op = template ? ((paths[template] as Json)[method] as Json | undefined) : undefined;
  if (!op) throw new Error(`[spec] no ${method} ${suffix} in the Cosmos DB excerpt`);
  return op;
}

/** A response's declared body schema name ("" when it declares none). */
function declaredBody(op: Json, status: number): string {
  const r = (op.responses as Json)[String(status)] as Json | undefined;
  if (!r) throw new Error(`[spec] ${String(op.operationId)} declares no ${status}`);
  return ((r.schema as Json | undefined)?.$ref as string | undefined)?.replace("#/definitions/", "") ?? "";
}

describe("ARM peer against the official Cosmos DB specification (2026-03-15, the api-version @azure/arm-cosmosdb 17.0.0 sends)", () => {
  const account = "demo-cosmos";
  const client = () => new CosmosDBManagementClient(localArmPeerCredential, SUB, {
    endpoint: peer.url, tlsOptions: { ca: peer.caPem }, credentials: { scopes: ["https://management.azure.com/.default"] },
  });

  it("listKeys, listReadOnlyKeys (POST) and getReadOnlyKeys (GET) answer the results their operations declare", async () => {
    const c = client();
    const from = peer.calls.length;
    await c.databaseAccounts.listKeys(RG, account);
    await c.databaseAccounts.listReadOnlyKeys(RG, account);
    await c.databaseAccounts.getReadOnlyKeys(RG, account);
    const calls = peer.calls.slice(from);
    expect(calls.map((x) => `${x.method} ${x.status} ${x.path.split("/").pop()}`)).toEqual(["POST 200 listKeys", "POST 200 readonlykeys", "GET 200 readonlykeys"]);
    const [keys, ro, roGet] = calls;
    cosmosValid(declaredBody(cosmosOperation("/listKeys", "post"), 200), keys?.responseBody);
    cosmosValid(declaredBody(cosmosOperation("/readonlykeys", "post"), 200), ro?.responseBody);
    cosmosValid(declaredBody(cosmosOperation("/readonlykeys", "get"), 200), roGet?.responseBody);
  });

  it("regenerateKey is the declared long-running operation: the client sends DatabaseAccountRegenerateKeyParameters, the peer answers 202 with the declared headers, the poller ends at the Location's 200", async () => {
    const c = client();
    const op = cosmosOperation("/regenerateKey", "post");
    expect(op["x-ms-long-running-operation"]).toBe(true);
    const from = peer.calls.length;
    await c.databaseAccounts.regenerateKey(RG, account, { keyKind: "secondaryReadonly" });
    const calls = peer.calls.slice(from);
    const first = calls[0]!;
    expect(`${first.method} ${first.status}`).toBe("POST 202");
    cosmosValid("DatabaseAccountRegenerateKeyParameters", first.requestBody);
    const headers = ((op.responses as Json)["202"] as Json).headers as Record<string, Json>;
    for (const [name, h] of Object.entries(headers)) {
      const value = first.responseHeaders?.[name.toLowerCase()];
      expect(value, `header ${name}`).toBeTypeOf("string");
      if (h.type === "integer") expect(value, name).toMatch(/^\d{1,9}$/);
      if (h.format === "uri") expect(() => new URL(value!), name).not.toThrow();
    }
    // final-state-via location: the last call is the GET of the Location, answering the 200 the
    // operation declares (which has no body).
    expect((op["x-ms-long-running-operation-options"] as Json)["final-state-via"]).toBe("location");
    const last = calls.at(-1)!;
    expect(`${last.method} ${last.status}`).toBe("GET 200");
    expect(new URL(first.responseHeaders!.location!).pathname).toBe(last.path);
    expect(declaredBody(op, 200)).toBe("");
    expect(last.responseBody).toBeUndefined();
  });

  it("databaseAccounts get (DatabaseAccounts_Get) answers the DatabaseAccountGetResults it declares (common-types Resource plus the account's properties), with the account's documentEndpoint", async () => {
    const from = peer.calls.length;
    const got = await client().databaseAccounts.get(RG, account);
    const call = peer.calls.slice(from)[0]!;
    expect(`${call.method} ${call.status}`).toBe("GET 200");
    const op = cosmosOperation("/databaseAccounts/{accountName}", "get");
    expect(op.operationId).toBe("DatabaseAccounts_Get");
    cosmosValid(declaredBody(op, 200), call.responseBody);
    expect(got).toMatchObject({ name: account, type: "Microsoft.DocumentDB/databaseAccounts", documentEndpoint: `https://${account}.documents.azure.com:443/` });
    expect(got.id?.toLowerCase()).toBe(`/subscriptions/${SUB}/resourcegroups/${RG}/providers/microsoft.documentdb/databaseaccounts/${account}`);
  });

  it("an account given another documentEndpoint (a sovereign cloud's) answers it in the same declared shape", async () => {
    peer.addCosmosAccount(SUB, RG, "gov-cosmos", { documentEndpoint: "https://gov-cosmos.documents.azure.us:443/" });
    const from = peer.calls.length;
    const got = await client().databaseAccounts.get(RG, "gov-cosmos");
    cosmosValid(declaredBody(cosmosOperation("/databaseAccounts/{accountName}", "get"), 200), peer.calls.slice(from)[0]?.responseBody);
    expect(got.documentEndpoint).toBe("https://gov-cosmos.documents.azure.us:443/");
  });

  it("the Cosmos DB validation can fail: an undeclared field, a key kind the spec lacks, a field whose definition is not vendored", () => {
    const keys = validator.compile(swaggerSchema({ $ref: "#/definitions/DatabaseAccountListKeysResult" }, cosmosSpec) as object);
    expect(keys({ primaryMasterKey: "a", secondaryMasterKey: "b", primaryReadonlyMasterKey: "c", secondaryReadonlyMasterKey: "d" })).toBe(true);
    expect(keys({ primaryMasterKey: "a", tertiaryMasterKey: "x" })).toBe(false);
    const regen = validator.compile(swaggerSchema({ $ref: "#/definitions/DatabaseAccountRegenerateKeyParameters" }, cosmosSpec) as object);
    expect(regen({ keyKind: "Primary" })).toBe(false);
    expect(regen({})).toBe(false);
    const get = validator.compile(swaggerSchema({ $ref: "#/definitions/DatabaseAccountGetResults" }, cosmosSpec) as object);
    expect(get({ name: "a", properties: { documentEndpoint: "https://a/" } })).toBe(true);
    expect(get({ name: "a", properties: { consistencyPolicy: {} } })).toBe(false);
    expect(get({ name: "a", systemData: {} })).toBe(false);
  });
});
