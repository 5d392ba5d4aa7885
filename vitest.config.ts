/**
 * Two test projects. `unit`: tests beside the code that need no running service
 * (`npm run test:unit`). `integration`: everything under `test/` and any `*.int.test.ts` or
 * `*.e2e.test.ts`; its global setup starts DynamoDB Local and ensures NATS once per run
 * (see test/harness/). `vitest run` runs both.
 */
import { defineConfig } from 'vitest/config';

const CODE_DIRS = '{shared,functions,infra,local}';
const SERVICE_TESTS = ['**/*.int.test.ts', '**/*.e2e.test.ts'];
const EXCLUDE = ['**/node_modules/**', '**/cdk.out/**', '**/dist/**', '**/.syntropism/**'];

// Node 20 is a supported engine here (package.json `engines`); the AWS SDK's notice that its
// future releases need Node 22 would otherwise repeat in every test process. Set in this
// process so the global setup and the forked test processes all inherit it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes rather than worker threads: tests start servers and handle signals.
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [`${CODE_DIRS}/**/*.test.ts`],
          exclude: [...EXCLUDE, ...SERVICE_TESTS],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts', ...SERVICE_TESTS.map((glob) => `${CODE_DIRS}/${glob}`)],
          exclude: EXCLUDE,
          globalSetup: ['test/harness/global-setup.ts'],
        },
      },
    ],
  },
});
