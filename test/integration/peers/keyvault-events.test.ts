// Event Grid delivery by the Key Vault peer (new versions, near-expiry by the rotation policy's
// Notify threshold, expiry, on demand), its adjustable clock, and state-file persistence.
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { KeyVaultEventGridEvent, KeyVaultPeer } from "../../../dev/peers/keyvault";
import { cryptoClient, keyClient, rawRequest, secretClient, startTestVault, startWebhookSink, type WebhookSink } from "../../support/keyvault";

const DAY = 86_400_000;
let peer: KeyVaultPeer;
let sink: WebhookSink;
let seq = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++seq}`;

beforeAll(async () => {
  sink = await startWebhookSink();
  peer = await startTestVault({ vaultName: "events-vault", eventGridWebhook: sink.url });
});
afterAll(async () => {
  await peer.stop();
  await sink.close();
});
afterEach(() => {
  peer.admin.resetTime();
});

const eventsFor = (name: string): KeyVaultEventGridEvent[] => sink.events.filter((e) => e.subject === name);

/** Deliveries are asynchronous: wait (up to 10 s) until the sink has what the test expects. */
async function eventually(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("[test] the expected events did not arrive at the webhook");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("Key Vault peer Event Grid events", () => {
  it("delivers KeyNewVersionCreated and SecretNewVersionCreated in the Event Grid schema with PascalCase data", async () => {
    const name = unique("nv");
    const k = await keyClient(peer).createRsaKey(name, { expiresOn: new Date(Date.now() + 365 * DAY) });
    const secret = unique("nvs");
    await secretClient(peer).setSecret(secret, "v");
    await eventually(() => eventsFor(name).length >= 1 && eventsFor(secret).length >= 1);
    const event = eventsFor(name)[0]!;
    expect(event).toMatchObject({
      subject: name,
      eventType: "Microsoft.KeyVault.KeyNewVersionCreated",
      topic: expect.stringMatching(/\/providers\/Microsoft\.KeyVault\/vaults\/events-vault$/),
      dataVersion: "1",
      metadataVersion: "1",
      data: {
        Id: k.id, VaultName: "events-vault", ObjectType: "Key", ObjectName: name, Version: k.properties.version,
        NBF: null, EXP: Math.floor(k.properties.expiresOn!.getTime() / 1000),
      },
    });
    expect(Number.isNaN(Date.parse(event.eventTime))).toBe(false);
    expect(eventsFor(secret)[0]).toMatchObject({ eventType: "Microsoft.KeyVault.SecretNewVersionCreated", data: { ObjectType: "Secret", ObjectName: secret } });
  });

  it("sends KeyNearExpiry once per version when it comes within the default 30-day Notify threshold, then KeyExpired", async () => {
    const kc = keyClient(peer);
    const name = unique("near");
    const k = await kc.createRsaKey(name, { expiresOn: new Date(Date.now() + 40 * DAY) });
    expect((await peer.admin.checkNotifications()).filter((e) => e.subject === name)).toEqual([]);
    peer.admin.advanceTime(11 * DAY);
    const near = (await peer.admin.checkNotifications()).filter((e) => e.subject === name);
    expect(near.map((e) => [e.eventType, e.data.Version])).toEqual([["Microsoft.KeyVault.KeyNearExpiry", k.properties.version]]);
    expect((await peer.admin.checkNotifications()).filter((e) => e.subject === name)).toEqual([]);
    peer.admin.advanceTime(30 * DAY);
    const expired = (await peer.admin.checkNotifications()).filter((e) => e.subject === name);
    expect(expired.map((e) => e.eventType)).toEqual(["Microsoft.KeyVault.KeyExpired"]);
    await eventually(() => eventsFor(name).length >= 3);
    expect(eventsFor(name).map((e) => e.eventType)).toEqual([
      "Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.KeyNearExpiry", "Microsoft.KeyVault.KeyExpired",
    ]);
  });

  it("uses the rotation policy's Notify threshold, and a rotated key notifies again for its new version", async () => {
    const kc = keyClient(peer);
    const name = unique("pol");
    await kc.createRsaKey(name, { expiresOn: new Date(Date.now() + 20 * DAY) });
    await kc.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P10D" }] });
    peer.admin.advanceTime(5 * DAY);
    expect((await peer.admin.checkNotifications()).filter((e) => e.subject === name)).toEqual([]);
    peer.admin.advanceTime(6 * DAY);
    expect((await peer.admin.checkNotifications()).filter((e) => e.subject === name).map((e) => e.eventType)).toEqual(["Microsoft.KeyVault.KeyNearExpiry"]);
    const rotated = await kc.rotateKey(name);
    await kc.updateKeyProperties(name, rotated.properties.version!, { expiresOn: new Date(peer.admin.now().getTime() + 5 * DAY) });
    const again = (await peer.admin.checkNotifications()).filter((e) => e.subject === name);
    expect(again.map((e) => [e.eventType, e.data.Version])).toEqual([["Microsoft.KeyVault.KeyNearExpiry", rotated.properties.version]]);
  });

  it("rotates on its own when a policy's Rotate action comes due", async () => {
    const kc = keyClient(peer);
    const name = unique("auto");
    const k = await kc.createEcKey(name);
    await kc.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }] });
    peer.admin.advanceTime(31 * DAY);
    await peer.admin.checkNotifications();
    const current = await kc.getKey(name);
    expect(current.properties.version).not.toBe(k.properties.version);
    expect(current.properties.expiresOn!.getTime() - current.properties.createdOn!.getTime()).toBe(90 * DAY);
  });

  it("sends SecretNearExpiry 30 days before a secret expires and SecretExpired after", async () => {
    const name = unique("snear");
    await secretClient(peer).setSecret(name, "v", { expiresOn: new Date(Date.now() + 31 * DAY) });
    peer.admin.advanceTime(2 * DAY);
    expect((await peer.admin.checkNotifications()).filter((e) => e.subject === name).map((e) => e.eventType)).toEqual(["Microsoft.KeyVault.SecretNearExpiry"]);
    peer.admin.advanceTime(30 * DAY);
    expect((await peer.admin.checkNotifications()).filter((e) => e.subject === name).map((e) => e.eventType)).toEqual(["Microsoft.KeyVault.SecretExpired"]);
  });

  it("delivers events on demand, in process and over HTTP", async () => {
    const name = unique("demand");
    const k = await keyClient(peer).createRsaKey(name, { expiresOn: new Date(Date.now() + 365 * DAY) });
    const event = await peer.admin.emitEvent("Microsoft.KeyVault.KeyNearExpiry", name);
    expect(event.data).toMatchObject({ ObjectName: name, Version: k.properties.version });
    expect(sink.events.some((e) => e.id === event.id)).toBe(true);
    const res = await rawRequest(peer, "POST", "/admin/events", { body: { type: "Microsoft.KeyVault.KeyExpired", name, version: k.properties.version }, token: false });
    expect(res.status).toBe(200);
    expect(sink.events.some((e) => e.id === res.body.id && e.eventType === "Microsoft.KeyVault.KeyExpired")).toBe(true);
    expect(peer.admin.deliveredEvents().some((e) => e.id === res.body.id)).toBe(true);
  });

  it("checks thresholds on its own at the configured interval", async () => {
    const ownSink = await startWebhookSink();
    const own = await startTestVault({ eventGridWebhook: ownSink.url, notifyCheckIntervalMs: 50 });
    try {
      const name = unique("timer");
      await keyClient(own).createRsaKey(name, { expiresOn: new Date(Date.now() + 10 * DAY) });
      const events = await ownSink.waitFor(2);
      expect(events.map((e) => e.eventType)).toEqual(["Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.KeyNearExpiry"]);
    } finally {
      await own.stop();
      await ownSink.close();
    }
  });

  it("moves its clock through the admin API over HTTP", async () => {
    const set = await rawRequest(peer, "PUT", "/admin/time", { body: { now: "2030-01-01T00:00:00.000Z" }, token: false });
    expect(Date.parse(set.body.now)).toBeGreaterThanOrEqual(Date.parse("2030-01-01T00:00:00.000Z"));
    const s = await secretClient(peer).setSecret(unique("t"), "v");
    expect(s.properties.createdOn!.getUTCFullYear()).toBe(2030);
    await rawRequest(peer, "DELETE", "/admin/time", { token: false });
    expect(peer.admin.now().getUTCFullYear()).toBe(new Date().getUTCFullYear());
  });
});

describe("Key Vault peer state file", () => {
  it("keeps keys, versions, secrets, policies and its CA across a restart", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kv-state-"));
    const stateFile = path.join(dir, "keyvault.json");
    try {
      const first = await startTestVault({ stateFile });
      const name = unique("persist");
      const dek = randomBytes(32);
      let wrapped: Buffer;
      let kid: string;
      let ca: string;
      try {
        const k = await keyClient(first).createRsaKey(name);
        kid = k.id!;
        ca = first.caPem;
        const pub = createPublicKey({ key: { kty: "RSA", n: Buffer.from(k.key!.n!).toString("base64url"), e: Buffer.from(k.key!.e!).toString("base64url") }, format: "jwk" });
        wrapped = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, dek);
        await keyClient(first).updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P7D" }] });
        await secretClient(first).setSecret(name, "kept");
      } finally {
        await first.stop();
      }
      const second = await startTestVault({ stateFile });
      try {
        expect(second.caPem).toBe(ca);
        const version = kid.split("/").pop()!;
        const again = await keyClient(second).getKey(name, { version });
        expect(again.properties.version).toBe(version);
        const unwrapped = await cryptoClient(second, again.id!).unwrapKey("RSA-OAEP-256", wrapped);
        expect(Buffer.from(unwrapped.result).equals(dek)).toBe(true);
        expect((await keyClient(second).getKeyRotationPolicy(name)).lifetimeActions).toEqual([{ action: "Notify", timeBeforeExpiry: "P7D" }]);
        expect((await secretClient(second).getSecret(name)).value).toBe("kept");
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
