// Validators built from the official Azure REST API specs in ../shared/specs (never vendored into
// this repository). A response is checked against the schema the spec declares for its operation
// and status (or the operation's "default" error schema), with every declared object closed
// (additionalProperties: false) so a field the spec does not define is caught too.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";

export const repoRoot = path.resolve(__dirname, "..", "..");
export const sharedRoot = path.resolve(repoRoot, "..", "shared");
export const specsRoot = path.join(sharedRoot, "specs", "azure-rest-api-specs", "specification");
export const keyVaultSpecDir = path.join(specsRoot, "keyvault", "data-plane", "Microsoft.KeyVault", "stable", "2025-07-01");
export const eventGridKeyVaultSpec = path.join(specsRoot, "eventgrid", "data-plane", "Microsoft.KeyVault", "stable", "2018-01-01", "KeyVault.json");

export const specFiles = {
  keys: path.join(keyVaultSpecDir, "keys.json"),
  secrets: path.join(keyVaultSpecDir, "secrets.json"),
  events: eventGridKeyVaultSpec,
};

/** Paths of the spec files that are missing (empty = all there). */
export function missingSpecs(): string[] {
  return Object.values(specFiles).filter((f) => !existsSync(f));
}

type Json = Record<string, ReturnType<typeof JSON.parse>>;

/** Swagger 2.0 → JSON Schema for ajv: x-nullable becomes nullable, declared objects are closed. */
function adapt(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adapt);
  if (!node || typeof node !== "object") return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = k === "x-ms-examples" || k === "examples" ? undefined : adapt(v);
  if (out["x-nullable"] === true && out.type) out.nullable = true;
  if (out.properties && out.additionalProperties === undefined && out.type === "object" && !out.allOf) out.additionalProperties = false;
  return out;
}

function externalRefs(node: unknown, found: Set<string>): void {
  if (Array.isArray(node)) return node.forEach((n) => externalRefs(n, found));
  if (!node || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === "x-ms-examples") continue;
    if (k === "$ref" && typeof v === "string" && !v.startsWith("#")) found.add(v.split("#")[0]!);
    else externalRefs(v, found);
  }
}

export class SpecValidator {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  private readonly docs = new Map<string, Json>();
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    addFormats(this.ajv);
    this.ajv.addFormat("unixtime", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= 0 });
    this.ajv.addFormat("base64url", /^[A-Za-z0-9_-]*$/);
  }

  /** Loads a spec file and, recursively, the files its $refs point at (e.g. common.json). */
  load(file: string): Json {
    const abs = path.resolve(file);
    const known = this.docs.get(abs);
    if (known) return known;
    const raw = JSON.parse(readFileSync(abs, "utf8")) as Json;
    const doc = adapt(raw) as Json;
    const id = pathToFileURL(abs).href;
    this.docs.set(abs, raw);
    this.ajv.addSchema({ ...doc, $id: id }, id);
    const refs = new Set<string>();
    externalRefs(raw, refs);
    for (const ref of refs) this.load(path.resolve(path.dirname(abs), ref));
    return raw;
  }

  /** An ad-hoc schema (with the same formats). */
  compile(schema: object): ValidateFunction {
    return this.ajv.compile(schema);
  }

  definition(file: string, name: string): ValidateFunction {
    const key = `${file}#${name}`;
    let v = this.cache.get(key);
    if (!v) {
      this.load(file);
      v = this.ajv.compile({ $ref: `${pathToFileURL(path.resolve(file)).href}#/definitions/${name}` });
      this.cache.set(key, v);
    }
    return v;
  }

  /**
   * The validator the spec declares for `method path` answering `status`, found by matching the
   * request path against the spec's path templates (literal segments win over parameters).
   */
  response(file: string, method: string, requestPath: string, status: number): { operationId: string; validate: ValidateFunction | undefined } {
    const doc = this.load(file);
    const segs = requestPath.split("?")[0]!.split("/").slice(1);
    const candidates = Object.keys(doc.paths as Json)
      .map((template) => ({ template, parts: template.split("/").slice(1) }))
      .filter(({ parts }) => parts.length === segs.length && parts.every((p, i) => p.startsWith("{") || p.toLowerCase() === segs[i]!.toLowerCase()))
      .sort((a, b) => b.parts.filter((p) => !p.startsWith("{")).length - a.parts.filter((p) => !p.startsWith("{")).length);
    for (const { template } of candidates) {
      const op = (doc.paths as Json)[template][method.toLowerCase()] as Json | undefined;
      if (!op) continue;
      const responses = op.responses as Json;
      const declared = (responses[String(status)] ?? responses.default) as Json | undefined;
      if (!declared) throw new Error(`[spec] ${op.operationId} declares no response ${status}`);
      if (!declared.schema) return { operationId: op.operationId as string, validate: undefined };
      const key = `${file}|${template}|${method}|${status}`;
      let v = this.cache.get(key);
      if (!v) {
        const code = responses[String(status)] ? String(status) : "default";
        const pointer = ["paths", template, method.toLowerCase(), "responses", code, "schema"]
          .map((p) => encodeURIComponent(p.replace(/~/g, "~0").replace(/\//g, "~1")))
          .join("/");
        v = this.ajv.compile({ $ref: `${pathToFileURL(path.resolve(file)).href}#/${pointer}` });
        this.cache.set(key, v);
      }
      return { operationId: op.operationId as string, validate: v };
    }
    throw new Error(`[spec] no operation in ${path.basename(file)} matches ${method} ${requestPath}`);
  }
}

export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`).join("; ");
}
