import type { App } from '@slack/bolt';
import type { ListenerContext } from './listener-context.ts';

/** The App Home tab is built when the person opens it: always the current state. */
export function registerHomeListeners(app: App, ctx: ListenerContext): void {
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    await ctx.home.publish(event.user);
  });
}
