/**
 * `npm run invoke` against DynamoDB Local: the sample events run through the real handlers on a
 * table of their own.
 */
import { describe, expect, it } from 'vitest';
import { natsUrl, TEST_OPERATOR_KEY, useTestTable } from '../test/harness/context.ts';
import { invoke, parseInvokeArgs } from './invoke.ts';

const table = useTestTable('invoke');
const run = (fn: string) =>
  invoke(
    parseInvokeArgs([fn, `events/${fn}.json`, '--table', table.tableName], {
      DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
      NATS_URL: natsUrl(),
      SYNTROPISM_OPERATOR_KEY: TEST_OPERATOR_KEY,
      LOG_LEVEL: 'SILENT',
    }),
  );

describe('npm run invoke', () => {
  it('price-update applies the sample round once, and the replay changes nothing', async () => {
    expect(await run('price-update')).toEqual({ applied: 1 });
    expect(await run('price-update')).toEqual({ applied: 0 });
  });

  it('clearing runs on the table and reports what it cleared', async () => {
    const result = (await run('clearing')) as { cleared: number; rounds: string[] };
    expect(result.rounds).toHaveLength(result.cleared);
  });

  it('an HTTP function answers its sample request', async () => {
    const result = (await run('health')) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ status: 'ok' });
  });
});
