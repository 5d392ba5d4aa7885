/**
 * The AWS side of the event pipeline (docs/pipeline.md): table stream → EventBridge Pipe
 * (outbox inserts only, enriched by `outbox-relay`) → the custom bus → one rule per entry of the
 * shared `RULES` → targets, plus the archive for replay. The local stack applies the very same
 * `RULES`, so the two cannot route differently.
 */
import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import { Construct } from 'constructs';
import { ARCHIVE, BUS_NAME, RULES, type RuleDefinition, type RuleTarget } from '#shared/rules';
import type { ItemKind } from '#shared/table';
import { DeadLetterQueue } from './dead-letter-queue.ts';
import type { LedgerTable } from './ledger-table.ts';

/** `shared/rules.ts` writes patterns in EventBridge JSON; CDK spells `detail-type` as `detailType`. */
export function toEventPattern(pattern: Readonly<Record<string, unknown>>): events.EventPattern {
  const { 'detail-type': detailType, ...rest } = pattern;
  return (detailType === undefined ? rest : { ...rest, detailType }) as events.EventPattern;
}

/** The Pipe forwards only new outbox items; every other write to the table stays off the bus. */
export const OUTBOX_FILTER = {
  eventName: ['INSERT'],
  dynamodb: { NewImage: { kind: { S: ['outbox' satisfies ItemKind] } } },
} as const;

export interface EventPipelineProps {
  readonly ledger: LedgerTable;
  /** Pipe enrichment: stream records in, `[{source, detail_type, detail}]` out, one per outbox item. */
  readonly outboxRelay: lambda.IFunction;
  /**
   * The function behind each rule target. A rule whose target is missing here is not created
   * (with a synth-time note), so a stage can ship before the function its rule feeds.
   */
  readonly ruleTargets: Partial<Record<RuleTarget, lambda.IFunction>>;
}

export class EventPipeline extends Construct {
  readonly bus: events.EventBus;
  readonly pipe: pipes.CfnPipe;
  readonly pipeRole: iam.Role;
  readonly pipeDeadLetterQueue: DeadLetterQueue;
  /** The entries of `RULES` this stack deploys (those whose target function it has). */
  readonly deployedRules: readonly RuleDefinition[];

  constructor(scope: Construct, id: string, props: EventPipelineProps) {
    super(scope, id);
    const { ledger, outboxRelay, ruleTargets } = props;
    const streamArn = ledger.table.tableStreamArn;
    if (!streamArn) throw new Error('the ledger table must have a stream for the outbox pipe');

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: BUS_NAME });
    new events.Archive(this, 'Archive', {
      sourceEventBus: this.bus,
      archiveName: ARCHIVE.name,
      description: 'Every Syntropism event, for replay',
      eventPattern: toEventPattern(ARCHIVE.pattern),
      retention: Duration.days(ARCHIVE.retentionDays),
    });

    this.pipeDeadLetterQueue = new DeadLetterQueue(this, 'PipeDeadLetterQueue');
    this.pipeRole = new iam.Role(this, 'PipeRole', {
      description: 'EventBridge Pipe: table stream to outbox relay to event bus',
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        // Only pipes of this account may assume it (confused-deputy guard).
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    });
    ledger.table.streamGrants.read(this.pipeRole);
    outboxRelay.grantInvoke(this.pipeRole);
    this.bus.grantPutEventsTo(this.pipeRole);
    this.pipeDeadLetterQueue.grantSendMessages(this.pipeRole);

    this.pipe = new pipes.CfnPipe(this, 'OutboxPipe', {
      description: 'Relays outbox items from the table stream to the event bus',
      roleArn: this.pipeRole.roleArn,
      source: streamArn,
      sourceParameters: {
        dynamoDbStreamParameters: {
          // The table is new when the pipe is; nothing older than the pipe needs relaying.
          startingPosition: 'LATEST',
          // The bus target takes at most 10 entries per PutEvents, and the relay returns at most
          // one entry per record, so a batch of 10 always fits in one call.
          batchSize: 10,
          // A failing record is isolated by halving the batch instead of blocking its neighbours,
          // then lands in the DLQ. DynamoDB streams keep records 24 h, so retrying longer is moot.
          onPartialBatchItemFailure: 'AUTOMATIC_BISECT',
          maximumRetryAttempts: 50,
          maximumRecordAgeInSeconds: 86_400,
          deadLetterConfig: { arn: this.pipeDeadLetterQueue.queueArn },
        },
        filterCriteria: { filters: [{ pattern: JSON.stringify(OUTBOX_FILTER) }] },
      },
      enrichment: outboxRelay.functionArn,
      target: this.bus.eventBusArn,
      targetParameters: {
        // With an enrichment, the payload that reaches the target is each element of the array the
        // enrichment returns (input transformers and target parameters are applied per element;
        // EventBridge user guide, "Pipes input transformation" and "batching and concurrency").
        // Dynamic path parameters (`$.…`) are resolved against that same payload, but never against
        // values the input template produces ("Pipes targets", dynamic path parameters). Hence
        // `source` and `detail-type` read the element's own fields, while the template makes the
        // bus event's `detail` the element's `detail` ({outbox_id, events}) instead of the whole
        // element. Public pipes built the same way (stream + Lambda enrichment + bus target with
        // `DetailType: '$.<field>'`) rely on this; the first deployment should confirm it by
        // reading one event from the archive.
        eventBridgeEventBusParameters: { source: '$.source', detailType: '$.detail_type' },
        inputTemplate: '<$.detail>',
      },
    });
    // The pipe validates its role's permissions when it is created, so the policy must exist first.
    this.pipe.node.addDependency(this.pipeRole);

    const asyncTargets = new Map<lambda.IFunction, targets.LambdaFunction>();
    const deployed: RuleDefinition[] = [];
    for (const rule of RULES) {
      const fn = ruleTargets[rule.target];
      if (!fn) {
        Annotations.of(this).addInfo(
          `rule ${rule.name} not deployed: no function for target '${rule.target}' in this stack yet`,
        );
        continue;
      }
      let target = asyncTargets.get(fn);
      if (!target) {
        target = this.asyncTarget(fn, rule.target);
        asyncTargets.set(fn, target);
      }
      new events.Rule(this, `Rule-${rule.name}`, {
        eventBus: this.bus,
        description: rule.description,
        eventPattern: toEventPattern(rule.pattern),
        targets: [target],
      });
      deployed.push(rule);
    }
    this.deployedRules = deployed;
  }

  /**
   * EventBridge invokes Lambda asynchronously, so there are two retry layers:
   * - EventBridge retries *delivery* (throttling, Lambda unavailable) with the rule target's
   *   policy, then sends the event to the delivery DLQ;
   * - once delivered, a failing invocation (e.g. the bridge cannot reach NATS) is retried by
   *   Lambda's asynchronous invocation settings, at most twice within at most 6 hours, then sent
   *   to the failure queue. Anything beyond that is recovered by replaying the archive.
   */
  private asyncTarget(fn: lambda.IFunction, name: RuleTarget): targets.LambdaFunction {
    const id = name.replace(/(^|-)(\w)/g, (_, _dash: string, c: string) => c.toUpperCase());
    fn.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(new DeadLetterQueue(this, `${id}FailureQueue`)),
    });
    return new targets.LambdaFunction(fn, {
      retryAttempts: 185,
      maxEventAge: Duration.hours(24),
      deadLetterQueue: new DeadLetterQueue(this, `${id}DeliveryDeadLetterQueue`),
    });
  }
}
