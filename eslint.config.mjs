// Type-aware linting; the layering rules below keep the architecture honest
// (see ARCHITECTURE.md "Dependency rules").
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const azure = { group: ["@azure/*", "durable-functions"], message: "lib/domain is pure: no Azure SDKs." };
const adapters = {
  group: ["../stores/*", "../vault/*", "../ledger/*", "../events/*", "../orchestration/*", "../cli/*", "../config", "../telemetry/*"],
  message: "lib/domain imports no adapter.",
};
const notFunctions = { regex: "^(\\.\\./)+functions(/|$)", message: "lib never imports functions/." };
const notDev = { regex: "^(\\.\\./)+dev(/|$)", message: "Production code never imports dev/." };
const keyrotor = { regex: "^(\\.\\./)+(lib|functions|test|bench)(/|$)", message: "Peers stand for Azure: they import nothing of keyrotor." };

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".keyrotor/**", "coverage/**", "**/*.mjs", "**/*.mts", "bin/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
    },
  },
  { files: ["lib/domain/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [azure, adapters, notFunctions, notDev] }] } },
  { files: ["lib/**/*.ts"], ignores: ["lib/domain/**"], rules: { "no-restricted-imports": ["error", { patterns: [notFunctions, notDev] }] } },
  { files: ["functions/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [notDev] }] } },
  { files: ["dev/peers/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [keyrotor] }] } },
  {
    // Tests and benches poke at internals on purpose; keep the promise rules, relax the any-noise.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
);
