// stopStartedApp, the start tests' one way to stop what a failed step left running, against real
// processes: a group whose leader ends on Ctrl-C but one of whose members ignores it and holds none
// of the leader's pipes (a stand-in that outlives its launcher) is gone, all of it, when it returns.
import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { groupAlive, stopStartedApp, type StartedApp } from "./npmStart";

let leftover: number | undefined;
afterEach(() => {
  if (leftover !== undefined && groupAlive(leftover)) process.kill(-leftover, "SIGKILL");
  leftover = undefined;
});

/** A detached group: node (leader, ends on SIGINT) and `sleep` that ignores SIGINT and writes to /dev/null. */
function groupWithStubbornMember(): StartedApp {
  const leader = `
    const { spawn } = require("node:child_process");
    spawn("sh", ["-c", "trap '' INT; exec sleep 600"], { stdio: "ignore" });
    process.on("SIGINT", () => process.exit(0));
    console.log("up");
    setInterval(() => {}, 1000);
  `;
  let out = "";
  const child = spawn(process.execPath, ["-e", leader], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

describe("stopStartedApp", () => {
  it("leaves nothing of the process group, a member that ignores Ctrl-C and holds none of npm's pipes included", async () => {
    const app = groupWithStubbornMember();
    leftover = app.child.pid;
    while (!app.output().includes("up")) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200)); // the member has trapped SIGINT
    await stopStartedApp(app);
    expect(groupAlive(app.child.pid!), "a member of the group outlived stopStartedApp").toBe(false);
    expect((await app.exited).code).toBe(0); // the leader ended by Ctrl-C, not by the SIGKILL
  }, 50_000);
});
