// Key Vault's error shape: { error: { code, message, innererror?: { code } } } with the status
// Key Vault uses for each case (messages follow the live service's wording where it is known).
export class PeerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return { error: { code: this.code, message: this.message, ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}) } };
  }
}

export const badParameter = (message: string): PeerError => new PeerError(400, "BadParameter", message);

const RECOVER_HINT =
  "If you recently deleted this {kind} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

export function notFound(kind: "key" | "secret", nameOrId: string): PeerError {
  const code = kind === "key" ? "KeyNotFound" : "SecretNotFound";
  return new PeerError(404, code, `A ${kind} with (name/id) ${nameOrId} was not found in this key vault. ${RECOVER_HINT.replace("{kind}", kind)}`);
}

export function deletedNotFound(kind: "key" | "secret", name: string): PeerError {
  const code = kind === "key" ? "KeyNotFound" : "SecretNotFound";
  return new PeerError(404, code, `Deleted ${kind === "key" ? "Key" : "Secret"} not found: ${name}`);
}

export function deletedButRecoverable(kind: "key" | "secret", name: string): PeerError {
  const label = kind === "key" ? "Key" : "Secret";
  return new PeerError(
    409, "Conflict",
    `${label} ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the ${kind} can only be recovered or purged.`,
    "ObjectIsDeletedButRecoverable",
  );
}

/** Default codes for injected faults. */
export function codeForStatus(status: number): string {
  switch (status) {
    case 400: return "BadParameter";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 409: return "Conflict";
    case 429: return "Throttled";
    case 500: return "InternalServerError";
    case 502: return "BadGateway";
    case 503: return "ServiceUnavailable";
    case 504: return "GatewayTimeout";
    default: return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}
