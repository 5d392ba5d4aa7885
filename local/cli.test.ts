/**
 * The CLI's parsing (flags, durations, defaults from the environment) and the start/stop
 * order of background services. The end-to-end runs are in cli.e2e.test.ts.
 */
import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  type BackgroundService,
  backgroundServices,
  formatDuration,
  main,
  parseAuditArgs,
  parseDuration,
  parseExecArgs,
  parseStartArgs,
  type StackContext,
  startBackgroundServices,
  UsageError,
} from './cli.ts';
import { localConfig } from './env.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['2s', 2_000],
    ['1.5s', 1_500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    [' 5s ', 5_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['5', 's', '-1s', '0s', '0.0001ms', '5 sec', '5S', '', '1e3ms'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });

  it('formats back to the shortest unit', () => {
    expect([500, 5_000, 90_000, 120_000, 7_200_000, 1_500].map(formatDuration)).toEqual([
      '500ms',
      '5s',
      '90s',
      '2m',
      '2h',
      '1500ms',
    ]);
  });
});

describe('parseStartArgs', () => {
  it('has defaults for every flag', () => {
    const options = parseStartArgs([], {});
    expect(options).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      inMemory: false,
      dataDir: resolve('.syntropism/dynamodb'),
      roundMs: 5_000,
      verbose: false,
    });
  });

  it('reads every flag', () => {
    expect(parseStartArgs(['--port', '8080', '--in-memory', '--round', '2s', '--verbose'], {})).toMatchObject({
      port: 8080,
      inMemory: true,
      roundMs: 2_000,
      verbose: true,
    });
    expect(parseStartArgs(['--port=9000', '--round=1m'], {})).toMatchObject({ port: 9000, roundMs: 60_000 });
  });

  it('takes the port from PORT unless --port is given', () => {
    expect(parseStartArgs([], { PORT: '4000' }).port).toBe(4000);
    expect(parseStartArgs(['--port', '4001'], { PORT: '4000' }).port).toBe(4001);
    expect(parseStartArgs([], { PORT: '' }).port).toBe(3000);
    expect(parseStartArgs(['--port', '0'], {}).port).toBe(0);
  });

  it('reads the population flags', () => {
    expect(parseStartArgs([], {}).population).toEqual({ agents: 8, seed: 42, human: true, humanPaceMs: 3_000 });
    expect(
      parseStartArgs(['--agents', '10', '--seed', '7', '--no-human', '--human-pace', '5s'], {}).population,
    ).toEqual({ agents: 10, seed: 7, human: false, humanPaceMs: 5_000 });
    expect(parseStartArgs(['--no-agents'], {}).population?.agents).toBe(0);
  });

  it.each([
    [['--agents', '-3']],
    [['--agents', 'many']],
    [['--agents', '3', '--no-agents']],
    [['--seed', '1.5']],
    [['--human-pace', '3']],
    [['--round', '500ms']],
    [['--round', '1500ms']],
    [['--port', '70000']],
    [['--port', 'abc']],
    [['--port', '-1']],
    [['--round', '5']],
    [['--unknown']],
    [['extra']],
    [['--port']],
  ])('refuses %j', (args) => {
    expect(() => parseStartArgs(args, {})).toThrow(UsageError);
  });

  it('refuses a bad PORT', () => {
    expect(() => parseStartArgs([], { PORT: 'eighty' })).toThrow(/invalid port/);
  });
});

describe('parseAuditArgs', () => {
  it('reads flags', () => {
    expect(
      parseAuditArgs(['--endpoint', 'http://127.0.0.1:8000', '--table', 't1', '--region', 'eu-west-1', '--json'], {}),
    ).toEqual({ endpoint: 'http://127.0.0.1:8000', tableName: 't1', region: 'eu-west-1', json: true });
  });

  it('falls back to the environment, then to AWS defaults', () => {
    expect(
      parseAuditArgs([], { DYNAMODB_ENDPOINT: 'http://localhost:1', TABLE_NAME: 'env-table', AWS_REGION: 'us-west-2' }),
    ).toEqual({ endpoint: 'http://localhost:1', tableName: 'env-table', region: 'us-west-2', json: false });
    // No flag and no endpoint: the local stack's own table, found through its data folder.
    expect(parseAuditArgs([], { AWS_REGION: 'us-west-2' })).toEqual({
      tableName: 'syntropism',
      json: false,
      local: { root: resolve('.syntropism') },
    });
    expect(parseAuditArgs(['--region', 'eu-west-1'], {})).toEqual({
      tableName: 'syntropism',
      region: 'eu-west-1',
      json: false,
    });
  });

  it('refuses a malformed endpoint and unknown flags', () => {
    expect(() => parseAuditArgs(['--endpoint', 'not a url'], {})).toThrow(UsageError);
    expect(() => parseAuditArgs(['--force'], {})).toThrow(UsageError);
  });
});

describe('parseExecArgs', () => {
  const env = { SYNTROPISM_API_KEY: 'syn.key', PATH: '/bin' };

  it('takes the command after --, its own flags included, and the key from the environment', () => {
    const parsed = parseExecArgs(['--allocation', 'al_1', '--grace', '2s', '--', 'node', 'agent.js', '--help'], env);
    expect(parsed).toMatchObject({
      allocationId: 'al_1',
      apiUrl: 'http://localhost:3000',
      apiKey: 'syn.key',
      graceMs: 2_000,
      command: ['node', 'agent.js', '--help'],
    });
    expect(parsed).not.toHaveProperty('scenarioId');
    const custom = parseExecArgs(['--allocation', 'al_1', '--api', 'http://h:9', '--', 'x'], {
      ...env,
      SYNTROPISM_SCENARIO_ID: 'er_1',
    });
    expect(custom).toMatchObject({ apiUrl: 'http://h:9', scenarioId: 'er_1', graceMs: 5_000 });
    expect(
      parseExecArgs(['--allocation', 'al_1', '--', 'x'], { ...env, SYNTROPISM_API_URL: 'http://e:1' }).apiUrl,
    ).toBe('http://e:1');
  });

  it.each([
    [['--allocation', 'al_1', 'node'], 'a command after --'],
    [['--allocation', 'al_1', '--'], 'a command after --'],
    [['--', 'node'], '--allocation'],
    [['--allocation', 'al_1', '--api', 'not a url', '--', 'x'], 'invalid API URL'],
    [['--allocation', 'al_1', '--grace', '5', '--', 'x'], 'invalid duration'],
    [['--allocation', 'al_1', '--force', '--', 'x'], "Unknown option '--force'"],
  ])('refuses %j', (args, message) => {
    expect(() => parseExecArgs(args, env)).toThrow(UsageError);
    expect(() => parseExecArgs(args, env)).toThrow(message);
  });

  it("needs the agent's key", () => {
    expect(() => parseExecArgs(['--allocation', 'al_1', '--', 'x'], {})).toThrow('SYNTROPISM_API_KEY');
  });
});

describe('main', () => {
  it('refuses unknown commands', async () => {
    await expect(main(['deploy'])).rejects.toThrow(UsageError);
  });

  it('prints usage for --help', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--help'])).toBe(0);
      expect(await main(['start', '--help'])).toBe(0);
      expect(String(write.mock.calls[0]?.[0])).toContain('syntropism start');
    } finally {
      write.mockRestore();
    }
  });
});

describe('background services', () => {
  const input = {
    dynamoEndpoint: 'http://127.0.0.1:1',
    tableName: 'ttt',
    natsUrl: 'nats://127.0.0.1:2',
    operatorKey: 'k'.repeat(32),
  };
  const ctx: StackContext = {
    options: parseStartArgs([], {}),
    config: localConfig(input),
    ...input,
    apiUrl: 'http://localhost:3',
    log: () => {},
  };

  it('are the event pipeline, the clearing timer, the allocation sweeper and the population', () => {
    expect(backgroundServices(ctx).map((s) => s.name)).toEqual([
      'event pipeline',
      'clearing timer',
      'allocation sweeper',
      'population',
    ]);
    const quiet = { ...ctx, options: parseStartArgs(['--no-agents', '--no-human'], {}) };
    expect(backgroundServices(quiet).map((s) => s.name)).not.toContain('population');
  });

  it('start in order and, when one fails, stop the started ones in reverse', async () => {
    const order: string[] = [];
    const service = (name: string, fail = false): BackgroundService => ({
      name,
      start: async () => {
        if (fail) throw new Error('boom');
        order.push(`start ${name}`);
        return { stop: async () => void order.push(`stop ${name}`) };
      },
    });

    const running = await startBackgroundServices(ctx, [service('poller'), service('clearing')]);
    expect(running.map((s) => s.name)).toEqual(['poller', 'clearing']);
    expect(order).toEqual(['start poller', 'start clearing']);

    order.length = 0;
    await expect(
      startBackgroundServices(ctx, [service('poller'), service('bus'), service('bridge', true)]),
    ).rejects.toThrow('bridge failed to start: boom');
    expect(order).toEqual(['start poller', 'start bus', 'stop bus', 'stop poller']);
  });
});
