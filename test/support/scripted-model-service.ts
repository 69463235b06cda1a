// The scripted model as a long-running process: the compose test (test/compose/) runs it as a service of
// its override file, in a container from the app image, so that worker containers reach it over the
// compose network. Its scenarios are fixed here, since the test cannot reach into this process.
import { startScriptedModel } from './scripted-model.js';

/** Scenarios the compose test names in its prompts (scenarioPrompt). */
export const COMPOSE_SCENARIOS = {
  /** Writes hello.txt, then ends: the task's diff shows the file. */
  write: 'compose-write',
  /** Runs `sleep` in the sandbox between two events, long enough to restart or scale something meanwhile. */
  slow: 'compose-slow',
} as const;

const port = Number(process.env.SCRIPTED_MODEL_PORT ?? '8000');
const sleepSeconds = Number(process.env.SCRIPTED_MODEL_SLEEP_SECONDS ?? '12');
const model = await startScriptedModel({ host: '0.0.0.0', port });
model.scenario(COMPOSE_SCENARIOS.write, [
  { kind: 'tool', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hello from compose\n' }, text: 'Writing the file.' },
  { kind: 'text', text: 'Wrote hello.txt.' },
]);
model.scenario(COMPOSE_SCENARIOS.slow, [
  { kind: 'tool', name: 'Bash', input: { command: `sleep ${sleepSeconds} && echo slept`, description: 'wait' }, text: 'Waiting.' },
  { kind: 'text', text: 'Done waiting.' },
]);
process.stdout.write(`scripted model listening on ${model.url}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void model.close().then(() => process.exit(0)));
}
