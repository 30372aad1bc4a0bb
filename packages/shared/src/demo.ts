/**
 * The contract's demo fixtures (CONTRACT.md, Demo fixtures). Seeded by `pnpm start` and the compose stack,
 * never when NODE_ENV=production: both apps refuse demo fixtures in production. The ids are fixed so that
 * the object seeding can put the listener's private object under `users/<listener's id>/`.
 */
export interface DemoUser {
  id: string;
  email: string;
  password: string;
  name: string;
  role: 'user' | 'admin';
}

export const DEMO_LISTENER: DemoUser = {
  id: 'usr_demo_listener',
  email: 'listener@example.com',
  password: 'listener-pass-1234',
  name: 'Demo Listener',
  role: 'user',
};

export const DEMO_ADMIN: DemoUser = {
  id: 'usr_demo_admin',
  email: 'admin@example.com',
  password: 'admin-pass-1234',
  name: 'Demo Admin',
  role: 'admin',
};

export const DEMO_USERS: readonly DemoUser[] = [DEMO_LISTENER, DEMO_ADMIN];

export const DEMO_SERVICE_CLIENT = {
  id: 'demo-ingest',
  secret: 'demo-ingest-secret',
  scopes: ['media:read', 'media:list', 'media:write'],
} as const;

/**
 * The client media uses for the gateway's revocation feed under `pnpm start` and the demo compose stack
 * (media's own default outside production; production refuses this secret).
 */
export const DEMO_REVOCATION_FEED_CLIENT = {
  id: 'demo-media-feed',
  secret: 'demo-media-feed-secret',
  scopes: ['revocations:read'],
} as const;

export const DEMO_BUCKET = 'media';
