// Ending the CLI process without cutting its output. On a pipe, stdout writes are asynchronous: a
// `process.exit` right after a write that found the pipe full (64 KiB unread, e.g. `| jq` still
// starting) drops the rest while the exit code says success. So the exit waits until every
// write already made has reached the pipe.

/** Resolves once everything written to `stream` so far has been handed to the OS. */
export function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) {
      resolve();
      return;
    }
    // Writes complete in order, so the callback of an empty write runs after all earlier ones.
    // An error (the reader went away: EPIPE) also ends the wait; there is nobody left to read.
    stream.write("", () => resolve());
  });
}

/** Exits with `code` once stdout and stderr are flushed. */
export async function exitFlushed(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
