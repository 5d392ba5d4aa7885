/**
 * The whole deployment, one stack per stage: the ledger table, the HTTP API and its authorizer,
 * the event pipeline from the table's outbox to NATS, and monitoring. Everything that varies
 * between deployments comes in through `StackConfig`; everything that must match the local stack
 * (table, routes, rules) comes from `shared/`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, CfnOutput, Duration, Fn, SecretValue, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { keys } from '#shared/table';
import type { StackConfig } from './config.ts';
import { DeadLetterQueue } from './constructs/dead-letter-queue.ts';
import { EventPipeline } from './constructs/event-pipeline.ts';
import { HttpApi } from './constructs/http-api.ts';
import { LedgerTable } from './constructs/ledger-table.ts';
import { LlmGateway } from './constructs/llm-gateway.ts';
import { Monitoring } from './constructs/monitoring.ts';
import {
  type FunctionEnvironment,
  REPOSITORY_ROOT,
  SyntropismFunction,
  type SyntropismFunctionProps,
} from './constructs/syntropism-function.ts';

export interface SyntropismStackProps extends StackProps {
  readonly config: StackConfig;
  /**
   * Folder holding `functions/`, `package-lock.json` and `node_modules/`.
   * @default the repository root
   */
  readonly sourceRoot?: string;
}

export const stackName = (stage: string) => `Syntropism-${stage}`;

const SERVICE_VERSION: string = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'package.json'), 'utf8')).version;

export class SyntropismStack extends Stack {
  readonly ledger: LedgerTable;
  readonly http: HttpApi;
  readonly llm: LlmGateway;
  readonly outboxRelay: SyntropismFunction;
  readonly natsBridge: SyntropismFunction;
  readonly natsSecret: secretsmanager.ISecret;
  readonly clearing: SyntropismFunction;
  readonly priceUpdate: SyntropismFunction;
  readonly eventLog: SyntropismFunction;
  readonly clearingSchedule: scheduler.Schedule;
  readonly sweeper: SyntropismFunction;
  readonly sweeperSchedule: scheduler.Schedule;
  readonly settlement: SyntropismFunction;
  readonly settlementQueue: sqs.Queue;
  readonly settlementDeadLetterQueue: DeadLetterQueue;
  readonly events: EventPipeline;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: SyntropismStackProps) {
    super(scope, id, { description: `Syntropism (${props.config.stage})`, ...props });
    const { config } = props;

    // Every function sees the same economy, validated at synth; the round length is the schedule's.
    const environment: FunctionEnvironment = {
      SERVICE_VERSION,
      SYNTROPISM_ECONOMY: JSON.stringify(config.economy),
    };
    if (config.otlpEndpoint) environment.OTEL_EXPORTER_OTLP_ENDPOINT = config.otlpEndpoint;
    const functionDefaults: Omit<SyntropismFunctionProps, 'entry'> = {
      logRetention: config.logRetention,
      environment,
      sourceRoot: props.sourceRoot,
    };

    this.ledger = new LedgerTable(this, 'Ledger', { ledgerShards: config.ledgerShards });
    this.http = new HttpApi(this, 'Http', { ledger: this.ledger, config, functionDefaults });
    this.llm = new LlmGateway(this, 'Llm', {
      ledger: this.ledger,
      config,
      functionDefaults,
      httpFunction: this.http.functions.llm,
    });

    // Reads stream records handed over by the pipe; it needs no table access of its own.
    this.outboxRelay = new SyntropismFunction(this, 'OutboxRelayFunction', {
      ...functionDefaults,
      entry: 'outbox-relay.ts',
      description: 'Pipe enrichment: outbox stream records to bus entries',
      timeout: Duration.seconds(30),
    });

    this.natsSecret = config.nats.secretName
      ? secretsmanager.Secret.fromSecretNameV2(this, 'NatsSecret', config.nats.secretName)
      : new secretsmanager.Secret(this, 'NatsSecret', {
          description: 'NATS connection of the Syntropism bridge; fill in after the first deploy',
          // An empty object, not a generated password: the operator writes the real value and
          // CloudFormation leaves it alone as long as this template does not change.
          secretStringValue: SecretValue.unsafePlainText('{}'),
        });

    // Imported from attributes, not looked up, so synth stays offline. The function only needs the
    // VPC id (for its security group); its subnets are named explicitly below.
    const vpc = config.bridgeVpc
      ? ec2.Vpc.fromVpcAttributes(this, 'BridgeVpc', { vpcId: config.bridgeVpc.vpcId, availabilityZones: Fn.getAzs() })
      : undefined;
    if (vpc) {
      Annotations.of(this).acknowledgeWarning(
        '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
        'subnets are selected explicitly; nothing reads the VPC zones',
      );
      Annotations.of(this).acknowledgeWarning(
        '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        'the bridge subnets only place a function; nothing reads their route tables',
      );
    }
    this.natsBridge = new SyntropismFunction(this, 'NatsBridgeFunction', {
      ...functionDefaults,
      entry: 'nats-bridge.ts',
      description: 'Publishes bus events to NATS JetStream',
      // Room for a reconnect after a container thaws plus the JetStream publish acks.
      timeout: Duration.seconds(30),
      environment: config.nats.url ? { ...environment, NATS_URL: config.nats.url } : environment,
      vpc,
      vpcSubnets: config.bridgeVpc && {
        subnets: config.bridgeVpc.subnetIds.map((subnetId) =>
          ec2.Subnet.fromSubnetId(this, `BridgeSubnet-${subnetId}`, subnetId),
        ),
      },
    })
      .bindSecret('NATS_SECRET_ARN', this.natsSecret)
      // It records the events it gives up on as dead letters in the table, and may touch nothing else.
      .bindTable(this.ledger, { access: 'put', partitionKeyPrefix: keys.deadLetter('', '').PK });

    // The allocation scheduler: clears every due round (catching up after downtime).
    this.clearing = new SyntropismFunction(this, 'ClearingFunction', {
      ...functionDefaults,
      entry: 'clearing.ts',
      description: 'Clears due auction rounds: settlement, allocations, auction_cleared',
      // A 10 000-bid round settles in well under a minute; the lease (60 s) covers a takeover.
      timeout: Duration.minutes(5),
      memorySize: 1024,
    }).bindTable(this.ledger, { access: 'readwrite' });
    this.clearingSchedule = new scheduler.Schedule(this, 'ClearingSchedule', {
      description: 'Clears due rounds (EventBridge Scheduler runs at most once a minute)',
      schedule: clearingSchedule(config.roundSeconds),
      target: new schedulerTargets.LambdaInvoke(this.clearing, { retryAttempts: 2, maxEventAge: Duration.minutes(5) }),
    });

    // Settlement fans out: clearing puts a round's settlement orders (one transaction each) on a
    // queue, and up to `settlementConcurrency` settlement functions settle them at once, so a
    // round settles at the table's write rate, not within one invocation's timeout. An order
    // that keeps failing goes to the dead-letter queue; its bids stay pending and the next
    // clearing run settles them.
    this.settlementDeadLetterQueue = new DeadLetterQueue(this, 'SettlementDeadLetterQueue');
    this.settlementQueue = new sqs.Queue(this, 'SettlementQueue', {
      // Six times the function's timeout, as Lambda advises for an SQS event source.
      visibilityTimeout: Duration.seconds(6 * 20),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.settlementDeadLetterQueue, maxReceiveCount: 5 },
    });
    this.settlement = new SyntropismFunction(this, 'SettlementFunction', {
      ...functionDefaults,
      entry: 'settlement.ts',
      description: "Settles a round's settlement orders from the settlement queue",
      timeout: Duration.seconds(20),
    }).bindTable(this.ledger, { access: 'readwrite' });
    this.settlement.addEventSource(
      new SqsEventSource(this.settlementQueue, {
        batchSize: 5,
        reportBatchItemFailures: true,
        maxConcurrency: config.settlementConcurrency,
      }),
    );
    this.settlementQueue.grantSendMessages(this.clearing);
    this.clearing.addEnvironment('SETTLEMENT_QUEUE_URL', this.settlementQueue.queueUrl);

    // Releases stale token holds and marks ended allocations expired (correctness never waits on it).
    this.sweeper = new SyntropismFunction(this, 'SweeperFunction', {
      ...functionDefaults,
      entry: 'sweeper.ts',
      description: 'Releases stale token reservations and expires ended allocations',
      timeout: Duration.seconds(60),
    }).bindTable(this.ledger, { access: 'readwrite' });
    this.sweeperSchedule = new scheduler.Schedule(this, 'SweeperSchedule', {
      description: 'Sweeps allocations and reservations once a minute',
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(1)),
      target: new schedulerTargets.LambdaInvoke(this.sweeper, { retryAttempts: 2, maxEventAge: Duration.minutes(2) }),
    });

    // Moves prices once per cleared round; triggered by the delivered auction_cleared.
    this.priceUpdate = new SyntropismFunction(this, 'PriceUpdateFunction', {
      ...functionDefaults,
      entry: 'price-update.ts',
      description: 'Bounded tatonnement after each auction_cleared',
      timeout: Duration.seconds(30),
    }).bindTable(this.ledger, { access: 'readwrite' });

    // Keeps the queryable event log (GET /v1/events) from every bus event.
    this.eventLog = new SyntropismFunction(this, 'EventLogFunction', {
      ...functionDefaults,
      entry: 'event-log.ts',
      description: 'Appends every event to the event log',
      timeout: Duration.seconds(30),
    }).bindTable(this.ledger, { access: 'readwrite' });

    this.events = new EventPipeline(this, 'Events', {
      ledger: this.ledger,
      outboxRelay: this.outboxRelay,
      ruleTargets: { 'nats-bridge': this.natsBridge, 'price-update': this.priceUpdate, 'event-log': this.eventLog },
    });

    // Last: it watches every function and dead-letter queue defined above.
    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: config.stage,
      apiStage: this.http.stage,
      alarmEmail: config.alarmEmail,
    });

    new CfnOutput(this, 'TableName', { value: this.ledger.table.tableName });
    new CfnOutput(this, 'EventBusName', { value: this.events.bus.eventBusName });
    new CfnOutput(this, 'NatsSecretArn', { value: this.natsSecret.secretArn });
  }
}

/**
 * When clearing runs. Rounds are windows on the epoch grid; a cron expression fires right after
 * each window closes when the round length divides an hour in whole minutes. Otherwise every
 * minute (Scheduler's finest), and each run clears all the rounds that are due by then.
 */
export function clearingSchedule(roundSeconds: number): scheduler.ScheduleExpression {
  if (roundSeconds % 60 === 0 && 3_600 % roundSeconds === 0) {
    const minutes = roundSeconds / 60;
    const field = minutes === 1 ? '*' : minutes === 60 ? '0' : `0/${minutes}`;
    return scheduler.ScheduleExpression.expression(`cron(${field} * * * ? *)`);
  }
  return scheduler.ScheduleExpression.rate(Duration.minutes(1));
}
