// The launching process for postgresLifetime.test.ts: starts PostgreSQL the way the tests and
// `npm start` do (dev/peers/postgres), prints the guard's pid and the port, then waits to be killed.
import { startPostgres } from "../../../dev/peers/postgres/launcher";

startPostgres({ port: Number(process.argv[2] ?? 0) }).then(
  (pg) => {
    process.stdout.write(`POSTGRES ${pg.pid} ${pg.port}\n`);
    setInterval(() => {}, 60_000);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
