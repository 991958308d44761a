// A local Azure Resource Manager peer for the key operations keyrotor's secret providers call, over
// HTTPS (the ARM clients send bearer tokens only over TLS), answering in the shapes of the official
// ARM specifications (test/fixtures/arm-specs; test/spec/arm-peer.test.ts validates them):
//   Microsoft.Storage       storageAccounts/{a}/listKeys, regenerateKey            (sync, 200)
//   Microsoft.ServiceBus    namespaces/{n}[/queues/{q}|/topics/{t}]/authorizationRules/{r}/listKeys,
//                           regenerateKeys                                         (sync, 200)
//   Microsoft.DocumentDB    databaseAccounts/{a} (GET: the account, with its documentEndpoint),
//                           databaseAccounts/{a}/listKeys, readonlykeys, regenerateKey
//                           (regenerateKey is a long-running operation: 202 + Azure-AsyncOperation)
// Authentication is ARM's: every request needs `Authorization: Bearer <JWT>` whose `aud` is the ARM
// resource the real clients ask a token for (https://management.azure.com/.default); a missing
// token is 401 AuthenticationFailed, a token for another resource (a Key Vault token) is 401
// InvalidAuthenticationTokenAudience. Signatures are not checked: there is no Entra ID here.
//
// It runs inside the process that starts it (an HTTPS server on loopback), so it ends with it; a
// fixed port must be free first (dev/peers/ports.ts). With a state file (npm start: .keyrotor/) its
// accounts, rules and keys (and its TLS certificate) survive a restart, so the secrets Key Vault
// holds still authenticate here; the file holds keys: it is written owner-only.
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { peerTls } from "../keyvault/tls";
import { ensurePortFree } from "../ports";

export const ARM_AUDIENCES: ReadonlySet<string> = new Set(["https://management.azure.com", "https://management.azure.com/", "https://management.core.windows.net/"]);

export interface ArmPeerOptions {
  /** 0 (default) picks a free loopback port. */
  port?: number;
  portRemedy?: string;
  /** Keep resources and keys here across starts (written after every change); omitted = memory only. */
  stateFile?: string;
}

export interface ArmCall {
  method: string;
  path: string;
  /** The request's api-version query parameter. */
  apiVersion?: string;
  status: number;
  requestBody?: unknown;
  responseBody?: unknown;
  /** The answer's headers the peer set itself (lower-case names), e.g. a long-running operation's. */
  responseHeaders?: Record<string, string>;
}

export interface ArmPeer {
  readonly url: string;
  readonly port: number;
  readonly caPem: string;
  readonly caFile: string;
  /** Every request and answer, in order (tests validate them against the ARM specs). */
  readonly calls: ArmCall[];
  addStorageAccount(subscriptionId: string, resourceGroup: string, account: string): void;
  addServiceBusRule(subscriptionId: string, resourceGroup: string, namespace: string, rule: string, entity?: { queue?: string; topic?: string }): void;
  /** `documentEndpoint`: what the account's GET states (default: the public cloud's
   * https://<account>.documents.azure.com:443/); any string, so tests can serve a sovereign
   * cloud's, a custom one or a hostile one. */
  addCosmosAccount(subscriptionId: string, resourceGroup: string, account: string, opts?: { documentEndpoint?: string }): void;
  /** The key a slot holds now (tests compare; never printed). */
  key(resourceId: string, slot: string): string | undefined;
  stop(): Promise<void>;
}

type KeySet = Map<string, { value: string; created: string }>;
interface Resource {
  kind: "storage" | "servicebus" | "cosmos";
  keys: KeySet;
  /** Service Bus: the rule name and the entity path (for connection strings). */
  namespace?: string;
  rule?: string;
  entity?: string;
  account?: string;
  /** The resource id as ARM spells it (answers carry it). */
  id?: string;
  /** Cosmos DB: a stable instance id, as ARM assigns one per account. */
  instanceId?: string;
  /** Cosmos DB: the account's data endpoint, when not the public cloud's default. */
  documentEndpoint?: string;
}

const newKey = (bytes: number): string => randomBytes(bytes).toString("base64");

function keySet(names: string[], bytes: number): KeySet {
  const now = new Date().toISOString();
  return new Map(names.map((n) => [n, { value: newKey(bytes), created: now }]));
}

class ArmError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** The JWT payload of a bearer token (header.payload.signature), or undefined. */
function claims(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const c = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    return c && typeof c === "object" ? (c as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function authenticate(req: IncomingMessage): void {
  const challenge = { "www-authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"' };
  const header = req.headers.authorization;
  if (!header) throw new ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", challenge);
  const m = /^Bearer (\S+)$/.exec(header);
  const c = m ? claims(m[1]!) : undefined;
  if (!c) throw new ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.", challenge);
  if (typeof c.exp === "number" && c.exp * 1000 < Date.now()) throw new ArmError(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.", challenge);
  if (typeof c.aud !== "string" || !ARM_AUDIENCES.has(c.aud)) {
    throw new ArmError(401, "InvalidAuthenticationTokenAudience", `The access token has been obtained for wrong audience or resource '${String(c.aud)}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.`, challenge);
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."));
      }
    });
  });
}

interface StateFile {
  format: 1;
  resources: (Omit<Resource, "keys"> & { resourceId: string; keys: [string, { value: string; created: string }][] })[];
}

function loadState(file: string | undefined): Map<string, Resource> {
  const out = new Map<string, Resource>();
  if (!file || !existsSync(file)) return out;
  let state: StateFile;
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as StateFile;
    if (state.format !== 1 || !Array.isArray(state.resources)) throw new Error(`unknown format ${String(state.format)}`);
  } catch (err) {
    throw new Error(`[keyrotor] [arm-peer] cannot read its state file ${file} (${(err as Error).message}); delete it to start the peer afresh`, { cause: err });
  }
  for (const { resourceId, keys, ...r } of state.resources) out.set(resourceId, { ...r, keys: new Map(keys) });
  return out;
}

/** Written whole, to a temporary file renamed over the old one: a crash never leaves half a file. */
function saveState(file: string | undefined, resources: ReadonlyMap<string, Resource>): void {
  if (!file) return;
  const state: StateFile = { format: 1, resources: [...resources].map(([resourceId, r]) => ({ ...r, resourceId, keys: [...r.keys] })) };
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, file);
}

const RESOURCE = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/(microsoft\.storage\/storageaccounts\/[^/]+|microsoft\.servicebus\/namespaces\/[^/]+(?:\/(?:queues|topics)\/[^/]+)?\/authorizationrules\/[^/]+|microsoft\.documentdb\/databaseaccounts\/[^/]+)(?:\/([a-z]+))?$/;

export async function startArmPeer(opts: ArmPeerOptions = {}): Promise<ArmPeer> {
  if (opts.port && opts.port > 0) await ensurePortFree(opts.port, "the ARM peer", opts.portRemedy ?? "start the ARM peer on another port");
  const tls = await peerTls(opts.stateFile);
  const resources = loadState(opts.stateFile);
  const save = (): void => saveState(opts.stateFile, resources);
  const operations = new Map<string, string>();
  const calls: ArmCall[] = [];
  let base = "";

  const id = (sub: string, rg: string, rest: string): string => `/subscriptions/${sub}/resourcegroups/${rg}/providers/${rest}`.toLowerCase();

  function find(path: string): { resource: Resource; action: string } {
    const m = RESOURCE.exec(path.toLowerCase());
    if (!m) throw new ArmError(404, "InvalidResourceType", `The resource type could not be found for path '${path}'.`);
    const resource = resources.get(id(m[1]!, m[2]!, m[3]!));
    if (!resource) throw new ArmError(404, "ResourceNotFound", `The Resource '${m[3]}' under resource group '${m[2]}' was not found.`);
    return { resource, action: m[4] ?? "" };
  }

  function storageKeys(r: Resource): unknown {
    return { keys: [...r.keys].map(([keyName, k]) => ({ keyName, value: k.value, permissions: "Full", creationTime: k.created })) };
  }

  function serviceBusKeys(r: Resource): unknown {
    const conn = (key: string) => `Endpoint=sb://${r.namespace}.servicebus.windows.net/;SharedAccessKeyName=${r.rule};SharedAccessKey=${key}${r.entity ? `;EntityPath=${r.entity}` : ""}`;
    const primaryKey = r.keys.get("PrimaryKey")!.value;
    const secondaryKey = r.keys.get("SecondaryKey")!.value;
    return { primaryConnectionString: conn(primaryKey), secondaryConnectionString: conn(secondaryKey), primaryKey, secondaryKey, keyName: r.rule };
  }

  function cosmosKeys(r: Resource, readOnly: boolean): unknown {
    const v = (n: string) => r.keys.get(n)!.value;
    const ro = { primaryReadonlyMasterKey: v("primaryReadonly"), secondaryReadonlyMasterKey: v("secondaryReadonly") };
    return readOnly ? ro : { primaryMasterKey: v("primary"), secondaryMasterKey: v("secondary"), ...ro };
  }

  /** DatabaseAccountGetResults: the Resource fields and the account's own, only fields the
   * vendored spec excerpt defines (test/spec/arm-peer.test.ts). */
  function cosmosAccount(r: Resource): unknown {
    return {
      id: r.id, name: r.account, type: "Microsoft.DocumentDB/databaseAccounts", location: "West Europe", tags: {}, kind: "GlobalDocumentDB",
      properties: {
        provisioningState: "Succeeded", documentEndpoint: r.documentEndpoint ?? `https://${r.account}.documents.azure.com:443/`, databaseAccountOfferType: "Standard",
        instanceId: r.instanceId, disableLocalAuth: false, enableAutomaticFailover: false, enableMultipleWriteLocations: false, isVirtualNetworkFilterEnabled: false,
      },
    };
  }

  function regenerate(r: Resource, slot: unknown, field: string): void {
    if (typeof slot !== "string" || !r.keys.has(slot)) {
      throw new ArmError(400, "InvalidRequestContent", `The value of '${field}' is invalid; it must be one of ${[...r.keys.keys()].join(", ")}.`);
    }
    r.keys.set(slot, { value: newKey(r.kind === "servicebus" ? 32 : 64), created: new Date().toISOString() });
    save();
  }

  async function handle(req: IncomingMessage, url: URL): Promise<{ status: number; body?: unknown; headers?: Record<string, string>; requestBody?: unknown }> {
    authenticate(req);
    if (!url.searchParams.get("api-version")) throw new ArmError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    const op = /^\/providers\/keyrotor\.armpeer\/operations\/([0-9a-f-]+)(\/result)?$/.exec(url.pathname);
    if (op && req.method === "GET") {
      if (!operations.has(op[1]!)) throw new ArmError(404, "NotFound", "The operation was not found.");
      return op[2] ? { status: 200 } : { status: 200, body: { status: "Succeeded" } };
    }
    const { resource: r, action } = find(url.pathname);
    const method = req.method ?? "GET";
    const body = method === "POST" ? await readJson(req) : undefined;
    const requestBody = body === undefined ? {} : { requestBody: body };
    const field = (name: string): unknown => (body && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined);
    if (r.kind === "storage" && method === "POST" && action === "listkeys") return { status: 200, body: storageKeys(r), ...requestBody };
    if (r.kind === "storage" && method === "POST" && action === "regeneratekey") {
      regenerate(r, field("keyName"), "keyName");
      return { status: 200, body: storageKeys(r), ...requestBody };
    }
    if (r.kind === "servicebus" && method === "POST" && action === "listkeys") return { status: 200, body: serviceBusKeys(r), ...requestBody };
    if (r.kind === "servicebus" && method === "POST" && action === "regeneratekeys") {
      if (field("key") !== undefined) throw new ArmError(400, "BadRequest", "This peer regenerates keys; it does not set a given key.");
      regenerate(r, field("keyType"), "keyType");
      return { status: 200, body: serviceBusKeys(r), ...requestBody };
    }
    if (r.kind === "cosmos" && method === "GET" && action === "") return { status: 200, body: cosmosAccount(r) };
    if (r.kind === "cosmos" && method === "POST" && action === "listkeys") return { status: 200, body: cosmosKeys(r, false), ...requestBody };
    if (r.kind === "cosmos" && (method === "POST" || method === "GET") && action === "readonlykeys") return { status: 200, body: cosmosKeys(r, true), ...requestBody };
    if (r.kind === "cosmos" && method === "POST" && action === "regeneratekey") {
      regenerate(r, field("keyKind"), "keyKind");
      const opId = randomUUID();
      operations.set(opId, "Succeeded");
      const status = `${base}/providers/keyrotor.armpeer/operations/${opId}?api-version=${url.searchParams.get("api-version")}`;
      const result = `${base}/providers/keyrotor.armpeer/operations/${opId}/result?api-version=${url.searchParams.get("api-version")}`;
      return { status: 202, headers: { "azure-asyncoperation": status, location: result, "retry-after": "0" }, ...requestBody };
    }
    throw new ArmError(405, "MethodNotAllowed", `${method} is not supported on '${url.pathname}'.`);
  }

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}, requestBody?: unknown) => {
      const payload = body === undefined ? "" : JSON.stringify(body);
      calls.push({
        method: req.method ?? "GET", path: url.pathname, ...(url.searchParams.has("api-version") ? { apiVersion: url.searchParams.get("api-version")! } : {}), status, ...(requestBody !== undefined ? { requestBody } : {}), ...(body !== undefined ? { responseBody: body } : {}),
        ...(Object.keys(headers).length > 0 ? { responseHeaders: headers } : {}),
      });
      res.writeHead(status, { ...(payload ? { "content-type": "application/json; charset=utf-8" } : {}), "content-length": Buffer.byteLength(payload), "x-ms-request-id": randomUUID(), ...headers });
      res.end(payload);
    };
    handle(req, url).then(
      (r) => reply(r.status, r.body, r.headers, r.requestBody),
      (err: unknown) => {
        const e = err instanceof ArmError ? err : new ArmError(500, "InternalServerError", err instanceof Error ? err.message : String(err));
        reply(e.status, { error: { code: e.code, message: e.message } }, e.headers);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const add = (key: string, make: () => Resource): void => {
    if (resources.has(key)) return;
    resources.set(key, make());
    save();
  };
  base = `https://127.0.0.1:${port}`;

  return {
    url: base,
    port,
    caPem: tls.cert,
    caFile: tls.caFile,
    calls,
    // Adding a resource the state file already holds keeps it, keys and all.
    addStorageAccount(sub, rg, account) {
      add(id(sub, rg, `Microsoft.Storage/storageAccounts/${account}`), () => ({ kind: "storage", keys: keySet(["key1", "key2"], 64), account }));
    },
    addServiceBusRule(sub, rg, namespace, rule, entity = {}) {
      const scope = entity.queue ? `/queues/${entity.queue}` : entity.topic ? `/topics/${entity.topic}` : "";
      const ent = entity.queue ?? entity.topic;
      add(id(sub, rg, `Microsoft.ServiceBus/namespaces/${namespace}${scope}/authorizationRules/${rule}`), () => ({
        kind: "servicebus", keys: keySet(["PrimaryKey", "SecondaryKey"], 32), namespace, rule, ...(ent ? { entity: ent } : {}),
      }));
    },
    addCosmosAccount(sub, rg, account, opts = {}) {
      const rest = `Microsoft.DocumentDB/databaseAccounts/${account}`;
      add(id(sub, rg, rest), () => ({
        kind: "cosmos", keys: keySet(["primary", "secondary", "primaryReadonly", "secondaryReadonly"], 64), account,
        id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/${rest}`, instanceId: randomUUID(),
        ...(opts.documentEndpoint !== undefined ? { documentEndpoint: opts.documentEndpoint } : {}),
      }));
    },
    key(resourceId, slot) {
      return resources.get(resourceId.toLowerCase())?.keys.get(slot)?.value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          if (tls.tempDir) rmSync(tls.tempDir, { recursive: true, force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
