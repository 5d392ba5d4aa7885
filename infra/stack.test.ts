/**
 * Assertions on the synthesized template, aimed at what carries risk: key schema and stream,
 * IAM, the authorizer and routes, the pipe filter, rule patterns, retries and DLQs, environment.
 * Bundling is skipped and entries are stubs; `syntropism-function.test.ts` covers real bundling.
 * The app gets the context of `cdk.json` so feature flags match a real `cdk synth`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_FUNCTIONS, ROUTES, routeKey } from '#shared/http/routes';
import { ARCHIVE, BUS_NAME, RULES } from '#shared/rules';
import { TABLE_DEFINITION } from '#shared/table';
import { parseStackConfig } from './config.ts';
import { HTTP_TABLE_ACCESS } from './constructs/http-api.ts';
import { REPOSITORY_ROOT } from './constructs/syntropism-function.ts';
import { SyntropismStack, stackName } from './stack.ts';
import { createSourceTree, type SourceTree, STUB_HANDLER } from './test-fixtures/source-tree.ts';

/** Every entry the stack builds a function from, relative to `functions/`. */
const FUNCTION_ENTRIES = [
  ...HTTP_FUNCTIONS.map((fn) => `http/${fn}.ts`),
  'authorizer.ts',
  'outbox-relay.ts',
  'nats-bridge.ts',
  'clearing.ts',
  'price-update.ts',
  'event-log.ts',
  'sweeper.ts',
  'llm-stream.ts',
  'settlement.ts',
];
const CDK_JSON_CONTEXT = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'cdk.json'), 'utf8')).context;

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string[];
  Resource: unknown[];
}

let tree: SourceTree;
const outdirs: string[] = [];

function synth(context: Json = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'syntropism-cdk-out-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    context: {
      ...CDK_JSON_CONTEXT,
      'aws:cdk:bundling-stacks': [],
      'aws:cdk:enable-asset-metadata': true,
      'aws:cdk:enable-path-metadata': true,
    },
  });
  const config = parseStackConfig(context);
  const stack = new SyntropismStack(app, stackName(config.stage), { config, sourceRoot: tree.root });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Json } & Json>;

  const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  /** All statements of the inline policies attached to a role, actions and resources as arrays. */
  const statementsOf = (roleId: string): Statement[] =>
    ofType('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(JSON.stringify({ Ref: roleId })))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Json[] }).Statement)
      .map((s) => ({
        Effect: s.Effect as string,
        Action: [s.Action].flat() as string[],
        Resource: [s.Resource].flat(),
      }));
  const functionStatements = (fn: { role?: IConstruct }) => {
    if (!fn.role) throw new Error('function without role');
    return statementsOf(id(fn.role));
  };
  const resource = (logicalId: string) => {
    const found = resources[logicalId];
    if (!found) throw new Error(`no resource ${logicalId} in the template`);
    return found;
  };
  const environmentOf = (fn: IConstruct) => (resource(id(fn)).Properties.Environment as { Variables: Json }).Variables;
  return { stack, template, resources, resource, id, ofType, statementsOf, functionStatements, environmentOf };
}

type Synth = ReturnType<typeof synth>;
const actionsOf = (statements: Statement[]) => statements.flatMap((s) => s.Action);
const TABLE_WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

beforeAll(() => {
  tree = createSourceTree(Object.fromEntries(FUNCTION_ENTRIES.map((entry) => [entry, STUB_HANDLER])));
});
afterAll(() => {
  tree?.remove();
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

it('builds functions only from entries that exist in the repository', () => {
  for (const entry of FUNCTION_ENTRIES) expect(existsSync(join(REPOSITORY_ROOT, 'functions', entry)), entry).toBe(true);
});

describe('default stack', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  }, 120_000);

  describe('ledger table', () => {
    it('has the shared key schema and GSIs, on-demand, with PITR, TTL and a NEW_IMAGE stream', () => {
      s.template.resourceCountIs('AWS::DynamoDB::Table', 1);
      s.template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'PK', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
        TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
        GlobalSecondaryIndexes: TABLE_DEFINITION.globalSecondaryIndexes.map((gsi) => ({
          IndexName: gsi.indexName,
          KeySchema: [
            { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
            { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
        AttributeDefinitions: Match.arrayWith(
          ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK'].map((name) => ({
            AttributeName: name,
            AttributeType: 'S',
          })),
        ),
      });
    });

    it('survives the deletion or replacement of the stack, as the only resource that does', () => {
      s.template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      const retained = Object.entries(s.resources).filter(([, r]) => r.DeletionPolicy === 'Retain');
      expect(retained.map(([logicalId]) => logicalId)).toEqual([s.id(s.stack.ledger.table)]);
    });
  });

  describe('functions', () => {
    it('builds one function per entry, all Node.js 22 on arm64 with source maps and no X-Ray', () => {
      const functions = s.ofType('AWS::Lambda::Function');
      expect(functions).toHaveLength(FUNCTION_ENTRIES.length);
      for (const [, fn] of functions) {
        expect(fn.Properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
        });
        expect(fn.Properties.TracingConfig).toBeUndefined();
        expect((fn.Properties.Environment as { Variables: Json }).Variables.NODE_OPTIONS).toBe('--enable-source-maps');
      }
    });

    it('gives every function its own log group with the configured retention', () => {
      const groups = new Set<string>();
      for (const [name, fn] of s.ofType('AWS::Lambda::Function')) {
        const ref = (fn.Properties.LoggingConfig as { LogGroup?: { Ref: string } } | undefined)?.LogGroup?.Ref;
        expect(ref, name).toBeDefined();
        groups.add(ref as string);
        expect(s.resources[ref as string]).toMatchObject({
          Type: 'AWS::Logs::LogGroup',
          Properties: { RetentionInDays: 30 },
        });
      }
      expect(groups.size).toBe(FUNCTION_ENTRIES.length);
    });

    it('carries the asset metadata SAM reads to find each bundle', () => {
      for (const [, fn] of s.ofType('AWS::Lambda::Function')) {
        expect(fn.Metadata).toMatchObject({ 'aws:asset:path': expect.any(String), 'aws:asset:property': 'Code' });
      }
    });
  });

  describe('least privilege', () => {
    it('lets the authorizer read the table and the operator key, and write nothing', () => {
      const statements = s.functionStatements(s.stack.http.authorizerFunction);
      const actions = actionsOf(statements);
      expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
      expect(actions.filter((a) => TABLE_WRITES.includes(a) || a.endsWith('*'))).toEqual([]);
      expect(actions.filter((a) => a.startsWith('secretsmanager:')).sort()).toEqual([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ]);
      const secretStatement = statements.find((st) => st.Action.includes('secretsmanager:GetSecretValue'));
      expect(secretStatement?.Resource).toEqual([{ Ref: s.id(s.stack.http.operatorKey) }]);
    });

    it('gives the health function no access to the table or any secret', () => {
      const actions = actionsOf(s.functionStatements(s.stack.http.functions.health));
      expect(actions.filter((a) => a.startsWith('dynamodb:') || a.startsWith('secretsmanager:'))).toEqual([]);
      expect(s.environmentOf(s.stack.http.functions.health).TABLE_NAME).toBeUndefined();
    });

    it('gives each HTTP function exactly the table access declared for it, on the table and its indexes only', () => {
      const table = s.id(s.stack.ledger.table);
      for (const fn of HTTP_FUNCTIONS) {
        const statements = s
          .functionStatements(s.stack.http.functions[fn])
          .filter((st) => st.Action.some((a) => a.startsWith('dynamodb:')));
        const actions = actionsOf(statements);
        const access = HTTP_TABLE_ACCESS[fn];
        if (access === 'none') expect(actions, fn).toEqual([]);
        if (access !== 'none')
          expect(actions, fn).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
        if (access === 'read')
          expect(
            actions.filter((a) => TABLE_WRITES.includes(a)),
            fn,
          ).toEqual([]);
        if (access === 'readwrite') expect(actions, fn).toEqual(expect.arrayContaining(TABLE_WRITES));
        expect(actions, fn).not.toContain('dynamodb:Scan');
        for (const st of statements) {
          expect(st.Resource, fn).toEqual([
            { 'Fn::GetAtt': [table, 'Arn'] },
            { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/*']] },
          ]);
        }
      }
      expect(HTTP_TABLE_ACCESS).toMatchObject({ agents: 'readwrite', transfers: 'readwrite' });
      // Rewards mint (the ledger writer) and raters are written; the economy summary only reads.
      expect(HTTP_TABLE_ACCESS).toMatchObject({ prompts: 'readwrite', raters: 'readwrite', economy: 'read' });
      const economyActions = actionsOf(s.functionStatements(s.stack.http.functions.economy));
      expect(economyActions.filter((a) => TABLE_WRITES.includes(a))).toEqual([]);
    });

    it('lets only the authorizer read the operator key', () => {
      const key = JSON.stringify({ Ref: s.id(s.stack.http.operatorKey) });
      const readers = s
        .ofType('AWS::IAM::Policy')
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(key))
        .map(([, p]) => p.Properties.Roles);
      expect(readers).toEqual([[{ Ref: s.id(s.stack.http.authorizerFunction.role as IConstruct) }]]);
    });

    it('lets exactly the two gateway functions read the provider key, with its ARN in their environment', () => {
      const key = s.id(s.stack.llm.providerKey);
      const readers = s
        .ofType('AWS::IAM::Policy')
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(JSON.stringify({ Ref: key })))
        .map(([, p]) => p.Properties.Roles);
      const gateway = [s.stack.http.functions.llm, s.stack.llm.streamFunction];
      expect(readers.sort()).toEqual(gateway.map((fn) => [{ Ref: s.id(fn.role as IConstruct) }]).sort());
      for (const fn of gateway) {
        const statements = s.functionStatements(fn);
        const secrets = statements.filter((st) => st.Action.some((a) => a.startsWith('secretsmanager:')));
        expect(secrets.flatMap((st) => st.Resource)).toEqual([{ Ref: key }]);
        expect(actionsOf(statements).filter((a) => !/^(dynamodb|secretsmanager|xray):/.test(a))).toEqual([]);
        expect(actionsOf(statements)).toEqual(expect.arrayContaining(TABLE_WRITES));
        expect(s.environmentOf(fn)).toMatchObject({ SYNTROPISM_LLM_SECRET_ARN: { Ref: key } });
        // No provider configured: the offline model answers.
        expect(s.environmentOf(fn).SYNTROPISM_LLM_BASE_URL).toBeUndefined();
      }
      expect(s.environmentOf(s.stack.http.functions.llm).SYNTROPISM_LLM_TIMEOUT_MS).toBe('25000');
      expect(s.resource(s.id(s.stack.http.functions.llm)).Properties.Timeout).toBe(29);
    });

    it('serves the streaming gateway through a function URL in RESPONSE_STREAM mode, and outputs it', () => {
      s.template.hasResourceProperties('AWS::Lambda::Url', {
        AuthType: 'NONE',
        InvokeMode: 'RESPONSE_STREAM',
        TargetFunctionArn: { 'Fn::GetAtt': [s.id(s.stack.llm.streamFunction), 'Arn'] },
      });
      expect(Object.keys(s.template.toJSON().Outputs)).toEqual(
        expect.arrayContaining(['LlmStreamUrl', 'LlmProviderKeySecretArn']),
      );
    });

    it('lets the pipe role read the stream, invoke the relay, put events on the bus and nothing else', () => {
      const table = s.id(s.stack.ledger.table);
      const statements = s.statementsOf(s.id(s.stack.events.pipeRole));
      const byService = (prefix: string) => statements.filter((st) => st.Action.some((a) => a.startsWith(prefix)));

      expect(byService('events:')).toEqual([
        {
          Effect: 'Allow',
          Action: ['events:PutEvents'],
          Resource: [{ 'Fn::GetAtt': [s.id(s.stack.events.bus), 'Arn'] }],
        },
      ]);
      expect(byService('lambda:').flatMap((st) => st.Action)).toEqual(['lambda:InvokeFunction']);
      expect(JSON.stringify(byService('lambda:')[0]?.Resource)).toContain(s.id(s.stack.outboxRelay));
      for (const st of byService('dynamodb:')) {
        // ListStreams has no resource-level permission; everything else is the table's stream.
        const expected = st.Action.includes('dynamodb:ListStreams') ? ['*'] : [{ 'Fn::GetAtt': [table, 'StreamArn'] }];
        expect(st.Resource).toEqual(expected);
        expect(
          st.Action.every((a) => /^dynamodb:(ListStreams|DescribeStream|GetRecords|GetShardIterator)$/.test(a)),
        ).toBe(true);
      }
      expect(byService('sqs:').flatMap((st) => st.Resource)).toEqual([
        { 'Fn::GetAtt': [s.id(s.stack.events.pipeDeadLetterQueue), 'Arn'] },
      ]);
      const services = new Set(actionsOf(statements).map((a) => a.split(':')[0]));
      expect([...services].sort()).toEqual(['dynamodb', 'events', 'lambda', 'sqs']);
    });

    it('lets only the pipes service of this account assume the pipe role', () => {
      s.template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            {
              Action: 'sts:AssumeRole',
              Effect: 'Allow',
              Principal: { Service: 'pipes.amazonaws.com' },
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
          ],
        },
      });
    });

    it('grants no wildcard actions anywhere', () => {
      const actions = s
        .ofType('AWS::IAM::Policy')
        .flatMap(([, p]) =>
          (p.Properties.PolicyDocument as { Statement: Json[] }).Statement.flatMap((st) => [st.Action].flat()),
        );
      expect(actions.filter((a) => String(a).endsWith(':*') || a === '*')).toEqual([]);
    });
  });

  describe('HTTP API', () => {
    it('uses a REQUEST authorizer with simple responses, keyed and cached on the Authorization header', () => {
      s.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
      s.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'REQUEST',
        EnableSimpleResponses: true,
        AuthorizerPayloadFormatVersion: '2.0',
        IdentitySource: ['$request.header.Authorization'],
        AuthorizerResultTtlInSeconds: 60,
        AuthorizerUri: {
          'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [s.id(s.stack.http.authorizerFunction), 'Arn'] }])],
        },
      });
    });

    it('has one route per ROUTES entry, served by its function, with the authorizer exactly on non-public routes', () => {
      const routes = s.ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
      expect(routes.map((r) => r.RouteKey).sort()).toEqual(ROUTES.map(routeKey).sort());
      const [authorizerId] = s.ofType('AWS::ApiGatewayV2::Authorizer').map(([logicalId]) => logicalId);

      for (const spec of ROUTES) {
        const route = routes.find((r) => r.RouteKey === routeKey(spec));
        if (spec.access === 'public') {
          expect(route?.AuthorizerId, routeKey(spec)).toBeUndefined();
          expect(route?.AuthorizationType ?? 'NONE', routeKey(spec)).toBe('NONE');
        } else {
          expect(route, routeKey(spec)).toMatchObject({
            AuthorizationType: 'CUSTOM',
            AuthorizerId: { Ref: authorizerId },
          });
        }
        const integrationId = JSON.stringify(route?.Target).match(/"Ref":"([^"]+)"/)?.[1] ?? '';
        const integration = s.resources[integrationId]?.Properties;
        expect(integration?.IntegrationUri, routeKey(spec)).toEqual({
          'Fn::GetAtt': [s.id(s.stack.http.functions[spec.fn]), 'Arn'],
        });
      }
    });

    it('serves spawning from the agents function, which writes the table and queries its indexes under the economy', () => {
      const routes = s.ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
      for (const key of ['POST /v1/agents/{id}/children', 'GET /v1/agents/{id}/children']) {
        const route = routes.find((r) => r.RouteKey === key);
        expect(route, key).toMatchObject({ AuthorizationType: 'CUSTOM' });
        const integrationId = JSON.stringify(route?.Target).match(/"Ref":"([^"]+)"/)?.[1] ?? '';
        expect(s.resources[integrationId]?.Properties.IntegrationUri, key).toEqual({
          'Fn::GetAtt': [s.id(s.stack.http.functions.agents), 'Arn'],
        });
      }
      const statements = s.functionStatements(s.stack.http.functions.agents);
      const table = s.id(s.stack.ledger.table);
      // The children listing is a GSI2 query; the spawn one TransactWriteItems of Puts and Updates.
      const onIndexes = statements.filter((st) =>
        JSON.stringify(st.Resource).includes(
          JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/*']] }),
        ),
      );
      expect(actionsOf(onIndexes)).toEqual(
        expect.arrayContaining(['dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem']),
      );
      const economy = JSON.parse(String(s.environmentOf(s.stack.http.functions.agents).SYNTROPISM_ECONOMY));
      expect(economy.spawning).toEqual({ fee: 10, max_depth: 8, max_children: 16 });
    });

    it('throttles the default stage, auto-deploys it, and has no CORS', () => {
      s.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
      s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      });
      s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.absent() });
    });

    it('generates a 48-character alphanumeric operator key and hands its ARN to the authorizer', () => {
      s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
        GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
      });
      expect(s.environmentOf(s.stack.http.authorizerFunction)).toMatchObject({
        OPERATOR_KEY_SECRET_ARN: { Ref: s.id(s.stack.http.operatorKey) },
        TABLE_NAME: { Ref: s.id(s.stack.ledger.table) },
        LEDGER_SHARDS: '16',
      });
    });

    it('tells every HTTP function with table access where the table is and how many ledger shards it has', () => {
      for (const fn of HTTP_FUNCTIONS.filter((f) => HTTP_TABLE_ACCESS[f] !== 'none')) {
        const environment = s.environmentOf(s.stack.http.functions[fn]);
        expect(environment, fn).toMatchObject({ TABLE_NAME: { Ref: s.id(s.stack.ledger.table) }, LEDGER_SHARDS: '16' });
        expect(environment.OPERATOR_KEY_SECRET_ARN, fn).toBeUndefined();
      }
    });
  });

  describe('event pipeline', () => {
    it('creates the custom bus under its shared name', () => {
      s.template.hasResourceProperties('AWS::Events::EventBus', { Name: BUS_NAME });
    });

    it('pipes only outbox inserts from the table stream through the relay to the bus', () => {
      const pipes = s.ofType('AWS::Pipes::Pipe').map(([, p]) => p.Properties);
      expect(pipes).toHaveLength(1);
      const pipe = pipes[0] as Json & {
        SourceParameters: Json & { FilterCriteria: { Filters: { Pattern: string }[] } };
      };
      expect(pipe).toMatchObject({
        Source: { 'Fn::GetAtt': [s.id(s.stack.ledger.table), 'StreamArn'] },
        Enrichment: { 'Fn::GetAtt': [s.id(s.stack.outboxRelay), 'Arn'] },
        Target: { 'Fn::GetAtt': [s.id(s.stack.events.bus), 'Arn'] },
        SourceParameters: {
          DynamoDBStreamParameters: {
            StartingPosition: 'LATEST',
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [s.id(s.stack.events.pipeDeadLetterQueue), 'Arn'] } },
          },
        },
        TargetParameters: {
          EventBridgeEventBusParameters: { Source: '$.source', DetailType: '$.detail_type' },
          InputTemplate: '<$.detail>',
        },
      });
      // PutEvents takes at most 10 entries, and the relay returns at most one per record.
      expect((pipe.SourceParameters.DynamoDBStreamParameters as Json).BatchSize).toBeLessThanOrEqual(10);
      const filters = pipe.SourceParameters.FilterCriteria.Filters.map((f) => JSON.parse(f.Pattern));
      expect(filters).toEqual([{ eventName: ['INSERT'], dynamodb: { NewImage: { kind: { S: ['outbox'] } } } }]);
    });

    it('turns every rule with a target function into a bus rule with the same pattern', () => {
      const rules = s.ofType('AWS::Events::Rule').map(([, r]) => r.Properties);
      const deployed = s.stack.events.deployedRules;
      expect(deployed.map((rule) => rule.target)).toContain('nats-bridge');
      expect(rules).toHaveLength(deployed.length);
      for (const rule of deployed) {
        const match = rules.find((r) => r.Description === rule.description);
        expect(match, rule.name).toMatchObject({ EventBusName: { Ref: s.id(s.stack.events.bus) } });
        expect(match?.EventPattern).toEqual(rule.pattern);
      }
    });

    it('deploys every shared rule, the price update and the event log included', () => {
      expect(s.stack.events.deployedRules.map((r) => r.name).sort()).toEqual(RULES.map((r) => r.name).sort());
      const rules = s
        .ofType('AWS::Events::Rule')
        .map(([, r]) => r.Properties as { EventPattern: Json; Targets: Json[] });
      const price = rules.find((r) => JSON.stringify(r.EventPattern).includes('auction_cleared'));
      expect(price?.Targets).toEqual([
        expect.objectContaining({ Arn: { 'Fn::GetAtt': [s.id(s.stack.priceUpdate), 'Arn'] } }),
      ]);
    });

    it('schedules the clearing function with EventBridge Scheduler right after each round closes', () => {
      const schedule = s
        .ofType('AWS::Scheduler::Schedule')
        .map(([, r]) => r.Properties as { Target: { Arn: Json } })
        .find((p) => JSON.stringify(p.Target.Arn).includes(s.id(s.stack.clearing)));
      expect(schedule).toMatchObject({
        ScheduleExpression: 'cron(* * * * ? *)',
        State: 'ENABLED',
        Target: { Arn: { 'Fn::GetAtt': [s.id(s.stack.clearing), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2 } },
      });
    });

    it('runs the allocation sweeper every minute, with read-write access to the table alone', () => {
      const schedule = s
        .ofType('AWS::Scheduler::Schedule')
        .map(([, r]) => r.Properties as { Target: { Arn: Json } })
        .find((p) => JSON.stringify(p.Target.Arn).includes(s.id(s.stack.sweeper)));
      expect(schedule).toMatchObject({
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Target: { RetryPolicy: { MaximumRetryAttempts: 2 } },
      });
      const role = s.resource(s.id(s.stack.sweeper)).Properties as { Role: { 'Fn::GetAtt': string[] } };
      const policies = s
        .ofType('AWS::IAM::Policy')
        .filter(([, p]) => JSON.stringify(p.Properties).includes(role.Role['Fn::GetAtt'][0] ?? '?'));
      const actions = policies.flatMap(([, p]) =>
        (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement.flatMap((st) =>
          ([] as string[]).concat(st.Action),
        ),
      );
      expect(actions.some((a) => a.startsWith('dynamodb:'))).toBe(true);
      expect(actions.filter((a) => !a.startsWith('dynamodb:') && !a.startsWith('xray:'))).toEqual([]);
    });

    it('fans settlement out: clearing sends orders to a queue that settlement functions consume in parallel', () => {
      const queue = s.resource(s.id(s.stack.settlementQueue)).Properties as Json;
      expect(queue).toMatchObject({
        VisibilityTimeout: 120,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [s.id(s.stack.settlementDeadLetterQueue), 'Arn'] },
          maxReceiveCount: 5,
        },
      });
      const [mapping] = s
        .ofType('AWS::Lambda::EventSourceMapping')
        .map(([, r]) => r.Properties as Json)
        .filter((p) => JSON.stringify(p.EventSourceArn).includes(s.id(s.stack.settlementQueue)));
      expect(mapping).toMatchObject({
        FunctionName: { Ref: s.id(s.stack.settlement) },
        BatchSize: 5,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 16 },
      });
      // The queue's visibility outlasts six runs of the function, as Lambda advises.
      expect(s.resource(s.id(s.stack.settlement)).Properties.Timeout).toBe(20);
      expect(s.environmentOf(s.stack.clearing).SETTLEMENT_QUEUE_URL).toEqual({ Ref: s.id(s.stack.settlementQueue) });
      const clearingSends = s
        .functionStatements(s.stack.clearing)
        .filter((st) => st.Action.includes('sqs:SendMessage'))
        .flatMap((st) => st.Resource);
      expect(clearingSends).toEqual([{ 'Fn::GetAtt': [s.id(s.stack.settlementQueue), 'Arn'] }]);
      const workerActions = actionsOf(s.functionStatements(s.stack.settlement));
      expect(workerActions).toEqual(
        expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', ...TABLE_WRITES]),
      );
      expect(workerActions.filter((a) => !/^(dynamodb|sqs|xray):/.test(a))).toEqual([]);
      expect(workerActions.filter((a) => a.startsWith('sqs:') && a.includes('Send'))).toEqual([]);
    });

    it('takes the settlement concurrency from context', () => {
      const other = synth({ settlementConcurrency: 64 });
      const mappings = other
        .ofType('AWS::Lambda::EventSourceMapping')
        .map(([, r]) => r.Properties as { ScalingConfig?: { MaximumConcurrency: number } });
      expect(mappings.map((m) => m.ScalingConfig?.MaximumConcurrency)).toContain(64);
    });

    it('retries delivery to the NATS bridge for a day, then dead-letters it', () => {
      const [rule] = s.ofType('AWS::Events::Rule').map(([, r]) => r.Properties as { Targets: Json[] });
      expect(rule?.Targets).toEqual([
        expect.objectContaining({
          Arn: { 'Fn::GetAtt': [s.id(s.stack.natsBridge), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } },
        }),
      ]);
      const target = rule?.Targets[0] as { DeadLetterConfig: { Arn: { 'Fn::GetAtt': string[] } } } | undefined;
      expect(s.resource(target?.DeadLetterConfig.Arn['Fn::GetAtt'][0] ?? '').Type).toBe('AWS::SQS::Queue');
    });

    it('sends failed bridge invocations to a queue after Lambda’s own retries', () => {
      s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: s.id(s.stack.natsBridge) },
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21_600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } },
      });
    });

    it('archives every event of the bus for replay', () => {
      s.template.hasResourceProperties('AWS::Events::Archive', {
        ArchiveName: ARCHIVE.name,
        SourceArn: { 'Fn::GetAtt': [s.id(s.stack.events.bus), 'Arn'] },
        EventPattern: ARCHIVE.pattern,
        RetentionDays: ARCHIVE.retentionDays,
      });
    });

    it('hands the bridge the NATS secret it may read, and the relay nothing', () => {
      const secret = { Ref: s.id(s.stack.natsSecret) };
      expect(s.environmentOf(s.stack.natsBridge).NATS_SECRET_ARN).toEqual(secret);
      expect(s.environmentOf(s.stack.natsBridge).NATS_URL).toBeUndefined();
      const bridgeSecretStatement = s
        .functionStatements(s.stack.natsBridge)
        .find((st) => st.Action.includes('secretsmanager:GetSecretValue'));
      expect(bridgeSecretStatement?.Resource).toEqual([secret]);
      expect(actionsOf(s.functionStatements(s.stack.outboxRelay))).toEqual([]);
      expect(s.environmentOf(s.stack.outboxRelay).TABLE_NAME).toBeUndefined();
    });

    it('hands the bridge the economy, whose bounds and capacity the market state bucket shows', () => {
      const economy = s.environmentOf(s.stack.natsBridge).SYNTROPISM_ECONOMY;
      expect(economy).toBe(JSON.stringify(parseStackConfig({}).economy));
      expect(economy).toBe(s.environmentOf(s.stack.priceUpdate).SYNTROPISM_ECONOMY);
    });

    it('lets the bridge put dead letters in the table and touch nothing else there', () => {
      const table = s
        .functionStatements(s.stack.natsBridge)
        .filter((st) => st.Action.some((a) => a.startsWith('dynamodb:')));
      expect(table).toEqual([
        {
          Effect: 'Allow',
          Action: ['dynamodb:PutItem'],
          Resource: [{ 'Fn::GetAtt': [s.id(s.stack.ledger.table), 'Arn'] }],
        },
      ]);
      s.template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: 'dynamodb:PutItem',
              Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['DLQ#*'] } },
            }),
          ]),
        },
      });
      expect(s.environmentOf(s.stack.natsBridge).TABLE_NAME).toEqual({ Ref: s.id(s.stack.ledger.table) });
    });
  });

  describe('monitoring', () => {
    it('alarms on errors of every function and on the depth of every queue, notifying the alarm topic', () => {
      const alarms = s.ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
      const topic = { Ref: s.id(s.stack.monitoring.alarmTopic) };
      const errorAlarms = alarms.filter((a) => a.MetricName === 'Errors');
      const depthAlarms = alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');

      const functionIds = s.ofType('AWS::Lambda::Function').map(([logicalId]) => logicalId);
      expect(errorAlarms.map((a) => JSON.stringify(a.Dimensions)).sort()).toEqual(
        functionIds.map((fid) => JSON.stringify([{ Name: 'FunctionName', Value: { Ref: fid } }])).sort(),
      );
      // Dead-letter queues only: the settlement queue is a work queue, busy by design.
      const queueIds = s
        .ofType('AWS::SQS::Queue')
        .map(([logicalId]) => logicalId)
        .filter((qid) => qid !== s.id(s.stack.settlementQueue));
      // The pipe's DLQ, per rule target (3) its rule DLQ and its async-invocation failure queue,
      // and the settlement queue's DLQ.
      expect(queueIds).toHaveLength(1 + 2 * RULES.length + 1);
      expect(depthAlarms.map((a) => JSON.stringify(a.Dimensions)).sort()).toEqual(
        queueIds
          .map((qid) => JSON.stringify([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [qid, 'QueueName'] } }]))
          .sort(),
      );
      for (const alarm of alarms) {
        expect(alarm).toMatchObject({
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          AlarmActions: [topic],
        });
      }
      s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    });
  });
});

describe('configured stack', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({
      stage: 'prod',
      logRetentionDays: '90',
      apiRateLimit: '20',
      apiBurstLimit: '40',
      ledgerShards: '8',
      natsSecretName: 'syntropism/prod/nats',
      natsUrl: 'tls://nats.internal:4222',
      bridgeVpcId: 'vpc-0abc1234',
      bridgeSubnetIds: 'subnet-0aaa1111,subnet-0bbb2222',
      otlpEndpoint: 'https://otlp.example.com',
      alarmEmail: 'ops@example.com',
      llmBaseUrl: 'https://llm.example.com/v1',
    });
  }, 120_000);

  it('points both gateway functions at the configured provider', () => {
    for (const fn of [s.stack.http.functions.llm, s.stack.llm.streamFunction]) {
      expect(s.environmentOf(fn).SYNTROPISM_LLM_BASE_URL).toBe('https://llm.example.com/v1');
    }
  });

  it('names the stack and API after the stage', () => {
    expect(s.stack.stackName).toBe('Syntropism-prod');
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'syntropism-prod' });
  });

  it('applies retention, throttling and ledger shards from context', () => {
    for (const [, group] of s.ofType('AWS::Logs::LogGroup')) expect(group.Properties.RetentionInDays).toBe(90);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
    });
    expect(s.environmentOf(s.stack.http.functions.agents).LEDGER_SHARDS).toBe('8');
  });

  it('imports the NATS secret by name instead of creating one', () => {
    // The operator key and the LLM provider key; no NATS secret.
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    const arn = JSON.stringify(s.environmentOf(s.stack.natsBridge).NATS_SECRET_ARN);
    expect(arn).toContain(':secret:syntropism/prod/nats');
    expect(s.environmentOf(s.stack.natsBridge).NATS_URL).toBe('tls://nats.internal:4222');
  });

  it('places only the bridge in the given subnets', () => {
    for (const [logicalId, fn] of s.ofType('AWS::Lambda::Function')) {
      if (logicalId === s.id(s.stack.natsBridge)) {
        expect(fn.Properties.VpcConfig).toMatchObject({
          SubnetIds: ['subnet-0aaa1111', 'subnet-0bbb2222'],
          SecurityGroupIds: [{ 'Fn::GetAtt': [expect.any(String), 'GroupId'] }],
        });
      } else {
        expect(fn.Properties.VpcConfig, logicalId).toBeUndefined();
      }
    }
    s.template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0abc1234' });
  });

  it('exports traces from every function and mails alarms', () => {
    for (const [, fn] of s.ofType('AWS::Lambda::Function')) {
      expect((fn.Properties.Environment as { Variables: Json }).Variables.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(
        'https://otlp.example.com',
      );
    }
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});
