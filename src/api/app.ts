import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ApiResources } from '../resources.js';
import { ApiError, renderError } from './errors.js';
import { requireAuth, type AuthEnv } from './middleware/auth.js';
import { requestLog } from './middleware/request-log.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { taskRoutes } from './routes/tasks.js';
import { workspaceRoutes } from './routes/workspaces.js';

export function createApp(r: ApiResources) {
  const app = new Hono<AuthEnv>();
  app.use('*', requestLog(r.logger));
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: r.config.server.body_limit_bytes,
      onError: () => {
        throw new ApiError(413, 'Payload too large', `request body is larger than ${r.config.server.body_limit_bytes} bytes (server.body_limit_bytes)`);
      },
    }),
  );
  app.route('/', healthRoutes(r));
  app.route('/api/v1/auth', authRoutes(r));
  const auth = requireAuth(r.tokens);
  app.use('/api/v1/workspaces/*', auth);
  app.use('/api/v1/workspaces', auth);
  app.use('/api/v1/tasks/*', auth);
  app.use('/api/v1/tasks', auth);
  app.route('/api/v1/workspaces', workspaceRoutes(r));
  app.route('/api/v1/tasks', taskRoutes(r));
  app.notFound((c) => c.json({ error: 'Not found', message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));
  app.onError((err, c) => renderError(err, c, r.logger));
  return app;
}

export type App = ReturnType<typeof createApp>;
