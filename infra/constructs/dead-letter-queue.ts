/**
 * A queue that only ever holds failures. Its own class so monitoring can find every one of them
 * (each gets a depth alarm) and so they all keep failures as long as SQS allows, giving an
 * operator two weeks to redrive after an incident.
 */
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export class DeadLetterQueue extends sqs.Queue {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
  }
}
