import { existsSync, readFileSync } from 'node:fs';
import { serverLogs } from './playwright.config';

// Global teardown: fail the run if either app server panicked while serving the journeys, and
// show where. A panic in a streamed SSR response can cut a page short without any assertion
// noticing, so the browser tests alone would let it through.
export default function checkServerPanics() {
  const found: string[] = [];
  for (const log of serverLogs) {
    if (!existsSync(log)) continue;
    const lines = readFileSync(log, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.includes('panicked at')) found.push(`${log}: ${line}\n    ${lines[i + 1] ?? ''}`);
    });
  }
  if (found.length > 0) {
    throw new Error(`the app server panicked ${found.length} time(s) during the journeys:\n${found.join('\n')}`);
  }
}
