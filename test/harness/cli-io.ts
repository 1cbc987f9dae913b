// A CommandIO that keeps what a command prints, for running commands in-process.
import type { CommandIO } from '../../src/commands/io.js';

export interface CapturedIO {
  io: CommandIO;
  /** Everything printed on stdout, the calls joined by newlines. */
  out(): string;
  err(): string;
}

export function captureIO(stdin = ''): CapturedIO {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (s) => out.push(s), stderr: (s) => err.push(s), readStdin: async () => stdin },
    out: () => out.join('\n'),
    err: () => err.join('\n'),
  };
}
