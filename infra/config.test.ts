/** Context parsing: defaults, the string forms `-c key=value` produces, and one clear error per bad key. */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { RootConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
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
