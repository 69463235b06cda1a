import { it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
it('x', () => {
  const { config } = loadConfig({ configPath: 'configs/config.example.yml', env: { AICLI__RATE_LIMIT__WHITELIST: '["127.0.0.2"]' } });
  console.log(JSON.stringify({ s: config.security, r: config.rbac, rl: config.rate_limit, a: config.auth }, null, 1));
});
