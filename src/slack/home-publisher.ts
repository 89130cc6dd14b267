import type { WebClient } from '@slack/web-api';
import { findResource } from '../domain/policy.ts';
import type { Logger } from '../logging/logger.ts';
import { loadHome } from '../services/load-home.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { appHome } from './blocks/app-home.ts';

/** Builds a person's App Home from the database and publishes it (views.publish). */
export class HomePublisher {
  constructor(
    private readonly client: WebClient,
    private readonly services: ServiceContext,
    private readonly logger: Logger,
  ) {}

  async publish(userId: string): Promise<void> {
    try {
      const data = await loadHome(this.services, userId);
      const policy = this.services.policy();
      await this.client.views.publish({ user_id: userId, view: appHome(data, (id) => findResource(policy, id)?.name ?? id) });
    } catch (error) {
      this.logger.error({ err: error, slackError: (error as { data?: { error?: string } }).data?.error }, 'could not publish the App Home');
    }
  }
}
