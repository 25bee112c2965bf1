/**
 * A stand-in worker process for the sandbox tests: runs one shell.run activity and stays alive, so a test can
 * SIGKILL this process alone and check what happens to the command it started.
 * Usage: node --import tsx test/helpers/shell-child.ts <sandbox mode> <cwd> <script> <job id>
 */
import type { SandboxMode } from '../../activities/shell/sandbox';
import { activityRunner } from './activity';

const [mode, cwd, script, jobId] = process.argv.slice(2);
const { run } = activityRunner({ shell: { allowedRoots: [], sandbox: mode as SandboxMode } });
run('shell.run', { jobId, input: { argv: ['sh', '-c', script], cwd, timeoutSec: 120 } }).then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
