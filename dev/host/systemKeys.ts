// The Functions host's system keys on /runtime/webhooks/<extension>: HostController.
// ExtensionWebHookHandler runs under the SystemKeyAuthLevel policy, which asks for the system key named
// `<extension>_extension` (DefaultScriptWebHookProvider.GetKeyName; the master key also passes, and
// dev/host has none). AuthenticationLevelHandler reads the key from the `x-functions-key` header,
// else the `code` query parameter. A missing or unknown key authenticates no one, so the host
// challenges before the extension sees the request: an empty 401.
import { randomBytes } from "node:crypto";
import type { HttpInput, HttpResult } from "./triggers";

/** A new system key: the host creates one per extension on demand (DefaultScriptWebHookProvider.GetOrCreateExtensionKey). */
export function newSystemKey(): string {
  return randomBytes(40).toString("base64url");
}

/** Whether the request carries `systemKey` (`x-functions-key` wins over `code`). */
export function systemKeyGiven(req: HttpInput, url: URL, systemKey: string): boolean {
  const header = Object.entries(req.headers).find(([k]) => k.toLowerCase() === "x-functions-key")?.[1];
  const given = header !== undefined && header !== "" ? header : url.searchParams.get("code");
  return given === systemKey;
}

/** The host's challenge when the system key is missing or wrong. */
export function systemKeyRefused(): HttpResult {
  return { status: 401, headers: {}, body: Buffer.alloc(0) };
}
