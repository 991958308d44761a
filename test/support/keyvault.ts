// Real @azure/keyvault-* clients against a Key Vault peer. The peer's self-signed CA is trusted via
// tlsOptions (TLS verification stays on); the peer accepts any bearer token, so a fixed one will do.
import { createServer as createHttpServer } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { RestError } from "@azure/core-rest-pipeline";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { startKeyVaultPeer, type KeyVaultEventGridEvent, type KeyVaultPeer, type KeyVaultPeerOptions } from "../../dev/peers/keyvault";

/** Starts a peer on a free loopback port; the caller stops it. */
export function startTestVault(opts: KeyVaultPeerOptions = {}): Promise<KeyVaultPeer> {
  return startKeyVaultPeer({ notifyCheckIntervalMs: 0, ...opts });
}

export interface PeerSdkOptions {
  tlsOptions: { ca: string };
  disableChallengeResourceVerification: true;
}

/** Client options for any Key Vault SDK client pointed at the peer. */
export function sdkOptions(peer: Pick<KeyVaultPeer, "caPem">): PeerSdkOptions {
  return { tlsOptions: { ca: peer.caPem }, disableChallengeResourceVerification: true };
}

/** A credential that always returns the same token (the peer accepts any bearer). */
export const peerCredential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "keyvault-peer-token", expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

export function keyClient(peer: KeyVaultPeer): KeyClient {
  return new KeyClient(peer.url, peerCredential, sdkOptions(peer));
}

export function secretClient(peer: KeyVaultPeer): SecretClient {
  return new SecretClient(peer.url, peerCredential, sdkOptions(peer));
}

/** `keyIdUrl` is a key id (kid) as returned by the peer, with or without a version. */
export function cryptoClient(peer: KeyVaultPeer, keyIdUrl: string): CryptographyClient {
  return new CryptographyClient(keyIdUrl, peerCredential, sdkOptions(peer));
}

/** Parsed JSON whose shape the caller's assertions check. */
export type ParsedJson = ReturnType<typeof JSON.parse>;

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ParsedJson;
}

/**
 * A plain HTTPS request to the peer (TLS verified against its CA), for what the SDK hides:
 * challenges, headers, exact error bodies. `token: false` sends no Authorization header.
 */
export function rawRequest(
  peer: Pick<KeyVaultPeer, "url" | "caPem">,
  method: string,
  pathAndQuery: string,
  opts: { body?: unknown; token?: string | false } = {},
): Promise<RawResponse> {
  const url = new URL(pathAndQuery, peer.url);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.token !== false) headers.authorization = `Bearer ${opts.token ?? "keyvault-peer-token"}`;
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca: peer.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

export interface WebhookSink {
  readonly url: string;
  /** Every event received, flattened from the posted arrays, oldest first. */
  readonly events: KeyVaultEventGridEvent[];
  /** Resolves once at least `n` events arrived (rejects after 10 s). */
  waitFor(n: number): Promise<KeyVaultEventGridEvent[]>;
  close(): Promise<void>;
}

/** A loopback HTTP endpoint that collects Event Grid deliveries. */
export async function startWebhookSink(): Promise<WebhookSink> {
  const events: KeyVaultEventGridEvent[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const posted = JSON.parse(Buffer.concat(chunks).toString("utf8")) as KeyVaultEventGridEvent | KeyVaultEventGridEvent[];
      events.push(...(Array.isArray(posted) ? posted : [posted]));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/runtime/webhooks/eventgrid`,
    events,
    async waitFor(n) {
      const deadline = Date.now() + 10_000;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`[test] webhook sink got ${events.length} events, expected ${n}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return events;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** The error a call to the peer must fail with; a call that succeeds fails the test. */
export async function restError(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (err) {
    return err as RestError;
  }
  throw new Error("[test] expected the call to fail");
}
