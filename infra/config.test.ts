/** Context parsing: defaults, the string forms `-c key=value` produces, and one clear error per bad key. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { RootConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { ECONOMY_DEFAULTS } from '../shared/core/market-config.ts';
import { loadStackConfig, parseStackConfig } from './config.ts';

describe('stack configuration', () => {
  it('has documented defaults for every key', () => {
    expect(parseStackConfig({})).toEqual({
      stage: 'dev',
      logRetention: RetentionDays.ONE_MONTH,
      api: { rateLimit: 100, burstLimit: 200, authorizerCacheSeconds: 60 },
      ledgerShards: 16,
      nats: { secretName: undefined, url: undefined },
      bridgeVpc: undefined,
      otlpEndpoint: undefined,
      alarmEmail: undefined,
      roundSeconds: 60,
      settlementConcurrency: 16,
      economy: { ...ECONOMY_DEFAULTS, round_seconds: 60 },
      llm: { baseUrl: undefined, timeoutMs: 25_000, streamTimeoutMs: 60_000 },
    });
  });

  describe('economy', () => {
    const doc = { capacity: { cpu: 50 }, llm: { max_spend_usd_per_hour: 4 }, round_seconds: 120 };

    it('takes the economy from cdk.json (an object), inline JSON or a JSON file, validated', () => {
      const dir = mkdtempSync(join(tmpdir(), 'economy-'));
      const file = join(dir, 'economy.json');
      writeFileSync(file, JSON.stringify(doc));
      try {
        for (const economy of [doc, JSON.stringify(doc), file]) {
          const config = parseStackConfig({ economy });
          expect(config.economy.capacity.cpu).toBe(50);
          expect(config.economy.capacity.memory).toBe(ECONOMY_DEFAULTS.capacity.memory);
          expect(config.economy.llm.max_spend_usd_per_hour).toBe(4);
          expect(config.roundSeconds).toBe(120);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('hands the resolved economy to every function', () => {
      const economy = parseStackConfig({ roundSeconds: '300', economy: { pricing: { k: 0.5 } } }).economy;
      expect(economy).toMatchObject({ round_seconds: 300, pricing: { k: 0.5 } });
    });

    it.each([
      [{ economy: { capacity: { cpu: 500 } } }, 'capacity'],
      [{ economy: { no_such_key: 1 } }, 'no_such_key'],
      [{ economy: '{not json' }, 'JSON'],
      [{ economy: '/no/such/economy.json' }, 'ENOENT'],
      [{ economy: { round_seconds: 2 } }, 'at least 5'],
      [{ roundSeconds: '60', economy: { round_seconds: 120 } }, 'contradicts'],
    ])('rejects %o, naming %s', (context, what) => {
      expect(() => parseStackConfig(context)).toThrow(new RegExp(`invalid CDK context: economy:[\\s\\S]*${what}`));
    });
  });

  it('reads `-c key=value` strings from the app context', () => {
    const root = new RootConstruct();
    const cli = {
      stage: 'staging',
      ledgerShards: '4',
      logRetentionDays: '7',
      bridgeVpcId: 'vpc-0a1b',
      bridgeSubnetIds: 'subnet-01, subnet-02',
    };
    for (const [key, value] of Object.entries(cli)) root.node.setContext(key, value);
    const config = loadStackConfig(root.node);
    expect(config).toMatchObject({
      stage: 'staging',
      ledgerShards: 4,
      logRetention: RetentionDays.ONE_WEEK,
      bridgeVpc: { vpcId: 'vpc-0a1b', subnetIds: ['subnet-01', 'subnet-02'] },
    });
  });

  it('accepts a real list of subnets from cdk.json', () => {
    expect(parseStackConfig({ bridgeVpcId: 'vpc-0a1b', bridgeSubnetIds: ['subnet-01'] }).bridgeVpc?.subnetIds).toEqual([
      'subnet-01',
    ]);
  });

  it.each([
    [{ stage: 'Prod' }, 'stage'],
    [{ stage: 'a'.repeat(21) }, 'stage'],
    [{ logRetentionDays: '10' }, 'logRetentionDays'],
    [{ ledgerShards: '0' }, 'ledgerShards'],
    [{ ledgerShards: 'many' }, 'ledgerShards'],
    [{ apiRateLimit: '500', apiBurstLimit: '100' }, 'apiBurstLimit'],
    [{ authorizerCacheSeconds: '7200' }, 'authorizerCacheSeconds'],
    [{ bridgeVpcId: 'vpc-0a1b' }, 'bridgeVpcId'],
    [{ bridgeSubnetIds: 'subnet-01' }, 'bridgeVpcId'],
    [{ bridgeVpcId: 'vpc-0a1b', bridgeSubnetIds: 'sn-1' }, 'bridgeSubnetIds'],
    [{ otlpEndpoint: 'not a url' }, 'otlpEndpoint'],
    [{ alarmEmail: 'ops' }, 'alarmEmail'],
  ])('rejects %o, naming %s', (context, key) => {
    expect(() => parseStackConfig(context)).toThrow(new RegExp(`invalid CDK context:[\\s\\S]*${key}`));
  });
});
