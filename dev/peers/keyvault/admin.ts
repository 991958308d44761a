// The admin API: in process (peer.admin) and over HTTP under /admin (no authentication; the peer
// listens on loopback only).
//
//   GET    /admin/stats                         POST /admin/stats/reset
//   POST   /admin/faults   {operation, count, status, code?, message?, headers?}
//   POST   /admin/drop     {operation, count}   POST /admin/latency {operation, ms}
//   POST   /admin/broken-versions {object, name, version?, operations, afterCalls?, mode?, status?, ...}
//   DELETE /admin/faults                        (clears failures, drops, latency and broken versions)
//   PUT    /admin/throttle {limits?, scale?, ratePerSecond?} | false
//   GET    /admin/time     PUT /admin/time {now}  POST /admin/time/advance {ms}  DELETE /admin/time
//   PUT    /admin/page-size {size}              PUT /admin/webhook {url | null}
//   POST   /admin/events   {type, name, version?}   POST /admin/events/check   GET /admin/events
import type { IncomingMessage, ServerResponse } from "node:http";
import { badParameter, PeerError } from "./errors";
import {
  KEY_VAULT_EVENT_TYPES, KEY_VAULT_OPERATIONS, type KeyVaultEventType, type KeyVaultOperation, type KeyVaultPeerAdmin,
  type OperationSelector,
} from "./index";
import type { PeerRuntime } from "./server";
import { Throttle } from "./throttle";

function checkOp(op: unknown): OperationSelector {
  if (op === "*" || (typeof op === "string" && (KEY_VAULT_OPERATIONS as readonly string[]).includes(op))) return op as OperationSelector;
  throw badParameter(`[keyvault-peer] unknown operation ${String(op)}; use "*" or one of ${KEY_VAULT_OPERATIONS.join(", ")}`);
}

function checkEventType(t: unknown): KeyVaultEventType {
  if (typeof t === "string" && (KEY_VAULT_EVENT_TYPES as readonly string[]).includes(t)) return t as KeyVaultEventType;
  throw badParameter(`[keyvault-peer] unknown event type ${String(t)}; use one of ${KEY_VAULT_EVENT_TYPES.join(", ")}`);
}

export function createAdmin(rt: PeerRuntime): KeyVaultPeerAdmin {
  return {
    now: () => new Date(rt.clock.nowMs()),
    setNow: (at) => rt.clock.setNow(at),
    advanceTime: (ms) => rt.clock.advance(ms),
    resetTime: () => rt.clock.reset(),
    failNext: (operation, count, status, body) => rt.faults.failNext(checkOp(operation), count, status, body),
    setLatency: (operation, ms) => rt.faults.setLatency(checkOp(operation), ms),
    dropNext: (operation, count) => rt.faults.dropNext(checkOp(operation), count),
    breakVersion: (spec) => {
      try {
        rt.faults.breakVersion(spec);
      } catch (err) {
        throw badParameter(err instanceof Error ? err.message : String(err));
      }
    },
    clearFaults: () => rt.faults.clear(),
    setThrottle: (throttle) => {
      rt.throttle = throttle ? new Throttle(throttle) : undefined;
    },
    setPageSize: (size) => {
      if (!Number.isInteger(size) || size < 1) throw badParameter(`[keyvault-peer] page size must be a positive integer, got ${size}`);
      rt.pageSize = size;
    },
    setEventGridWebhook: (url) => {
      rt.events.webhook = url;
    },
    emitEvent: (type, objectName, version) => rt.events.emit(checkEventType(type), objectName, version),
    checkNotifications: () => rt.events.check(),
    deliveredEvents: () => [...rt.events.delivered],
    stats: () => structuredClone(rt.stats),
    resetStats: () => {
      const keep = { eventsDelivered: 0, eventDeliveryFailures: 0 };
      Object.assign(rt.stats, {
        calls: {}, throttledCalls: {}, total: 0, unwrapCalls: 0, wrapCalls: 0, throttled429: 0, faultsInjected: 0, droppedConnections: 0, challenges401: 0, ...keep,
      });
    },
  };
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown> | false | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (!text) return resolve(null);
      try {
        resolve(JSON.parse(text) as Record<string, unknown> | false);
      } catch {
        reject(badParameter("[keyvault-peer] admin request body is not valid JSON"));
      }
    });
  });
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  const payload = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

const num = (v: unknown, field: string): number => {
  if (typeof v !== "number" || !Number.isFinite(v)) throw badParameter(`[keyvault-peer] ${field} must be a number`);
  return v;
};

export async function handleAdminHttp(admin: KeyVaultPeerAdmin, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const body = (await readJson(req)) ?? {};
  const b = body === false ? {} : body;
  const key = `${req.method} ${url.pathname.replace(/\/+$/, "")}`;
  switch (key) {
    case "GET /admin/stats": return reply(res, 200, admin.stats());
    case "POST /admin/stats/reset": admin.resetStats(); return reply(res, 204);
    case "POST /admin/faults":
      admin.failNext(checkOp(b.operation), num(b.count ?? 1, "count"), num(b.status, "status"), {
        ...(typeof b.code === "string" ? { code: b.code } : {}),
        ...(typeof b.message === "string" ? { message: b.message } : {}),
        ...(b.headers && typeof b.headers === "object" ? { headers: b.headers as Record<string, string> } : {}),
      });
      return reply(res, 204);
    case "POST /admin/broken-versions": {
      if (b.object !== "key" && b.object !== "secret") throw badParameter("[keyvault-peer] object must be \"key\" or \"secret\"");
      if (typeof b.name !== "string" || b.name === "") throw badParameter("[keyvault-peer] name is required");
      if (!Array.isArray(b.operations) || !b.operations.every((o) => typeof o === "string")) throw badParameter("[keyvault-peer] operations must be an array of operation names");
      if (b.mode !== undefined && b.mode !== "fail" && b.mode !== "corrupt") throw badParameter("[keyvault-peer] mode must be \"fail\" or \"corrupt\"");
      admin.breakVersion({
        object: b.object, name: b.name, operations: b.operations.map((o) => checkOp(o)).filter((o): o is KeyVaultOperation => o !== "*"),
        ...(typeof b.version === "string" ? { version: b.version } : {}),
        ...(b.mode === "corrupt" || b.mode === "fail" ? { mode: b.mode } : {}),
        ...(b.status !== undefined ? { status: num(b.status, "status") } : {}),
        ...(b.afterCalls !== undefined ? { afterCalls: num(b.afterCalls, "afterCalls") } : {}),
        ...(typeof b.code === "string" ? { code: b.code } : {}),
        ...(typeof b.message === "string" ? { message: b.message } : {}),
      });
      return reply(res, 204);
    }
    case "POST /admin/drop": admin.dropNext(checkOp(b.operation), num(b.count ?? 1, "count")); return reply(res, 204);
    case "POST /admin/latency": admin.setLatency(checkOp(b.operation), num(b.ms, "ms")); return reply(res, 204);
    case "DELETE /admin/faults": admin.clearFaults(); return reply(res, 204);
    case "PUT /admin/throttle":
      admin.setThrottle(body === false || b.enabled === false ? false : (b));
      return reply(res, 204);
    case "GET /admin/time": return reply(res, 200, { now: admin.now().toISOString() });
    case "PUT /admin/time": {
      const at = typeof b.now === "string" ? Date.parse(b.now) : num(b.now, "now");
      if (Number.isNaN(at)) throw badParameter("[keyvault-peer] now must be an ISO date or epoch milliseconds");
      admin.setNow(at);
      return reply(res, 200, { now: admin.now().toISOString() });
    }
    case "POST /admin/time/advance": admin.advanceTime(num(b.ms, "ms")); return reply(res, 200, { now: admin.now().toISOString() });
    case "DELETE /admin/time": admin.resetTime(); return reply(res, 200, { now: admin.now().toISOString() });
    case "PUT /admin/page-size": admin.setPageSize(num(b.size, "size")); return reply(res, 204);
    case "PUT /admin/webhook":
      admin.setEventGridWebhook(typeof b.url === "string" ? b.url : undefined);
      return reply(res, 204);
    case "POST /admin/events": {
      if (typeof b.name !== "string") throw badParameter("[keyvault-peer] name is required");
      const event = await admin.emitEvent(checkEventType(b.type), b.name, typeof b.version === "string" ? b.version : undefined);
      return reply(res, 200, event);
    }
    case "POST /admin/events/check": return reply(res, 200, await admin.checkNotifications());
    case "GET /admin/events": return reply(res, 200, admin.deliveredEvents());
    default:
      throw new PeerError(404, "NotFound", `[keyvault-peer] no admin route ${key}`);
  }
}
