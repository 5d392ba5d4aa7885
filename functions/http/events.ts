/**
 * Events API: agents publish their own events (`POST /v1/events`), everyone authenticated reads
 * the event log (`GET /v1/events`; agents only their own events), and the operator lists the
 * pipeline's dead letters (`GET /v1/dead-letters`).
 *
 * A published event is written as an outbox item with the agent's account lock, which numbers
 * it in the agent's sequence (`agent:<id>`) like every other event about the agent; it then
 * takes exactly the path of every system event: stream → bus → NATS and the event log. The log
 * is therefore eventually consistent: an event shows up in `GET /v1/events` once the pipeline
 * has carried it (docs/pipeline.md, "Event log").
 */

import type { Agents } from '#shared/adapters/dynamodb/agents';
import type { TableRef } from '#shared/adapters/dynamodb/client';
import { callerOf } from '#shared/adapters/dynamodb/cursor';
import { DeadLetters } from '#shared/adapters/dynamodb/dead-letters';
import { EventLog } from '#shared/adapters/dynamodb/event-log';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { agentsOf, ledgerBaseFrom, ledgerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { forbidden } from '#shared/core/errors';
import type { EventDraft } from '#shared/core/events';
import type { Runtime } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';

export interface EventsDeps {
  agents: Agents;
  table: TableRef;
  runtime: Pick<Runtime, 'clock'>;
  http: HttpDeps;
}

export function makeHandler({ agents, table, runtime, http }: EventsDeps): HttpHandler {
  const eventLog = new EventLog(table, runtime.clock);
  const deadLetters = new DeadLetters(table, runtime.clock);
  return httpFunction(
    'events',
    {
      'POST /v1/events': async ({ caller, body, events }) => {
        // `source` is fixed by the type (agent) and `agent_id` is the caller: neither comes from the body.
        const draft = { type: body.type, data: body.data } as EventDraft;
        const envelope = await agents.publish(caller.agent_id, draft, events);
        return { status: 201, body: { event_id: envelope.event_id, sequence: envelope.sequence } };
      },
      'GET /v1/events': async ({ caller, query }) => {
        let agentId = query.agent_id;
        if (caller.role === 'agent') {
          if (agentId !== undefined && agentId !== caller.agent_id) {
            throw forbidden('An agent can read only its own events.');
          }
          agentId = caller.agent_id;
        }
        const page = await eventLog.query({
          ...query,
          ...(agentId !== undefined && { agent_id: agentId }),
          caller: callerOf(caller),
        });
        return { status: 200, body: page };
      },
      'GET /v1/dead-letters': async ({ caller, query }) => ({
        status: 200,
        body: await deadLetters.list({ ...query, caller: callerOf(caller) }),
      }),
    },
    http,
  );
}

/** The event log and agents' own events: the agents store (for the sequence), no market. */
export function eventsDepsOf(config: Config): EventsDeps {
  const base = ledgerBaseFrom(config);
  const agents = agentsOf(base, ledgerOf(base, config));
  return { agents, table: base.table, runtime: base.runtime, http: httpDepsOf(base.table, config, base.runtime) };
}

export const handler = lambdaEntry((config) => makeHandler(eventsDepsOf(config)));
