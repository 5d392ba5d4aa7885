/**
 * The HTTP API: one Lambda function per entry of `HTTP_FUNCTIONS`, one route per entry of
 * `ROUTES` (the table the local server dispatches with), and the Lambda authorizer in front of
 * every route that is not `public`. The operator key lives in Secrets Manager and only the
 * authorizer can read it.
 */
import { CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { HTTP_FUNCTIONS, type HttpFunction, ROUTES } from '#shared/http/routes';
import type { StackConfig } from '../config.ts';
import type { LedgerTable } from './ledger-table.ts';
import { SyntropismFunction, type SyntropismFunctionProps, type TableAccess } from './syntropism-function.ts';

/**
 * What each HTTP function may do to the table. A `Record` over `HttpFunction`, so adding a
 * function to `HTTP_FUNCTIONS` does not type-check until someone decides its access here.
 */
export const HTTP_TABLE_ACCESS: Record<HttpFunction, TableAccess | 'none'> = {
  health: 'none',
  agents: 'readwrite',
  transfers: 'readwrite',
  bids: 'readwrite',
  // `POST /v1/rounds/clear` runs a clearing: escrow settlement, allocations, prices.
  rounds: 'readwrite',
  // Usage reports draw tokens (conditional writes with their events); reads of allocations.
  allocations: 'readwrite',
  // Prices, their history and quotes are reads; prices change only through clearing.
  market: 'read',
  // `POST /v1/events` writes agent events to the outbox; `GET` reads the event log.
  events: 'readwrite',
  // Reservations and settlements of LLM calls (conditional writes with their events).
  llm: 'readwrite',
  // The execution runner's reports: execution items and their events; allocations are read.
  executions: 'readwrite',
  // Prompts and rewards: the prompt items, the minting transaction (ledger writer), rater checks.
  prompts: 'readwrite',
  // Rater items only (create, revoke).
  raters: 'readwrite',
  // Reads of the system accounts; the summary changes nothing.
  economy: 'read',
};

/** Construct id of the function serving `fn`: `agents` → `AgentsFunction`. */
const httpFunctionId = (fn: HttpFunction) => `${fn[0]?.toUpperCase()}${fn.slice(1)}Function`;

export interface HttpApiProps {
  readonly ledger: LedgerTable;
  readonly config: StackConfig;
  /** Props every function of the stack shares (log retention, common environment, source). */
  readonly functionDefaults: Omit<SyntropismFunctionProps, 'entry'>;
}

export class HttpApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly authorizerFunction: SyntropismFunction;
  readonly functions: Readonly<Record<HttpFunction, SyntropismFunction>>;
  readonly operatorKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: HttpApiProps) {
    super(scope, id);
    const { ledger, config, functionDefaults } = props;

    this.operatorKey = new secretsmanager.Secret(this, 'OperatorKey', {
      description: 'Syntropism operator key (Authorization: Bearer <key>)',
      // Alphanumeric only: the key travels in a header and gets pasted into shells.
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });

    this.authorizerFunction = new SyntropismFunction(this, 'AuthorizerFunction', {
      ...functionDefaults,
      entry: 'authorizer.ts',
      description: 'Resolves the Authorization header to {role, agent_id}',
    })
      .bindTable(ledger, { access: 'read' })
      .bindSecret('OPERATOR_KEY_SECRET_ARN', this.operatorKey);

    const authorizer = new HttpLambdaAuthorizer('Authorizer', this.authorizerFunction, {
      // A bad key is not denied here: it resolves to role `anonymous` and the handler answers 401
      // problem+json. Only a request without the header is refused by API Gateway itself.
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      identitySource: ['$request.header.Authorization'],
      // Keyed on the header: a revoked key keeps working for at most this long.
      resultsCacheTtl: Duration.seconds(config.api.authorizerCacheSeconds),
    });

    const functions = {} as Record<HttpFunction, SyntropismFunction>;
    const integrations = {} as Record<HttpFunction, HttpLambdaIntegration>;
    for (const fn of HTTP_FUNCTIONS) {
      const handler = new SyntropismFunction(this, httpFunctionId(fn), {
        ...functionDefaults,
        entry: `http/${fn}.ts`,
        description: `HTTP routes of ${fn}`,
        // An LLM call waits for the provider (its own timeout, 25 s by default): just under API
        // Gateway's 30 s, so a hung provider is the gateway's 504, never API Gateway's.
        ...(fn === 'llm' && { timeout: Duration.seconds(29) }),
      });
      const access = HTTP_TABLE_ACCESS[fn] as TableAccess | 'none' | undefined;
      // The type system already demands an entry; this covers runs that skip type checking.
      if (!access) throw new Error(`declare the table access of HTTP function '${fn}' in HTTP_TABLE_ACCESS`);
      if (access !== 'none') handler.bindTable(ledger, { access });
      functions[fn] = handler;
      // One permission per function for the whole API rather than one per route: the trust is the
      // same, and the function's resource policy stays small as routes are added.
      integrations[fn] = new HttpLambdaIntegration(`${httpFunctionId(fn)}Integration`, handler, {
        scopePermissionToRoute: false,
      });
    }
    this.functions = functions;

    // CORS stays off: callers are agents and operators' tools, not browsers on other origins.
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: `syntropism-${config.stage}`,
      createDefaultStage: false,
    });

    const accessLog = new logs.LogGroup(this, 'AccessLog', {
      retention: config.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      // Account-wide protection for the backend; HTTP APIs have no per-key usage plans.
      throttle: { rateLimit: config.api.rateLimit, burstLimit: config.api.burstLimit },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLog),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            routeKey: '$context.routeKey',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            ip: '$context.identity.sourceIp',
            role: '$context.authorizer.role',
            agentId: '$context.authorizer.agent_id',
            authorizerError: '$context.authorizer.error',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    for (const route of ROUTES) {
      this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: integrations[route.fn],
        authorizer: route.access === 'public' ? undefined : authorizer,
      });
    }

    new CfnOutput(scope, 'ApiUrl', { value: this.stage.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(scope, 'OperatorKeySecretArn', {
      value: this.operatorKey.secretArn,
      description: 'aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text',
    });
  }
}
