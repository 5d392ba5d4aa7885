/**
 * The settlement queue on AWS: clearing sends a round's settlement orders to it, ten to a
 * request, and the settlement function consumes them (functions/settlement.ts). Delivery is at
 * least once; an order settles only bids still pending, so a duplicate settles nothing twice.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SettlementOrder } from '../../core/settlement.ts';

/** SQS takes at most ten messages per batch request. */
const SQS_BATCH = 10;

export type SendBatch = (entries: { Id: string; MessageBody: string }[]) => Promise<{ failed: string[] }>;

export function sqsSendBatch(queueUrl: string, client = new SQSClient({})): SendBatch {
  return async (entries) => {
    const out = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    return { failed: (out.Failed ?? []).map((f) => String(f.Id)) };
  };
}

/** Sends every order; entries SQS refused are sent again, a bounded number of times. */
export function settlementDispatch(send: SendBatch, maxAttempts = 5): (orders: SettlementOrder[]) => Promise<void> {
  return async (orders) => {
    for (let from = 0; from < orders.length; from += SQS_BATCH) {
      let entries = orders
        .slice(from, from + SQS_BATCH)
        .map((order, k) => ({ Id: String(from + k), MessageBody: JSON.stringify(order) }));
      for (let attempt = 1; entries.length > 0; attempt++) {
        const { failed } = await send(entries);
        if (failed.length > 0 && attempt >= maxAttempts) {
          throw new Error(`settlement queue refused ${failed.length} orders ${maxAttempts} times`);
        }
        entries = entries.filter((e) => failed.includes(e.Id));
      }
    }
  };
}
