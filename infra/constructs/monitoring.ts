/**
 * Alarms and the one dashboard. It discovers what to watch from the construct tree (every
 * `SyntropismFunction`, every `DeadLetterQueue`) rather than from a list someone must remember to
 * extend, so it is built last. Alarms notify one SNS topic; subscribe to it to hear about them.
 */
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';
import { DeadLetterQueue } from './dead-letter-queue.ts';
import { SyntropismFunction } from './syntropism-function.ts';

export interface MonitoringProps {
  readonly stage: string;
  readonly apiStage: apigw.HttpStage;
  readonly alarmEmail?: string;
}

/** `Events/NatsBridgeFunction` → `EventsNatsBridgeFunction`: unique within the stack, readable. */
const nameOf = (c: IConstruct) =>
  c.node.path
    .split('/')
    .slice(1)
    .join('')
    .replace(/[^A-Za-z0-9]/g, '');

const PERIOD = Duration.minutes(1);

export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const all = Stack.of(this).node.findAll();
    const functions = all.filter((c): c is SyntropismFunction => c instanceof SyntropismFunction);
    const queues = all.filter((c): c is DeadLetterQueue => c instanceof DeadLetterQueue);

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: `Syntropism ${props.stage} alarms` });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    const action = new SnsAction(this.alarmTopic);

    // Any error is worth a look: handlers map domain failures to 4xx responses, so a function
    // error means a bug, a timeout or a dependency (DynamoDB, NATS) failing.
    const functionAlarms = functions.map(
      (fn) =>
        new cloudwatch.Alarm(this, `${nameOf(fn)}Errors`, {
          alarmDescription: `${nameOf(fn)} failed (see its log group)`,
          metric: fn.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    // A message in a dead-letter queue is an event or record that did not arrive: never normal.
    const queueAlarms = queues.map(
      (queue) =>
        new cloudwatch.Alarm(this, `${nameOf(queue)}Depth`, {
          alarmDescription: `${nameOf(queue)} holds failures to inspect and redrive`,
          metric: queue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    this.alarms = [...functionAlarms, ...queueAlarms];
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }

    const api = props.apiStage;
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `syntropism-${props.stage}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24 })],
        [
          new cloudwatch.GraphWidget({
            title: 'HTTP API',
            width: 12,
            left: [
              api.metricCount({ period: PERIOD, label: 'requests' }),
              api.metricClientError({ period: PERIOD, label: '4xx' }),
              api.metricServerError({ period: PERIOD, label: '5xx' }),
            ],
            right: [api.metricLatency({ period: PERIOD, statistic: cloudwatch.Stats.p(99), label: 'latency p99' })],
          }),
          new cloudwatch.GraphWidget({
            title: 'Dead-letter queue depth',
            width: 12,
            left: queues.map((q) => q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: nameOf(q) })),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Function errors',
            width: 12,
            left: functions.map((fn) => fn.metricErrors({ period: PERIOD, label: nameOf(fn) })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Function duration p99',
            width: 12,
            left: functions.map((fn) =>
              fn.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.p(99), label: nameOf(fn) }),
            ),
          }),
        ],
      ],
    });

    new CfnOutput(scope, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'Subscribe to hear alarms' });
  }
}
