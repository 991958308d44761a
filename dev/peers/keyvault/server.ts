// The HTTPS server: authentication challenge, api-version check, fault injection, throttling,
// then the operation's handler. Admin requests (/admin/...) skip all of that.
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { createAdmin, handleAdminHttp } from "./admin";
import { PeerClock } from "./clock";
import type { HandlerRequest, Reply, VaultContext } from "./context";
import { isEc, isHsm, isOct } from "./crypto";
import { PeerError, badParameter, codeForStatus } from "./errors";
import { EventNotifier } from "./events";
import type { KeyVaultPeer, KeyVaultPeerOptions, KeyVaultPeerStats } from "./index";
import { route, type Route } from "./routes";
import { nameKey, VaultStore } from "./store";
import { Throttle, type ThrottleClass } from "./throttle";
import { corruptReply, Faults, versionOfReply } from "./faults";
import { peerTls } from "./tls";

export const API_VERSIONS: ReadonlySet<string> = new Set(["7.5", "7.6", "2025-06-01", "2025-07-01"]);
const DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const JSON_TYPE = "application/json; charset=utf-8";

export function emptyStats(): KeyVaultPeerStats {
  return {
    calls: {}, throttledCalls: {}, total: 0, unwrapCalls: 0, wrapCalls: 0, throttled429: 0, faultsInjected: 0,
    droppedConnections: 0, challenges401: 0, eventsDelivered: 0, eventDeliveryFailures: 0,
  };
}

/** Mutable runtime state shared with the admin API. */
export interface PeerRuntime {
  ctx: VaultContext;
  clock: PeerClock;
  faults: Faults;
  events: EventNotifier;
  stats: KeyVaultPeerStats;
  throttle: Throttle | undefined;
  pageSize: number;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": JSON_TYPE,
    "content-length": Buffer.byteLength(payload),
    "x-ms-keyvault-service-version": "1.9.0.0",
    "x-ms-request-id": randomUUID(),
    ...headers,
  });
  res.end(payload);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("end", () => {
      if (chunks.length === 0) return resolve(undefined);
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "") return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(badParameter("The request body is not valid JSON."));
      }
    });
  });
}

function throttleClass(rt: PeerRuntime, r: Route): ThrottleClass {
  if (r.kind === "secret") return { bucket: "secrets", limitClass: "secrets" };
  const entry = r.name ? rt.ctx.store.keys.get(nameKey(r.name)) : undefined;
  const v = entry?.versions[entry.versions.length - 1];
  if (r.op === "createKey" || r.op === "rotateKey") {
    // A new key's type is in the body, not read yet: count it as a software-key create.
    const kty = v?.kty ?? "RSA";
    return { bucket: "create", limitClass: isHsm(kty) ? "createHsm" : "create" };
  }
  if (!v) return { bucket: "secrets", limitClass: "secrets" };
  const hsm = isHsm(v.kty) ? "Hsm" : "";
  const family = isEc(v.kty) ? "ec" : isOct(v.kty) ? "oct" : `rsa${v.material.size}`;
  return { bucket: "crypto", limitClass: `${family}${hsm}` };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startPeerServer(opts: KeyVaultPeerOptions): Promise<KeyVaultPeer> {
  const vaultName = opts.vaultName ?? "demo-vault";
  const tenantId = opts.tenantId ?? DEFAULT_TENANT;
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"`;
  const tls = await peerTls(opts.stateFile);
  const store = new VaultStore(opts.stateFile);
  const clock = new PeerClock();
  const stats = emptyStats();

  // The context needs the URL, known only after listen(); it is filled in below.
  const ctx: VaultContext = {
    store, clock, url: "", vaultName,
    pageSize: () => rt.pageSize,
    newVersion: (kind, name, version) => {
      rt.faults.versionCreated(kind, name, version);
      rt.events.newVersion(kind, name, version);
    },
  };
  const rt: PeerRuntime = {
    ctx, clock, stats,
    faults: new Faults(),
    events: new EventNotifier(ctx, opts.eventGridWebhook, stats),
    throttle: opts.throttle ? new Throttle(opts.throttle) : undefined,
    pageSize: opts.pageSize ?? 25,
  };

  async function dataPlane(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const auth = req.headers.authorization;
    if (!auth || !/^Bearer\s+\S+/i.test(auth)) {
      stats.challenges401 += 1;
      req.resume();
      send(res, 401, { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } }, { "www-authenticate": challenge });
      return;
    }
    let segments: string[];
    try {
      segments = url.pathname.split("/").slice(1).map((s) => decodeURIComponent(s));
    } catch {
      req.resume();
      throw badParameter(`The request URI ${url.pathname} is not valid.`);
    }
    const r = route(req.method ?? "GET", segments);
    if (!r) {
      req.resume();
      send(res, 404, { error: { code: "NotFound", message: `No such operation: ${req.method} ${url.pathname}` } });
      return;
    }
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) throw badParameter("The api-version query parameter (?api-version=) is required for all requests.");
    if (!API_VERSIONS.has(apiVersion)) {
      throw badParameter(`The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`);
    }
    stats.total += 1;
    stats.calls[r.op] = (stats.calls[r.op] ?? 0) + 1;
    if (r.op === "unwrapKey") stats.unwrapCalls += 1;
    else if (r.op === "wrapKey") stats.wrapCalls += 1;

    const fault = rt.faults.take(r.op);
    if (fault?.kind === "drop") {
      stats.droppedConnections += 1;
      req.socket.destroy();
      return;
    }
    const delay = rt.faults.latencyFor(r.op);
    if (delay > 0) await sleep(delay);
    if (fault?.kind === "fail") {
      stats.faultsInjected += 1;
      req.resume();
      const { code, message, headers } = fault.body;
      throw new PeerError(fault.status, code ?? codeForStatus(fault.status), message ?? `Injected fault for ${r.op}.`, undefined, headers);
    }
    if (rt.throttle && !rt.throttle.admit(throttleClass(rt, r))) {
      stats.throttled429 += 1;
      stats.throttledCalls[r.op] = (stats.throttledCalls[r.op] ?? 0) + 1;
      req.resume();
      // Like the live service often does: no Retry-After header.
      throw new PeerError(429, "Throttled", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached");
    }
    const body = await readBody(req);
    const hreq: HandlerRequest = { name: r.name, version: r.version, query: url.searchParams, body, apiVersion };
    const reply: Reply = await r.handler(ctx, hreq);
    // A broken version answers only after its handler ran (reads only), which names the version.
    const broken = reply.status === 200 ? rt.faults.brokenFor(r.kind, r.name, versionOfReply(r.version, reply.body), r.op) : undefined;
    if (broken?.kind === "fail") {
      stats.faultsInjected += 1;
      throw new PeerError(broken.status, broken.body.code ?? codeForStatus(broken.status), broken.body.message ?? `Injected fault for ${r.op} on a broken version.`, undefined, broken.body.headers);
    }
    if (broken?.kind === "corrupt") stats.faultsInjected += 1;
    send(res, reply.status, broken?.kind === "corrupt" ? corruptReply(r.op, reply.body) : reply.body);
  }

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://peer");
    const handling = url.pathname.startsWith("/admin/") || url.pathname === "/admin"
      ? handleAdminHttp(admin, req, res, url)
      : dataPlane(req, res, url);
    handling.catch((err: unknown) => {
      if (res.headersSent || req.socket.destroyed) return;
      if (err instanceof PeerError) {
        send(res, err.status, err.body(), err.headers);
      } else {
        process.stderr.write(`[keyvault-peer] ${req.method} ${url.pathname} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        send(res, 500, { error: { code: "InternalServerError", message: "The Key Vault peer failed to handle the request." } });
      }
    });
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  ctx.url = `https://127.0.0.1:${port}`;
  const admin = createAdmin(rt);

  const interval = opts.notifyCheckIntervalMs ?? 60_000;
  const timer = interval > 0
    ? setInterval(() => {
      rt.events.check().catch((err: unknown) => process.stderr.write(`[keyvault-peer] notification check failed: ${String(err)}\n`));
    }, interval)
    : undefined;
  timer?.unref();

  let stopped: Promise<void> | undefined;
  return {
    url: ctx.url,
    vaultName,
    caPem: tls.cert,
    caFile: tls.caFile,
    admin,
    stop: () => {
      stopped ??= (async () => {
        if (timer) clearInterval(timer);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await rt.events.idle();
        await store.flush();
        if (tls.tempDir) rmSync(tls.tempDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
