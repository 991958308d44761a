// The app's function modules, as the Functions worker finds them (package.json "main":
// dist/functions/*.js): every file in functions/. The local host imports them in name order.
import { readdirSync } from "node:fs";
import path from "node:path";

export const FUNCTIONS_DIR = path.resolve(__dirname, "..", "..", "functions");

export function functionModules(dir: string = FUNCTIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .sort()
    .map((f) => path.join(dir, f));
}
