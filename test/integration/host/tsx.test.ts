// The dev host also works when the app is loaded by tsx (how `npm start` runs it), not only vitest.
import { spawn } from "node:child_process";
import path from "node:path";
import { expect, it } from "vitest";

it("runs the fixture app under tsx with the real clock, timers on their schedule", async () => {
  const script = path.resolve(__dirname, "../../fixtures/durableApp/runWithTsx.ts");
  const child = spawn(process.execPath, [require.resolve("tsx/cli"), script], { cwd: path.resolve(__dirname, "../../.."), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(err).not.toMatch(/Error/);
  expect(code).toBe(0);
  const result = JSON.parse(out.trim().split("\n").at(-1)!);
  expect(result).toEqual({ started: "tsx-1", sleeper: "Completed", sequence: ["Hello tsx"], functions: expect.any(Number), scheduled: true });
  expect(result.functions).toBeGreaterThan(15);
});
