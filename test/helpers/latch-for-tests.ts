import { runLatchCli } from '../../src/cli/main.ts';

/**
 * `latch` as bin/latch.js runs it, plus the one thing only tests may have: durations from a second
 * (ServiceContext.minimumDurationSeconds), so a test grants for seconds instead of waiting out a
 * minute. It lives under test/, which the production image leaves out, and no variable or policy
 * field reaches the setting: a deployment cannot grant for less than a minute.
 * Started by LatchProcess with `shortGrants` (see latchNodeArgs); never imported: it runs on load.
 */
runLatchCli(process.argv.slice(2), { minimumDurationSeconds: 1 });
