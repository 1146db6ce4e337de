/**
 * Runs the ringkv CLI (src/cli/main.ts under tsx) as a child process, the way
 * an operator would, for the tests that check its output and exit codes.
 */
import { execFile } from 'node:child_process';

const root = new URL('../..', import.meta.url).pathname;

export interface CliResult {
  /** The exit code; -1 when it ended without one (killed at the timeout). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Resolves (never rejects) when the CLI exits. Its stdin gets `input`, then
 * end of file, so a command that reads stdin cannot wait for the timeout.
 */
export const runCli = (args: readonly string[], env: Readonly<Record<string, string>> = {}, input?: string): Promise<CliResult> =>
  new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, timeout: 30_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
    child.stdin!.end(input);
  });
