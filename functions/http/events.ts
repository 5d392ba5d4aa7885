/**
 * Events API: agents publish their own events (`POST /v1/events`), everyone authenticated reads
 * the event log (`GET /v1/events`; agents only their own events), and the operator lists the
 * pipeline's dead letters (`GET /v1/dead-letters`).
 *
 * A published event is written as an outbox item with the agent's account lock, which numbers
 * it in the agent's sequence (`agent:<id>`) like every other event about the agent; it then
 * takes exactly the path of every system event: stream → bus → NATS and the event log. The log is therefore eventually consistent: an event shows up in
 * `GET /v1/events` once the pipeline has carried it (docs/pipeline.md, "Event log").
 */
import { callerOf } from '#shared/adapters/dynamodb/cursor';
import { DeadLetters } from '#shared/adapters/outbox-relay-dead-letters';
import { EventLog } from '#shared/adapters/outbox-relay-event-log';
import { services } from '#shared/adapters/services';
import { forbidden } from '#shared/core/errors';
import type { EventDraft } from '#shared/core/events';
import { defineRoute, httpFunction } from '#shared/http/http-function';
import { agentEventBody, deadLettersQuery, eventsQuery } from '#shared/http/openapi';

const s = services();
const eventLog = new EventLog(s.table, s.runtime.clock);
const deadLetters = new DeadLetters(s.table, s.runtime.clock);

export const handler = httpFunction(
  'events',
  {
    'POST /v1/events': defineRoute({
      body: agentEventBody,
      idempotency: 'optional',
      handle: async ({ caller, body, events }) => {
        if (caller.role !== 'agent') throw new Error('unreachable: route is for agents');
        // `source` is fixed by the type (agent) and `agent_id` is the caller: neither comes from the body.
        const draft = { type: body.type, data: body.data } as EventDraft;
        const envelope = await s.agents.publish(caller.agent_id, draft, events);
        return { status: 201, body: { event_id: envelope.event_id, sequence: envelope.sequence } };
      },
    }),
    'GET /v1/events': defineRoute({
      query: eventsQuery,
      handle: async ({ caller, query }) => {
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
    }),
    'GET /v1/dead-letters': defineRoute({
      query: deadLettersQuery,
      handle: async ({ caller, query }) => ({
        status: 200,
        body: await deadLetters.list({ ...query, caller: callerOf(caller) }),
      }),
    }),
  },
  s,
);
