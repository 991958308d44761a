// `npm run bench -- keyvault-peer [--duration 10] [--rate 400] [--concurrency 32] [--warmup 1] [--in-process]`
// Unwrap throughput of the Key Vault peer through the real CryptographyClient (RSA-2048,
// RSA-OAEP-256, DEKs wrapped locally with the fetched public key): first unthrottled, then with the
// peer throttled to --rate unwraps/s for --duration seconds, where the achieved rate must stay
// within ±5% of the target. By default the peer runs in its own process (as Key Vault is remote),
// so client and peer each get a core.
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { startKeyVaultPeer, type KeyVaultThrottleOptions } from "../dev/peers/keyvault";
import { startChildPeer } from "./_childPeer";

interface PeerHandle {
  url: string;
  caPem: string;
  setThrottle(t: false | KeyVaultThrottleOptions): Promise<void>;
  stats(): Promise<{ unwrapCalls: number; throttled429: number }>;
  stop(): Promise<void>;
}

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`[keyrotor] [bench] --${name} needs a positive number`);
  return v;
}

const log = (msg: string): void => {
  process.stderr.write(`[keyvault-peer bench] ${msg}\n`);
};

async function childPeer(): Promise<PeerHandle> {
  const peer = await startChildPeer();
  return {
    url: peer.url,
    caPem: peer.caPem,
    setThrottle: async (t) => {
      await peer.admin("PUT", "/admin/throttle", t);
    },
    stats: () => peer.admin("GET", "/admin/stats"),
    stop: () => peer.stop(),
  };
}

async function inProcessPeer(): Promise<PeerHandle> {
  const peer = await startKeyVaultPeer({ notifyCheckIntervalMs: 0 });
  return {
    url: peer.url,
    caPem: peer.caPem,
    setThrottle: async (t) => peer.admin.setThrottle(t),
    stats: async () => peer.admin.stats(),
    stop: () => peer.stop(),
  };
}

interface Phase {
  ok: number;
  throttled: number;
  seconds: number;
}

/**
 * `concurrency` workers unwrap for `seconds`. A 429 makes that worker back off exponentially
 * (20 ms doubling to 320 ms, reset by a success), so rejected calls do not eat the CPU that the
 * admitted ones need.
 */
async function unwrapFor(client: CryptographyClient, wrapped: Buffer[], seconds: number, concurrency: number): Promise<Phase> {
  let ok = 0;
  let throttled = 0;
  let i = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    let backoff = 20;
    while (performance.now() < end) {
      const item = wrapped[i++ % wrapped.length]!;
      try {
        await client.unwrapKey("RSA-OAEP-256", item);
        if (performance.now() <= end) ok += 1;
        backoff = 20;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 429) throw err;
        throttled += 1;
        await new Promise((r) => setTimeout(r, Math.min(backoff, Math.max(0, end - performance.now()))));
        backoff = Math.min(backoff * 2, 320);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, throttled, seconds: Math.min(performance.now(), end) / 1000 - started / 1000 };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const duration = option(args, "duration", 10);
  const rate = option(args, "rate", 400);
  const concurrency = option(args, "concurrency", 32);
  const warmup = option(args, "warmup", 1);
  const inProcess = args.includes("--in-process");

  // The figures depend on what else the machine runs; the load average goes into the result.
  const loadBefore = loadavg()[0]!;
  log(`starting the peer (${inProcess ? "in process" : "child process"}), load average ${loadBefore.toFixed(2)}`);
  const peer = inProcess ? await inProcessPeer() : await childPeer();
  try {
    const options = { tlsOptions: { ca: peer.caPem }, disableChallengeResourceVerification: true };
    const key = await new KeyClient(peer.url, credential, options).createRsaKey(`bench-${Date.now()}`, { keySize: 2048 });
    const pub = createPublicKey({ key: { kty: "RSA", n: Buffer.from(key.key!.n!).toString("base64url"), e: Buffer.from(key.key!.e!).toString("base64url") }, format: "jwk" });
    const wrapped = Array.from({ length: 256 }, () => publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, randomBytes(32)));
    const client = new CryptographyClient(key.id!, credential, options);

    log(`warming up for ${warmup} s`);
    await unwrapFor(client, wrapped, warmup, concurrency);
    log(`unthrottled: ${concurrency} concurrent unwraps for ${duration} s`);
    const free = await unwrapFor(client, wrapped, duration, concurrency);
    const unthrottledUnwrapPerSec = Math.round(free.ok / free.seconds);
    log(`unthrottled: ${unthrottledUnwrapPerSec} unwraps/s`);

    await peer.setThrottle({ ratePerSecond: rate });
    log(`throttled to ${rate}/s: ${concurrency} concurrent unwraps for ${duration} s`);
    const before = await peer.stats();
    const limited = await unwrapFor(client, wrapped, duration, concurrency);
    const after = await peer.stats();
    const throttledAchievedPerSec = Math.round((limited.ok / limited.seconds) * 10) / 10;
    const deviation = (throttledAchievedPerSec - rate) / rate;
    log(`throttled: ${throttledAchievedPerSec} unwraps/s (${(deviation * 100).toFixed(1)}% from target), ${limited.throttled} answered 429`);
    return {
      unthrottledUnwrapPerSec,
      throttledTarget: rate,
      throttledAchievedPerSec,
      throttledDeviationPct: Math.round(deviation * 1000) / 10,
      throttledWithinTolerance: Math.abs(deviation) <= 0.05,
      throttled429: after.throttled429 - before.throttled429,
      // Without a single 429 the machine, not the throttle, set the pace (a busy 2-core box).
      throttledPhaseLimitedBy: after.throttled429 > before.throttled429 ? "throttle" : "machine capacity",
      peerUnwrapCalls: after.unwrapCalls - before.unwrapCalls,
      durationSeconds: duration,
      concurrency,
      keyType: "RSA-2048",
      algorithm: "RSA-OAEP-256",
      peer: inProcess ? "in-process" : "child-process",
      loadAverage1m: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadavg()[0]! * 100) / 100 },
    };
  } finally {
    await peer.stop();
  }
}
