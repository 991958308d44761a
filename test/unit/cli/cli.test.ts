// The keyrotor CLI's arguments, output and exit codes, against a tiny HTTP server that plays the
// API (loopback, port 0): 0 ok, 1 the answer is no, 2 bad usage or unreachable, one line on stderr.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { main, type CliDeps } from "../../../lib/cli/main";
import type { CredentialKind } from "../../../lib/cli/token";
import { parseIdentity } from "../../../lib/cli/client";
import { memoryLedger } from "../../../lib/ledger";
import { buildEvidencePack } from "../../../lib/ledger/evidence";

interface Seen {
  method: string;
  url: string;
  principal?: { name?: string; roles: string[] };
  authorization?: string;
  body?: unknown;
}

type Reply = { status: number; body?: unknown };
let routes: Record<string, (seen: Seen) => Reply> = {};
const seen: Seen[] = [];
let server: Server;
let url = "";

function decodePrincipal(req: IncomingMessage): Seen["principal"] {
  const h = req.headers["x-ms-client-principal"];
  if (typeof h !== "string") return undefined;
  const p = JSON.parse(Buffer.from(h, "base64").toString("utf8")) as { claims: { typ: string; val: string }[] };
  return { name: p.claims.find((c) => c.typ === "name")?.val, roles: p.claims.filter((c) => c.typ === "roles").map((c) => c.val) };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const s: Seen = {
        method: req.method ?? "", url: req.url ?? "", principal: decodePrincipal(req),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(text ? { body: JSON.parse(text) as unknown } : {}),
      };
      seen.push(s);
      // Routed on the decoded path, as Azure routes (%2F is a "/" there; lib/api/routes.ts).
      const route = routes[`${s.method} ${decodeURIComponent(s.url.split("?")[0] ?? "")}`];
      const reply = route ? route(s) : { status: 404, body: { error: { code: "NotFound", message: "no such route" } } };
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => {
  routes = {};
  seen.length = 0;
  vi.restoreAllMocks();
  delete process.env.KEYROTOR_AS;
  delete process.env.KEYROTOR_SCOPE;
  delete process.env.KEYROTOR_CREDENTIAL;
});

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runWith({}, ...args);
}

async function runWith(deps: CliDeps, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  const code = await main(["--url", url, ...args], deps);
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}

const auditor = ["--as", "carol:Auditor"];

/** A TokenCredential that hands out t1, t2, ... and records what it was asked for. */
function fakeCredential(behaviour: "tokens" | "throws" | "null" = "tokens") {
  const asked: { kind: CredentialKind; scopes: string | string[] }[] = [];
  let n = 0;
  const deps: CliDeps = {
    credential: (kind) => {
      const credential: TokenCredential = {
        getToken: (scopes) => {
          asked.push({ kind, scopes });
          if (behaviour === "throws") return Promise.reject(new Error("Please run 'az login' to set up an account."));
          if (behaviour === "null") return Promise.resolve(null);
          n += 1;
          return Promise.resolve<AccessToken>({ token: `t${n}`, expiresOnTimestamp: Date.now() + 3_600_000 });
        },
      };
      return Promise.resolve(credential);
    },
  };
  return { deps, asked };
}

describe("token acquisition for a deployed app", () => {
  it("acquires a token for --scope with the default credential and sends it as a bearer token", async () => {
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    const fake = fakeCredential();
    expect((await runWith(fake.deps, "--scope", "api://keyrotor-prod/.default", "keys")).code).toBe(0);
    expect(fake.asked).toEqual([{ kind: "default", scopes: "api://keyrotor-prod/.default" }]);
    expect(seen[0]).toMatchObject({ authorization: "Bearer t1" });
    expect(seen[0]?.principal).toBeUndefined();
  });

  it("reads KEYROTOR_SCOPE and KEYROTOR_CREDENTIAL; an app ID URI or client id alone means its /.default scope", async () => {
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    process.env.KEYROTOR_SCOPE = "api://keyrotor-prod";
    process.env.KEYROTOR_CREDENTIAL = "cli";
    const fake = fakeCredential();
    expect((await runWith(fake.deps, "keys")).code).toBe(0);
    expect((await runWith(fake.deps, "--scope", "0b8e1f6c-3d9a-4c2e-9f1a-5e6d7c8b9a01", "--credential", "device-code", "keys")).code).toBe(0);
    expect(fake.asked).toEqual([
      { kind: "cli", scopes: "api://keyrotor-prod/.default" },
      { kind: "device-code", scopes: "api://0b8e1f6c-3d9a-4c2e-9f1a-5e6d7c8b9a01/.default" },
    ]);
    expect(seen.map((x) => x.authorization)).toEqual(["Bearer t1", "Bearer t2"]);
  });

  it("asks the credential before each request, so a long status --watch sends a renewed token", async () => {
    let calls = 0;
    routes["GET /api/rotations/r1"] = () => ((calls += 1), { status: 200, body: { rotationId: "r1", phase: calls < 2 ? "rewrapping" : "completed", runtimeStatus: calls < 2 ? "Running" : "Completed" } });
    const fake = fakeCredential();
    expect((await runWith(fake.deps, "--scope", "api://keyrotor-prod/.default", "--json", "status", "r1", "--watch")).code).toBe(0);
    expect(seen.map((x) => x.authorization)).toEqual(["Bearer t1", "Bearer t2"]);
  });

  it("--token wins over --scope: no credential is asked", async () => {
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    const fake = fakeCredential();
    expect((await runWith(fake.deps, "--token", "given", "--scope", "api://keyrotor-prod/.default", "keys")).code).toBe(0);
    expect(fake.asked).toEqual([]);
    expect(seen[0]?.authorization).toBe("Bearer given");
  });

  it("a credential that cannot sign in, or returns no token, exits 2 naming the scope, and sends nothing", async () => {
    routes["POST /api/rotations"] = () => ({ status: 202, body: { rotationId: "r1", status: "running" } });
    const failing = await runWith(fakeCredential("throws").deps, "--scope", "api://keyrotor-prod/.default", "rotate", "kek:v/k", "--reason", "routine");
    expect(failing.code).toBe(2);
    expect(failing.stderr).toMatch(/cannot get a token for api:\/\/keyrotor-prod\/\.default with the default credential: Please run 'az login'.*az login/);
    const empty = await runWith(fakeCredential("null").deps, "--scope", "api://keyrotor-prod/.default", "keys");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/none was returned/);
    expect(seen).toHaveLength(0);
  });

  it("refuses an unknown --credential as bad usage", async () => {
    const fake = fakeCredential();
    const r = await runWith(fake.deps, "--scope", "api://x/.default", "--credential", "password", "keys");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--credential must be one of default, cli, device-code/);
    expect(seen).toHaveLength(0);
  });
});

describe("identity", () => {
  it("parses name:roles and expands short role names to KeyRotation.*", () => {
    expect(parseIdentity("alice:Operator, KeyRotation.Auditor")).toEqual({ name: "alice", roles: ["KeyRotation.Operator", "KeyRotation.Auditor"] });
    expect(parseIdentity("bob")).toEqual({ name: "bob", roles: [] });
    expect(parseIdentity(undefined)).toBeUndefined();
  });

  it("refuses a role that does not exist (--as bob:Operater) with exit 2 and one line naming it and the roles, sending nothing", async () => {
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    const r = await run("--as", "bob:Operater", "keys");
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown role "Operater".*Operator, Approver, Auditor, Admin/);
    expect(seen).toHaveLength(0);
    process.env.KEYROTOR_AS = "bob:KeyRotation.Boss";
    expect((await run("keys")).code).toBe(2);
    expect(seen).toHaveLength(0);
  });

  it("accepts a known role in any case and sends the app's spelling", () => {
    expect(parseIdentity("alice:operator,keyrotation.AUDITOR")).toEqual({ name: "alice", roles: ["KeyRotation.Operator", "KeyRotation.Auditor"] });
  });

  it("sends the Easy Auth principal header built from --as", async () => {
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    const r = await run("keys", "--as", "alice:Operator,Auditor");
    expect(r.code).toBe(0);
    expect(seen[0]?.principal).toEqual({ name: "alice", roles: ["KeyRotation.Operator", "KeyRotation.Auditor"] });
  });

  it("takes the identity from KEYROTOR_AS when --as is absent", async () => {
    process.env.KEYROTOR_AS = "dave:Auditor";
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    expect((await run("keys")).code).toBe(0);
    expect(seen[0]?.principal?.name).toBe("dave");
  });

  it("sends --token (or KEYROTOR_TOKEN) as a bearer token for a deployed app", async () => {
    let auth: string | undefined;
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [] } });
    const onRequest = (req: IncomingMessage) => (auth = req.headers.authorization);
    server.on("request", onRequest);
    try {
      expect((await run("--token", "abc.def", "keys")).code).toBe(0);
    } finally {
      server.off("request", onRequest);
    }
    expect(auth).toBe("Bearer abc.def");
    expect(seen[0]?.principal).toBeUndefined();
  });

  it("without any identity a 401 exits 2 with a hint on one stderr line", async () => {
    routes["GET /api/keys"] = () => ({ status: 401, body: { error: { code: "Unauthenticated", message: "missing x-ms-client-principal header" } } });
    const r = await run("keys");
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/401 Unauthenticated.*--as name:Role1,Role2 or KEYROTOR_AS/);
  });
});

describe("usage errors exit 2", () => {
  it.each([
    [["rotate", "kek:demo-vault/k"], /reason/],
    [["frobnicate"], /unknown command/],
    [["plan", "--nope"], /unknown option/],
    [["evidence", "--from", "2026-01-01", "--to", "2027-01-01"], /--out/],
  ])("%j", async (args, message) => {
    const r = await run(...auditor, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(seen).toHaveLength(0);
  });

  it("--help exits 0 and lists every verb", async () => {
    const r = await run("--help");
    expect(r.code).toBe(0);
    for (const verb of ["plan", "keys", "rotate", "approve", "status", "ledger", "evidence"]) expect(r.stdout).toContain(verb);
  });

  it("a subcommand's --help lists the global options (--url, --as, --token, --json)", async () => {
    for (const args of [["rotate", "--help"], ["lock", "break", "--help"], ["ledger", "verify", "--help"]]) {
      const r = await run(...args);
      expect(r.code).toBe(0);
      for (const opt of ["--url <url>", "--as <name:roles>", "--token <bearer>", "--scope <scope>", "--json"]) expect(r.stdout).toContain(opt);
    }
  });

  it("--version prints package.json's version and exits 0", async () => {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, "../../../package.json"), "utf8")) as { version: string };
    const r = await run("--version");
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    expect(seen).toHaveLength(0);
  });

  it("an unreachable service exits 2", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const addr = closed.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await run("--url", `http://127.0.0.1:${port}`, ...auditor, "keys");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot reach keyrotor/);
  });

  it("a 5xx exits 2 (the service could not answer)", async () => {
    routes["GET /api/keys"] = () => ({ status: 503, body: { error: { code: "DependencyUnavailable", message: "tables down" } } });
    expect((await run(...auditor, "keys")).code).toBe(2);
  });

  it("evidence refuses dates that are not dates, or a period that ends before it starts", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "kr-ev-"));
    expect((await run(...auditor, "evidence", "--from", "yesterday", "--to", "2027-01-01", "--out", out)).code).toBe(2);
    expect((await run(...auditor, "evidence", "--from", "2027-01-01", "--to", "2026-01-01", "--out", out)).code).toBe(2);
    expect(seen).toHaveLength(0);
  });

  it("--storage with an empty connection string is bad usage", async () => {
    const r = await run("ledger", "verify", "--storage", "");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--storage needs a storage connection string/);
  });
});

describe("the service saying no exits 1", () => {
  it("status of an emergency says which version was revoked, or that none was and why, on one line", async () => {
    const revocations: Record<string, unknown> = {
      "e@emergency:1": { revoked: true, version: "v1", at: "2026-11-22T10:00:00.000Z", because: "revoked: a count proved nothing references it any more" },
      "e@emergency:2": { revoked: false, version: "v1", because: "not revoked: revokeOld was not requested" },
    };
    for (const [id, revocation] of Object.entries(revocations)) routes[`GET /api/rotations/${id}`] = () => ({ status: 200, body: { rotationId: id, phase: "completed", runtimeStatus: "Completed", revocation } });
    const yes = await run(...auditor, "status", "e@emergency:1");
    expect(yes.code).toBe(0);
    expect(yes.stdout).toMatch(/^revoked +v1 revoked at 2026-11-22 10:00Z \(revoked: a count proved nothing references it any more\)$/m);
    const no = await run(...auditor, "status", "e@emergency:2");
    expect(no.stdout).toMatch(/^revoked +none \(v1 still enabled\): not revoked: revokeOld was not requested$/m);
    expect(JSON.parse((await run(...auditor, "--json", "status", "e@emergency:2")).stdout)).toMatchObject({ revocation: revocations["e@emergency:2"] });
  });

  it("status --key of a key the inventory does not know says so and exits 1", async () => {
    routes["GET /api/rotations"] = () => ({ status: 200, body: { rotations: [] } });
    routes["GET /api/keys"] = () => ({ status: 200, body: { keys: [{ keyId: "kek:v/k" }] } });
    const unknown = await run(...auditor, "status", "--key", "kek:v/nope");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("keyrotor: kek:v/nope is not a managed key (`keyrotor keys` lists them)\n");
    const quiet = await run(...auditor, "status", "--key", "kek:v/k");
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe("");
  });
  it("rotate refused because another rotation holds the key names the running rotation", async () => {
    routes["POST /api/rotations"] = () => ({ status: 409, body: { error: { code: "LockHeld", message: "kek:v/k is rotating", rotationId: "kek:v/k@manual:1" } } });
    const r = await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "why");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("running: kek:v/k@manual:1");
  });

  it("approving one's own emergency (403) exits 1", async () => {
    routes["POST /api/rotations/approve/x@emergency:1"] = () => ({ status: 403, body: { error: { code: "SelfApproval", message: "a different person must approve" } } });
    const r = await run("--as", "alice:Approver", "approve", "x@emergency:1");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SelfApproval/);
  });

  it("ledger verify exits 1 and prints the break when the ledger does not verify", async () => {
    routes["GET /api/ledger/verify"] = () => ({
      status: 200,
      body: { ok: false, chains: 2, entries: 9, seals: 1, verifiedAt: "2026-11-22T00:00:00Z", firstBreak: { keyId: "kek:v/k", seq: 4, problem: "hashMismatch", detail: "entry 4 was changed" } },
    });
    const r = await run(...auditor, "ledger", "verify");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("does NOT verify");
    expect(r.stdout).toContain("break: kek:v/k seq 4: hashMismatch (entry 4 was changed)");
    expect(r.stderr).toMatch(/ledger does not verify: kek:v\/k seq 4/);
  });
});

describe("successful verbs", () => {
  it("rotate sends the request body and prints the rotationId; --emergency asks for approval", async () => {
    routes["POST /api/rotations"] = (s) => ({ status: 202, body: { rotationId: "r1", status: (s.body as { mode: string }).mode === "emergency" ? "pendingApproval" : "running" } });
    const manual = await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "demo");
    expect(manual).toMatchObject({ code: 0, stdout: "started: r1\n" });
    expect(seen[0]?.body).toEqual({ keyId: "kek:v/k", reason: "demo", mode: "normal" });
    const emergency = await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "leak", "--emergency", "--revoke-old");
    expect(emergency.stdout).toBe("awaiting approval: r1\n");
    expect(seen[1]?.body).toEqual({ keyId: "kek:v/k", reason: "leak", mode: "emergency", revokeOld: true });
  });

  it("rotate --mode takes the workflow's words, normal or emergency, and sends them as the API's mode", async () => {
    routes["POST /api/rotations"] = (s) => ({ status: 202, body: { rotationId: "r1", status: (s.body as { mode: string }).mode === "emergency" ? "pendingApproval" : "running" } });
    expect(await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "demo", "--mode", "normal")).toMatchObject({ code: 0, stdout: "started: r1\n" });
    expect(await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "leak", "--mode", "emergency")).toMatchObject({ code: 0, stdout: "awaiting approval: r1\n" });
    expect(seen.map((r) => (r.body as { mode: string }).mode)).toEqual(["normal", "emergency"]);
  });

  it("rotate refuses a mode it does not know (the API's deprecated manual included) and --emergency with --mode normal, sending nothing", async () => {
    routes["POST /api/rotations"] = () => ({ status: 202, body: { rotationId: "r1", status: "running" } });
    const manual = await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "demo", "--mode", "manual");
    expect(manual.code).toBe(2);
    expect(manual.stderr).toMatch(/--mode must be normal or emergency, got "manual"/);
    const both = await run("--as", "alice:Operator", "rotate", "kek:v/k", "--reason", "demo", "--mode", "normal", "--emergency");
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--emergency contradicts --mode normal/);
    expect(seen).toEqual([]);
  });

  it("approve --accept-data-loss sends acceptDataLoss: true; without it the body is empty", async () => {
    routes["POST /api/rotations/approve/x@emergency:1"] = () => ({ status: 202, body: { rotationId: "x@emergency:1", status: "running" } });
    expect(await run("--as", "bob:Approver", "approve", "x@emergency:1")).toMatchObject({ code: 0, stdout: "approved: x@emergency:1 (running)\n" });
    expect(seen[0]?.body).toEqual({});
    expect((await run("--as", "bob:Approver", "approve", "x@emergency:1", "--accept-data-loss")).code).toBe(0);
    expect(seen[1]?.body).toEqual({ acceptDataLoss: true });
  });

  it("rollback posts the reason to the rotation's rollback route and prints the rollback's id", async () => {
    routes["POST /api/rotations/rollback/kek:v/k@manual:1"] = () => ({ status: 202, body: { rotationId: "kek:v/k@rollback:manual:1", status: "running", versionAfter: "v1" } });
    const r = await run("--as", "olivia:Operator", "rollback", "kek:v/k@manual:1", "--reason", "consumer broke on v2");
    expect(r).toMatchObject({ code: 0, stdout: "rolling back: kek:v/k@rollback:manual:1 (re-promoting v1)\n" });
    expect(seen[0]).toMatchObject({ method: "POST", body: { reason: "consumer broke on v2" }, principal: { name: "olivia", roles: ["KeyRotation.Operator"] } });
  });

  it("rollback without --reason is bad usage and sends nothing; a closed window (410) exits 1", async () => {
    expect((await run("--as", "olivia:Operator", "rollback", "kek:v/k@manual:1")).code).toBe(2);
    expect(seen).toHaveLength(0);
    routes["POST /api/rotations/rollback/kek:v/k@manual:1"] = () => ({ status: 410, body: { error: { code: "RollbackWindowClosed", message: "the rollback window closed" } } });
    const late = await run("--as", "olivia:Operator", "rollback", "kek:v/k@manual:1", "--reason", "consumer broke on v2");
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/RollbackWindowClosed/);
  });

  it("lock break posts the reason and reports the old owner; a live lock (409) exits 1 naming it", async () => {
    routes["POST /api/locks/break/kek:v/k"] = () => ({ status: 200, body: { keyId: "kek:v/k", previousOwner: "kek:v/k@manual:1", because: "ownerTerminal", confirmed: true } });
    const r = await run("--as", "ada:Admin", "lock", "break", "kek:v/k", "--reason", "terminated in incident 7");
    expect(r).toMatchObject({ code: 0, stdout: "lock of kek:v/k broken (ownerTerminal; held by kek:v/k@manual:1)\n" });
    expect(seen[0]?.body).toEqual({ reason: "terminated in incident 7" });
    routes["POST /api/locks/break/kek:v/k"] = () => ({ status: 409, body: { error: { code: "LockLive", message: "held by a running rotation", rotationId: "kek:v/k@manual:2" } } });
    const live = await run("--as", "ada:Admin", "lock", "break", "kek:v/k", "--reason", "terminated in incident 7");
    expect(live.code).toBe(1);
    expect(live.stderr).toContain("kek:v/k@manual:2");
  });

  it("lock break --terminate-owner asks for the running holder to be terminated first and lists what was terminated", async () => {
    const owner = "kek:v/k@manual:2";
    routes["POST /api/locks/break/kek:v/k"] = () => ({ status: 200, body: { keyId: "kek:v/k", previousOwner: owner, because: "ownerTerminated", terminated: ["p", "p~rewrap~1~0"], confirmed: true } });
    const r = await run("--as", "ada:Admin", "lock", "break", "kek:v/k", "--reason", "stuck in incident 7", "--terminate-owner");
    expect(r).toMatchObject({ code: 0, stdout: `lock of kek:v/k broken (ownerTerminated; held by ${owner}; terminated p, p~rewrap~1~0)\n` });
    expect(seen[0]?.body).toEqual({ reason: "stuck in incident 7", terminateOwner: true });
  });

  it("register PUTs the policy and tenant to the key's route (the keyId as its catch-all); 201 and 200 print what happened, 409 exits 1", async () => {
    const key = { keyId: "kek:v/k", policyId: "q", primaryVersion: "abc", versions: [{}, {}] };
    routes["PUT /api/keys/kek:v/k"] = () => ({ status: 201, body: { key, keyTypeChecked: true } });
    const r = await run("--as", "ada:Admin", "register", "kek:v/k", "--policy", "q", "--tenant", "contoso");
    expect(r).toMatchObject({ code: 0, stdout: "registered: kek:v/k (policy q, primary abc, 2 versions)\n" });
    expect(seen[0]).toMatchObject({ method: "PUT", body: { policyId: "q", tenant: "contoso" }, principal: { name: "ada", roles: ["KeyRotation.Admin"] } });
    routes["PUT /api/keys/kek:v/k"] = () => ({ status: 200, body: { key } });
    expect((await run("--as", "ada:Admin", "register", "kek:v/k", "--policy", "q", "--tenant", "contoso")).stdout).toBe("already registered: kek:v/k (policy q, primary abc, 2 versions)\n");
    routes["PUT /api/keys/kek:v/k"] = () => ({ status: 409, body: { error: { code: "KeyAlreadyRegistered", message: "registered with policy q", field: "policyId" } } });
    const other = await run("--as", "ada:Admin", "register", "kek:v/k", "--policy", "other", "--tenant", "contoso");
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/KeyAlreadyRegistered/);
    expect((await run("--as", "ada:Admin", "register", "kek:v/k", "--tenant", "contoso")).code).toBe(2);
    expect(seen).toHaveLength(3);
  });

  it("plan --json prints the API's answer and passes the horizon", async () => {
    const body = { items: [{ keyId: "kek:v/k", kind: "kek", tenant: "t", reason: "schedule", dueNow: true, warnings: [] }] };
    routes["GET /api/plan"] = () => ({ status: 200, body });
    const r = await run(...auditor, "--json", "plan", "--horizon", "P30D");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(body);
    expect(seen[0]?.url).toBe("/api/plan?horizon=P30D");
  });

  it("plan's warnings name the version and the dates they are about", async () => {
    const warnings = [
      { threshold: "P7D", at: "2026-04-24T00:00:00.000Z", version: "3f2a9c1e77aa", expiresAt: "2026-05-01T00:00:00.000Z", due: true },
      { threshold: "P1D", at: "2026-04-30T00:00:00.000Z", version: "3f2a9c1e77aa", expiresAt: "2026-05-01T00:00:00.000Z", due: false },
    ];
    routes["GET /api/plan"] = () => ({ status: 200, body: { items: [{ keyId: "kek:v/k", kind: "kek", tenant: "t", reason: "schedule", dueAt: "2026-06-01T00:00:00.000Z", warnings }] } });
    const r = await run(...auditor, "plan");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("P7D (due): v 3f2a9c1e expires 2026-05-01 (warn 2026-04-24)");
    expect(r.stdout).toContain("P1D: v 3f2a9c1e expires 2026-05-01 (warn 2026-04-30)");
  });

  it("plan prints a table with the key, its next due time and reason", async () => {
    routes["GET /api/plan"] = () => ({ status: 200, body: { items: [{ keyId: "kek:v/k", kind: "kek", tenant: "t", reason: "overdue", dueNow: true, warnings: [{ threshold: "P7D", at: "x" }] }] } });
    const r = await run(...auditor, "plan");
    expect(r.stdout).toMatch(/kek:v\/k.*kek.*t.*now.*overdue.*P7D/);
  });

  it("status --watch follows a rotation until it completes, then exits 0", async () => {
    let calls = 0;
    routes["GET /api/rotations/r1"] = () => {
      calls++;
      return calls < 2
        ? { status: 200, body: { rotationId: "r1", phase: "rewrapping", runtimeStatus: "Running", progress: { rewrapped: 10, total: 20, perSec: 5 } } }
        : { status: 200, body: { rotationId: "r1", phase: "completed", runtimeStatus: "Completed", progress: { rewrapped: 20, total: 20, perSec: 5 } } };
    };
    const r = await run(...auditor, "--json", "status", "r1", "--watch");
    expect(r.code).toBe(0);
    expect(calls).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ phase: "completed", progress: { rewrapped: 20, total: 20 } });
  });

  it("status, approve, rollback and lock break send an id holding a '/' as the last, catch-all part of a readable path", async () => {
    const id = "kek:v/k@manual:2026-03-01T00:00:00.000Z";
    routes[`GET /api/rotations/${id}`] = () => ({ status: 200, body: { rotationId: id, phase: "completed", runtimeStatus: "Completed" } });
    routes[`POST /api/rotations/approve/${id}`] = () => ({ status: 202, body: { rotationId: id, status: "running" } });
    routes[`POST /api/rotations/rollback/${id}`] = () => ({ status: 202, body: { rotationId: `${id}:rollback`, status: "running", versionAfter: "v1" } });
    routes["POST /api/locks/break/kek:v/k"] = () => ({ status: 200, body: { keyId: "kek:v/k", previousOwner: id, because: "ownerTerminal", confirmed: true } });
    expect((await run(...auditor, "status", id, "--watch")).code).toBe(0);
    expect((await run("--as", "bob:Approver", "approve", id)).code).toBe(0);
    expect((await run("--as", "olivia:Operator", "rollback", id, "--reason", "r")).code).toBe(0);
    expect((await run("--as", "ada:Admin", "lock", "break", "kek:v/k", "--reason", "r")).code).toBe(0);
    expect(seen.map((x) => `${x.method} ${x.url}`)).toEqual([
      `GET /api/rotations/${id}`, `POST /api/rotations/approve/${id}`, `POST /api/rotations/rollback/${id}`, "POST /api/locks/break/kek:v/k",
    ]);
  });

  it("status --watch exits 1 when the rotation fails", async () => {
    routes["GET /api/rotations/r2"] = () => ({ status: 200, body: { rotationId: "r2", phase: "failed", runtimeStatus: "Completed", error: { code: "X", message: "vault down" } } });
    const r = await run(...auditor, "status", "r2", "--watch");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/r2 ended failed.*vault down/);
  });

  it("evidence writes the pack and its manifest to --out", async () => {
    // A real (empty) pack, as the API would build it.
    const pack = await buildEvidencePack({ ledger: memoryLedger(), period: { from: "2026-01-01T00:00:00.000Z", to: "2027-01-01T00:00:00.000Z" }, policies: [], keys: [], now: new Date("2026-11-22T00:00:00Z") });
    routes["GET /api/evidence"] = () => ({ status: 200, body: pack });
    const out = path.join(mkdtempSync(path.join(tmpdir(), "kr-ev-")), "q");
    const r = await run(...auditor, "evidence", "--from", "2026-01-01", "--to", "2027-01-01", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(seen[0]?.url).toBe(`/api/evidence?from=${encodeURIComponent("2026-01-01T00:00:00.000Z")}&to=${encodeURIComponent("2027-01-01T00:00:00.000Z")}`);
    expect(readdirSync(out).sort()).toEqual(["compliance.csv", "evidence.json", "manifest.json", "rotations.csv", "summary.md"]);
    expect(JSON.parse(readFileSync(path.join(out, "evidence.json"), "utf8"))).toMatchObject({ format: "keyrotor-evidence/1" });
  });
});
