// Event Grid delivery of Key Vault events (Event Grid schema, PascalCase data as the live service
// sends), plus the peer's own checks: near-expiry by the rotation policy's Notify action (30 days
// by default; 30 days for secrets), expiry, and a policy's Rotate action. Each event fires once per
// version and type.
import { randomUUID } from "node:crypto";
import { durationMs } from "./clock";
import type { VaultContext } from "./context";
import type { KeyVaultEventGridEvent, KeyVaultEventType, KeyVaultPeerStats } from "./index";
import { autoRotate, DEFAULT_NOTIFY, kidOf } from "./keys";
import { secretIdOf } from "./secrets";
import { nameKey, type KeyEntry } from "./store";
import { badParameter, notFound } from "./errors";

const DAY = 86_400;
const SECRET_NOTICE_S = 30 * DAY;
const ROTATED = "rotate";

interface Versioned {
  version: string;
  attributes: { nbf?: number; exp?: number; created: number };
  notified: string[];
}

export class EventNotifier {
  readonly delivered: KeyVaultEventGridEvent[] = [];
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly ctx: VaultContext,
    public webhook: string | undefined,
    private readonly stats: KeyVaultPeerStats,
  ) {}

  private build(type: KeyVaultEventType, objectType: "Key" | "Secret", name: string, v: Versioned): KeyVaultEventGridEvent {
    const id = objectType === "Key" ? kidOf(this.ctx, name, v.version) : secretIdOf(this.ctx, name, v.version);
    return {
      id: randomUUID(),
      topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/keyvault-peer/providers/Microsoft.KeyVault/vaults/${this.ctx.vaultName}`,
      subject: name,
      eventType: type,
      eventTime: new Date(this.ctx.clock.nowMs()).toISOString(),
      data: {
        Id: id, VaultName: this.ctx.vaultName, ObjectType: objectType, ObjectName: name, Version: v.version,
        NBF: v.attributes.nbf ?? null, EXP: v.attributes.exp ?? null,
      },
      dataVersion: "1",
      metadataVersion: "1",
    };
  }

  /** Records and POSTs the events (Event Grid sends arrays, header aeg-event-type: Notification). */
  async deliver(events: KeyVaultEventGridEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.delivered.push(...events);
    const url = this.webhook;
    if (!url) return;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "aeg-event-type": "Notification" },
          body: JSON.stringify(events),
        });
        await res.arrayBuffer();
        if (res.ok) {
          this.stats.eventsDelivered += events.length;
          return;
        }
      } catch {
        // Event Grid retries failed deliveries; so does the peer, briefly.
      }
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
    this.stats.eventDeliveryFailures += events.length;
  }

  /** Fire-and-forget delivery for events raised by requests (new versions). */
  private background(events: KeyVaultEventGridEvent[]): void {
    const p = this.deliver(events).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  newVersion(kind: "key" | "secret", name: string, version: string): void {
    const v = this.find(kind, name, version);
    const type = kind === "key" ? "Microsoft.KeyVault.KeyNewVersionCreated" : "Microsoft.KeyVault.SecretNewVersionCreated";
    v.notified.push(type);
    this.background([this.build(type, kind === "key" ? "Key" : "Secret", name, v)]);
  }

  private find(kind: "key" | "secret", name: string, version?: string): Versioned {
    const entry = kind === "key" ? this.ctx.store.keys.get(nameKey(name)) : this.ctx.store.secrets.get(nameKey(name));
    if (!entry) throw notFound(kind, name);
    const versions: Versioned[] = entry.versions;
    const v = version ? versions.find((x) => x.version === version) : versions[versions.length - 1];
    if (!v) throw notFound(kind, `${name}/${version}`);
    return v;
  }

  async emit(type: KeyVaultEventType, name: string, version?: string): Promise<KeyVaultEventGridEvent> {
    const kind = type.startsWith("Microsoft.KeyVault.Key") ? "key" : type.startsWith("Microsoft.KeyVault.Secret") ? "secret" : undefined;
    if (!kind) throw badParameter(`Unknown Key Vault event type ${type}.`);
    const entry = kind === "key" ? this.ctx.store.keys.get(nameKey(name)) : this.ctx.store.secrets.get(nameKey(name));
    const v = this.find(kind, name, version);
    const event = this.build(type, kind === "key" ? "Key" : "Secret", entry?.name ?? name, v);
    await this.deliver([event]);
    return event;
  }

  /** One pass over every current version: near-expiry, expiry, Rotate actions. */
  async check(): Promise<KeyVaultEventGridEvent[]> {
    const now = this.ctx.clock.nowSec();
    const events: KeyVaultEventGridEvent[] = [];
    const toRotate: string[] = [];
    const once = (v: Versioned, type: KeyVaultEventType, objectType: "Key" | "Secret", name: string): void => {
      if (v.notified.includes(type)) return;
      v.notified.push(type);
      events.push(this.build(type, objectType, name, v));
    };
    for (const entry of this.ctx.store.keys.values()) {
      const v = entry.versions[entry.versions.length - 1];
      if (!v) continue;
      const { exp, created } = v.attributes;
      for (const action of lifetimeActions(entry)) {
        const t = action.trigger;
        const due = t.timeBeforeExpiry !== undefined
          ? exp !== undefined && now >= exp - durationMs(t.timeBeforeExpiry) / 1000
          : t.timeAfterCreate !== undefined && now >= created + durationMs(t.timeAfterCreate) / 1000;
        if (!due) continue;
        if (action.action.type === "Notify" && exp !== undefined && now < exp) once(v, "Microsoft.KeyVault.KeyNearExpiry", "Key", entry.name);
        if (action.action.type === "Rotate" && !v.notified.includes(ROTATED)) {
          v.notified.push(ROTATED);
          toRotate.push(entry.name);
        }
      }
      if (exp !== undefined && now >= exp) once(v, "Microsoft.KeyVault.KeyExpired", "Key", entry.name);
    }
    for (const entry of this.ctx.store.secrets.values()) {
      const v = entry.versions[entry.versions.length - 1];
      const exp = v?.attributes.exp;
      if (!v || exp === undefined) continue;
      if (now >= exp) once(v, "Microsoft.KeyVault.SecretExpired", "Secret", entry.name);
      else if (now >= exp - SECRET_NOTICE_S) once(v, "Microsoft.KeyVault.SecretNearExpiry", "Secret", entry.name);
    }
    if (events.length || toRotate.length) this.ctx.store.changed();
    for (const name of toRotate) await autoRotate(this.ctx, name);
    await this.deliver(events);
    return events;
  }
}

function lifetimeActions(entry: KeyEntry): Array<{ trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string }; action: { type: string } }> {
  return entry.rotationPolicy?.lifetimeActions ?? [{ trigger: { timeBeforeExpiry: DEFAULT_NOTIFY }, action: { type: "Notify" } }];
}
