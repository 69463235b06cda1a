export { loadConfig, CONFIG_SEARCH_PATHS, type LoadOptions, type LoadedConfig } from './load.js';
export { ConfigError } from './errors.js';
export { configSchema, type Config, type ConfigInput } from './schema.js';
export { parseDurationMs } from './duration.js';
export { databaseUrl } from './database-url.js';
export { productionProblem, anonymousMetricsNotice } from './production.js';
