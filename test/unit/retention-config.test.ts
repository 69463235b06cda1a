import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { retentionConfigured, roleRetention } from '../../src/config/sections/retention.js';

describe('retention config', () => {
  it('keeps everything by default, and starts no pruner', () => {
    const { retention } = configSchema.parse({});
    expect(retention).toEqual({ task_days: 0, event_days: 0, interval: 600_000, purge_interval: 30_000, batch_size: 1000, roles: {} });
    expect(retentionConfigured(retention)).toBe(false);
  });

  it("a role's override wins key by key; a key it leaves out is the global value", () => {
    const { retention } = configSchema.parse({ retention: { task_days: 30, event_days: 7, roles: { viewer: { event_days: 1 }, admin: { task_days: 0 } } } });
    expect(roleRetention(retention, 'viewer')).toEqual({ task_days: 30, event_days: 1 });
    expect(roleRetention(retention, 'admin')).toEqual({ task_days: 0, event_days: 7 });
    expect(roleRetention(retention, 'user')).toEqual({ task_days: 30, event_days: 7 });
  });

  it('a role override alone is enough to start the pruner', () => {
    const { retention } = configSchema.parse({ retention: { roles: { viewer: { task_days: 3 } } } });
    expect(retentionConfigured(retention)).toBe(true);
  });

  it('refuses negative or fractional days and an unknown key, naming the key', () => {
    expect(() => configSchema.parse({ retention: { task_days: -1 } })).toThrow(/retention\.task_days must be 0/);
    expect(() => configSchema.parse({ retention: { event_days: 1.5 } })).toThrow(/whole number of days/);
    expect(() => configSchema.parse({ retention: { roles: { viewer: { task_dayz: 3 } } } })).toThrow(/task_dayz/);
    expect(() => configSchema.parse({ retention: { batch_size: 0 } })).toThrow(/retention\.batch_size must be at least 1/);
  });
});
