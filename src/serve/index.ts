// `gage serve`: the web view and JSON API over a runs directory or a store remote (docs/serve.md).
export { startServer, openSource, normalizeBasePath, DEFAULT_PORT, type ServeOptions, type RunningServer } from "./server.js";
export { RunsDirSource } from "./local-source.js";
export { StoreSource } from "./store-source.js";
export { ServeAuthRequiredError, ServeListenError } from "./errors.js";
export type { AuthOptions } from "./auth.js";
export type { RunSource, RunPart, SourceFile, FileRead } from "./source.js";
