// A stand-in's parent for test/e2e/start/standInLifetime.test.ts: starts Azurite the way `npm start`
// does (the same launcher), prints its pid and port, then waits to be killed.
import { startAzuriteTables } from "../../../dev/peers/azurite/launcher";

startAzuriteTables({ port: Number(process.argv[2] ?? 0) }).then(
  (azurite) => process.stdout.write(`AZURITE ${azurite.pid} ${azurite.port}\n`),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
