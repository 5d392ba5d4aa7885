/**
 * The one way this app builds a Lambda function. Runtime, architecture, ESM bundling by the
 * locally installed esbuild, source maps, log group and the environment contract are fixed here,
 * so every function behaves the same and a change of policy is a one-line change.
 *
 * Access is granted through `bindTable` and `bindSecret`, which grant least privilege and set the
 * matching environment variable in the same call: a function can never get a permission without
 * knowing where to use it, nor an ARN without the right to read it.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { Config } from '#shared/config';
import type { LedgerTable } from './ledger-table.ts';

/** The repository root: `functions/`, `package-lock.json` and `node_modules/` live there. */
export const REPOSITORY_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Environment variables the functions read (`shared/config.ts`), plus the runtime's own. */
export type EnvironmentVariable = keyof Config | 'NODE_OPTIONS';
export type FunctionEnvironment = Partial<Record<EnvironmentVariable, string>>;

export type TableAccess = 'read' | 'readwrite';

/**
 * How a function may use the table: item reads, item reads and writes, or only `PutItem` on
 * items whose partition key starts with a prefix (enforced by IAM on `dynamodb:LeadingKeys`),
 * for functions that merely record something, like dead letters.
 */
export type TableBinding = { access: TableAccess } | { access: 'put'; partitionKeyPrefix: string };

/**
 * Item-level actions only: no `Scan` (the ledger audit runs with operator credentials, not from a
 * function) and no table management. `TransactWriteItems`/`TransactGetItems` are authorized
 * through these same item actions.
 */
const TABLE_ACTIONS: Record<TableAccess, readonly string[]> = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
  readwrite: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:ConditionCheckItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
};

/**
 * esbuild's ESM output turns a bundled CommonJS `require()` into a stub that throws; defining
 * `require` at the top of the module lets such dependencies load. The alias keeps the banner from
 * colliding with a `createRequire` import esbuild may hoist from the bundle itself.
 */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as __syntropismCreateRequire } from 'node:module'; const require = __syntropismCreateRequire(import.meta.url);";

export interface SyntropismFunctionProps {
  /** Entry file relative to `functions/`, e.g. `http/agents.ts`; it must export `handler`. */
  readonly entry: string;
  readonly description?: string;
  /** Retention of the function's log group. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Memory in MiB; on Lambda it also buys CPU, which bounds cold-start time.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * @default Duration.seconds(10) — well under API Gateway's 30 s integration timeout.
   */
  readonly timeout?: Duration;
  /** @default - only NODE_OPTIONS */
  readonly environment?: FunctionEnvironment;
  /** @default - not in a VPC */
  readonly vpc?: ec2.IVpc;
  /** @default - the VPC's private subnets, when `vpc` is set */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Folder holding `functions/`, `package-lock.json` and `node_modules/`.
   * @default REPOSITORY_ROOT
   */
  readonly sourceRoot?: string;
}

export class SyntropismFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: SyntropismFunctionProps) {
    const sourceRoot = props.sourceRoot ?? REPOSITORY_ROOT;
    // Created beside the function (a subclass cannot create children before `super`); an explicit
    // group gives a retention instead of Lambda's never-expiring default and goes away with the stack.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    super(scope, id, {
      entry: join(sourceRoot, 'functions', props.entry),
      handler: 'handler',
      projectRoot: sourceRoot,
      depsLockFilePath: join(sourceRoot, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      // Traces go through the bundled OpenTelemetry SDK (W3C context in the event envelope);
      // X-Ray would add a second, disconnected trace.
      tracing: lambda.Tracing.DISABLED,
      logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: CREATE_REQUIRE_BANNER,
        minify: true,
        // Minified names would turn stack traces and error names into noise.
        keepNames: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // The pinned SDK the tests ran against, not whatever version the runtime ships.
        bundleAwsSDK: true,
        // The local esbuild from package-lock.json; synth never needs Docker or the network.
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
    });
  }

  /** Grants access to the ledger table (and its indexes) and tells the function where it is. */
  bindTable(ledger: LedgerTable, binding: TableBinding): this {
    if (binding.access === 'put') {
      this.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:PutItem'],
          resources: [ledger.table.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${binding.partitionKeyPrefix}*`] } },
        }),
      );
    } else {
      ledger.table.grant(this, ...TABLE_ACTIONS[binding.access]);
    }
    this.addEnvironment('TABLE_NAME', ledger.table.tableName);
    this.addEnvironment('LEDGER_SHARDS', String(ledger.ledgerShards));
    return this;
  }

  /** Grants read on `secret` and passes its ARN in `variable`. */
  bindSecret(
    variable: 'OPERATOR_KEY_SECRET_ARN' | 'NATS_SECRET_ARN' | 'SYNTROPISM_LLM_SECRET_ARN',
    secret: ISecret,
  ): this {
    secret.grantRead(this);
    this.addEnvironment(variable, secret.secretArn);
    return this;
  }
}
