// Maps a data-plane request (method + path) to its Key Vault operation and handler.
import type { HandlerRequest, Reply, VaultContext } from "./context";
import type { KeyVaultOperation } from "./index";
import * as keys from "./keys";
import * as secrets from "./secrets";

export type Handler = (ctx: VaultContext, req: HandlerRequest) => Reply | Promise<Reply>;

export interface Route {
  op: KeyVaultOperation;
  handler: Handler;
  kind: "key" | "secret";
  name: string;
  version: string;
}

const CRYPTO: Record<string, KeyVaultOperation> = {
  encrypt: "encrypt", decrypt: "decrypt", sign: "sign", verify: "verify", wrapkey: "wrapKey", unwrapkey: "unwrapKey",
};

const cryptoHandlers: Partial<Record<KeyVaultOperation, Handler>> = {
  encrypt: keys.cryptoOp("encrypt"), decrypt: keys.cryptoOp("decrypt"), sign: keys.cryptoOp("sign"),
  verify: keys.cryptoOp("verify"), wrapKey: keys.cryptoOp("wrapKey"), unwrapKey: keys.cryptoOp("unwrapKey"),
};

function r(op: KeyVaultOperation, handler: Handler, kind: "key" | "secret", name = "", version = ""): Route {
  return { op, handler, kind, name, version };
}

/** `seg` are the decoded path segments (leading slash removed); undefined = no such route. */
export function route(method: string, seg: string[]): Route | undefined {
  const [collection, name, third, fourth] = seg;
  const n = seg.length;
  switch (collection?.toLowerCase()) {
    case "keys": {
      if (n === 1 || (n === 2 && name === "")) return method === "GET" ? r("getKeys", keys.getKeys, "key") : undefined;
      if (name === undefined || name === "") return undefined;
      if (n === 2 || (n === 3 && third === "")) {
        if (method === "GET") return r("getKey", keys.getKey, "key", name);
        if (method === "DELETE") return r("deleteKey", keys.deleteKey, "key", name);
        if (method === "PATCH") return r("updateKey", keys.updateKey, "key", name);
        return undefined;
      }
      if (n === 3) {
        const t = third!.toLowerCase();
        if (t === "create" && method === "POST") return r("createKey", keys.createKey, "key", name);
        if (t === "rotate" && method === "POST") return r("rotateKey", keys.rotateKey, "key", name);
        if (t === "versions" && method === "GET") return r("getKeyVersions", keys.getKeyVersions, "key", name);
        if (t === "rotationpolicy" && method === "GET") return r("getKeyRotationPolicy", keys.getKeyRotationPolicy, "key", name);
        if (t === "rotationpolicy" && method === "PUT") return r("updateKeyRotationPolicy", keys.updateKeyRotationPolicy, "key", name);
        if (method === "GET") return r("getKey", keys.getKey, "key", name, third);
        if (method === "PATCH") return r("updateKey", keys.updateKey, "key", name, third);
        return undefined;
      }
      if (n === 4 && method === "POST") {
        const op = CRYPTO[fourth!.toLowerCase()];
        return op ? r(op, cryptoHandlers[op]!, "key", name, third) : undefined;
      }
      return undefined;
    }
    case "deletedkeys": {
      if (n === 1) return method === "GET" ? r("getDeletedKeys", keys.getDeletedKeys, "key") : undefined;
      if (!name) return undefined;
      if (n === 2 && method === "GET") return r("getDeletedKey", keys.getDeletedKey, "key", name);
      if (n === 2 && method === "DELETE") return r("purgeDeletedKey", keys.purgeDeletedKey, "key", name);
      if (n === 3 && third?.toLowerCase() === "recover" && method === "POST") return r("recoverDeletedKey", keys.recoverDeletedKey, "key", name);
      return undefined;
    }
    case "secrets": {
      if (n === 1 || (n === 2 && name === "")) return method === "GET" ? r("getSecrets", secrets.getSecrets, "secret") : undefined;
      if (!name) return undefined;
      if (n === 2 || (n === 3 && third === "")) {
        if (method === "PUT") return r("setSecret", secrets.setSecret, "secret", name);
        if (method === "GET") return r("getSecret", secrets.getSecret, "secret", name);
        if (method === "DELETE") return r("deleteSecret", secrets.deleteSecret, "secret", name);
        if (method === "PATCH") return r("updateSecret", secrets.updateSecret, "secret", name);
        return undefined;
      }
      if (n === 3) {
        if (third!.toLowerCase() === "versions" && method === "GET") return r("getSecretVersions", secrets.getSecretVersions, "secret", name);
        if (method === "GET") return r("getSecret", secrets.getSecret, "secret", name, third);
        if (method === "PATCH") return r("updateSecret", secrets.updateSecret, "secret", name, third);
      }
      return undefined;
    }
    case "deletedsecrets": {
      if (n === 1) return method === "GET" ? r("getDeletedSecrets", secrets.getDeletedSecrets, "secret") : undefined;
      if (!name) return undefined;
      if (n === 2 && method === "GET") return r("getDeletedSecret", secrets.getDeletedSecret, "secret", name);
      if (n === 2 && method === "DELETE") return r("purgeDeletedSecret", secrets.purgeDeletedSecret, "secret", name);
      if (n === 3 && third?.toLowerCase() === "recover" && method === "POST") return r("recoverDeletedSecret", secrets.recoverDeletedSecret, "secret", name);
      return undefined;
    }
    default:
      return undefined;
  }
}
