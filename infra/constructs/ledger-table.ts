/**
 * The single DynamoDB table, built from the same `TABLE_DEFINITION` the local stack uses, plus
 * the one fact about it that functions need beside its name: how many shards the `escrow` and
 * `burn` system accounts have. Both travel together because the shard count is fixed for the
 * table's life (changing it would strand balances on shards nobody reads).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE_DEFINITION } from '#shared/table';

export interface LedgerTableProps {
  /** Shards of the `escrow` and `burn` system accounts (`LEDGER_SHARDS`). */
  readonly ledgerShards: number;
}

const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

export class LedgerTable extends Construct {
  readonly table: dynamodb.Table;
  readonly ledgerShards: number;

  constructor(scope: Construct, id: string, props: LedgerTableProps) {
    super(scope, id);
    this.ledgerShards = props.ledgerShards;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: stringKey(TABLE_DEFINITION.partitionKey),
      sortKey: stringKey(TABLE_DEFINITION.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      stream: dynamodb.StreamViewType[TABLE_DEFINITION.streamViewType],
      timeToLiveAttribute: TABLE_DEFINITION.ttlAttribute,
      // The table is the ledger: deleting the stack (or a refactor that renames this construct)
      // must never delete balances, transfers or the audit trail. A retained table is removed by
      // hand, deliberately, after a backup.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    for (const index of TABLE_DEFINITION.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: stringKey(index.partitionKey),
        sortKey: stringKey(index.sortKey),
        // Overloaded indexes serve several item kinds; projecting everything avoids a second
        // read per item, and the items are small.
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
  }
}
