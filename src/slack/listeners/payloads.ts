import { z } from 'zod';

/**
 * The parts of Slack's payloads Latch reads, checked with zod: a payload that does not match is
 * ignored (and logged) instead of reaching a use case half-understood. A button value or a modal's
 * private_metadata is only ever a request id; everything else is re-read from the database.
 */
export const requestIdSchema = z.uuid();

export const buttonClickSchema = z.object({
  user: z.object({ id: z.string().min(1) }),
  channel: z.object({ id: z.string().min(1) }).optional(),
  actions: z.array(z.object({ value: requestIdSchema, block_id: z.string().optional() })).min(1),
  view: z.object({ type: z.string() }).optional(),
});

export const slashCommandSchema = z.object({
  user_id: z.string().min(1),
  team_id: z.string().optional(),
  channel_id: z.string().min(1),
  trigger_id: z.string().min(1),
  text: z.string().default(''),
});
