/**
 * CDK entry point (`cdk.json` runs it with tsx): one stack, `Syntropism-<stage>`, configured from
 * context, e.g. `npx cdk deploy -c stage=prod -c alarmEmail=ops@example.com`.
 */
import { App } from 'aws-cdk-lib';
import { loadStackConfig } from './config.ts';
import { SyntropismStack, stackName } from './stack.ts';

const app = new App();
let config: ReturnType<typeof loadStackConfig>;
try {
  config = loadStackConfig(app.node);
} catch (error) {
  // One readable line instead of a stack trace from deep inside the CLI.
  console.error((error as Error).message);
  process.exit(1);
}

new SyntropismStack(app, stackName(config.stage), {
  config,
  // No `env`: the template stays environment-agnostic (the same with or without credentials, and
  // usable by SAM); `cdk deploy` targets the account and region of the caller's credentials.
  tags: { project: 'syntropism', stage: config.stage },
});
